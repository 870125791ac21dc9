package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/storage"
)

func TestSubmit(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("dev", testRules)
	txs := []*dag.Transaction{
		dev.Issue(dag.KindData, root, root, at(1*time.Second), []byte("binary")),
		nil, nil, nil, nil,
	}
	for i := 1; i < len(txs); i++ {
		txs[i] = dev.Issue(dag.KindData, txs[i-1].ID(), root, at(time.Duration(i+1)*time.Second), []byte{byte(i)})
	}
	for i, c := range []struct {
		name, contentType string
		body              []byte
	}{
		{"binary", mediaBinary, txs[0].Bytes()},
		{"json", mediaJSON, txJSON(t, txs[1])},
		{"json with charset", "application/json; charset=utf-8", txJSON(t, txs[2])},
		{"json without content type", "", append([]byte("\n "), txJSON(t, txs[3])...)},
		{"binary with parameters", "application/octet-stream; x=y", txs[4].Bytes()},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.post("/v1/transactions", c.contentType, c.body)
			if r.status != http.StatusAccepted {
				t.Fatalf("%d %s", r.status, r.body)
			}
			want := submitResult{ID: txs[i].ID(), Status: "attached"}
			if diff := cmp.Diff(want, decodeAs[submitResult](t, r)); diff != "" {
				t.Fatalf("result (-want +got):\n%s", diff)
			}
		})
	}
	if s := h.ledger.Stats(); s.Transactions != uint64(len(txs)) {
		t.Fatalf("stats %+v", s)
	}

	// Re-sending is answered, not applied.
	before := h.ledger.Stats()
	for _, r := range []response{h.postBinary(txs[0]), h.postJSON(txs[1])} {
		if res := decodeAs[submitResult](t, r); r.status != http.StatusOK || res.Status != "duplicate" {
			t.Fatalf("duplicate: %d %s", r.status, r.body)
		}
	}
	if after := h.ledger.Stats(); after != before {
		t.Fatalf("duplicates changed the ledger: %+v -> %+v", before, after)
	}
}

// rejection is one bad request and the answer it must get.
type rejection struct {
	name        string
	contentType string
	body        []byte
	status      int
	code        string
}

// rejections builds one of every kind of bad transaction against h's
// ledger. Every case must leave the ledger unchanged.
func rejections(t *testing.T, h *harness) []rejection {
	root := h.ledger.Root()
	good := dagtest.NewIssuer("good", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("ok"))
	h.mustAttach(good)
	raw := good.Bytes()
	edit := func(i int, b byte) []byte {
		out := append([]byte(nil), raw...)
		out[i] = b
		return out
	}

	fresh := dagtest.NewIssuer("fresh", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("fresh"))
	badSig := append([]byte(nil), fresh.Bytes()...)
	badSig[len(badSig)-8-dag.SignatureSize] ^= 1
	badSig = withNonceFor(t, badSig, testRules.Required(5, 0))

	lazy := withoutWork(t, dagtest.NewIssuer("lazy", testRules).Build(dag.KindData, root, root, at(time.Second), nil).Bytes(), testRules.Required(0, 0))
	future := dagtest.NewIssuer("future", testRules).Issue(dag.KindData, root, root, testNow.Add(time.Hour).UnixNano(), nil)
	impostor := dagtest.NewIssuer("impostor", testRules).Issue(dag.KindBeacon, root, root, at(time.Second), nil)
	big := dagtest.NewIssuer("big", testRules).Issue(dag.KindData, root, root, at(time.Second), make([]byte, dag.DefaultMaxPayload+1))

	// A second transaction that names another issuer's transaction as
	// its predecessor.
	thief := dagtest.NewIssuer("thief", testRules)
	thief.Seq, thief.Prev = 1, good.ID()
	broken := thief.Issue(dag.KindData, good.ID(), good.ID(), at(2*time.Second), nil)
	// An issuing time that runs backwards along the chain.
	dev := dagtest.NewIssuer("dev", testRules)
	first := dev.Issue(dag.KindData, root, root, at(10*time.Second), nil)
	h.mustAttach(first)
	backwards := dev.Issue(dag.KindData, first.ID(), first.ID(), at(5*time.Second), nil)

	jsonOf := func(tx *dag.Transaction) []byte { return txJSON(t, tx) }
	jsonVersion2 := bytes.Replace(jsonOf(fresh), []byte(`"version":1`), []byte(`"version":2`), 1)
	jsonNoID := bytes.Replace(jsonOf(fresh), []byte(`"id":"`), []byte(`"id":"00`), 1)
	return []rejection{
		{"malformed", mediaBinary, []byte("not a transaction"), 400, "malformed"},
		{"empty", mediaBinary, nil, 400, "malformed"},
		{"truncated", mediaBinary, raw[:len(raw)-1], 400, "malformed"},
		{"zero parent", mediaBinary, func() []byte {
			b := append([]byte(nil), raw...)
			copy(b[2:34], make([]byte, 32))
			return b
		}(), 400, "malformed"},
		{"bad version", mediaBinary, edit(0, 2), 400, "bad_version"},
		{"bad kind", mediaBinary, edit(1, 200), 400, "bad_kind"},
		{"trailing bytes", mediaBinary, append(append([]byte(nil), raw...), 0), 400, "trailing_bytes"},
		{"malformed json", mediaJSON, []byte(`{"version":`), 400, "malformed"},
		{"json array", mediaJSON, []byte(`[1,2]`), 400, "malformed"},
		{"json null", mediaJSON, []byte(`null`), 400, "malformed"},
		{"json bad version", mediaJSON, jsonVersion2, 400, "bad_version"},
		{"json wrong id", mediaJSON, jsonNoID, 400, "malformed"},
		{"oversize payload", mediaBinary, big.Bytes(), 413, "payload_too_large"},
		{"oversize payload json", mediaJSON, jsonOf(big), 413, "payload_too_large"},
		{"body too large", mediaBinary, make([]byte, DefaultMaxBodyBytes+1), 413, "body_too_large"},
		{"bad signature", mediaBinary, badSig, 422, "bad_signature"},
		{"insufficient work", mediaBinary, lazy, 422, "insufficient_work"},
		{"future time", mediaBinary, future.Bytes(), 422, "future_time"},
		{"broken chain", mediaBinary, broken.Bytes(), 409, "broken_chain"},
		{"time runs backwards", mediaJSON, jsonOf(backwards), 409, "broken_chain"},
		{"not validator", mediaBinary, impostor.Bytes(), 403, "not_validator"},
		{"text/plain", "text/plain", raw, 415, "unsupported_media_type"},
		{"bad media type", "application/json;;", raw, 415, "unsupported_media_type"},
		{"binary without content type", "", fresh.Bytes(), 415, "unsupported_media_type"},
	}
}

func TestSubmitRejections(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	for _, c := range rejections(t, h) {
		t.Run(c.name, func(t *testing.T) {
			before := h.ledger.Stats()
			wantError(t, h.post("/v1/transactions", c.contentType, c.body), c.status, c.code)
			if after := h.ledger.Stats(); after != before {
				t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
			}
		})
	}
	t.Run("body too large, chunked", func(t *testing.T) {
		before := h.ledger.Stats()
		// No Content-Length: the limit has to stop the read itself.
		body := io.MultiReader(bytes.NewReader(make([]byte, DefaultMaxBodyBytes)), strings.NewReader("x"))
		wantError(t, h.do(http.MethodPost, "/v1/transactions", mediaBinary, body), 413, "body_too_large")
		if after := h.ledger.Stats(); after != before {
			t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
		}
	})
}

func TestBatch(t *testing.T) {
	for _, enc := range []string{"binary", "json"} {
		t.Run(enc, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			root := h.ledger.Root()
			dev := dagtest.NewIssuer("dev", testRules)
			a := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("a"))
			h.mustAttach(a)
			b := dev.Issue(dag.KindData, a.ID(), root, at(2*time.Second), []byte("b"))
			c := dev.Issue(dag.KindData, b.ID(), b.ID(), at(3*time.Second), []byte("c"))
			orphanParent := dagtest.NewIssuer("unseen", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
			orphan := dagtest.NewIssuer("orphan", testRules).Issue(dag.KindData, orphanParent.ID(), root, at(time.Second), nil)
			impostor := dagtest.NewIssuer("impostor", testRules).Issue(dag.KindBeacon, root, root, at(time.Second), nil)
			future := dagtest.NewIssuer("future", testRules).Issue(dag.KindData, root, root, testNow.Add(time.Hour).UnixNano(), nil)

			txs := []*dag.Transaction{b, a, c, orphan, impostor, future}
			var body []byte
			var contentType string
			if enc == "binary" {
				contentType = mediaBinary
				var raws [][]byte
				for _, tx := range txs {
					raws = append(raws, tx.Bytes())
				}
				raws = append(raws, []byte("junk"), append(append([]byte(nil), a.Bytes()...), 7))
				body = binaryBatch(raws...)
			} else {
				contentType = mediaJSON
				body = jsonBatch(t, txs...)
				body = append(body[:len(body)-2], []byte(`,{"version":1},{"version":7}]}`)...)
			}
			r := h.post("/v1/transactions/batch", contentType, body)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			got := decodeAs[batchBody](t, r).Results
			for i := range got {
				got[i].Message = "" // human text; checked for presence below
			}
			want := []submitResult{
				{ID: b.ID(), Status: "attached"},
				{ID: a.ID(), Status: "duplicate"},
				{ID: c.ID(), Status: "attached"},
				{ID: orphan.ID(), Status: "parked", Missing: []dag.ID{orphanParent.ID()}},
				{ID: impostor.ID(), Status: "rejected", Code: "not_validator"},
				{ID: future.ID(), Status: "rejected", Code: "future_time"},
				{Status: "rejected", Code: "malformed"},
			}
			if enc == "binary" {
				want = append(want, submitResult{Status: "rejected", Code: "trailing_bytes"})
			} else {
				want = append(want, submitResult{Status: "rejected", Code: "bad_version"})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("results (-want +got):\n%s", diff)
			}
			for _, res := range decodeAs[batchBody](t, r).Results {
				if (res.Code == "") != (res.Message == "") {
					t.Fatalf("code and message go together: %+v", res)
				}
			}
		})
	}
}

func TestBatchWholeBodyRejections(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{MaxBatchItems: 3, MaxBatchBytes: 64 << 10}})
	root := h.ledger.Root()
	tx := dagtest.NewIssuer("dev", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
	raw := tx.Bytes()
	frame := binaryBatch(raw)
	txj := string(txJSON(t, tx))
	for _, c := range []rejection{
		{"truncated prefix", mediaBinary, append(frame, 0, 0), 400, "malformed"},
		{"frame past the end", mediaBinary, frame[:len(frame)-1], 400, "malformed"},
		{"huge length", mediaBinary, []byte{0xff, 0xff, 0xff, 0xff, 1}, 400, "malformed"},
		{"too many items", mediaBinary, binaryBatch(raw, raw, raw, raw), 413, "body_too_large"},
		{"too many items json", mediaJSON, []byte(`{"transactions":[` + txj + "," + txj + "," + txj + "," + txj + `]}`), 413, "body_too_large"},
		{"body too large", mediaBinary, make([]byte, 64<<10+1), 413, "body_too_large"},
		{"unknown field", mediaJSON, []byte(`{"transactions":[],"extra":1}`), 400, "malformed"},
		{"misspelt list", mediaJSON, []byte(`{"transaction":[` + txj + `]}`), 400, "malformed"},
		{"no list", mediaJSON, []byte(`{}`), 400, "malformed"},
		{"null", mediaJSON, []byte(`null`), 400, "malformed"},
		{"array", mediaJSON, []byte(`[` + txj + `]`), 400, "malformed"},
		{"data after the object", mediaJSON, []byte(`{"transactions":[` + txj + `]} {}`), 400, "malformed"},
		{"unsupported media type", "text/plain", frame, 415, "unsupported_media_type"},
		{"binary without content type", "", frame, 415, "unsupported_media_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.ledger.Stats()
			wantError(t, h.post("/v1/transactions/batch", c.contentType, c.body), c.status, c.code)
			if after := h.ledger.Stats(); after != before {
				t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
			}
		})
	}
	for _, c := range []struct{ contentType, body string }{
		{mediaBinary, ""},
		{mediaJSON, `{"transactions":[]}`},
	} {
		r := h.post("/v1/transactions/batch", c.contentType, []byte(c.body))
		if r.status != http.StatusOK || string(r.body) != "{\"results\":[]}\n" {
			t.Fatalf("empty batch %q: %d %s", c.body, r.status, r.body)
		}
	}
}

func TestClientRateLimit(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{ClientRate: 1, ClientBurst: 3, MaxBatchItems: 2, IssuerRate: -1}})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("dev", testRules)
	var txs []*dag.Transaction
	prev := root
	for i := range 4 {
		tx := dev.Issue(dag.KindData, prev, root, at(time.Duration(i+1)*time.Second), nil)
		txs = append(txs, tx)
		prev = tx.ID()
	}
	h.mustAttach(txs[0])
	// Two tokens left; a batch of two takes both.
	r := h.post("/v1/transactions/batch", mediaBinary, binaryBatch(txs[1].Bytes(), txs[2].Bytes()))
	if r.status != http.StatusOK {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	// The clock stands still, so the bucket stays empty.
	before := h.ledger.Stats()
	r = h.postBinary(txs[3])
	wantError(t, r, 429, "rate_limited")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q, want 1", got)
	}
	wantError(t, h.post("/v1/transactions/batch", mediaBinary, binaryBatch(txs[3].Bytes())), 429, "rate_limited")
	if after := h.ledger.Stats(); after != before {
		t.Fatalf("rate-limited posts changed the ledger: %+v -> %+v", before, after)
	}
	// Reads are not limited.
	if r := h.get("/v1/info"); r.status != http.StatusOK {
		t.Fatalf("info while limited: %d", r.status)
	}
}

func TestClientRateLimitBehindProxy(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{ClientRate: 1, ClientBurst: 1, MaxBatchItems: 1, IssuerRate: -1, TrustProxy: true}})
	root := h.ledger.Root()
	post := func(label, forwardedFor string) response {
		tx := dagtest.NewIssuer(label, testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
		return h.post("/v1/transactions", mediaBinary, tx.Bytes(), "X-Forwarded-For", forwardedFor)
	}
	if r := post("a", "203.0.113.9, 198.51.100.1"); r.status != http.StatusAccepted {
		t.Fatalf("first client: %d %s", r.status, r.body)
	}
	// The spoofable first entry changes, the proxy's does not: same client.
	wantError(t, post("b", "192.0.2.77, 198.51.100.1"), 429, "rate_limited")
	if r := post("c", "198.51.100.2"); r.status != http.StatusAccepted {
		t.Fatalf("second client: %d %s", r.status, r.body)
	}
}

func TestIssuerRateLimit(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{IssuerRate: 1, IssuerBurst: 2}})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("dev", testRules)
	a := dev.Issue(dag.KindData, root, root, at(1*time.Second), nil)
	b := dev.Issue(dag.KindData, a.ID(), a.ID(), at(2*time.Second), nil)
	c := dev.Issue(dag.KindData, b.ID(), b.ID(), at(3*time.Second), nil)
	other := dagtest.NewIssuer("other", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)

	h.mustAttach(a)
	r := h.post("/v1/transactions/batch", mediaBinary, binaryBatch(b.Bytes(), c.Bytes(), other.Bytes()))
	if r.status != http.StatusOK || r.header.Get("Retry-After") != "1" {
		t.Fatalf("batch: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	got := decodeAs[batchBody](t, r).Results
	for i := range got {
		got[i].Message = ""
	}
	want := []submitResult{
		{ID: b.ID(), Status: "attached"},
		{ID: c.ID(), Status: "rejected", Code: "rate_limited"},
		{ID: other.ID(), Status: "attached"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	before := h.ledger.Stats()
	wantError(t, h.postJSON(c), 429, "rate_limited")
	if after := h.ledger.Stats(); after != before {
		t.Fatalf("rate-limited post changed the ledger: %+v -> %+v", before, after)
	}
}

func TestLimiterMapsStayBounded(t *testing.T) {
	now := testNow
	l := newLimiters[netip.Addr](10, 20, 64)
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if _, ok := l.take(a, 20, now); !ok {
			t.Fatalf("a new client has a full bucket")
		}
		if n := l.len(); n > 64 {
			t.Fatalf("%d entries, bound 64", n)
		}
	}
	// A drained bucket survives sweeps until it has refilled.
	key := netip.MustParseAddr("192.0.2.1")
	l = newLimiters[netip.Addr](10, 20, 64)
	l.take(key, 20, now)
	l.sweep(now.Add(time.Second))
	if _, ok := l.take(key, 20, now.Add(time.Second)); ok {
		t.Fatal("a drained bucket was refilled by a sweep")
	}
	l.sweep(now.Add(5 * time.Second))
	if n := l.len(); n != 0 {
		t.Fatalf("%d entries after their buckets refilled", n)
	}
}

func TestClientKey(t *testing.T) {
	for _, c := range []struct {
		remote, xff string
		trust       bool
		want        string
	}{
		{"192.0.2.1:5000", "", false, "192.0.2.1"},
		{"192.0.2.1:5000", "198.51.100.7", false, "192.0.2.1"},
		{"192.0.2.1:5000", "198.51.100.7", true, "198.51.100.7"},
		{"192.0.2.1:5000", "garbage", true, "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", false, "2001:db8:1:2::"},
		{"[::ffff:192.0.2.1]:80", "", false, "192.0.2.1"},
		{"@", "", false, "invalid IP"},
	} {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientKey(r, c.trust).String(); got != c.want {
			t.Errorf("clientKey(%q, xff %q, trust %v) = %s, want %s", c.remote, c.xff, c.trust, got, c.want)
		}
	}
}

// TestBackPressure covers the rejections that come from the node's state
// rather than the transaction: a full ingest queue, a full parking lot, a
// stopped pipeline and a failed store.
func TestBackPressure(t *testing.T) {
	t.Run("overloaded", func(t *testing.T) {
		h := newHarness(t, harnessConfig{paused: true, pipeline: dag.PipelineConfig{QueueLength: 1},
			api: Config{SubmitTimeout: 20 * time.Millisecond}})
		root := h.ledger.Root()
		first := dagtest.NewIssuer("first", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
		second := dagtest.NewIssuer("second", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
		third := dagtest.NewIssuer("third", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
		h.backend.submitting = make(chan [][]byte, 3)
		client := *h.client
		client.Timeout = 10 * time.Second // fail, not hang, if second is queued
		h.client = &client
		firstDone := make(chan response, 1)
		go func() {
			r, err := h.try(http.MethodPost, "/v1/transactions", mediaBinary, bytes.NewReader(first.Bytes()))
			if err != nil {
				t.Error(err)
			}
			firstDone <- r
		}()
		// first takes the only queue slot (the pipeline is not running),
		// so the others find no room within SubmitTimeout. The queue send
		// follows the backend call within microseconds; the sleep is a
		// wide margin, not a synchronisation the test depends on finely.
		<-h.backend.submitting
		time.Sleep(100 * time.Millisecond)
		wantError(t, h.postBinary(second), 429, "overloaded")
		r := h.post("/v1/transactions/batch", mediaBinary, binaryBatch(third.Bytes()))
		res := decodeAs[batchBody](t, r).Results
		if r.status != http.StatusOK || len(res) != 1 || res[0].Code != "overloaded" || r.header.Get("Retry-After") != "1" {
			t.Fatalf("batch under overload: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		h.start()
		if r := <-firstDone; r.status != http.StatusAccepted {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
		if s := h.ledger.Stats(); s.Transactions != 1 {
			t.Fatalf("stats %+v: only first may attach", s)
		}
	})
	t.Run("parked_full", func(t *testing.T) {
		h := newHarness(t, harnessConfig{maxParked: 1})
		root := h.ledger.Root()
		unseen := dagtest.NewIssuer("unseen", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
		a := dagtest.NewIssuer("a", testRules).Issue(dag.KindData, unseen.ID(), root, at(time.Second), nil)
		b := dagtest.NewIssuer("b", testRules).Issue(dag.KindData, unseen.ID(), root, at(time.Second), nil)
		if r := h.postBinary(a); r.status != http.StatusAccepted {
			t.Fatalf("a: %d %s", r.status, r.body)
		}
		before := h.ledger.Stats()
		r := h.postBinary(b)
		wantError(t, r, 429, "parked_full")
		if got := r.header.Get("Retry-After"); got != "5" {
			t.Fatalf("Retry-After %q", got)
		}
		if after := h.ledger.Stats(); after != before {
			t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
		}
	})
	t.Run("closed", func(t *testing.T) {
		h := newHarness(t, harnessConfig{})
		h.stop()
		root := h.ledger.Root()
		tx := dagtest.NewIssuer("late", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
		wantError(t, h.postBinary(tx), 503, "closed")
	})
	t.Run("store_failure", func(t *testing.T) {
		store := &failingStore{Memory: storage.NewMemory()}
		h := newHarness(t, harnessConfig{store: store})
		root := h.ledger.Root()
		store.fail.Store(true)
		tx := dagtest.NewIssuer("doomed", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
		wantError(t, h.postBinary(tx), 500, "store_failure")
	})
}

// failingStore fails every commit once fail is set.
type failingStore struct {
	*storage.Memory
	fail atomic.Bool
}

func (s *failingStore) Commit(w *dag.WriteSet) error {
	if s.fail.Load() {
		return errors.New("disk on fire")
	}
	return s.Memory.Commit(w)
}
