package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/tipselect"
)

// dagEngine drives the real code: a memory-only dag.Ledger holds exactly
// the visible transactions, and tipselect chooses parents from it.
type dagEngine struct {
	ledger *dag.Ledger
	clock  *int64 // virtual now, unix ns, shared with the ledger's Config.Now
	rng    *rand.Rand
	ids    []dag.ID // by index
	lanes  []*lane  // issuer chains, by head issuing time ascending
	nLanes uint64
	txBuf  [1]*dag.Transaction

	urts      *tipselect.URTS
	poolMax   int
	poolFull  bool
	mcmc      *tipselect.MCMC
	view      *walkView
	startRule StartRule
	startAge  int64
	visible   []int64 // by index, for the age start rule
	startAt   int     // newest index visible at least startAge ago, plus one
	cover     *starts // the cover start rule
}

// lane is an issuer chain. dag requires each issuer's transactions to
// form a chain attached in order with non-decreasing issuing times; with a
// random delay the attach order differs from the issue order, so each
// attaching transaction takes the lane whose head was issued latest but
// not after it (patience sorting), and a new issuer starts a lane only
// when none fits. With a constant delay one lane suffices. Lanes are a
// device of the encoding: the model has no issuers here.
type lane struct {
	key  dag.PublicKey
	seq  uint64
	prev dag.ID
	head int64
}

func newDAGEngine(cfg *Config, clock *int64, rng *rand.Rand) (*dagEngine, error) {
	h := cfg.Delay.Mean()
	gen := &dag.Genesis{
		NetworkID: "bench-sim",
		Time:      dagtest.GenesisTime,
		// A validator is required by the genesis rules; it never issues,
		// so nothing is confirmed by approval weight and every tip
		// selection rule sees the root as the only confirmed transaction.
		Validators: []dag.Validator{{Name: "sim", PublicKey: dagtest.PublicKey(dagtest.Key("bench-sim")), Weight: 1}},
		// Zero bits and no rate rule: work is never what is simulated.
		Difficulty: pow.Rules{},
	}
	lcfg := dag.Config{
		Genesis: gen,
		Now:     func() time.Time { return time.Unix(0, *clock) },
	}
	if cfg.TipSelection == MCMC && cfg.Alpha != 0 {
		// The walk compares the cumulative weights of approvers at most
		// StartAge (plus a few delays) old; ancestors further back than
		// that are never compared, so the window can stop there. A cover
		// start is at most coverMaxAgeBiased·StartAge old when α > 0 (and
		// only early in a run, before a candidate is that old, a younger
		// one). A genesis start compares weights of all history.
		switch cfg.Start {
		case StartAged:
			lcfg.CumulativeWeightWindow = cfg.StartAge + 4*h
		case StartCover:
			lcfg.CumulativeWeightWindow = coverMaxAgeBiased*cfg.StartAge + 4*h
		case StartGenesis:
			lcfg.CumulativeWeightWindow = math.MaxInt64
		}
	}
	l, err := dag.Open(lcfg)
	if err != nil {
		return nil, fmt.Errorf("sim: open ledger: %w", err)
	}
	e := &dagEngine{ledger: l, clock: clock, rng: rng}
	switch cfg.TipSelection {
	case URTS:
		// Far above the expected tip count k/(k−1)·λh, so the pool is never
		// trimmed and the choice is uniform over all visible tips.
		e.poolMax = max(1<<16, int(64*cfg.Lambda*h.Seconds()))
		ucfg := tipselect.URTSConfig{
			MaxTips: e.poolMax,
			// Laziness is Hornet's defence against approving old history;
			// the model has none.
			BelowMaxDepth:      math.MaxInt64,
			SemiLazyAge:        math.MaxInt64,
			MaxYoungestRootAge: math.MaxInt64,
			MaxChildren:        1,
		}
		if cfg.Retention > 0 {
			ucfg.MaxChildren = math.MaxInt32
			ucfg.RetentionAfterFirstChild = cfg.Retention
		}
		e.urts, err = tipselect.NewURTS(ucfg, l)
	case MCMC:
		e.view = &walkView{l: l}
		e.startRule = cfg.Start
		e.startAge = int64(cfg.StartAge)
		if cfg.Start == StartCover {
			var maxAge int64
			if cfg.Alpha != 0 {
				maxAge = coverMaxAgeBiased * e.startAge
			}
			e.cover = newStarts(e.startAge, maxAge, int64(h))
		}
		e.mcmc, err = tipselect.NewMCMC(tipselect.MCMCConfig{Alpha: cfg.Alpha, StartDepth: -1}, e.view)
	}
	if err != nil {
		return nil, fmt.Errorf("sim: tip selection: %w", err)
	}
	return e, nil
}

func (e *dagEngine) choose(now int64, _ int, dst []int32) ([]int32, error) {
	var trunk, branch dag.ID
	var err error
	if e.urts != nil {
		trunk, branch, err = e.urts.Select(e.rng, time.Unix(0, now))
	} else {
		e.view.start = e.walkStart(now)
		trunk, branch, err = e.mcmc.Select(e.rng)
	}
	if err != nil {
		return dst, fmt.Errorf("sim: select: %w", err)
	}
	t, err := e.index(trunk)
	if err != nil {
		return dst, err
	}
	dst = append(dst, t)
	if branch != trunk || t == root {
		b, err := e.index(branch)
		if err != nil {
			return dst, err
		}
		dst = append(dst, b)
	}
	return dst, nil
}

// index maps an attached ID to its simulator index by its arrival number.
func (e *dagEngine) index(id dag.ID) (int32, error) {
	info, ok := e.ledger.Info(id)
	if !ok {
		return 0, fmt.Errorf("sim: selected %s, which the ledger does not hold", id.Short())
	}
	return int32(info.Arrival) - 1, nil
}

func (e *dagEngine) id(i int32) dag.ID {
	if i == root {
		return e.ledger.Root()
	}
	return e.ids[i]
}

func (e *dagEngine) attach(issued, now int64, parents []int32) error {
	ln := e.lane(issued)
	trunk := e.id(parents[0])
	branch := trunk
	if len(parents) > 1 {
		branch = e.id(parents[1])
	}
	tx := &dag.Transaction{
		Kind: dag.KindData, Trunk: trunk, Branch: branch,
		Issuer: ln.key, Seq: ln.seq, Prev: ln.prev, Time: issued,
	}
	e.txBuf[0] = tx
	res, err := e.ledger.AttachVerified(e.txBuf[:]).Wait()
	if err != nil {
		return fmt.Errorf("sim: attach: %w", err)
	}
	if r := res[0]; r.Status != dag.StatusAttached {
		return fmt.Errorf("sim: attach %d: %s: %v", len(e.ids), r.Status, r.Err)
	}
	id := tx.ID()
	ln.seq++
	ln.prev = id
	ln.head = issued
	e.ids = append(e.ids, id)
	if e.urts != nil {
		info, _ := e.ledger.Info(id)
		e.urts.Add(info, time.Unix(0, now))
		if !e.poolFull {
			n, _ := e.urts.Len()
			e.poolFull = n >= e.poolMax
		}
	}
	switch {
	case e.cover != nil:
		e.cover.attach(int32(len(e.ids)-1), now, parents)
	case e.mcmc != nil:
		e.visible = append(e.visible, now)
	}
	return nil
}

// lane returns the issuer chain for a transaction issued at t and keeps
// the lanes sorted by head (see lane).
func (e *dagEngine) lane(t int64) *lane {
	i := sort.Search(len(e.lanes), func(i int) bool { return e.lanes[i].head > t }) - 1
	if i >= 0 {
		return e.lanes[i]
	}
	ln := &lane{head: t}
	binary.BigEndian.PutUint64(ln.key[:8], e.nLanes)
	copy(ln.key[8:], "bench-sim issuer lane")
	e.nLanes++
	e.lanes = append(e.lanes, nil)
	copy(e.lanes[1:], e.lanes)
	e.lanes[0] = ln
	return ln
}

func (e *dagEngine) tips() float64 { return float64(e.ledger.Stats().Tips) }

func (e *dagEngine) overflowed() bool { return e.poolFull }

// walkStartScan bounds the search back for an approved start.
const walkStartScan = 1000

// walkStart is the MCMC start rule (StartCover: see starts). The age rule
// is the newest transaction that became
// visible at least startAge before now and has a visible approver. It
// stands in for "a recently confirmed transaction" (DESIGN.md). The age
// matters more than the confirmation: a walk reaches only the tips in its
// start's future cone, and the cone of a transaction covers (nearly) all
// current tips only once it has left the early, exponential phase of its
// cumulative weight growth, some 15–20h after its issue at λh = 100
// (cw_growth.png). At the default 30h the walk reaches every tip; at 10h
// it misses most of them and the tangle widens without bound (measured,
// docs/bench/sim.md). Requiring an approver keeps a left-behind tip from
// being a start, where the walk would end at once.
func (e *dagEngine) walkStart(now int64) dag.ID {
	switch e.startRule {
	case StartGenesis:
		return e.ledger.Root()
	case StartCover:
		return e.id(e.cover.start(now))
	}
	for e.startAt < len(e.visible) && e.visible[e.startAt] <= now-e.startAge {
		e.startAt++
	}
	for i := e.startAt - 1; i >= 0 && i >= e.startAt-walkStartScan; i-- {
		if info, ok := e.ledger.Info(e.ids[i]); ok && info.Approvers > 0 {
			return e.ids[i]
		}
	}
	if e.startAt > 0 {
		return e.ids[e.startAt-1]
	}
	return e.ledger.Root()
}

// walkView is the ledger as tipselect.MCMC sees it, with the start rule in
// place of RecentConfirmed: the simulated network confirms by the
// simulator's rule, not by the ledger's beacons.
type walkView struct {
	l     *dag.Ledger
	start dag.ID
}

func (v *walkView) Info(id dag.ID) (dag.Info, bool)            { return v.l.Info(id) }
func (v *walkView) Approvers(id dag.ID, dst []dag.ID) []dag.ID { return v.l.Approvers(id, dst) }
func (v *walkView) RecentConfirmed(int) (dag.ID, bool)         { return v.start, true }
