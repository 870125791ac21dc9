package dag_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

// runPipeline starts a pipeline over l and stops it when the test ends.
func runPipeline(t testing.TB, l *dag.Ledger, cfg dag.PipelineConfig) *dag.Pipeline {
	t.Helper()
	p, err := dag.NewPipeline(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

func TestPipelineRejections(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	p := runPipeline(t, h.l, dag.PipelineConfig{})
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	good := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("ok"))

	badSig := append([]byte(nil), dev.Issue(dag.KindData, root, root, at(2*time.Second), []byte("s")).Bytes()...)
	badSig[len(badSig)-9] ^= 1
	lowWork := dagtest.NewIssuer("lazy", dagtestRules()).Build(dag.KindData, root, root, at(time.Second), nil)
	for dagtestRules().Required(0, 0) > 0 && powOK(lowWork, 2) {
		lowWork.Nonce++
	}
	future := dagtest.NewIssuer("future", dagtestRules()).Issue(dag.KindData, root, root, h.now.Add(time.Hour).UnixNano(), nil)
	beacon := dagtest.NewIssuer("impostor", dagtestRules()).Issue(dag.KindBeacon, root, root, at(time.Second), nil)
	big := dagtest.NewIssuer("big", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), make([]byte, dag.DefaultMaxPayload+1))

	cases := []struct {
		name string
		raw  []byte
		code string
	}{
		{"malformed", []byte("not a transaction"), "malformed"},
		{"trailing", append(append([]byte(nil), good.Bytes()...), 1), "trailing_bytes"},
		{"oversize", big.Bytes(), "payload_too_large"},
		{"bad signature", badSig, "bad_signature"},
		{"insufficient work", lowWork.Bytes(), "insufficient_work"},
		{"future", future.Bytes(), "future_time"},
		{"not validator", beacon.Bytes(), "not_validator"},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.l.Stats()
			r, err := p.Submit(ctx, c.raw)
			if got := dag.Code(err); got != c.code || r.Status != dag.StatusRejected {
				t.Fatalf("Submit: %+v, %v (code %q), want code %q", r, err, got, c.code)
			}
			if after := h.l.Stats(); after != before {
				t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
			}
		})
	}
	r, err := p.Submit(ctx, good.Bytes())
	if err != nil || r.Status != dag.StatusAttached || r.ID != good.ID() {
		t.Fatalf("good: %+v, %v", r, err)
	}
	r, err = p.Submit(ctx, good.Bytes())
	if err != nil || r.Status != dag.StatusDuplicate {
		t.Fatalf("duplicate: %+v, %v", r, err)
	}
}

// TestPipelineConcurrent has many goroutines submitting one stream in
// interleaved chunks (so parents often arrive after children) while others
// read and select tips; under -race it checks the locking, and at the end
// that every transaction attached and nothing is left parked.
func TestPipelineConcurrent(t *testing.T) {
	net := dagtest.NewNetwork(1, dagtestRules())
	stream := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 11, BeaconEvery: 20}).Take(3000)
	raws := dagtest.Encode(stream)
	h := &harness{t: t, net: net, now: dagtest.GenesisTime.Add(time.Hour)}
	h.l = h.open(nil)
	p := runPipeline(t, h.l, dag.PipelineConfig{BatchSize: 16, QueueLength: 64, AttachBatch: 32})

	var confirmed atomic.Int64
	h.l.Subscribe(func(e dag.Event) {
		if e.Kind == dag.EventConfirmed {
			confirmed.Add(1)
		}
	})
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var buf []dag.ID
			for {
				select {
				case <-stop:
					return
				default:
				}
				buf = h.l.Tips(buf[:0])
				for _, id := range buf {
					h.l.Info(id)
					h.l.Approvers(id, nil)
				}
				id, _ := h.l.RecentConfirmed(3)
				h.l.Info(id)
				h.l.Stats()
			}
		}()
	}
	const writers, chunk = 8, 25
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * chunk; i < len(raws); i += writers * chunk {
				for _, r := range p.SubmitMany(context.Background(), raws[i:min(i+chunk, len(raws))]) {
					if r.Err != nil {
						failures.Add(1)
						t.Errorf("%s: %v", r.ID.Short(), r.Err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	s := h.l.Stats()
	if s.Transactions != uint64(len(stream)) || s.Parked != 0 || failures.Load() != 0 {
		t.Fatalf("stats %+v of %d, %d failures", s, len(stream), failures.Load())
	}
	if int(confirmed.Load()) != s.Confirmed || s.Confirmed < len(stream)/2 {
		t.Fatalf("confirmed events %d, stats %d", confirmed.Load(), s.Confirmed)
	}
}

// TestPipelineShutdown cancels Run while submitters are blocked on a full
// queue: Run must return, and every submitter must get an answer.
func TestPipelineShutdown(t *testing.T) {
	net := dagtest.NewNetwork(1, dagtestRules())
	raws := dagtest.Encode(dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 5}).Take(2000))
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, Now: func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := dag.NewPipeline(l, dag.PipelineConfig{QueueLength: 4, BatchSize: 4, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	var wg sync.WaitGroup
	var answered atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range p.SubmitMany(context.Background(), raws[w*500:(w+1)*500]) {
				if r.Err == nil || errors.Is(r.Err, dag.ErrClosed) {
					answered.Add(1)
				} else {
					t.Errorf("unexpected %v", r.Err)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	wg.Wait()
	if answered.Load() != 2000 {
		t.Fatalf("%d of 2000 answered", answered.Load())
	}
	if r, err := p.Submit(context.Background(), raws[0]); !errors.Is(err, dag.ErrClosed) && r.Status != dag.StatusDuplicate {
		t.Fatalf("Submit after shutdown: %+v, %v", r, err)
	}
}

// TestSubmitDecoded: the decoded entry point gives the same verdicts as
// the encoded one and leaves the caller's slice alone.
func TestSubmitDecoded(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	p := runPipeline(t, h.l, dag.PipelineConfig{})
	root := h.l.Root()
	good := dagtest.NewIssuer("good", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), []byte("ok"))
	raw := append([]byte(nil), dagtest.NewIssuer("bad", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil).Bytes()...)
	raw[len(raw)-9] ^= 1 // breaks the signature; the work is re-checked on the new ID
	bad, err := dag.Decode(raw, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	for !powOK(bad, 2) {
		bad.Nonce++
	}
	txs := []*dag.Transaction{good, bad, good}
	results := p.SubmitDecoded(context.Background(), txs)
	if results[0].Status != dag.StatusAttached || dag.Code(results[1].Err) != "bad_signature" {
		t.Fatalf("results %+v", results)
	}
	if s := results[2].Status; s != dag.StatusAttached && s != dag.StatusDuplicate {
		t.Fatalf("repeated transaction: %+v", results[2])
	}
	if txs[0] != good || txs[1] != bad || txs[2] != good {
		t.Fatal("SubmitDecoded changed the caller's slice")
	}
}

// TestPipelineAdmit: the admission check sees only transactions whose
// work and signature verified, its error rejects without attaching, and
// nil admits.
func TestPipelineAdmit(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	p := runPipeline(t, h.l, dag.PipelineConfig{})
	root := h.l.Root()
	victim := dagtest.NewIssuer("victim", dagtestRules())
	// A second instance of the victim's key, so the victim's own chain
	// does not advance past the forgery.
	forged := dagtest.NewIssuer("victim", dagtestRules()).Build(dag.KindData, root, root, at(time.Second), []byte("forged"))
	forged.Signature[0] ^= 1 // names the victim's key, not signed by it
	forgedRaw := forged.Encode(nil)
	for !powOK(mustDecode(t, forgedRaw), dagtestRules().Required(len(forged.Payload), 0)) {
		forged.Nonce++
		forgedRaw = forged.Encode(nil)
	}
	refused := dagtest.NewIssuer("refused", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil)
	good := victim.Issue(dag.KindData, root, root, at(2*time.Second), []byte("mine"))

	var mu sync.Mutex
	var seen []dag.ID
	errNo := errors.New("test: not admitted")
	admit := func(tx *dag.Transaction) error {
		mu.Lock()
		seen = append(seen, tx.ID())
		mu.Unlock()
		if tx.ID() == refused.ID() {
			return errNo
		}
		return nil
	}
	txs := []*dag.Transaction{mustDecode(t, forgedRaw), refused, good}
	res := p.SubmitAdmitted(context.Background(), txs, admit)
	if res[0].Status != dag.StatusRejected || dag.Code(res[0].Err) != "bad_signature" {
		t.Errorf("forged: %+v", res[0])
	}
	if res[1].Status != dag.StatusRejected || !errors.Is(res[1].Err, errNo) {
		t.Errorf("refused: %+v", res[1])
	}
	if res[2].Status != dag.StatusAttached {
		t.Errorf("good: %+v", res[2])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || slices.Contains(seen, forged.ID()) {
		t.Errorf("admit saw %v; want the two signed transactions only", seen)
	}
	if _, ok := h.l.Info(refused.ID()); ok {
		t.Error("a refused transaction was attached")
	}
}

// TestBatchConflictBothHalves: two transactions of one issuer with one
// sequence number in one batch are both attached and both results say
// conflicting, not only the second.
func TestBatchConflictBothHalves(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	p := runPipeline(t, h.l, dag.PipelineConfig{})
	root := h.l.Root()
	key := dagtest.Key("clone")
	a := dagtest.NewIssuer("clone", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), []byte("a"))
	b := dagtest.NewIssuer("clone", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), []byte("b"))
	if a.Issuer != dagtest.PublicKey(key) || a.Seq != b.Seq || a.ID() == b.ID() {
		t.Fatal("test setup: want two transactions of one key with one sequence number")
	}
	res := p.SubmitDecoded(context.Background(), []*dag.Transaction{a, b})
	for i, r := range res {
		if r.Status != dag.StatusAttached || !r.Conflicting {
			t.Errorf("result %d = %+v; want attached and conflicting", i, r)
		}
	}

	// One ledger batch per transaction: the twins attach in different
	// batches of one submission.
	h2 := newHarness(t, 1, dagtestRules(), nil)
	p2 := runPipeline(t, h2.l, dag.PipelineConfig{BatchSize: 1, AttachBatch: 1, Workers: 1})
	c := dagtest.NewIssuer("clone", dagtestRules()).Issue(dag.KindData, h2.l.Root(), h2.l.Root(), at(time.Second), []byte("c"))
	d := dagtest.NewIssuer("clone", dagtestRules()).Issue(dag.KindData, h2.l.Root(), h2.l.Root(), at(time.Second), []byte("d"))
	for i, r := range p2.SubmitDecoded(context.Background(), []*dag.Transaction{c, d}) {
		if r.Status != dag.StatusAttached || !r.Conflicting {
			t.Errorf("split batches: result %d = %+v; want attached and conflicting", i, r)
		}
	}
}

func mustDecode(t *testing.T, raw []byte) *dag.Transaction {
	t.Helper()
	tx, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}
