package sim

import "math/rand/v2"

// indexWalk is the unbiased (α = 0) random walk from the cover start over
// the model engine's index-based tangle (a walk from the genesis is
// genesisWalk): the same walk as tipselect.MCMC at α = 0 (a step goes
// to a uniformly chosen visible approver; a walk ends at a transaction with
// none), without the ledger's ID-keyed lookups. Its draws differ from the
// dag engine's (which orders approvers by ID), so the two agree in
// distribution, not draw for draw (TestIndexWalk). Approvers are kept as
// linked lists: first[i] is the newest approver of i, and each approval
// (child, parent slot) links to the parent's next older approver.
type indexWalk struct {
	rng    *rand.Rand
	rule   StartRule
	cover  *starts
	first  []int32 // by index: newest approver, -1 if none
	count  []uint16
	links  []int32 // by child*MaxParents+slot: the parent's next approver
	rootAp []int32 // approvers of the root, in attach order
}

func newIndexWalk(cfg *Config, rng *rand.Rand) *indexWalk {
	w := &indexWalk{rng: rng, rule: cfg.Start}
	if cfg.Start == StartCover {
		w.cover = newStarts(int64(cfg.StartAge), 0, int64(cfg.Delay.Mean()))
	}
	return w
}

// attach records the approvals of transaction idx, visible at now.
func (w *indexWalk) attach(idx int32, now int64, parents []int32) {
	w.first = append(w.first, -1)
	w.count = append(w.count, 0)
	for slot := range MaxParents {
		link := int32(-1)
		if slot < len(parents) {
			p := parents[slot]
			switch {
			case dup(parents[:slot], p):
			case p == root:
				w.rootAp = append(w.rootAp, idx)
			default:
				link = w.first[p]
				w.first[p] = idx*MaxParents + int32(slot)
				w.count[p]++
			}
		}
		w.links = append(w.links, link)
	}
	if w.cover != nil {
		w.cover.attach(idx, now, parents)
	}
}

// walk returns the end of one walk from start.
func (w *indexWalk) walk(start int32) int32 {
	cur := start
	for {
		if cur == root {
			if len(w.rootAp) == 0 {
				return root
			}
			cur = w.rootAp[w.rng.IntN(len(w.rootAp))]
			continue
		}
		n := int(w.count[cur])
		if n == 0 {
			return cur
		}
		at := w.first[cur]
		for i := w.rng.IntN(n); i > 0; i-- {
			at = w.links[at]
		}
		cur = at / MaxParents
	}
}

// choose is two independent walks from the start rule's start; the
// parents coincide when the walks do (as tipselect.MCMC's).
func (w *indexWalk) choose(now int64, dst []int32) []int32 {
	start := root
	if w.cover != nil {
		start = w.cover.start(now)
	}
	a, b := w.walk(start), w.walk(start)
	dst = append(dst, a)
	if b != a || a == root {
		dst = append(dst, b)
	}
	return dst
}
