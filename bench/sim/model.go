package sim

import "math/rand/v2"

// modelEngine is uniform random tip selection with k distinct parents over
// an index-only tangle: the simulator's own code path for k ≠ 2, where
// dag's two-parent transactions cannot express the model. Its pool follows
// tipselect.URTS's discipline exactly (append on add, swap-with-last on
// removal, parents removed in order, the same draws from the same stream),
// so that for k = 2 it makes the same choices as the dag engine draw for
// draw; TestEnginesAgree checks this on the same seeded stream.
type modelEngine struct {
	k           int
	replacement bool
	rng         *rand.Rand
	pool        []int32 // visible, unapproved transactions (not the root)
	pos         []int32 // index in pool by transaction, -1 when not there
	rootIsTip   bool
	chosenBufs  []int

	// expiry is the tip expiry in ns (0: none); expiring holds the pooled
	// transactions by the time they expire, earliest first. Entries of
	// transactions that left the pool by approval are skipped when they
	// come up.
	expiry   int64
	expiring timeHeap

	// walk, when set, selects by a random walk instead.
	walk walker
}

// walker is a random walk over the model engine's tangle: the unbiased
// walk from the cover start (indexWalk) or the walk at any α from the
// genesis (genesisWalk).
type walker interface {
	choose(now int64, dst []int32) []int32
	attach(idx int32, now int64, parents []int32)
}

func newModelEngine(cfg *Config, rng *rand.Rand) *modelEngine {
	m := &modelEngine{
		k: cfg.Parents, replacement: cfg.Draw == DrawReplacement, rng: rng, rootIsTip: true,
		expiry: int64(cfg.TipExpiry),
	}
	switch {
	case cfg.TipSelection == MCMC && cfg.Start == StartGenesis:
		m.walk = newGenesisWalk(cfg, rng)
	case cfg.TipSelection == MCMC:
		m.walk = newIndexWalk(cfg, rng)
	}
	return m
}

func (m *modelEngine) choose(now int64, _ int, dst []int32) ([]int32, error) {
	if m.walk != nil {
		return m.walk.choose(now, dst), nil
	}
	m.expire(now)
	dst, m.chosenBufs = drawTips(m.rng, m.pool, m.k, m.replacement, m.chosenBufs, dst)
	return dst, nil
}

// drawTips appends k parents drawn uniformly from pool to dst: distinct
// ones, or with replacement (a repeat adds no second approval). chosen is
// a reusable buffer, returned for the next call. The network model's nodes
// draw with it too, so that equal views give equal draws.
func drawTips(rng *rand.Rand, pool []int32, k int, replacement bool, chosen []int, dst []int32) ([]int32, []int) {
	n := len(pool)
	if replacement && n > 0 {
		for range k {
			if p := pool[rng.IntN(n)]; !dup(dst, p) {
				dst = append(dst, p)
			}
		}
		return dst, chosen
	}
	if n < k {
		return chooseFew(rng, pool, k, dst), chosen
	}
	// Draw k distinct positions: the m-th draw is uniform over the n−m
	// positions not drawn yet, mapped past the drawn ones in ascending
	// order. For k = 2 this is URTS's i = IntN(n), j = IntN(n−1), j++ if
	// j ≥ i.
	chosen = chosen[:0] // drawn positions, ascending
	for d := range k {
		r := rng.IntN(n - d)
		at := 0
		for _, c := range chosen {
			if r < c {
				break
			}
			r++
			at++
		}
		chosen = append(chosen, 0)
		copy(chosen[at+1:], chosen[at:])
		chosen[at] = r
		dst = append(dst, pool[r])
	}
	return dst, chosen
}

// chooseFew mirrors URTS's fallback when fewer than k tips are pooled:
// take what there is, then the root (the newest confirmed transaction,
// which is all the dag engine ever confirms), the root twice only when
// nothing else exists.
func chooseFew(rng *rand.Rand, pool []int32, k int, dst []int32) []int32 {
	n := len(pool)
	switch n {
	case 0:
		if k == 2 {
			return append(dst, root, root)
		}
		return append(dst, root)
	case 1:
		dst = append(dst, pool[rng.IntN(1)])
		return append(dst, root)
	}
	// 2 ≤ n < k (k > 2 only): every pooled tip and the root.
	for i := range n {
		dst = append(dst, pool[i])
	}
	return append(dst, root)
}

func (m *modelEngine) attach(issued, now int64, parents []int32) error {
	m.expire(now)
	idx := int32(len(m.pos))
	if m.walk != nil {
		m.walk.attach(idx, now, parents)
	}
	for i, p := range parents {
		if p == root {
			m.rootIsTip = false
			continue
		}
		if dup(parents[:i], p) {
			continue
		}
		m.unpool(p)
	}
	if m.expiry > 0 && now-issued >= m.expiry {
		// Expired before anyone could see it: never a selectable tip.
		m.pos = append(m.pos, -1)
		return nil
	}
	m.pos = append(m.pos, int32(len(m.pool)))
	m.pool = append(m.pool, idx)
	if m.expiry > 0 {
		m.expiring.push(issued+m.expiry, idx)
	}
	return nil
}

// unpool takes p out of the pool, if it is there, swapping the last
// pooled tip into its place (URTS's discipline).
func (m *modelEngine) unpool(p int32) {
	if at := m.pos[p]; at >= 0 {
		last := int32(len(m.pool) - 1)
		moved := m.pool[last]
		m.pool[at] = moved
		m.pos[moved] = at
		m.pool = m.pool[:last]
		m.pos[p] = -1
	}
}

// expire removes the tips unapproved TipExpiry after their issue.
func (m *modelEngine) expire(now int64) {
	for len(m.expiring) > 0 && m.expiring[0].at <= now {
		m.unpool(m.expiring.pop().idx)
	}
}

func (m *modelEngine) tips() float64 {
	if m.rootIsTip {
		return float64(len(m.pool) + 1)
	}
	return float64(len(m.pool))
}

func (m *modelEngine) overflowed() bool { return false }

func dup(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// timeHeap is a min-heap of transactions by a time.
type timeHeap []timed

type timed struct {
	at  int64
	idx int32
}

func (h *timeHeap) push(at int64, idx int32) {
	*h = append(*h, timed{at, idx})
	s := *h
	for j := len(s) - 1; j > 0; {
		i := (j - 1) / 2
		if s[i].at <= s[j].at {
			break
		}
		s[i], s[j] = s[j], s[i]
		j = i
	}
}

func (h *timeHeap) pop() timed {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		j := l
		if r := l + 1; r < len(s) && s[r].at < s[l].at {
			j = r
		}
		if s[i].at <= s[j].at {
			break
		}
		s[i], s[j] = s[j], s[i]
		i = j
	}
	*h = s
	return top
}
