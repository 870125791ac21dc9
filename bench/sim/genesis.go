package sim

import (
	"math"
	"math/rand/v2"
)

// genesisWalk is the MCMC walk from the genesis root at any α over the
// model engine's tangle, with exact cumulative weights (the whitepaper's
// 1 + the number of visible direct and indirect approvers). Walked step by
// step, every walk crosses all history, so a run is quadratic (the dag
// engine takes minutes for 50,000 transactions). Two things make it fast
// and keep it exact; docs/design/2026-12-03-genesis-walk.md weighs them
// against the alternatives.
//
// Weights. Most of history is settled: old transactions that every new one
// approves. A settled transaction's weight grows by exactly one per
// attach, so it is kept as an offset from the visible count n, and the
// cone walk that adds a new transaction to its ancestors' weights stops at
// it. Settling is a guess that every attach checks (the new transaction
// approves the whole settled set exactly when its cone walk meets every
// maximal settled transaction: the set is ancestor-closed, and a path into
// it enters at a maximal one); when the check fails, the settled
// transactions outside the new one's cone get their offsets lowered by
// one, an O(n) repair, so weights are always exact (TestGenesisWeightsExact
// drives repairs on purpose). A transaction becomes a candidate
// settleAfter attaches after its own and is settled when the next
// probeSpan attaches all approved it; one that none of them approved is
// left unsettled for good (a tip the walk left behind), one that some
// approved is probed again.
//
// The jump. A transaction is frozen once it has a visible approver and no
// approval of it is in flight: walks end only at transactions without
// visible approvers, so no new one will ever approve it, and its approver
// set is final. A frozen transaction's transition probabilities, ∝
// exp(α·H_y) over its approvers y, are then fixed when α = 0 or it has one
// approver, or when its approvers are settled (their weights differ by
// constants) apart from ones that trail the heaviest settled one by so
// much that exp(−α·gap) < e^−negligibleExponent (such a gap only grows
// between repairs: the settled one gains one per attach, the other at most
// as much). The
// interior V is the ancestor-closed set of frozen transactions with fixed
// transitions; a walk's way through it is a Markov chain that no longer
// changes, so the probability that a walk from the root first leaves V at
// transaction x, mass[x], is fixed too, and mass moves along as V grows (a
// transaction joining V passes its mass to its approvers). A walk draws
// where it leaves V from mass (one draw, not thousands of steps) and steps
// on from there with exact weights. The dropped probabilities change the
// distribution of a walk's end by less than e^−negligibleExponent per step
// in V (≈ 2·10⁻¹⁴ in total over a 5,000-step walk), far below the
// resolution of the 53-bit uniform draws the steps use; TestGenesisJump
// compares the end distribution with a brute-force propagation from the
// root. A repair changes offsets, so when α > 0 V is rebuilt after one,
// from the first transaction whose transitions compare a changed offset.
//
// Nodes are numbered 0 for the root and i+1 for transaction i.
type genesisWalk struct {
	rng   *rand.Rand
	alpha float64
	n     int32 // visible transactions

	par     [][2]int32 // by node: parents, a single one twice
	first   []int32    // by node: newest approval (child*2+slot), -1 if none
	count   []int32    // by node: visible approvers
	links   []int32    // by approval: the parent's next older approval
	pending []int32    // by node: approvals chosen but not yet visible
	flags   []uint8
	mass    []float64 // by node: probability that a walk first leaves V here

	// cw is the weight of an unsettled transaction and the offset from n
	// of a settled one; mark is the cone walks' epoch.
	cw          []int32
	mark        []uint32
	epoch       uint32
	nMax        int // maximal settled transactions
	stack       []int32
	settleAfter int32
	probeSpan   int32
	probes      []probe // due in order, from probeAt on
	probeAt     int
	repairs     int

	boundary []int32   // nodes outside V with mass > 0
	cum      []float64 // prefix sums of the boundary's masses
	cumOK    bool
	recheck  timeHeap // (visible count, node): fixed once a gap has grown
	work     []int32
	newly    []int32 // settled by the last probe
	weights  []float64
	expTable []float64 // exp(−α·gap) by gap
	rebuilds int
}

const (
	fInV uint8 = 1 << iota
	fSettled
	fMaximal
)

// negligibleExponent: a transition with probability below e^−40 ≈ 4·10⁻¹⁸
// of the heaviest one's is dropped inside V (see genesisWalk).
const negligibleExponent = 40

type probe struct {
	node  int32
	due   int32 // the visible count at which it is judged
	nonAp int32 // later transactions that did not approve it, when probed
}

func newGenesisWalk(cfg *Config, rng *rand.Rand) *genesisWalk {
	lh := cfg.Lambda * cfg.Delay.Mean().Seconds()
	w := &genesisWalk{
		rng: rng, alpha: cfg.Alpha,
		// Every transaction issued some 20 delays after a settled one
		// approves it unless the walk left its branch behind (the cone of
		// a transaction holds every tip some 15–20h after its issue); the
		// margin trades the width of the cone walks and of the stepped
		// part of a walk against repairs.
		settleAfter: int32(20*lh) + 32,
		probeSpan:   int32(4*lh) + 16,
	}
	if w.alpha != 0 {
		w.expTable = make([]float64, int(min(expTableMax, 745/w.alpha+2)))
		for g := range w.expTable {
			w.expTable[g] = math.Exp(-w.alpha * float64(g))
		}
	}
	if n := cfg.Count; n > 0 {
		w.par = make([][2]int32, 0, n+1)
		w.first = make([]int32, 0, n+1)
		w.count = make([]int32, 0, n+1)
		w.links = make([]int32, 0, 2*(n+1))
		w.pending = make([]int32, 0, n+1)
		w.flags = make([]uint8, 0, n+1)
		w.mass = make([]float64, 0, n+1)
		w.cw = make([]int32, 0, n+1)
		w.mark = make([]uint32, 0, n+1)
	}
	w.addNode([2]int32{-1, -1})
	w.mass[0] = 1
	w.boundary = append(w.boundary, 0)
	return w
}

func (w *genesisWalk) addNode(par [2]int32) {
	w.par = append(w.par, par)
	w.first = append(w.first, -1)
	w.count = append(w.count, 0)
	w.links = append(w.links, -1, -1)
	w.pending = append(w.pending, 0)
	w.flags = append(w.flags, 0)
	w.mass = append(w.mass, 0)
	w.cw = append(w.cw, 1)
	w.mark = append(w.mark, 0)
}

func (w *genesisWalk) has(u int32, f uint8) bool { return w.flags[u]&f != 0 }

// weight returns the cumulative weight of transaction node u ≥ 1.
func (w *genesisWalk) weight(u int32) int64 {
	if w.has(u, fSettled) {
		return int64(w.cw[u]) + int64(w.n)
	}
	return int64(w.cw[u])
}

// node maps a simulator index to a node and back.
func node(i int32) int32  { return i + 1 }
func index(u int32) int32 { return u - 1 }

// choose is two independent walks from the root; the parents coincide
// when the walks do (as tipselect.MCMC's).
func (w *genesisWalk) choose(_ int64, dst []int32) []int32 {
	a, b := w.walk(), w.walk()
	w.pending[a]++
	dst = append(dst, index(a))
	if b != a || a == 0 {
		if b != a {
			w.pending[b]++
		}
		dst = append(dst, index(b))
	}
	return dst
}

// walk returns the end of one walk from the root.
func (w *genesisWalk) walk() int32 {
	cur := w.jump()
	for {
		d := w.count[cur]
		switch {
		case d == 0:
			return cur
		case d == 1:
			cur = w.first[cur] >> 1
			continue
		}
		at := w.first[cur]
		if w.alpha == 0 {
			for i := w.rng.IntN(int(d)); i > 0; i-- {
				at = w.links[at]
			}
			cur = at >> 1
			continue
		}
		// exp(α·(H_y − max_z H_z)), as tipselect.MCMC computes it (up to
		// rounding: from a table by the integer gap).
		var top int64 = math.MinInt64
		for a := at; a >= 0; a = w.links[a] {
			top = max(top, w.weight(a>>1))
		}
		ws := w.weights[:0]
		var sum float64
		for a := at; a >= 0; a = w.links[a] {
			x := w.expGap(top - w.weight(a>>1))
			ws = append(ws, x)
			sum += x
		}
		w.weights = ws
		u := w.rng.Float64() * sum
		next := int32(-1)
		for i, a := 0, at; a >= 0; i, a = i+1, w.links[a] {
			if ws[i] > 0 {
				next = a >> 1
			}
			if u < ws[i] {
				break
			}
			u -= ws[i]
		}
		cur = next
	}
}

// expGap returns exp(−α·gap) for a gap ≥ 0.
func (w *genesisWalk) expGap(gap int64) float64 {
	if gap < int64(len(w.expTable)) {
		return w.expTable[gap]
	}
	return math.Exp(-w.alpha * float64(gap))
}

// expTableMax bounds the table of exp(−α·gap): 8 bytes per entry, and
// gaps past exp's underflow (745/α) all give 0.
const expTableMax = 1 << 16

// jump draws where a walk from the root first leaves V.
func (w *genesisWalk) jump() int32 {
	if len(w.boundary) == 1 {
		return w.boundary[0]
	}
	if !w.cumOK {
		w.cum = w.cum[:0]
		var s float64
		for _, b := range w.boundary {
			s += w.mass[b]
			w.cum = append(w.cum, s)
		}
		w.cumOK = true
	}
	u := w.rng.Float64() * w.cum[len(w.cum)-1]
	lo, hi := 0, len(w.cum)-1
	for lo < hi {
		if m := (lo + hi) / 2; w.cum[m] > u {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return w.boundary[lo]
}

// attach records transaction idx, visible at now, approving parents
// (as choose returned them).
func (w *genesisWalk) attach(idx int32, _ int64, parents []int32) {
	u := node(idx)
	par := [2]int32{node(parents[0]), node(parents[0])}
	if len(parents) > 1 {
		par[1] = node(parents[1])
	}
	w.addNode(par)
	w.n = u
	for slot, p := range par {
		if slot == 1 && p == par[0] {
			break
		}
		w.links[2*u+int32(slot)] = w.first[p]
		w.first[p] = 2*u + int32(slot)
		w.count[p]++
		w.pending[p]--
	}
	// At α = 0 no transition depends on a weight.
	if from := w.addWeight(u); from >= 0 && w.alpha != 0 {
		w.rebuild(from)
	}
	w.probe()
	for _, s := range w.newly {
		w.work = append(w.work, w.par[s][0], w.par[s][1])
	}
	for len(w.recheck) > 0 && w.recheck[0].at <= int64(w.n) {
		w.work = append(w.work, w.recheck.pop().idx)
	}
	w.work = append(w.work, par[0], par[1])
	w.drain()
}

// frozen: the approver set is final (see genesisWalk).
func (w *genesisWalk) frozen(u int32) bool { return w.count[u] > 0 && w.pending[u] == 0 }

func (w *genesisWalk) ready(u int32) bool {
	return u == 0 || w.has(w.par[u][0], fInV) && w.has(w.par[u][1], fInV)
}

// fixed reports whether frozen u's transition probabilities no longer
// change (until a repair); when a gap has yet to grow it schedules a
// recheck.
func (w *genesisWalk) fixed(u int32) bool {
	if w.alpha == 0 || w.count[u] == 1 {
		return true
	}
	maxOff, settled := int32(math.MinInt32), false
	for a := w.first[u]; a >= 0; a = w.links[a] {
		if y := a >> 1; w.has(y, fSettled) {
			settled = true
			maxOff = max(maxOff, w.cw[y])
		}
	}
	if !settled {
		return false // a settle wakes it
	}
	need := int64(math.Ceil(negligibleExponent / w.alpha))
	var wait int64
	for a := w.first[u]; a >= 0; a = w.links[a] {
		if y := a >> 1; !w.has(y, fSettled) {
			gap := int64(maxOff) + int64(w.n) - int64(w.cw[y])
			wait = max(wait, need-gap)
		}
	}
	if wait > 0 {
		w.recheck.push(int64(w.n)+wait, u)
		return false
	}
	return true
}

// drain lets the queued nodes join V where they can, and their approvers
// after them.
func (w *genesisWalk) drain() {
	for len(w.work) > 0 {
		u := w.work[len(w.work)-1]
		w.work = w.work[:len(w.work)-1]
		if u < 0 || w.has(u, fInV) || !w.ready(u) || !w.frozen(u) || !w.fixed(u) {
			continue
		}
		w.join(u)
	}
}

// join adds u to V and passes its mass on to its approvers.
func (w *genesisWalk) join(u int32) {
	w.flags[u] |= fInV
	if w.mass[u] > 0 {
		for i, b := range w.boundary {
			if b == u {
				last := len(w.boundary) - 1
				w.boundary[i] = w.boundary[last]
				w.boundary = w.boundary[:last]
				break
			}
		}
	}
	w.passOn(u, 0)
}

// passOn adds the mass of V node u times the probability of each step
// u → y to each approver y at or after node from, and queues them.
func (w *genesisWalk) passOn(u, from int32) {
	w.cumOK = false
	m := w.mass[u]
	biased := w.alpha != 0 && w.count[u] > 1
	var maxOff int32
	var sum float64
	if biased {
		maxOff = math.MinInt32
		for a := w.first[u]; a >= 0; a = w.links[a] {
			if y := a >> 1; w.has(y, fSettled) {
				maxOff = max(maxOff, w.cw[y])
			}
		}
		for a := w.first[u]; a >= 0; a = w.links[a] {
			if y := a >> 1; w.has(y, fSettled) {
				sum += math.Exp(w.alpha * float64(w.cw[y]-maxOff))
			}
		}
	}
	for a := w.first[u]; a >= 0; a = w.links[a] {
		y := a >> 1
		if y < from {
			continue
		}
		p := 1 / float64(w.count[u])
		if biased {
			p = 0
			if w.has(y, fSettled) {
				p = math.Exp(w.alpha*float64(w.cw[y]-maxOff)) / sum
			}
		}
		if add := m * p; add > 0 {
			if w.mass[y] == 0 {
				w.boundary = append(w.boundary, y)
			}
			w.mass[y] += add
		}
		w.work = append(w.work, y)
	}
}

// rebuild recomputes V and the masses from node from on, after a repair
// changed the transitions of V nodes from on (see repair). Nodes before
// from keep their masses, which depend only on their parents, and pass
// theirs on again to approvers from on.
func (w *genesisWalk) rebuild(from int32) {
	w.rebuilds++
	for u := from; u <= w.n; u++ {
		w.flags[u] &^= fInV
		w.mass[u] = 0
	}
	keep := w.boundary[:0]
	for _, b := range w.boundary {
		if b < from {
			keep = append(keep, b)
		}
	}
	w.boundary = keep
	if from == 0 {
		w.mass[0] = 1
		w.boundary = append(w.boundary, 0)
	}
	w.cumOK = false
	epoch := w.nextEpoch()
	for u := from; u <= w.n; u++ {
		for _, p := range w.par[u] {
			if u > 0 && p < from && w.has(p, fInV) && w.mark[p] != epoch {
				w.mark[p] = epoch
				w.passOn(p, from)
			}
		}
	}
	for u := from; u <= w.n; u++ {
		if w.ready(u) && w.frozen(u) && w.fixed(u) {
			w.join(u)
		}
	}
	w.work = w.work[:0]
}

// nextEpoch returns a fresh cone-walk mark.
func (w *genesisWalk) nextEpoch() uint32 {
	w.epoch++
	if w.epoch == 0 {
		clear(w.mark)
		w.epoch = 1
	}
	return w.epoch
}

// addWeight adds new node u to its ancestors' weights; after a repair it
// returns the first V node whose transitions may have changed, else -1.
func (w *genesisWalk) addWeight(u int32) int32 {
	// n now counts u, so settled offsets already include it.
	epoch := w.nextEpoch()
	w.mark[u] = epoch
	hits := 0
	stack := append(w.stack[:0], w.par[u][0], w.par[u][1])
	for len(stack) > 0 {
		a := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if a == 0 || w.mark[a] == epoch {
			continue
		}
		w.mark[a] = epoch
		if w.has(a, fSettled) {
			if w.has(a, fMaximal) {
				hits++
			}
			continue
		}
		w.cw[a]++
		stack = append(stack, w.par[a][0], w.par[a][1])
	}
	w.stack = stack
	if hits == w.nMax {
		return -1
	}
	return w.repair(u)
}

// repair lowers the offsets of the settled transactions that u does not
// approve: the visible count just counted u for all of them. It returns
// the first parent of a lowered one: the transitions of V nodes before it
// compare no lowered offset.
func (w *genesisWalk) repair(u int32) int32 {
	w.repairs++
	epoch := w.nextEpoch()
	stack := append(w.stack[:0], u)
	for len(stack) > 0 {
		a := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if a == 0 || w.mark[a] == epoch {
			continue
		}
		w.mark[a] = epoch
		stack = append(stack, w.par[a][0], w.par[a][1])
	}
	w.stack = stack
	first := u
	for a := int32(1); a < u; a++ {
		if w.has(a, fSettled) && w.mark[a] != epoch {
			w.cw[a]--
			first = min(first, w.par[a][0], w.par[a][1])
		}
	}
	return first
}

// probe starts and judges the settling probes at the visible count n.
func (w *genesisWalk) probe() {
	n := w.n
	w.newly = w.newly[:0]
	nonApprovers := func(u int32) int32 { return n - u - int32(w.weight(u)) }
	if c := n - w.settleAfter; c >= 1 {
		w.probes = append(w.probes, probe{node: c, due: n + w.probeSpan, nonAp: nonApprovers(c)})
	}
	for w.probeAt < len(w.probes) && w.probes[w.probeAt].due <= n {
		p := w.probes[w.probeAt]
		w.probeAt++
		if w.has(p.node, fSettled) {
			continue
		}
		switch missed := nonApprovers(p.node) - p.nonAp; {
		case missed == 0:
			w.settle(p.node)
		case missed < w.probeSpan:
			w.probes = append(w.probes, probe{node: p.node, due: n + w.probeSpan, nonAp: nonApprovers(p.node)})
		}
	}
	if w.probeAt > 64 && w.probeAt > len(w.probes)/2 {
		w.probes = w.probes[:copy(w.probes, w.probes[w.probeAt:])]
		w.probeAt = 0
	}
}

// settle settles u and its unsettled ancestors.
func (w *genesisWalk) settle(u int32) {
	stack := append(w.stack[:0], u)
	for len(stack) > 0 {
		a := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if a == 0 || w.has(a, fSettled) {
			continue
		}
		w.flags[a] |= fSettled
		w.cw[a] -= w.n
		w.newly = append(w.newly, a)
		maximal := true
		for at := w.first[a]; at >= 0; at = w.links[at] {
			if w.has(at>>1, fSettled) {
				maximal = false
				break
			}
		}
		if maximal {
			w.flags[a] |= fMaximal
			w.nMax++
		}
		for _, p := range w.par[a] {
			if p != 0 && w.has(p, fMaximal) {
				w.flags[p] &^= fMaximal
				w.nMax--
			}
			stack = append(stack, p)
		}
	}
	w.stack = stack
}
