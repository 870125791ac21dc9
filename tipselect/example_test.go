package tipselect_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/tipselect"
)

// memView is the smallest View: a map of transactions, their approvers and
// the confirmed order. A node passes its *dag.Ledger instead.
type memView struct {
	infos     map[dag.ID]dag.Info
	approvers map[dag.ID][]dag.ID
	confirmed []dag.ID
	names     map[dag.ID]string
}

func newMemView() *memView {
	return &memView{infos: map[dag.ID]dag.Info{}, approvers: map[dag.ID][]dag.ID{}, names: map[dag.ID]string{}}
}

// add records a transaction named name approving the given parents.
func (v *memView) add(name string, info dag.Info, parents ...string) dag.Info {
	info.ID = dag.ID{byte(len(v.infos) + 1)}
	for i, p := range parents {
		pid := v.id(p)
		if i == 0 {
			info.Trunk, info.Branch = pid, pid
		} else {
			info.Branch = pid
		}
		v.approvers[pid] = append(v.approvers[pid], info.ID)
	}
	v.infos[info.ID] = info
	v.names[info.ID] = name
	if info.Confirmed {
		v.confirmed = append(v.confirmed, info.ID)
	}
	return info
}

func (v *memView) id(name string) dag.ID {
	for id, n := range v.names {
		if n == name {
			return id
		}
	}
	panic(name)
}

func (v *memView) Info(id dag.ID) (dag.Info, bool) { i, ok := v.infos[id]; return i, ok }

func (v *memView) Approvers(id dag.ID, dst []dag.ID) []dag.ID {
	return append(dst, v.approvers[id]...)
}

func (v *memView) RecentConfirmed(depth int) (dag.ID, bool) {
	if depth >= len(v.confirmed) {
		return dag.ZeroID, false
	}
	return v.confirmed[len(v.confirmed)-1-depth], true
}

func Example() {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) int64 { return now.Add(d).UnixNano() }

	// R was confirmed two minutes ago and F, the frontier, just now. Old
	// approves R only: its unconfirmed past reaches two minutes behind the
	// frontier, so it is lazy. A and B approve F, and C approves A.
	view := newMemView()
	view.add("R", dag.Info{Time: at(-2 * time.Minute), Confirmed: true, CumulativeWeight: 6})
	view.add("F", dag.Info{Time: at(0), Confirmed: true, CumulativeWeight: 5}, "R")
	fresh := func(weight uint64) dag.Info {
		return dag.Info{Time: at(time.Second), OldestRoot: at(0), YoungestRoot: at(0), CumulativeWeight: weight}
	}
	tips := []dag.Info{
		view.add("Old", dag.Info{Time: at(time.Second), OldestRoot: at(-2 * time.Minute), YoungestRoot: at(-2 * time.Minute), CumulativeWeight: 1}, "R"),
		view.add("A", fresh(2), "F"),
		view.add("B", fresh(1), "F"),
		view.add("C", fresh(1), "A"),
	}

	// The node feeds every attached transaction to the pool.
	urts, err := tipselect.NewURTS(tipselect.URTSConfig{}, view)
	if err != nil {
		panic(err)
	}
	for _, info := range tips {
		urts.Add(info, now)
	}
	// Old is lazy, and A left the pool RetentionAfterFirstChild (3 s) after
	// C approved it, so the parents are B and C.
	rng := rand.New(rand.NewPCG(1, 2))
	trunk, branch, err := urts.Select(rng, now.Add(3*time.Second))
	if err != nil {
		panic(err)
	}
	parents := []string{view.names[trunk], view.names[branch]}
	slices.Sort(parents)
	fmt.Println("URTS parents:", parents)

	// The walk starts at F, the newest confirmed transaction; with a large
	// α it takes the heavier approver, A, and ends at C.
	walk, err := tipselect.NewMCMC(tipselect.MCMCConfig{Alpha: 10, StartDepth: -1}, view)
	if err != nil {
		panic(err)
	}
	tip, err := walk.Walk(rng)
	if err != nil {
		panic(err)
	}
	fmt.Println("MCMC tip:", view.names[tip])
	// Output:
	// URTS parents: [B C]
	// MCMC tip: C
}
