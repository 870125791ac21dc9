package dag_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
)

type harness struct {
	t   testing.TB
	net *dagtest.Network
	l   *dag.Ledger
	now time.Time
}

func newHarness(t testing.TB, validators int, rules pow.Rules, store dag.Store) *harness {
	t.Helper()
	h := &harness{t: t, net: dagtest.NewNetwork(validators, rules), now: dagtest.GenesisTime.Add(time.Hour)}
	h.l = h.open(store)
	return h
}

func (h *harness) open(store dag.Store) *dag.Ledger {
	h.t.Helper()
	l, err := dag.Open(dag.Config{Genesis: h.net.Genesis, Store: store, Now: func() time.Time { return h.now }})
	if err != nil {
		h.t.Fatalf("Open: %v", err)
	}
	return l
}

// attach offers txs and returns their results once durable.
func (h *harness) attach(txs ...*dag.Transaction) []dag.Result {
	h.t.Helper()
	res, err := h.l.AttachVerified(txs).Wait()
	if err != nil {
		h.t.Fatalf("Wait: %v", err)
	}
	return res
}

func (h *harness) mustAttach(txs ...*dag.Transaction) {
	h.t.Helper()
	for i, r := range h.attach(txs...) {
		if r.Status != dag.StatusAttached {
			h.t.Fatalf("tx %d (%s): status %v err %v missing %v", i, r.ID.Short(), r.Status, r.Err, r.Missing)
		}
	}
}

func (h *harness) info(id dag.ID) dag.Info {
	h.t.Helper()
	in, ok := h.l.Info(id)
	if !ok {
		h.t.Fatalf("%s not attached", id.Short())
	}
	return in
}

func at(d time.Duration) int64 { return dagtest.GenesisTime.Add(d).UnixNano() }

func TestAttachChainAndTips(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	a := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("a"))
	b := dev.Issue(dag.KindData, a.ID(), root, at(2*time.Second), []byte("b"))
	h.mustAttach(a, b)

	if got := h.l.Tips(nil); !slices.Equal(got, []dag.ID{b.ID()}) {
		t.Fatalf("tips = %v, want only b", got)
	}
	if got := h.l.Approvers(a.ID(), nil); !slices.Equal(got, []dag.ID{b.ID()}) {
		t.Fatalf("approvers of a = %v", got)
	}
	ib := h.info(b.ID())
	if ib.Prev != a.ID() || ib.Seq != 1 || ib.Arrival != 2 || ib.Issuer != dagtest.PublicKey(dev.Key) {
		t.Fatalf("info(b) = %+v", ib)
	}
	if s := h.l.Stats(); s.Transactions != 2 || s.Tips != 1 || s.Issuers != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestDuplicate(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	dev := dagtest.NewIssuer("dev", dagtestRules())
	tx := dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(time.Second), nil)
	h.mustAttach(tx)
	before := h.l.Stats()
	if r := h.attach(tx)[0]; r.Status != dag.StatusDuplicate || r.Err != nil {
		t.Fatalf("second attach = %+v, want duplicate", r)
	}
	if after := h.l.Stats(); after != before {
		t.Fatalf("duplicate changed state: %+v -> %+v", before, after)
	}
}

// TestContextualRejects covers the rules that need the transaction's past.
// Each rejected transaction must leave the ledger unchanged.
func TestContextualRejects(t *testing.T) {
	rules := pow.Rules{BaseBits: 4, RateWindow: 10 * time.Second, FreePerWindow: 2, BitsPerExcess: 4, MaxBits: 24}
	cases := []struct {
		name  string
		build func(h *harness) *dag.Transaction
		want  error
	}{
		{"future time", func(h *harness) *dag.Transaction {
			dev := dagtest.NewIssuer("dev", rules)
			return dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), h.now.Add(time.Hour).UnixNano(), nil)
		}, dag.ErrFuture},
		{"insufficient work", func(h *harness) *dag.Transaction {
			dev := dagtest.NewIssuer("dev", rules)
			tx := dev.Build(dag.KindData, h.l.Root(), h.l.Root(), at(time.Second), nil)
			for pow.Verify(tx.ID(), tx.Nonce, 4) {
				tx.Nonce++
			}
			return tx
		}, dag.ErrWork},
		{"rate needs more work", func(h *harness) *dag.Transaction {
			dev := dagtest.NewIssuer("dev", rules)
			for i := range 2 {
				h.mustAttach(dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(time.Duration(i+1)*time.Second), nil))
			}
			// The third in the window needs 4 more bits; solve only the base.
			tx := dev.Build(dag.KindData, h.l.Root(), h.l.Root(), at(3*time.Second), nil)
			for n := uint64(0); ; n++ {
				if pow.Verify(tx.ID(), n, 4) && !pow.Verify(tx.ID(), n, 8) {
					tx.Nonce = n
					break
				}
			}
			return tx
		}, dag.ErrWork},
		{"beacon from non-validator", func(h *harness) *dag.Transaction {
			dev := dagtest.NewIssuer("dev", rules)
			return dev.Issue(dag.KindBeacon, h.l.Root(), h.l.Root(), at(time.Second), nil)
		}, dag.ErrNotValidator},
		{"predecessor of another issuer", func(h *harness) *dag.Transaction {
			other := dagtest.NewIssuer("other", rules)
			o := other.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(time.Second), nil)
			h.mustAttach(o)
			dev := dagtest.NewIssuer("dev", rules)
			dev.Seq, dev.Prev = 1, o.ID()
			return dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(2*time.Second), nil)
		}, dag.ErrChain},
		{"sequence gap", func(h *harness) *dag.Transaction {
			dev := dagtest.NewIssuer("dev", rules)
			first := dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(time.Second), nil)
			h.mustAttach(first)
			dev.Seq = 5
			return dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(2*time.Second), nil)
		}, dag.ErrChain},
		{"time runs backwards", func(h *harness) *dag.Transaction {
			dev := dagtest.NewIssuer("dev", rules)
			h.mustAttach(dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(5*time.Second), nil))
			return dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(4*time.Second), nil)
		}, dag.ErrChain},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, 1, rules, nil)
			tx := c.build(h)
			before, tips := h.l.Stats(), h.l.Tips(nil)
			r := h.attach(tx)[0]
			if r.Status != dag.StatusRejected || !errors.Is(r.Err, c.want) {
				t.Fatalf("result %+v, want rejection %v", r, c.want)
			}
			if after := h.l.Stats(); after != before || !slices.Equal(h.l.Tips(nil), tips) || h.l.Known(tx.ID()) {
				t.Fatalf("rejected transaction changed the ledger: %+v -> %+v", before, after)
			}
		})
	}
}

func TestParkAndRelease(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	a := dev.Issue(dag.KindData, root, root, at(1*time.Second), []byte("a"))
	b := dev.Issue(dag.KindData, a.ID(), root, at(2*time.Second), []byte("b"))
	c := dev.Issue(dag.KindData, b.ID(), a.ID(), at(3*time.Second), []byte("c"))

	rc := h.attach(c)[0]
	if rc.Status != dag.StatusParked || !sameSet(rc.Missing, []dag.ID{a.ID(), b.ID()}) {
		t.Fatalf("c: %+v, want parked missing a and b", rc)
	}
	rb := h.attach(b)[0]
	// a is still unknown; b is known now (parked), so b reports only a.
	if rb.Status != dag.StatusParked || !sameSet(rb.Missing, []dag.ID{a.ID()}) {
		t.Fatalf("b: %+v, want parked missing a", rb)
	}
	if got := h.l.Missing(nil); !sameSet(got, []dag.ID{a.ID()}) {
		t.Fatalf("Missing() = %v, want a", got)
	}
	var attached []dag.ID
	h.l.Subscribe(func(e dag.Event) {
		if e.Kind == dag.EventAttached {
			attached = append(attached, e.Info.ID)
		}
	})
	h.mustAttach(a)
	if want := []dag.ID{a.ID(), b.ID(), c.ID()}; !slices.Equal(attached, want) {
		t.Fatalf("attach order %v, want a, b, c", attached)
	}
	if s := h.l.Stats(); s.Parked != 0 || s.Transactions != 3 {
		t.Fatalf("stats %+v", s)
	}
	if len(h.l.Missing(nil)) != 0 {
		t.Fatal("missing list not empty after release")
	}
}

func TestParkedDescendantsOfInvalidAreDropped(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	a := dev.Issue(dag.KindData, root, root, at(5*time.Second), nil)
	// bad's time runs backwards along the chain: invalid once a is known.
	bad := dev.Issue(dag.KindData, root, root, at(4*time.Second), nil)
	child := dagtest.NewIssuer("child", dagtestRules()).Issue(dag.KindData, bad.ID(), root, at(6*time.Second), nil)
	h.attach(child, bad)
	if s := h.l.Stats(); s.Parked != 2 {
		t.Fatalf("parked = %d, want 2", s.Parked)
	}
	h.mustAttach(a)
	if s := h.l.Stats(); s.Parked != 0 || s.Transactions != 1 {
		t.Fatalf("stats %+v: invalid transaction or its descendant stayed", s)
	}
}

func TestParkedFull(t *testing.T) {
	net := dagtest.NewNetwork(1, dagtestRules())
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, MaxParked: 2, Now: func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	var results []dag.Result
	for i := range 3 {
		dev := dagtest.NewIssuer(string(rune('a'+i)), dagtestRules())
		tx := dev.Issue(dag.KindData, dag.ID{byte(i + 1)}, dag.ID{9}, at(time.Second), nil)
		r, _ := l.AttachVerified([]*dag.Transaction{tx}).Wait()
		results = append(results, r...)
	}
	if results[2].Status != dag.StatusRejected || !errors.Is(results[2].Err, dag.ErrParkedFull) {
		t.Fatalf("third orphan: %+v, want ErrParkedFull", results[2])
	}
}

func TestEquivocation(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	root := h.l.Root()
	dev := dagtest.NewIssuer("cloned", dagtestRules())
	first := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("0"))
	seq, prev := dev.Seq, dev.Prev
	x := dev.Issue(dag.KindData, first.ID(), root, at(2*time.Second), []byte("x"))
	xNext := dev.Issue(dag.KindData, x.ID(), root, at(3*time.Second), []byte("x+1"))
	dev.Seq, dev.Prev = seq, prev
	y := dev.Issue(dag.KindData, first.ID(), root, at(2*time.Second), []byte("y"))
	honest := dagtest.NewIssuer("honest", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil)

	var conflicting []dag.ID
	h.l.Subscribe(func(e dag.Event) {
		if e.Kind == dag.EventConflicting {
			conflicting = append(conflicting, e.Info.ID)
		}
	})
	h.mustAttach(honest, first, x, xNext)
	r := h.attach(y)[0]
	if r.Status != dag.StatusAttached || !r.Conflicting {
		t.Fatalf("twin: %+v, want attached and conflicting (evidence is kept)", r)
	}
	for _, id := range []dag.ID{x.ID(), xNext.ID(), y.ID()} {
		if !h.info(id).Conflicting {
			t.Errorf("%s not marked conflicting", id.Short())
		}
	}
	for _, id := range []dag.ID{first.ID(), honest.ID()} {
		if h.info(id).Conflicting {
			t.Errorf("%s marked conflicting", id.Short())
		}
	}
	if !sameSet(conflicting, []dag.ID{x.ID(), xNext.ID(), y.ID()}) {
		t.Fatalf("conflicting events %v", conflicting)
	}
	for _, tip := range h.l.Tips(nil) {
		if h.info(tip).Conflicting {
			t.Fatalf("conflicting tip %s offered for approval", tip.Short())
		}
	}
	// A later transaction on the conflicting chain inherits the mark.
	dev.Seq, dev.Prev = 2, y.ID()
	h.mustAttach(dev.Issue(dag.KindData, root, root, at(4*time.Second), nil))
	if s := h.l.Stats(); s.Conflicting != 4 {
		t.Fatalf("conflicting count %d, want 4", s.Conflicting)
	}
}

func TestConfirmationSingleValidator(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	val := &dagtest.Issuer{Key: h.net.Validators[0], Rules: dagtestRules()}
	a := dev.Issue(dag.KindData, root, root, at(time.Second), nil)
	b := dev.Issue(dag.KindData, a.ID(), a.ID(), at(2*time.Second), nil)
	h.mustAttach(a, b)
	if h.info(a.ID()).Confirmed {
		t.Fatal("confirmed before any beacon")
	}
	beacon := val.Issue(dag.KindBeacon, b.ID(), b.ID(), at(3*time.Second), nil)
	h.mustAttach(beacon)
	ia, ib := h.info(a.ID()), h.info(b.ID())
	if !ia.Confirmed || !ib.Confirmed || ia.ConfirmedIndex != 1 || ib.ConfirmedIndex != 2 {
		t.Fatalf("a %+v\nb %+v", ia, ib)
	}
	if h.info(beacon.ID()).Confirmed {
		t.Fatal("a beacon does not approve itself")
	}
}

// TestConfirmationNeedsTwoThirds: with 4 equal validators a transaction is
// confirmed by the third distinct validator's beacon, not before, and a
// validator's second beacon adds nothing.
func TestConfirmationNeedsTwoThirds(t *testing.T) {
	h := newHarness(t, 4, dagtestRules(), nil)
	root := h.l.Root()
	tx := dagtest.NewIssuer("dev", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil)
	h.mustAttach(tx)
	vals := make([]*dagtest.Issuer, 4)
	for i, k := range h.net.Validators {
		vals[i] = &dagtest.Issuer{Key: k, Rules: dagtestRules()}
	}
	beacon := func(v int, d time.Duration) {
		h.mustAttach(vals[v].Issue(dag.KindBeacon, tx.ID(), tx.ID(), at(d), nil))
	}
	beacon(0, 2*time.Second)
	beacon(0, 3*time.Second)
	beacon(1, 4*time.Second)
	if in := h.info(tx.ID()); in.Confirmed || in.Weight != 2 || in.Validators != 0b11 {
		t.Fatalf("after 2 validators: %+v", in)
	}
	beacon(2, 5*time.Second)
	if in := h.info(tx.ID()); !in.Confirmed || in.Weight != 3 {
		t.Fatalf("after 3 validators: %+v", in)
	}
	if s := h.l.Stats(); s.Beacons != 4 || s.Transactions != 5 {
		t.Fatalf("stats %+v, want 4 beacons of 5 transactions", s)
	}
}

// TestConfirmedOrderIndependentOfArrival feeds the same transactions in
// shuffled orders (parking absorbs the disorder) and expects the same
// confirmed order every time.
func TestConfirmedOrderIndependentOfArrival(t *testing.T) {
	net := dagtest.NewNetwork(1, dagtestRules())
	stream := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 7, Devices: 8, BeaconEvery: 10}).Take(400)
	var want []dag.ID
	for trial := range 5 {
		txs := slices.Clone(stream)
		if trial > 0 {
			rng := rand.New(rand.NewPCG(uint64(trial), 0))
			rng.Shuffle(len(txs), func(i, j int) { txs[i], txs[j] = txs[j], txs[i] })
		}
		h := &harness{t: t, net: net, now: dagtest.GenesisTime.Add(time.Hour)}
		h.l = h.open(nil)
		for i := 0; i < len(txs); i += 37 {
			h.attach(txs[i:min(i+37, len(txs))]...)
		}
		if s := h.l.Stats(); s.Transactions != uint64(len(stream)) || s.Parked != 0 {
			t.Fatalf("trial %d: stats %+v", trial, s)
		}
		got := h.l.Confirmed(1, len(stream), nil)
		if trial == 0 {
			want = got
			if len(want) < len(stream)/2 {
				t.Fatalf("only %d of %d confirmed", len(want), len(stream))
			}
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("trial %d: confirmed order differs (-first +this):\n%s", trial, diff)
		}
	}
}

func sameSet(a, b []dag.ID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	cmpID := func(x, y dag.ID) int { return x.Compare(y) }
	slices.SortFunc(a, cmpID)
	slices.SortFunc(b, cmpID)
	return slices.Equal(a, b)
}

func TestIssuerStateAndBeaconRateExemption(t *testing.T) {
	rules := pow.Rules{BaseBits: 1, RateWindow: 10 * time.Second, FreePerWindow: 1, BitsPerExcess: 8, MaxBits: 24}
	h := newHarness(t, 1, rules, nil)
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", rules)
	if _, known := h.l.IssuerState(dagtest.PublicKey(dev.Key), at(time.Second)); known {
		t.Fatal("unknown issuer reported as known")
	}
	a := dev.Issue(dag.KindData, root, root, at(time.Second), nil)
	b := dev.Issue(dag.KindData, root, root, at(2*time.Second), nil)
	h.mustAttach(a, b)
	st, known := h.l.IssuerState(dagtest.PublicKey(dev.Key), at(3*time.Second))
	if !known || st.NextSeq != 2 || st.Prev != b.ID() || st.Recent != 2 {
		t.Fatalf("IssuerState = %+v, %v", st, known)
	}
	if got, want := h.l.Required(dag.KindData, 0, st.Recent), rules.Required(0, 2); got != want || got <= 1 {
		t.Fatalf("Required = %d, want %d (rate bits included)", got, want)
	}
	// A validator beaconing fast pays only the base.
	val := &dagtest.Issuer{Key: h.net.Validators[0], Rules: rules}
	for i := range 5 {
		bc := val.Build(dag.KindBeacon, b.ID(), b.ID(), at(time.Duration(3+i)*time.Second), nil)
		for !pow.Verify(bc.ID(), bc.Nonce, 1) {
			bc.Nonce++
		}
		h.mustAttach(bc)
	}
}

func TestOldestTip(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	if _, ok := h.l.OldestTip(dag.ZeroID); ok {
		t.Fatal("a fresh ledger has only the root, which is not offered")
	}
	root := h.l.Root()
	a := dagtest.NewIssuer("a", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil)
	b := dagtest.NewIssuer("b", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil)
	h.mustAttach(a, b)
	if got, ok := h.l.OldestTip(dag.ZeroID); !ok || got != a.ID() {
		t.Fatalf("OldestTip = %s, %v; want a", got.Short(), ok)
	}
	if got, _ := h.l.OldestTip(a.ID()); got != b.ID() {
		t.Fatalf("OldestTip skipping a = %s; want b", got.Short())
	}
	if !h.l.IsTip(b.ID()) || h.l.IsTip(root) {
		t.Fatal("IsTip wrong")
	}
}

// TestRootsFollowConfirmation: a transaction's oldest and youngest roots
// are the confirmed transactions its unconfirmed past cone reaches, as of
// now, not as of its attach. A chain attached while each link was still
// unconfirmed must not carry the genesis forward once confirmation has
// moved past it, or tip selection would judge every tip lazy a minute
// after a busy network started.
func TestRootsFollowConfirmation(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	val := &dagtest.Issuer{Key: h.net.Validators[0], Rules: dagtestRules()}
	a := dev.Issue(dag.KindData, root, root, at(1*time.Second), nil)
	b := dev.Issue(dag.KindData, a.ID(), a.ID(), at(2*time.Second), nil)
	c := dev.Issue(dag.KindData, b.ID(), b.ID(), at(3*time.Second), nil)
	h.mustAttach(a, b, c)

	type roots struct{ Oldest, Youngest int64 }
	check := func(step string, want map[*dag.Transaction]roots) {
		t.Helper()
		got := map[*dag.Transaction]roots{}
		for tx := range want {
			in := h.info(tx.ID())
			got[tx] = roots{in.OldestRoot, in.YoungestRoot}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: roots (-want +got):\n%s", step, diff)
		}
	}
	g := at(0)
	check("nothing confirmed", map[*dag.Transaction]roots{a: {g, g}, b: {g, g}, c: {g, g}})

	h.mustAttach(val.Issue(dag.KindBeacon, a.ID(), a.ID(), at(4*time.Second), nil))
	check("a confirmed", map[*dag.Transaction]roots{b: {a.Time, a.Time}, c: {a.Time, a.Time}})

	// A new child of the unconfirmed chain starts from the current
	// boundary; with a second parent below it, the roots span both.
	d := dev.Issue(dag.KindData, c.ID(), c.ID(), at(5*time.Second), nil)
	e := dagtest.NewIssuer("other", dagtestRules()).Issue(dag.KindData, d.ID(), root, at(6*time.Second), nil)
	h.mustAttach(d, e)
	check("children of the chain", map[*dag.Transaction]roots{d: {a.Time, a.Time}, e: {g, a.Time}})

	h.mustAttach(val.Issue(dag.KindBeacon, c.ID(), c.ID(), at(7*time.Second), nil))
	check("c confirmed", map[*dag.Transaction]roots{d: {c.Time, c.Time}, e: {g, c.Time}})
}

// TestRootsMatchBruteForce grows a seeded random DAG with two validators
// beaconing at random and, after every attach, compares each unconfirmed
// transaction's roots with a direct walk of its unconfirmed past cone down
// to the confirmed boundary.
func TestRootsMatchBruteForce(t *testing.T) {
	h := newHarness(t, 2, dagtestRules(), nil)
	rng := rand.New(rand.NewPCG(7, 11))
	root := h.l.Root()
	type meta struct {
		parents [2]dag.ID
		time    int64
	}
	metas := map[dag.ID]meta{root: {time: at(0)}}
	ids := []dag.ID{root}
	devs := make([]*dagtest.Issuer, 8)
	for i := range devs {
		devs[i] = dagtest.NewIssuer(fmt.Sprintf("dev-%d", i), dagtestRules())
	}
	vals := []*dagtest.Issuer{
		{Key: h.net.Validators[0], Rules: dagtestRules()},
		{Key: h.net.Validators[1], Rules: dagtestRules()},
	}
	recent := func() dag.ID { return ids[max(0, len(ids)-1-rng.IntN(min(len(ids), 12)))] }

	bruteRoots := func(id dag.ID) (oldest, youngest int64) {
		oldest, youngest = int64(1<<62), int64(-1<<62)
		seen := map[dag.ID]bool{}
		stack := []dag.ID{id}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, p := range metas[x].parents {
				if seen[p] {
					continue
				}
				seen[p] = true
				if h.info(p).Confirmed {
					oldest, youngest = min(oldest, metas[p].time), max(youngest, metas[p].time)
				} else {
					stack = append(stack, p)
				}
			}
		}
		return oldest, youngest
	}

	for step := range 400 {
		var tx *dag.Transaction
		when := at(time.Duration(step+1) * time.Millisecond)
		if rng.IntN(4) == 0 {
			tx = vals[rng.IntN(2)].Issue(dag.KindBeacon, recent(), recent(), when, nil)
		} else {
			tx = devs[rng.IntN(len(devs))].Issue(dag.KindData, recent(), recent(), when, nil)
		}
		h.mustAttach(tx)
		metas[tx.ID()] = meta{parents: [2]dag.ID{tx.Trunk, tx.Branch}, time: tx.Time}
		ids = append(ids, tx.ID())
		for _, id := range ids[1:] {
			in := h.info(id)
			if in.Confirmed {
				continue
			}
			if o, y := bruteRoots(id); in.OldestRoot != o || in.YoungestRoot != y {
				t.Fatalf("step %d: %s roots %d..%d, brute force %d..%d", step, id.Short(), in.OldestRoot, in.YoungestRoot, o, y)
			}
		}
	}
	if st := h.l.Stats(); st.Confirmed < 100 {
		t.Fatalf("only %d confirmed: the walk checked too little", st.Confirmed)
	}
}

// TestNewestTips: up to k tips, newest attached first, never the root or a
// transaction that is approved already.
func TestNewestTips(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	root := h.l.Root()
	if got := h.l.NewestTips(4, nil); len(got) != 0 {
		t.Fatalf("fresh ledger: %d tips, want none (the root is not offered)", len(got))
	}
	var txs []*dag.Transaction
	for i := range 6 {
		txs = append(txs, dagtest.NewIssuer(fmt.Sprintf("tip-%d", i), dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil))
	}
	h.mustAttach(txs...)
	// A child of tips 1 and 4 takes them out and is the newest tip.
	child := dagtest.NewIssuer("child", dagtestRules()).Issue(dag.KindData, txs[1].ID(), txs[4].ID(), at(2*time.Second), nil)
	h.mustAttach(child)
	cases := []struct {
		k    int
		want []dag.ID
	}{
		{0, nil},
		{1, []dag.ID{child.ID()}},
		{3, []dag.ID{child.ID(), txs[5].ID(), txs[3].ID()}},
		{10, []dag.ID{child.ID(), txs[5].ID(), txs[3].ID(), txs[2].ID(), txs[0].ID()}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, h.l.NewestTips(c.k, nil)); diff != "" {
			t.Errorf("NewestTips(%d) (-want +got):\n%s", c.k, diff)
		}
	}
}
