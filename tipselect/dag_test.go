package tipselect

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// testDAG is a small but faithful in-memory ledger model for tests: it keeps
// approvers, cumulative weights, cone roots and the confirmed order the way
// the ledger defines them, without signatures, work or validators.
type testDAG struct {
	mu        sync.RWMutex
	txs       map[dag.ID]*testTx
	confirmed []dag.ID // confirmed order; the genesis root first
	arrivals  uint64
	// cwWindow bounds the cumulative-weight update to ancestors at most
	// this many arrivals older (0: unbounded), like the ledger's window.
	cwWindow uint64
	// reverse makes Approvers return its result in reverse arrival order,
	// to check that results do not depend on the view's order.
	reverse bool
}

type testTx struct {
	info      dag.Info
	approvers []dag.ID
}

// testID returns distinct IDs whose byte order is unrelated to n, so that
// sorting by ID is not accidentally arrival order.
func testID(n uint64) dag.ID {
	var id dag.ID
	z := n + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	binary.BigEndian.PutUint64(id[0:], z^z>>31)
	binary.BigEndian.PutUint64(id[8:], n)
	id[31] = 1 // never the zero ID
	return id
}

// newTestDAG returns a DAG holding only a confirmed genesis root issued at
// genesis.
func newTestDAG(genesis time.Time) (*testDAG, dag.ID) {
	root := testID(0)
	d := &testDAG{txs: map[dag.ID]*testTx{}}
	g := genesis.UnixNano()
	d.txs[root] = &testTx{info: dag.Info{
		ID: root, Time: g, Confirmed: true, ConfirmedIndex: 1,
		OldestRoot: g, YoungestRoot: g, CumulativeWeight: 1,
	}}
	d.confirmed = []dag.ID{root}
	return d, root
}

// attach adds a transaction approving trunk and branch, issued at at.
func (d *testDAG) attach(trunk, branch dag.ID, at time.Time) dag.Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.arrivals++
	id := testID(d.arrivals)
	info := dag.Info{ID: id, Trunk: trunk, Branch: branch, Time: at.UnixNano(), Arrival: d.arrivals, CumulativeWeight: 1}
	first := true
	for _, p := range []dag.ID{trunk, branch} {
		ptx := d.txs[p]
		if ptx == nil {
			panic(fmt.Sprintf("testDAG: unknown parent %s", p.Short()))
		}
		oldest, youngest := ptx.info.OldestRoot, ptx.info.YoungestRoot
		if ptx.info.Confirmed {
			oldest, youngest = ptx.info.Time, ptx.info.Time
		}
		if first || oldest < info.OldestRoot {
			info.OldestRoot = oldest
		}
		if first || youngest > info.YoungestRoot {
			info.YoungestRoot = youngest
		}
		first = false
	}
	for _, p := range uniqueParents(trunk, branch) {
		ptx := d.txs[p]
		ptx.approvers = append(ptx.approvers, id)
		ptx.info.Approvers++
	}
	// Every ancestor within the window gains one approver.
	seen := map[dag.ID]bool{}
	queue := uniqueParents(trunk, branch)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		ptx := d.txs[p]
		if d.cwWindow > 0 && ptx.info.Arrival+d.cwWindow < info.Arrival {
			continue
		}
		ptx.info.CumulativeWeight++
		if ptx.info.Arrival > 0 {
			queue = append(queue, ptx.info.Trunk, ptx.info.Branch)
		}
	}
	d.txs[id] = &testTx{info: info}
	return info
}

func uniqueParents(trunk, branch dag.ID) []dag.ID {
	if trunk == branch {
		return []dag.ID{trunk}
	}
	return []dag.ID{trunk, branch}
}

// confirm appends transactions to the confirmed order.
func (d *testDAG) confirm(ids ...dag.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		tx := d.txs[id]
		if tx.info.Confirmed {
			continue
		}
		d.confirmed = append(d.confirmed, id)
		tx.info.Confirmed, tx.info.ConfirmedIndex = true, uint64(len(d.confirmed))
	}
}

// confirmCone confirms the unconfirmed past cone of a validator's beacon,
// parents before children, as a single validator's approval weight would;
// the beacon itself waits for the next one.
func (d *testDAG) confirmCone(beacon dag.ID) {
	d.mu.RLock()
	var cone []*testTx
	seen := map[dag.ID]bool{}
	b := d.txs[beacon].info
	queue := uniqueParents(b.Trunk, b.Branch)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		tx := d.txs[id]
		if seen[id] || tx.info.Confirmed {
			continue
		}
		seen[id] = true
		cone = append(cone, tx)
		queue = append(queue, tx.info.Trunk, tx.info.Branch)
	}
	d.mu.RUnlock()
	slices.SortFunc(cone, func(a, b *testTx) int { return cmp.Compare(a.info.Arrival, b.info.Arrival) })
	for _, tx := range cone {
		d.confirm(tx.info.ID)
	}
}

func (d *testDAG) setConflicting(id dag.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txs[id].info.Conflicting = true
}

// info returns the current Info of a transaction the test knows exists.
func (d *testDAG) info(id dag.ID) dag.Info {
	info, ok := d.Info(id)
	if !ok {
		panic(fmt.Sprintf("testDAG: unknown %s", id.Short()))
	}
	return info
}

func (d *testDAG) Info(id dag.ID) (dag.Info, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	tx, ok := d.txs[id]
	if !ok {
		return dag.Info{}, false
	}
	return tx.info, true
}

func (d *testDAG) Approvers(id dag.ID, dst []dag.ID) []dag.ID {
	d.mu.RLock()
	defer d.mu.RUnlock()
	tx, ok := d.txs[id]
	if !ok {
		return dst
	}
	if d.reverse {
		for i := len(tx.approvers) - 1; i >= 0; i-- {
			dst = append(dst, tx.approvers[i])
		}
		return dst
	}
	return append(dst, tx.approvers...)
}

func (d *testDAG) RecentConfirmed(depth int) (dag.ID, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if depth < 0 || depth >= len(d.confirmed) {
		return dag.ZeroID, false
	}
	return d.confirmed[len(d.confirmed)-1-depth], true
}
