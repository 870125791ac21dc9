package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// testRules make work cheap but present: a transaction with a random
// nonce fails the check three times in four.
var testRules = pow.Rules{BaseBits: 2}

// testNow is the node's fixed clock in tests: an hour after genesis, so
// transactions issued at genesis + a few seconds are not in the future.
var testNow = dagtest.GenesisTime.Add(time.Hour)

func at(d time.Duration) int64 { return dagtest.GenesisTime.Add(d).UnixNano() }

// testBackend is a real node in miniature: an in-memory store, a ledger
// and the ingest pipeline, with tip selection that takes the current tips.
type testBackend struct {
	ledger   *dag.Ledger
	pipeline *dag.Pipeline
	identity Identity
	// registry is the rule layer of a harness with authorities.
	registry *device.Registry
	// submitting, if set, receives each submission as it starts.
	submitting chan [][]byte
}

func (b *testBackend) Submit(ctx context.Context, txs []*dag.Transaction, admit dag.Admit) []dag.Result {
	if b.submitting != nil {
		raws := make([][]byte, len(txs))
		for i, tx := range txs {
			raws[i] = tx.Bytes()
		}
		b.submitting <- raws
	}
	return b.pipeline.SubmitAdmitted(ctx, txs, admit)
}

func (b *testBackend) SelectTips(context.Context) (dag.ID, dag.ID, error) {
	tips := b.ledger.Tips(nil)
	if len(tips) == 0 {
		id, _ := b.ledger.RecentConfirmed(0)
		return id, id, nil
	}
	return tips[0], tips[len(tips)-1], nil
}

// SelectTipsFor is SelectTips: the harness's tips are the newest
// transactions, which see every control transaction.
func (b *testBackend) SelectTipsFor(ctx context.Context, _ dag.PublicKey) (dag.ID, dag.ID, error) {
	return b.SelectTips(ctx)
}

func (b *testBackend) Ledger() Ledger     { return b.ledger }
func (b *testBackend) Identity() Identity { return b.identity }

func (b *testBackend) Devices() Devices {
	if b.registry == nil {
		return nil
	}
	return b.registry
}

type harnessConfig struct {
	validators int
	rules      pow.Rules
	api        Config
	// unnamed clears validator 0's name.
	unnamed bool
	// maxParked, store and pipeline configure the ledger and pipeline.
	maxParked int
	store     dag.Store
	pipeline  dag.PipelineConfig
	// paused leaves the pipeline stopped until the test calls start.
	paused bool
	// authorities, if any, go into the genesis, and the device registry
	// becomes the ledger's rule layer.
	authorities  []dag.Authority
	permissioned bool
}

type harness struct {
	t       testing.TB
	net     *dagtest.Network
	ledger  *dag.Ledger
	backend *testBackend
	api     *Server
	srv     *httptest.Server
	client  *http.Client
	// start runs the pipeline (once); stop stops it and waits.
	start, stop func()
}

func newHarness(t testing.TB, hc harnessConfig) *harness {
	t.Helper()
	if hc.validators == 0 {
		hc.validators = 1
	}
	if hc.rules == (pow.Rules{}) {
		hc.rules = testRules
	}
	net := dagtest.NewNetwork(hc.validators, hc.rules)
	if hc.unnamed {
		net.Genesis.Validators[0].Name = ""
	}
	clock := func() time.Time { return testNow }
	if hc.store == nil {
		hc.store = storage.NewMemory()
	}
	var registry *device.Registry
	ledgerCfg := dag.Config{Genesis: net.Genesis, Store: hc.store, Now: clock, MaxParked: hc.maxParked}
	if len(hc.authorities) > 0 {
		net.Genesis.Authorities = hc.authorities
		net.Genesis.Permissioned = hc.permissioned
		registry = device.New(*net.Genesis)
		ledgerCfg.Rules = registry
	}
	l, err := dag.Open(ledgerCfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dag.NewPipeline(l, hc.pipeline)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var startOnce, stopOnce sync.Once
	start := func() { startOnce.Do(func() { go func() { done <- p.Run(ctx) }() }) }
	stop := func() {
		stopOnce.Do(func() {
			start()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("pipeline: %v", err)
			}
		})
	}
	if !hc.paused {
		start()
	}
	t.Cleanup(stop)
	b := &testBackend{ledger: l, pipeline: p, registry: registry, identity: Identity{
		Version: "test", PublicKey: dagtest.PublicKey(net.Validators[0]), Validator: true,
	}}
	if hc.api.Clock == nil {
		hc.api.Clock = clock
	}
	s, err := New(b, hc.api)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		s.CloseStreams()
		srv.Close()
	})
	return &harness{t: t, net: net, ledger: l, backend: b, api: s, srv: srv, client: srv.Client(), start: start, stop: stop}
}

// response is what a test needs of an HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(method, path, contentType string, body io.Reader, header ...string) response {
	h.t.Helper()
	r, err := h.try(method, path, contentType, body, header...)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// try is do for goroutines other than the test's, which must not call
// t.Fatal.
func (h *harness) try(method, path, contentType string, body io.Reader, header ...string) (response, error) {
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func (h *harness) get(path string) response { return h.do(http.MethodGet, path, "", nil) }

func (h *harness) post(path, contentType string, body []byte, header ...string) response {
	return h.do(http.MethodPost, path, contentType, bytes.NewReader(body), header...)
}

func (h *harness) postBinary(tx *dag.Transaction) response {
	return h.post("/v1/transactions", mediaBinary, tx.Bytes())
}

func (h *harness) postJSON(tx *dag.Transaction) response {
	return h.post("/v1/transactions", mediaJSON, txJSON(h.t, tx))
}

// mustAccept posts tx and fails unless it was attached.
func (h *harness) mustAttach(txs ...*dag.Transaction) {
	h.t.Helper()
	for _, tx := range txs {
		r := h.postBinary(tx)
		res := decodeAs[submitResult](h.t, r)
		if r.status != http.StatusAccepted || res.Status != "attached" {
			h.t.Fatalf("post %s: %d %s", tx.ID().Short(), r.status, r.body)
		}
	}
}

func txJSON(t testing.TB, tx *dag.Transaction) []byte {
	t.Helper()
	data, err := json.Marshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decodeAs decodes a response body strictly: a field the contract does
// not name fails the test.
func decodeAs[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T from %d %q: %v", v, r.status, r.body, err)
	}
	return v
}

// wantError checks a rejection: status, code, the exact error shape and,
// for 429s, Retry-After.
func wantError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	e := decodeAs[errorBody](t, r)
	if e.Code != code || e.Message == "" {
		t.Fatalf("error %+v, want code %q with a message", e, code)
	}
	if status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
}

// binaryBatch frames transactions as the batch endpoint's binary body.
func binaryBatch(raws ...[]byte) []byte {
	var out []byte
	for _, raw := range raws {
		out = binary.BigEndian.AppendUint32(out, uint32(len(raw)))
		out = append(out, raw...)
	}
	return out
}

func jsonBatch(t testing.TB, txs ...*dag.Transaction) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"transactions":[`)
	for i, tx := range txs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(txJSON(t, tx))
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// withNonceFor returns raw re-solved for bits after a change that altered
// its ID, so that the change and not the work is what gets judged.
func withNonceFor(t testing.TB, raw []byte, bits int) []byte {
	t.Helper()
	raw = append([]byte(nil), raw...)
	tx, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := pow.Solve(context.Background(), tx.ID(), bits, 1)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint64(raw[len(raw)-8:], nonce)
	return raw
}

// withoutWork returns raw with a nonce that misses bits.
func withoutWork(t testing.TB, raw []byte, bits int) []byte {
	t.Helper()
	raw = append([]byte(nil), raw...)
	tx, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil {
		t.Fatal(err)
	}
	nonce := uint64(0)
	for pow.Verify(tx.ID(), nonce, bits) {
		nonce++
	}
	binary.BigEndian.PutUint64(raw[len(raw)-8:], nonce)
	return raw
}

// validator returns an issuer for genesis validator i.
func (h *harness) validator(i int) *dagtest.Issuer {
	return &dagtest.Issuer{Key: h.net.Validators[i], Rules: h.net.Genesis.Difficulty}
}
