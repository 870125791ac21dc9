package sim

import (
	"cmp"
	"math/bits"
	"slices"
)

// growthBins is the resolution of the cumulative-weight-by-age curve.
const growthBins = 100

// tracker follows a sample of transactions ("tracked") through their
// future cones, to measure cumulative weight growth and confirmation
// latency exactly without a cone walk per transaction. Each tracked
// transaction holds one of 64 slots; every transaction carries a bitmask of
// the tracked transactions it approves directly or indirectly, the OR of its
// parents' masks, computed once when it becomes visible (its past never
// changes). A slot is reused after its transaction reaches maxAge; bits of
// the slot's previous owner still sit in old masks, so a parent's bit for a
// slot counts only if the parent became visible after the slot's current
// owner (only such transactions can be its descendants).
type tracker struct {
	rule    Confirm
	weights []float64 // by issuer, approval weight rule only
	total   float64
	maxAge  int64
	binW    int64
	every   int

	masks   []uint64 // by index
	slots   [64]slot
	active  uint64
	retire  int64 // earliest issued+maxAge among active slots
	counter int

	latencies   []int64 // from issue, of confirmed tracked transactions
	unconfirmed int
	growth      [growthBins]float64 // summed CW increments by age bin
	completed   int

	// words is the length of a slot's issuer bitset; issuerBits holds
	// them, slot b's at [b*words, (b+1)*words).
	words      int
	issuerBits []uint64

	// views, in the network model, judges the same tracked transactions
	// by each node's own view (network.go).
	views *nodeConfirm
}

type slot struct {
	start     int32 // index of the tracked transaction
	issued    int64
	cw        int64
	weight    float64
	confirmed int64 // -1 until confirmed
	incr      [growthBins]uint32
}

func newTracker(cfg *Config) *tracker {
	h := cfg.Delay.Mean().Seconds()
	t := &tracker{rule: cfg.Confirm, retire: 1<<63 - 1}
	// Long enough for nearly every transaction to confirm. Under uniform
	// selection at λh = 100 the cumulative weight grows slowly for about
	// 15h, then at about λ per second (cw_growth.png), and θ = 100 is
	// reached after 29 s ≈ 15h median, 44 s ≈ 22h at the 99th percentile;
	// 30h + 4θ/λ leaves room for that tail. For approval weight the
	// slowest needed issuer appears at rate λ·share.
	age := 30*h + 4*float64(cfg.Confirm.CWThreshold)/cfg.Lambda
	if ws := cfg.Confirm.Issuers; len(ws) > 0 {
		t.weights = ws
		minShare := 1.0
		for _, w := range ws {
			t.total += w
		}
		// The issuers needed are the heaviest ones up to the quorum; the
		// lightest of those appears at rate λ·share. With equal weights
		// this is the smallest share, as before.
		minShare = marginalShare(ws, cfg.Confirm.Quorum)
		age = 30*h + 10/(cfg.Lambda*minShare)
		t.words = (len(ws) + 63) / 64
		t.issuerBits = make([]uint64, 64*t.words)
	}
	t.maxAge = int64(age * 1e9)
	t.binW = max(t.maxAge/growthBins, 1)
	// Spread the slots evenly over the run: one frees every maxAge/64.
	t.every = max(1, int(cfg.Lambda*age/64))
	return t
}

// attach computes the mask of the transaction that became visible at now
// and updates the slots it reaches. measured says whether it may be
// tracked itself.
func (t *tracker) attach(idx int32, issued, now int64, parents []int32, issuer int, measured bool) {
	if now >= t.retire {
		t.retireOld(now)
	}
	var m uint64
	for _, p := range parents {
		if p == root {
			continue
		}
		if pm := t.masks[p] & t.active; pm != 0 {
			m |= pm &^ t.newerThan(p, pm)
		}
	}
	for rest := m; rest != 0; rest &= rest - 1 {
		b := bits.TrailingZeros64(rest)
		s := &t.slots[b]
		s.cw++
		s.incr[min((now-s.issued)/t.binW, growthBins-1)]++
		t.count(b, issuer, now)
	}
	if measured {
		t.counter++
		if t.counter%t.every == 0 && t.active != ^uint64(0) {
			b := bits.TrailingZeros64(^t.active)
			t.active |= 1 << b
			t.slots[b] = slot{start: idx, issued: issued, cw: 1, confirmed: -1}
			clear(t.issuerBits[b*t.words : (b+1)*t.words])
			if t.views != nil {
				t.views.reset(b)
			}
			t.count(b, issuer, now)
			m |= 1 << b
			t.retire = min(t.retire, issued+t.maxAge)
		}
	}
	t.masks = append(t.masks, m)
}

// newerThan returns the slots among pm whose owner became visible after
// transaction p: p's bits for them are left over from earlier owners.
func (t *tracker) newerThan(p int32, pm uint64) uint64 {
	var stale uint64
	for rest := pm; rest != 0; rest &= rest - 1 {
		b := bits.TrailingZeros64(rest)
		if t.slots[b].start > p {
			stale |= 1 << b
		}
	}
	return stale
}

// count adds issuer's weight (approval weight rule) and checks the rule.
func (t *tracker) count(b, issuer int, now int64) {
	s := &t.slots[b]
	if s.confirmed >= 0 {
		return
	}
	if t.weights != nil {
		if w, bit := &t.issuerBits[b*t.words+issuer/64], uint64(1)<<(issuer%64); *w&bit == 0 {
			*w |= bit
			s.weight += t.weights[issuer]
		}
		if s.weight > t.rule.Quorum*t.total {
			s.confirmed = now
		}
		return
	}
	if s.cw >= int64(t.rule.CWThreshold) {
		s.confirmed = now
	}
}

// retireOld frees the slots whose transaction reached maxAge.
func (t *tracker) retireOld(now int64) {
	t.retire = 1<<63 - 1
	for rest := t.active; rest != 0; rest &= rest - 1 {
		b := bits.TrailingZeros64(rest)
		s := &t.slots[b]
		if now-s.issued < t.maxAge {
			t.retire = min(t.retire, s.issued+t.maxAge)
			continue
		}
		if s.confirmed >= 0 {
			t.latencies = append(t.latencies, s.confirmed-s.issued)
		} else {
			t.unconfirmed++
		}
		for i, n := range s.incr {
			t.growth[i] += float64(n)
		}
		if t.views != nil {
			t.views.retire(b, s.issued)
		}
		t.completed++
		t.active &^= 1 << b
	}
}

// marginalShare is the weight share of the lightest issuer among the
// heaviest ones that together pass the quorum.
func marginalShare(ws []float64, quorum float64) float64 {
	sorted := slices.Clone(ws)
	slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
	var total, acc float64
	for _, w := range sorted {
		total += w
	}
	for _, w := range sorted {
		acc += w
		if acc > quorum*total {
			return w / total
		}
	}
	return sorted[len(sorted)-1] / total
}

// IssuersToThreshold is the number of heaviest issuers whose weights
// together pass the quorum: the fewest whose approval confirms.
func IssuersToThreshold(ws []float64, quorum float64) int {
	sorted := slices.Clone(ws)
	slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
	var total, acc float64
	for _, w := range sorted {
		total += w
	}
	for i, w := range sorted {
		acc += w
		if acc > quorum*total {
			return i + 1
		}
	}
	return len(sorted)
}
