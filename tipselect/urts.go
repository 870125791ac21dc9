package tipselect

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// URTSConfig configures a URTS. The zero value of every field means its
// default.
//
// Ages are measured behind the confirmation frontier, the issuing time of
// the newest confirmed transaction (capped at now), which plays the part of
// Hornet's confirmed milestone index. Measuring them against the wall clock
// instead would leave a network that was idle for longer than BelowMaxDepth
// unable to confirm anything again: every new transaction would approve the
// old frontier, look lazy, and never be approved by a validator's beacon.
type URTSConfig struct {
	// MaxTips bounds the non-lazy pool; when it is full, a tip that is
	// already approved leaves first, else the one whose oldest root is
	// oldest. Zero means DefaultMaxTips. The simulator raises it above the
	// expected tip count (about 2λh) to model unbounded uniform selection.
	MaxTips int
	// MaxSemiLazyTips bounds the semi-lazy pool. Zero means
	// DefaultMaxSemiLazyTips.
	MaxSemiLazyTips int
	// MaxChildren is how many non-lazy approvers take a non-lazy tip out of
	// the pool. Zero means DefaultMaxChildren. 1 models the whitepaper,
	// where a transaction stops being a tip at its first visible approval.
	MaxChildren int
	// MaxChildrenSemiLazy is how many semi-lazy approvers take a semi-lazy
	// tip out of the pool. Zero means DefaultMaxChildrenSemiLazy.
	MaxChildrenSemiLazy int
	// RetentionAfterFirstChild is how long a tip stays in the pool after its
	// first approver arrived. Zero means DefaultRetentionAfterFirstChild.
	RetentionAfterFirstChild time.Duration
	// BelowMaxDepth: a tip whose oldest root lies further than this behind
	// the frontier is lazy. Zero means DefaultBelowMaxDepth.
	BelowMaxDepth time.Duration
	// SemiLazyAge: a tip whose oldest root lies further than this behind the
	// frontier (but not beyond BelowMaxDepth) is semi-lazy. It must not
	// exceed BelowMaxDepth; equal disables the semi-lazy class. Zero means
	// DefaultSemiLazyAge.
	SemiLazyAge time.Duration
	// MaxYoungestRootAge: a tip whose youngest root lies further than this
	// behind the frontier is lazy. Zero means DefaultMaxYoungestRootAge.
	MaxYoungestRootAge time.Duration
}

// The URTS defaults. Hornet's pool limits are kept as they are; its
// thresholds, counted in milestones behind the confirmed milestone (15
// lazy, 13 semi-lazy, 8 for the youngest root), become times behind the
// confirmation frontier at 4 s per milestone, which keeps their ratios
// (60:52:32, rounded). Hornet's milestones came every 5 to 10 s, so its
// thresholds also absorbed the frontier advancing in steps; beacons move
// the frontier continuously and need no such slack. The 30 s youngest-root
// bound is GoShimmer's time-since-confirmation threshold.
const (
	DefaultMaxTips             = 100
	DefaultMaxSemiLazyTips     = 20
	DefaultMaxChildren         = 30
	DefaultMaxChildrenSemiLazy = 2
	// Long enough for a few more approvers to widen the tangle around a tip,
	// short enough that an approved tip does not keep drawing selections.
	DefaultRetentionAfterFirstChild = 3 * time.Second
	DefaultBelowMaxDepth            = 60 * time.Second
	DefaultSemiLazyAge              = 50 * time.Second
	DefaultMaxYoungestRootAge       = 30 * time.Second
)

func (c URTSConfig) withDefaults() URTSConfig {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&c.MaxTips, DefaultMaxTips)
	setInt(&c.MaxSemiLazyTips, DefaultMaxSemiLazyTips)
	setInt(&c.MaxChildren, DefaultMaxChildren)
	setInt(&c.MaxChildrenSemiLazy, DefaultMaxChildrenSemiLazy)
	setDur(&c.RetentionAfterFirstChild, DefaultRetentionAfterFirstChild)
	setDur(&c.BelowMaxDepth, DefaultBelowMaxDepth)
	setDur(&c.SemiLazyAge, DefaultSemiLazyAge)
	setDur(&c.MaxYoungestRootAge, DefaultMaxYoungestRootAge)
	return c
}

// validate checks a configuration whose defaults are filled in.
func (c *URTSConfig) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxTips", c.MaxTips},
		{"MaxSemiLazyTips", c.MaxSemiLazyTips},
		{"MaxChildren", c.MaxChildren},
		{"MaxChildrenSemiLazy", c.MaxChildrenSemiLazy},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is %d, must not be negative", ErrConfig, f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"RetentionAfterFirstChild", c.RetentionAfterFirstChild},
		{"BelowMaxDepth", c.BelowMaxDepth},
		{"SemiLazyAge", c.SemiLazyAge},
		{"MaxYoungestRootAge", c.MaxYoungestRootAge},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is %v, must not be negative", ErrConfig, f.name, f.v)
		}
	}
	if c.SemiLazyAge > c.BelowMaxDepth {
		return fmt.Errorf("%w: SemiLazyAge %v exceeds BelowMaxDepth %v", ErrConfig, c.SemiLazyAge, c.BelowMaxDepth)
	}
	return nil
}

// score says how lazy a transaction with the given roots is when the
// frontier is at ref (all unix ns). The comparisons are strict, as Hornet's.
func (c *URTSConfig) score(oldestRoot, youngestRoot, ref int64) class {
	switch {
	case ref-youngestRoot > int64(c.MaxYoungestRootAge):
		return lazy
	case ref-oldestRoot > int64(c.BelowMaxDepth):
		return lazy
	case ref-oldestRoot > int64(c.SemiLazyAge):
		return semiLazy
	}
	return nonLazy
}

type class uint8

const (
	nonLazy class = iota
	semiLazy
	lazy
)

// URTS is uniform random tip selection over a scored tip pool (Hornet's
// TIP-3). It is safe for concurrent use.
type URTS struct {
	cfg  URTSConfig
	view View

	// frontier is the confirmation frontier (unix ns) that the last Select
	// read from the view, noFrontier before the first. Add classifies
	// against it because Add must not call the view: the ledger may call
	// Add from its event dispatch.
	frontier atomic.Int64
	lastRoot atomic.Pointer[frontierRoot]

	// mu guards the pools. Select draws under the read lock and takes the
	// write lock only when a drawn tip must leave or move, so selectors do
	// not queue behind each other; every critical section is a few map and
	// slice operations, and the view is never called with mu held.
	mu struct {
		sync.RWMutex
		tips     map[dag.ID]*tip
		nonLazy  pool
		semiLazy pool
		// free recycles removed tips so that steady-state Adds do not
		// allocate.
		free []*tip
	}
}

const noFrontier = math.MinInt64

// tip is a pool entry: what scoring and retention need of a transaction.
type tip struct {
	id           dag.ID
	time         int64
	oldestRoot   int64
	youngestRoot int64
	children     int
	firstChild   int64 // unix ns; meaningful when children > 0
	pool         *pool // nil once removed
	pos, hpos    int   // indices in pool.tips and pool.heap
}

// pool is one class of tips. tips gives O(1) uniform choice and removal
// (swap with the last); heap orders the same tips for retention and
// eviction (see evictsBefore), so expiring the earliest-approved tip and
// trimming a full pool are O(log n).
type pool struct {
	tips        []*tip
	heap        []*tip
	max         int
	maxChildren int
}

// NewURTS returns an empty tip pool over view. Zero fields of cfg take their
// defaults.
func NewURTS(cfg URTSConfig, view View) (*URTS, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if view == nil {
		return nil, fmt.Errorf("%w: nil view", ErrConfig)
	}
	u := &URTS{cfg: cfg, view: view}
	u.frontier.Store(noFrontier)
	u.mu.tips = make(map[dag.ID]*tip, cfg.MaxTips+cfg.MaxSemiLazyTips)
	u.mu.nonLazy = pool{max: cfg.MaxTips, maxChildren: cfg.MaxChildren}
	u.mu.semiLazy = pool{max: cfg.MaxSemiLazyTips, maxChildren: cfg.MaxChildrenSemiLazy}
	return u, nil
}

// Add offers an attached transaction as a tip; call it once for every
// transaction, when it attaches (or, in the simulator, when it becomes
// visible). It joins the non-lazy or semi-lazy pool by its score against
// the frontier of the last Select (non-lazy before any Select). A lazy,
// conflicting or ruled-out transaction is not added and does not count as an approver,
// so that approving old history cannot drain the pool of honest tips; for
// the same reason a transaction counts as an approver only of parents in
// its own class (Hornet's rule). Adding a transaction already in the pool
// does nothing. Add never calls the view.
func (u *URTS) Add(info dag.Info, now time.Time) {
	if info.Conflicting || info.RuledOut {
		return
	}
	nowNs := now.UnixNano()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expireLocked(nowNs)
	if _, ok := u.mu.tips[info.ID]; ok {
		return
	}
	c := nonLazy
	if ref, ok := u.ref(nowNs); ok {
		c = u.cfg.score(info.OldestRoot, info.YoungestRoot, ref)
	}
	if c == lazy {
		return
	}
	p := &u.mu.nonLazy
	if c == semiLazy {
		p = &u.mu.semiLazy
	}
	u.approveLocked(info.Trunk, p, nowNs)
	if info.Branch != info.Trunk {
		u.approveLocked(info.Branch, p, nowNs)
	}
	t := u.newTipLocked(info)
	u.mu.tips[t.id] = t
	p.insert(t)
	u.trimLocked(p)
}

// Remove takes a transaction out of the pool, for example when it is found
// to be conflicting. Removing an unknown transaction does nothing.
func (u *URTS) Remove(id dag.ID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.mu.tips[id]; ok {
		u.removeLocked(t)
	}
}

// Len returns the sizes of the non-lazy and semi-lazy pools. Tips are
// rescored only when Select draws them, so a tip that has aged since is
// still counted in its old class.
func (u *URTS) Len() (nonLazy, semiLazy int) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.mu.nonLazy.tips), len(u.mu.semiLazy.tips)
}

// Select returns two parents for a new transaction, drawn uniformly at
// random from the non-lazy tips as scored now. Drawn tips found lazy leave
// the pool, and drawn tips found semi-lazy move to the semi-lazy pool, so
// each draw costs O(1) amortised against the Add that brought the tip in.
//
// The two parents differ whenever the pools hold two usable tips. When
// fewer are left, Select falls back first to semi-lazy tips, then to the
// newest confirmed transaction (RecentConfirmed(0)), so a fresh network or
// one that was idle has parents; trunk and branch are equal only when
// nothing else exists. It returns an error wrapping ErrNoTips only when the
// pools are empty and the view knows no confirmed transaction.
func (u *URTS) Select(rng Rand, now time.Time) (trunk, branch dag.ID, err error) {
	nowNs := now.UnixNano()
	root, rootOK, frontier, frontierOK := u.readFrontier()
	if frontierOK {
		u.frontier.Store(frontier)
	}
	ref, judge := u.ref(nowNs)

	u.mu.RLock()
	trunk, branch, ok := u.peekLocked(rng, nowNs, ref, judge)
	u.mu.RUnlock()
	if ok {
		return trunk, branch, nil
	}

	u.mu.Lock()
	u.expireLocked(nowNs)
	var found int
	a := u.pickLocked(rng, nil, ref, judge)
	if a != nil {
		trunk, found = a.id, 1
		if b := u.pickLocked(rng, a, ref, judge); b != nil {
			branch, found = b.id, 2
		}
	}
	u.mu.Unlock()

	switch {
	case found == 2:
		return trunk, branch, nil
	case found == 1 && rootOK && root != trunk:
		return trunk, root, nil
	case found == 1:
		return trunk, trunk, nil
	case rootOK:
		return root, root, nil
	}
	return dag.ZeroID, dag.ZeroID, fmt.Errorf("%w: empty pool and no confirmed transaction in the view", ErrNoTips)
}

// readFrontier reads the newest confirmed transaction and its issuing time.
// The time is looked up only when the newest confirmed transaction changed
// since the last call (a few hundred times a second at most), so most
// selections make one cheap view call.
func (u *URTS) readFrontier() (root dag.ID, rootOK bool, at int64, atOK bool) {
	if fv, ok := u.view.(frontierView); ok {
		root, at = fv.ConfirmedFrontier()
		return root, true, at, true
	}
	root, rootOK = u.view.RecentConfirmed(0)
	if !rootOK {
		return root, false, 0, false
	}
	if last := u.lastRoot.Load(); last != nil && last.id == root {
		return root, true, last.time, true
	}
	info, ok := u.view.Info(root)
	if ok {
		u.lastRoot.Store(&frontierRoot{id: root, time: info.Time})
	}
	return root, true, info.Time, ok
}

// frontierView is implemented by views that report the newest confirmed
// transaction and its issuing time without taking a lock (*dag.Ledger
// does), which keeps selection from ever waiting for a writer.
type frontierView interface {
	ConfirmedFrontier() (id dag.ID, issued int64)
}

// frontierRoot caches the issuing time of the newest confirmed transaction.
type frontierRoot struct {
	id   dag.ID
	time int64
}

// ref returns the time that ages are measured from, and false when no
// frontier is known yet (then nothing can be judged lazy). Capping it at now
// keeps a confirmed transaction with a future issuing time from making
// every tip look old.
func (u *URTS) ref(now int64) (int64, bool) {
	f := u.frontier.Load()
	if f == noFrontier {
		return 0, false
	}
	return min(f, now), true
}

// peekLocked is Select's fast path, under the read lock: it draws two
// distinct non-lazy tips and succeeds when both are usable and no tip is
// due to expire, so nothing needs changing. Otherwise Select draws again
// under the write lock. The result stays uniform: the fast path returns
// each usable pair with the same probability, and the slow path is uniform
// over the usable pairs.
func (u *URTS) peekLocked(rng Rand, now, ref int64, judge bool) (a, b dag.ID, ok bool) {
	p := &u.mu.nonLazy
	n := len(p.tips)
	if n < 2 || u.expiringLocked(now) {
		return a, b, false
	}
	i, j := rng.IntN(n), rng.IntN(n-1)
	if j >= i {
		j++
	}
	ta, tb := p.tips[i], p.tips[j]
	if judge && (u.cfg.score(ta.oldestRoot, ta.youngestRoot, ref) != nonLazy ||
		u.cfg.score(tb.oldestRoot, tb.youngestRoot, ref) != nonLazy) {
		return a, b, false
	}
	return ta.id, tb.id, true
}

// pickLocked draws a usable tip other than exclude, preferring the
// non-lazy pool, or returns nil.
func (u *URTS) pickLocked(rng Rand, exclude *tip, ref int64, judge bool) *tip {
	if t := u.pickFromLocked(&u.mu.nonLazy, rng, exclude, ref, judge); t != nil {
		return t
	}
	return u.pickFromLocked(&u.mu.semiLazy, rng, exclude, ref, judge)
}

// pickFromLocked is rejection sampling: a rejected tip leaves p, and the
// draw repeats over what remains, so the result is uniform over the usable
// tips of p.
func (u *URTS) pickFromLocked(p *pool, rng Rand, exclude *tip, ref int64, judge bool) *tip {
	for {
		n, skip := len(p.tips), -1
		if exclude != nil && exclude.pool == p {
			n, skip = n-1, exclude.pos
		}
		if n <= 0 {
			return nil
		}
		i := rng.IntN(n)
		if skip >= 0 && i >= skip {
			i++
		}
		t := p.tips[i]
		if !judge {
			return t
		}
		switch u.cfg.score(t.oldestRoot, t.youngestRoot, ref) {
		case lazy:
			u.removeLocked(t)
		case semiLazy:
			if p != &u.mu.nonLazy {
				return t
			}
			u.demoteLocked(t)
		default:
			// A semi-lazy tip that scores non-lazy again (the frontier
			// moved back) is served where it is rather than promoted.
			return t
		}
	}
}

// approveLocked counts one approver of parent, if parent is a tip of p.
func (u *URTS) approveLocked(parent dag.ID, p *pool, now int64) {
	t, ok := u.mu.tips[parent]
	if !ok || t.pool != p {
		return
	}
	t.children++
	if t.children >= p.maxChildren {
		u.removeLocked(t)
		return
	}
	if t.children == 1 {
		t.firstChild = now
		p.fix(t)
	}
}

// expireLocked removes the tips whose first approver came at least
// RetentionAfterFirstChild ago. Approved tips sort first in each heap, by
// the time of their first approver, so only the heads need looking at.
func (u *URTS) expireLocked(now int64) {
	for _, p := range []*pool{&u.mu.nonLazy, &u.mu.semiLazy} {
		for len(p.heap) > 0 && u.expired(p.heap[0], now) {
			u.removeLocked(p.heap[0])
		}
	}
}

// expiringLocked reports whether expireLocked would remove anything; the
// read lock is enough.
func (u *URTS) expiringLocked(now int64) bool {
	for _, p := range []*pool{&u.mu.nonLazy, &u.mu.semiLazy} {
		if len(p.heap) > 0 && u.expired(p.heap[0], now) {
			return true
		}
	}
	return false
}

func (u *URTS) expired(t *tip, now int64) bool {
	return t.children > 0 && now-t.firstChild >= int64(u.cfg.RetentionAfterFirstChild)
}

// demoteLocked moves a non-lazy tip to the semi-lazy pool, or drops it if it
// already has as many approvers as a semi-lazy tip may.
func (u *URTS) demoteLocked(t *tip) {
	u.mu.nonLazy.remove(t)
	if t.children >= u.mu.semiLazy.maxChildren {
		u.forgetLocked(t)
		return
	}
	u.mu.semiLazy.insert(t)
	u.trimLocked(&u.mu.semiLazy)
}

// trimLocked evicts from a pool over its limit, head of the heap first.
func (u *URTS) trimLocked(p *pool) {
	for len(p.tips) > p.max {
		u.removeLocked(p.heap[0])
	}
}

func (u *URTS) removeLocked(t *tip) {
	t.pool.remove(t)
	u.forgetLocked(t)
}

// forgetLocked drops a tip that is in no pool.
func (u *URTS) forgetLocked(t *tip) {
	delete(u.mu.tips, t.id)
	u.mu.free = append(u.mu.free, t)
}

func (u *URTS) newTipLocked(info dag.Info) *tip {
	var t *tip
	if n := len(u.mu.free); n > 0 {
		t, u.mu.free[n-1] = u.mu.free[n-1], nil
		u.mu.free = u.mu.free[:n-1]
	} else {
		t = new(tip)
	}
	*t = tip{id: info.ID, time: info.Time, oldestRoot: info.OldestRoot, youngestRoot: info.YoungestRoot}
	return t
}

// evictsBefore is the heap order. Approved tips come first, earliest first
// approver first: they are already in the past of some transaction, so
// losing them costs nothing, and Hornet too drops approved tips first once
// a pool is over its limit. Then come unapproved tips by oldest root, the
// ones nearest to laziness and least worth approving, then by issuing
// time. The roots are derived from the DAG by the ledger, whereas the
// issuing time is the issuer's claim; a random victim would often be a
// fresh tip that this node would then never approve. The ID breaks ties so
// that the order never depends on history.
func evictsBefore(a, b *tip) bool {
	if (a.children > 0) != (b.children > 0) {
		return a.children > 0
	}
	if a.children > 0 {
		if a.firstChild != b.firstChild {
			return a.firstChild < b.firstChild
		}
	} else {
		if a.oldestRoot != b.oldestRoot {
			return a.oldestRoot < b.oldestRoot
		}
		if a.time != b.time {
			return a.time < b.time
		}
	}
	return a.id.Compare(b.id) < 0
}

func (p *pool) insert(t *tip) {
	t.pool = p
	t.pos = len(p.tips)
	p.tips = append(p.tips, t)
	t.hpos = len(p.heap)
	p.heap = append(p.heap, t)
	p.up(t.hpos)
}

func (p *pool) remove(t *tip) {
	last := len(p.tips) - 1
	if t.pos != last {
		moved := p.tips[last]
		p.tips[t.pos], moved.pos = moved, t.pos
	}
	p.tips[last] = nil
	p.tips = p.tips[:last]

	i, last := t.hpos, len(p.heap)-1
	if i != last {
		p.swap(i, last)
	}
	p.heap[last] = nil
	p.heap = p.heap[:last]
	if i != last && !p.down(i) {
		p.up(i)
	}
	t.pool = nil
}

// fix restores the heap order after t's key changed.
func (p *pool) fix(t *tip) {
	if !p.down(t.hpos) {
		p.up(t.hpos)
	}
}

func (p *pool) swap(i, j int) {
	p.heap[i], p.heap[j] = p.heap[j], p.heap[i]
	p.heap[i].hpos = i
	p.heap[j].hpos = j
}

func (p *pool) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !evictsBefore(p.heap[j], p.heap[i]) {
			break
		}
		p.swap(i, j)
		j = i
	}
}

// down reports whether the element at i moved.
func (p *pool) down(i int) bool {
	start, n := i, len(p.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && evictsBefore(p.heap[r], p.heap[l]) {
			j = r
		}
		if !evictsBefore(p.heap[j], p.heap[i]) {
			break
		}
		p.swap(i, j)
		i = j
	}
	return i > start
}
