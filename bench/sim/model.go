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
	k          int
	rng        *rand.Rand
	pool       []int32 // visible, unapproved transactions (not the root)
	pos        []int32 // index in pool by transaction, -1 when not there
	rootIsTip  bool
	chosenBufs []int
}

func newModelEngine(k int, rng *rand.Rand) *modelEngine {
	return &modelEngine{k: k, rng: rng, rootIsTip: true}
}

func (m *modelEngine) choose(_ int64, dst []int32) ([]int32, error) {
	n := len(m.pool)
	if n < m.k {
		return m.chooseFew(dst), nil
	}
	// Draw k distinct positions: the m-th draw is uniform over the n−m
	// positions not drawn yet, mapped past the drawn ones in ascending
	// order. For k = 2 this is URTS's i = IntN(n), j = IntN(n−1), j++ if
	// j ≥ i.
	chosen := m.chosenBufs[:0] // drawn positions, ascending
	for d := range m.k {
		r := m.rng.IntN(n - d)
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
		dst = append(dst, m.pool[r])
	}
	m.chosenBufs = chosen
	return dst, nil
}

// chooseFew mirrors URTS's fallback when fewer than k tips are pooled:
// take what there is, then the root (the newest confirmed transaction,
// which is all the dag engine ever confirms), the root twice only when
// nothing else exists.
func (m *modelEngine) chooseFew(dst []int32) []int32 {
	n := len(m.pool)
	switch n {
	case 0:
		if m.k == 2 {
			return append(dst, root, root)
		}
		return append(dst, root)
	case 1:
		dst = append(dst, m.pool[m.rng.IntN(1)])
		return append(dst, root)
	}
	// 2 ≤ n < k (k > 2 only): every pooled tip and the root.
	for i := range n {
		dst = append(dst, m.pool[i])
	}
	return append(dst, root)
}

func (m *modelEngine) attach(_, _ int64, parents []int32) error {
	idx := int32(len(m.pos))
	for i, p := range parents {
		if p == root {
			m.rootIsTip = false
			continue
		}
		if dup(parents[:i], p) {
			continue
		}
		if at := m.pos[p]; at >= 0 {
			last := int32(len(m.pool) - 1)
			moved := m.pool[last]
			m.pool[at] = moved
			m.pos[moved] = at
			m.pool = m.pool[:last]
			m.pos[p] = -1
		}
	}
	m.pos = append(m.pos, int32(len(m.pool)))
	m.pool = append(m.pool, idx)
	return nil
}

func (m *modelEngine) tips() int {
	if m.rootIsTip {
		return len(m.pool) + 1
	}
	return len(m.pool)
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
