package sim

import "math/bits"

// coverSlots is the number of candidate starts followed at once.
const coverSlots = 64

// coverCandidatesPerAge is how many candidates are registered per
// StartAge of virtual time: with 64 slots they span four StartAges, so an
// old candidate is still there to fall back on when a younger one stops
// covering (see starts.start).
const coverCandidatesPerAge = 16

// starts is the cover start rule of the MCMC walk. Why a rule at all: a
// walk reaches only the tips in its start's future cone. The age rule
// picks the newest transaction at least StartAge old, which at α = 0
// usually reaches every tip; but now and then one tip lies outside it (it
// approves only transactions outside the cone), no walk can reach it any
// more, and since starts only move forward it is never approved: the walk
// orphans about 1 in 10⁴ transactions and L creeps up with every orphan
// (the orphans stay tips for ever). The cover rule never starts a walk at
// a transaction whose future cone misses a visible tip.
//
// It follows up to 64 candidate starts, registered as they become visible
// at a fixed virtual-time spacing. Each visible transaction carries a mask
// of the candidates in its past cone (itself included), the OR of its
// parents' masks, as the tracker does; each candidate counts the visible
// tips whose mask has its bit. A candidate covers when its count equals the
// number of visible tips. The walk starts at the oldest covering candidate
// at least StartAge old (at most 2·StartAge when α > 0). Oldest, not
// newest: a start that only just covers may reach a side tip through one
// thin branch, with so small a chance that the tip waits for ever; at
// λh = 100, α = 0, the newest covering start left 2 % behind over 100,000
// transactions and L/(λh) rose to 2.99, the oldest left nothing and kept
// 2.09, as a genesis start does. Failing that it starts at the oldest
// covering one of any age; failing that, while no candidate is StartAge
// old, at the root. When no candidate covers later on, which happens when
// α > 0 leaves tips behind for good (no cone will ever hold them), it falls back
// to the age rule (the newest candidate at least StartAge old that has an
// approver) and counts the selection as uncovered: a genesis start would
// cost a walk through all history for tips that the bias will not pick
// anyway, and so would the oldest candidate (whose cone holds the most
// tips): that made the α = 0.5 test ten times slower.
type starts struct {
	startAge int64
	maxAge   int64 // the oldest a covering start may be; 0: any
	every    int64 // virtual ns between candidates
	nextAt   int64 // visibility time of the next candidate

	masks    []uint64 // by index: the candidates in its past cone
	approved []uint64 // bitset by index: has a visible approver
	tips     int      // visible tips, the root included while it is one
	rootTip  bool

	slots  [coverSlots]candidateStart
	active uint64

	uncovered int // selections whose start did not cover every tip
}

type candidateStart struct {
	idx     int32
	visible int64
	tips    int // visible tips in its future cone
}

// newStarts follows candidates for a start at least startAge old; maxAge,
// if positive, bounds how old a covering start may be (α > 0: the
// cumulative weights a walk compares must lie in the ledger's window).
func newStarts(startAge, maxAge, h int64) *starts {
	return &starts{startAge: startAge, maxAge: maxAge, every: coverSpacing(startAge, h), tips: 1, rootTip: true}
}

// coverMaxAgeBiased is how old a covering start may be, in start ages, when
// α > 0.
const coverMaxAgeBiased = 2

// coverSpacing is the virtual time between candidates, in ns.
func coverSpacing(startAge, h int64) int64 {
	return max(startAge/coverCandidatesPerAge, h/4, 1)
}

// valid is p's mask without the bits that belong to candidates newer than
// p: those are left over from a slot's earlier owner.
func (c *starts) valid(p int32) uint64 {
	m := c.masks[p] & c.active
	for rest := m; rest != 0; rest &= rest - 1 {
		b := bits.TrailingZeros64(rest)
		if c.slots[b].idx > p {
			m &^= 1 << b
		}
	}
	return m
}

// attach records that transaction idx became visible at now.
func (c *starts) attach(idx int32, now int64, parents []int32) {
	var m uint64
	for i, p := range parents {
		if p == root {
			if c.rootTip {
				c.rootTip = false
				c.tips--
			}
			continue
		}
		if dup(parents[:i], p) {
			continue
		}
		pm := c.valid(p)
		m |= pm
		if w, bit := p/64, uint64(1)<<(p%64); c.approved[w]&bit == 0 {
			c.approved[w] |= bit
			c.tips--
			for rest := pm; rest != 0; rest &= rest - 1 {
				c.slots[bits.TrailingZeros64(rest)].tips--
			}
		}
	}
	if now >= c.nextAt {
		c.nextAt = now + c.every
		b := c.freeSlot()
		c.slots[b] = candidateStart{idx: idx, visible: now}
		c.active |= 1 << b
		m |= 1 << b
	}
	c.masks = append(c.masks, m)
	if idx%64 == 0 {
		c.approved = append(c.approved, 0)
	}
	c.tips++
	for rest := m; rest != 0; rest &= rest - 1 {
		c.slots[bits.TrailingZeros64(rest)].tips++
	}
}

func (c *starts) hasApprover(i int32) bool { return c.approved[i/64]&(1<<(i%64)) != 0 }

// freeSlot returns an unused slot, freeing the oldest candidate when all
// are in use.
func (c *starts) freeSlot() int {
	if c.active != ^uint64(0) {
		return bits.TrailingZeros64(^c.active)
	}
	oldest := 0
	for b := range coverSlots {
		if c.slots[b].idx < c.slots[oldest].idx {
			oldest = b
		}
	}
	c.active &^= 1 << oldest
	return oldest
}

// start returns the index to start a walk from at now, or root.
func (c *starts) start(now int64) int32 {
	best, aged, oldestCover := -1, -1, -1
	for rest := c.active; rest != 0; rest &= rest - 1 {
		b := bits.TrailingZeros64(rest)
		s := &c.slots[b]
		covers := s.tips == c.tips
		if covers && (oldestCover < 0 || s.idx < c.slots[oldestCover].idx) {
			oldestCover = b
		}
		if s.visible > now-c.startAge {
			continue
		}
		if covers && (c.maxAge == 0 || s.visible >= now-c.maxAge) && (best < 0 || s.idx < c.slots[best].idx) {
			best = b
		}
		// The newest old enough candidate with an approver: the age rule.
		if c.hasApprover(s.idx) && (aged < 0 || s.idx > c.slots[aged].idx) {
			aged = b
		}
	}
	switch {
	case best >= 0:
		return c.slots[best].idx
	case oldestCover >= 0:
		return c.slots[oldestCover].idx
	case aged < 0:
		// No candidate is StartAge old (and approved) yet: the tangle is
		// about that young, so a walk from the root, which covers every
		// tip, is about as long as one from a candidate.
		return root
	}
	c.uncovered++
	return c.slots[aged].idx
}
