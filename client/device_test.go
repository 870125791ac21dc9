package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
)

// postFaults records every body posted to /v1/transactions and answers
// the first fail of them itself instead of the node.
type postFaults struct {
	mu     sync.Mutex
	bodies [][]byte
	fail   int
	// respond answers a failed post; nil drops the connection instead.
	respond func(w http.ResponseWriter)
}

func (f *postFaults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/transactions" {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		failing, respond := f.fail > 0, f.respond
		if failing {
			f.fail--
		}
		f.mu.Unlock()
		switch {
		case !failing:
			next.ServeHTTP(w, r)
		case respond != nil:
			respond(w)
		default:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	})
}

func (f *postFaults) posted() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.bodies...)
}

func (f *postFaults) setFail(n int) {
	f.mu.Lock()
	f.fail = n
	f.mu.Unlock()
}

func respondError(code string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { writeError(w, code, "injected") }
}

// tipsRewrite edits the issuer state of /v1/tips answers, to play a node
// whose view of the device's chain differs from the device's.
func tipsRewrite(edit func(issuer map[string]any)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/tips" {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out["issuer"] == nil {
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
			edit(out["issuer"].(map[string]any))
			writeJSON(w, rec.Code, out)
		})
	}
}

// chainOf returns the transactions with ids from the node's ledger and
// checks that they form the device's chain from sequence 0.
func chainOf(t *testing.T, n *testNode, d *Device, ids []dag.ID) []*dag.Transaction {
	t.Helper()
	var txs []*dag.Transaction
	prev, last := dag.ZeroID, int64(0)
	for i, id := range ids {
		tx, err := n.ledger.Transaction(id)
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if tx.Issuer != d.PublicKey() || tx.Seq != uint64(i) || tx.Prev != prev || tx.Time < last || !dag.VerifySignature(tx) {
			t.Errorf("transaction %d: issuer %s seq %d prev %s time %d; want seq %d prev %s, time from %d, valid signature",
				i, tx.Issuer, tx.Seq, tx.Prev.Short(), tx.Time, i, prev.Short(), last)
		}
		if info, _ := n.ledger.Info(id); info.Conflicting {
			t.Errorf("transaction %d is conflicting", i)
		}
		prev, last = id, tx.Time
		txs = append(txs, tx)
	}
	return txs
}

func newDevice(t *testing.T, c *Client, label string) *Device {
	return NewDevice(c, dagtest.Key(label))
}

func TestDeviceSendAdvancesChain(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	d := newDevice(t, n.client(t), "chain")
	var ids []dag.ID
	for i := range 3 {
		id, err := d.Send(context.Background(), dag.KindData, fmt.Appendf(nil, "reading %d", i))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	txs := chainOf(t, n, d, ids)
	if got := string(txs[2].Payload); got != "reading 2" {
		t.Errorf("payload %q", got)
	}
	if d.Pending() != nil {
		t.Errorf("pending after acknowledged sends: %v", d.Pending().ID())
	}
	checkNoLeaks(t, n)
}

// The rate part of the difficulty grows with every send beyond the free
// ones; the device must keep up with it.
func TestDeviceRateRule(t *testing.T) {
	rules := pow.DefaultRules()
	n := newTestNode(t, nodeConfig{rules: rules})
	d := newDevice(t, n.client(t), "rate")
	var ids []dag.ID
	for i := range rules.FreePerWindow + 3 {
		id, err := d.Send(context.Background(), dag.KindData, []byte{byte(i)})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	chainOf(t, n, d, ids)
}

func TestDeviceResendsSameBytes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    int
		respond func(http.ResponseWriter)
		minWait time.Duration
	}{
		{name: "503 closed", fail: 3, respond: respondError("closed")},
		{name: "429 with Retry-After", fail: 1, respond: respondError("overloaded"), minWait: time.Second},
		{name: "future time", fail: 2, respond: respondError("future_time")},
		{name: "dropped connection", fail: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faults := &postFaults{fail: tc.fail, respond: tc.respond}
			n := newTestNode(t, nodeConfig{rules: testRules, wrap: faults.wrap})
			d := newDevice(t, n.client(t), "resend")
			start := time.Now()
			id, err := d.Send(context.Background(), dag.KindData, []byte("reading"))
			if err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed < tc.minWait {
				t.Errorf("succeeded after %v; the node asked for %v", elapsed, tc.minWait)
			}
			posts := faults.posted()
			if len(posts) < tc.fail+1 {
				t.Errorf("%d posts, want at least %d", len(posts), tc.fail+1)
			}
			tx := chainOf(t, n, d, []dag.ID{id})[0]
			for i, body := range posts {
				if !bytes.Equal(body, tx.Bytes()) {
					t.Errorf("post %d differs from the acknowledged transaction", i)
				}
			}
		})
	}
}

func TestDevicePendingAfterFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		respond func(http.ResponseWriter)
		fail    int
		timeout time.Duration
		sentErr error
		kept    bool
	}{
		{name: "context ends while overloaded", respond: respondError("closed"), fail: 1 << 30,
			timeout: 100 * time.Millisecond, sentErr: context.DeadlineExceeded, kept: true},
		{name: "node failure", respond: respondError("store_failure"), fail: 1, sentErr: dag.ErrStore, kept: true},
		{name: "verdict", respond: respondError("bad_signature"), fail: 1, sentErr: dag.ErrSignature, kept: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faults := &postFaults{fail: tc.fail, respond: tc.respond}
			n := newTestNode(t, nodeConfig{rules: testRules, wrap: faults.wrap})
			d := newDevice(t, n.client(t), "pending")
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := d.Send(ctx, dag.KindData, []byte("first"))
			if !errors.Is(err, tc.sentErr) {
				t.Fatalf("Send = %v, want %v", err, tc.sentErr)
			}
			pending := d.Pending()
			if (pending != nil) != tc.kept {
				t.Fatalf("pending = %v, want kept %v", pending, tc.kept)
			}
			faults.setFail(0)
			failed := len(faults.posted())

			id, err := d.Send(context.Background(), dag.KindData, []byte("second"))
			if err != nil {
				t.Fatal(err)
			}
			posts := faults.posted()
			if !tc.kept {
				// The rejected transaction's sequence number is reused.
				txs := chainOf(t, n, d, []dag.ID{id})
				if string(txs[0].Payload) != "second" {
					t.Errorf("payload %q", txs[0].Payload)
				}
				return
			}
			txs := chainOf(t, n, d, []dag.ID{pending.ID(), id})
			if string(txs[0].Payload) != "first" || string(txs[1].Payload) != "second" {
				t.Errorf("payloads %q, %q", txs[0].Payload, txs[1].Payload)
			}
			for i, body := range posts[:failed+1] {
				if !bytes.Equal(body, pending.Bytes()) {
					t.Errorf("post %d of the pending transaction differs from it", i)
				}
			}
			if d.Pending() != nil {
				t.Errorf("still pending after success")
			}
		})
	}
}

// A node whose view of the chain lags (here: always reports a new issuer)
// must not make the device reuse a sequence number.
func TestDeviceIgnoresLaggingChainHead(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules, wrap: tipsRewrite(func(issuer map[string]any) {
		issuer["next_seq"], issuer["prev"], issuer["recent"] = 0, dag.ZeroID, 0
	})})
	d := newDevice(t, n.client(t), "lagging")
	var ids []dag.ID
	for i := range 3 {
		id, err := d.Send(context.Background(), dag.KindData, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	chainOf(t, n, d, ids)
}

// A device that lost its state follows the node's chain head.
func TestDeviceResumesFromNode(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	c := n.client(t)
	first, err := newDevice(t, c, "resume").Send(context.Background(), dag.KindData, []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, c, "resume")
	second, err := d.Send(context.Background(), dag.KindData, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	chainOf(t, n, d, []dag.ID{first, second})
}

func TestDeviceRefusesQuarantinedIssuer(t *testing.T) {
	faults := &postFaults{}
	n := newTestNode(t, nodeConfig{rules: testRules, wrap: func(h http.Handler) http.Handler {
		return faults.wrap(tipsRewrite(func(issuer map[string]any) { issuer["conflicting"] = true })(h))
	}})
	d := newDevice(t, n.client(t), "quarantined")
	if _, err := d.Send(context.Background(), dag.KindData, nil); !errors.Is(err, ErrConflicting) {
		t.Errorf("Send = %v, want ErrConflicting", err)
	}
	if len(faults.posted()) != 0 || d.Pending() != nil {
		t.Errorf("a quarantined device posted or kept a transaction")
	}
}

func TestDeviceRejectsBadInput(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	c := n.client(t)
	d := newDevice(t, c, "input")
	if _, err := d.Send(context.Background(), dag.KindData, make([]byte, dag.DefaultMaxPayload+1)); !errors.Is(err, dag.ErrPayloadTooLarge) {
		t.Errorf("oversize payload: %v", err)
	}
	if _, err := d.Send(context.Background(), dag.Kind(99), nil); !errors.Is(err, dag.ErrKind) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := NewDevice(c, make([]byte, 10)).Send(context.Background(), dag.KindData, nil); err == nil {
		t.Errorf("a 10-byte key was accepted")
	}
}

// Sends on one Device from several goroutines take turns, so the chain
// stays a chain.
func TestDeviceConcurrentSends(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	d := newDevice(t, n.client(t), "concurrent")
	var (
		mu  sync.Mutex
		ids = map[uint64]dag.ID{}
		wg  sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 {
				id, err := d.Send(context.Background(), dag.KindData, []byte{byte(g), byte(i)})
				if err != nil {
					t.Error(err)
					return
				}
				tx, _ := n.ledger.Transaction(id)
				mu.Lock()
				ids[tx.Seq] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var chain []dag.ID
	for seq := range uint64(len(ids)) {
		chain = append(chain, ids[seq])
	}
	if len(chain) != 12 {
		t.Fatalf("%d sends acknowledged, want 12", len(chain))
	}
	chainOf(t, n, d, chain)
}

// BenchmarkDeviceSend measures a whole Send (tips, sign, work at the
// default base difficulty on all cores, post, durable acknowledgement)
// against an in-process node. The rate rule is off: one device sending
// flat out would otherwise measure the rule's throttling, not the client.
func BenchmarkDeviceSend(b *testing.B) {
	rules := pow.DefaultRules()
	rules.BitsPerExcess = 0
	n := newTestNode(b, nodeConfig{rules: rules})
	d := NewDevice(n.client(b), dagtest.Key("bench"))
	payload := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Send(context.Background(), dag.KindData, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}
