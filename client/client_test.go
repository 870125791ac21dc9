package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/pow"
)

// testRules keep the work in tests to a few hundred hashes.
var testRules = pow.Rules{BaseBits: 8}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts Options
		ok   bool
	}{
		{"http://localhost:8080", Options{}, true},
		{"https://gw.example/tangled/", Options{}, true},
		{"localhost:8080", Options{}, false},
		{"ftp://localhost", Options{}, false},
		{"http://", Options{}, false},
		{"http://localhost?x=1", Options{}, false},
		{"http://localhost", Options{PoWWorkers: -1}, false},
		{"http://localhost", Options{RequestTimeout: -time.Second}, false},
		{"http://localhost", Options{MinBackoff: time.Minute}, false},
		{"http://localhost", Options{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, false},
	} {
		_, err := New(tc.url, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, %+v) = %v, want ok %v", tc.url, tc.opts, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "client: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func TestBaseURLPrefix(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.String()
		writeError(w, "not_found", "no")
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/tangled/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Tips(context.Background(), nil, 100)
	if want := "/tangled/v1/tips?payload_size=100"; got != want {
		t.Errorf("request URL %q, want %q", got, want)
	}
}

func TestAPIErrorDecoding(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       APIError
		retryable  bool
		isSentinel error
	}{
		{
			name: "contract error", status: 422,
			body:       `{"code":"insufficient_work","message":"need at least 13 bits"}`,
			want:       APIError{Status: 422, Code: "insufficient_work", Message: "need at least 13 bits"},
			isSentinel: dag.ErrWork,
		},
		{
			name: "rate limited with seconds", status: 429, header: map[string]string{"Retry-After": "3"},
			body:      `{"code":"rate_limited","message":"slow down"}`,
			want:      APIError{Status: 429, Code: "rate_limited", Message: "slow down", RetryAfter: 3 * time.Second},
			retryable: true,
		},
		{
			name: "closed with a date", status: 503, header: map[string]string{"Retry-After": date},
			body:      `{"code":"closed","message":"shutting down"}`,
			want:      APIError{Status: 503, Code: "closed", Message: "shutting down", RetryAfter: 90 * time.Second},
			retryable: true, isSentinel: dag.ErrClosed,
		},
		{
			name: "proxy page", status: 502, body: "<html>bad gateway</html>",
			want:      APIError{Status: 502, Message: "<html>bad gateway</html>"},
			retryable: true,
		},
		{
			name: "empty body", status: 500,
			want: APIError{Status: 500},
		},
		{
			name: "broken chain", status: 409, body: `{"code":"broken_chain","message":"x"}`,
			want:       APIError{Status: 409, Code: "broken_chain", Message: "x"},
			isSentinel: dag.ErrChain,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := New(srv.URL, Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Info(context.Background())
			apiErr, ok := errorsAs[*APIError](err)
			if !ok {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			// An HTTP date has second resolution.
			if d := apiErr.RetryAfter - tc.want.RetryAfter; d > -2*time.Second && d < 2*time.Second {
				apiErr.RetryAfter = tc.want.RetryAfter
			}
			if diff := cmp.Diff(tc.want, *apiErr); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if got := IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tc.retryable)
			}
			if tc.isSentinel != nil && !errors.Is(err, tc.isSentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.isSentinel)
			}
			if !strings.HasPrefix(err.Error(), "client: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestIsRetryable(t *testing.T) {
	netErr := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&APIError{Status: 429, Code: "overloaded"}, true},
		{&APIError{Status: 503, Code: "closed"}, true},
		{&APIError{Status: 422, Code: "bad_signature"}, false},
		{&APIError{Status: 500, Code: "store_failure"}, false},
		{fmt.Errorf("wrapped: %w", &APIError{Status: 429}), true},
		{netErr, true},
		{fmt.Errorf("client: %w", io.ErrUnexpectedEOF), true},
		{errRequestTimeout, true},
		{ErrLagged, true},
		{ErrStreamIdle, true},
		{fmt.Errorf("client: %w", context.Canceled), false},
		{fmt.Errorf("client: %w", context.DeadlineExceeded), false},
		{errors.New("something else"), false},
	} {
		if got := IsRetryable(tc.err); got != tc.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(context.Background())
	if err == nil || !IsRetryable(err) {
		t.Errorf("Info against a closed port: %v, retryable %v; want a retryable error", err, IsRetryable(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Info(ctx); !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Errorf("Info with a cancelled context: %v, retryable %v; want context.Canceled, not retryable", err, IsRetryable(err))
	}
}

func TestRequestTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(srv.URL, Options{RequestTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(context.Background())
	if !errors.Is(err, errRequestTimeout) || !IsRetryable(err) {
		t.Errorf("Info against a stuck node: %v; want a retryable request timeout", err)
	}
}

func TestInfoAndTips(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: pow.DefaultRules()})
	c := n.client(t)
	ctx := context.Background()

	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Network.GenesisID != n.ledger.Root() || info.Network.Difficulty != pow.DefaultRules() ||
		len(info.Network.Validators) != 1 || !info.Node.Validator {
		t.Errorf("Info = %+v", info)
	}

	pk := dagtest.PublicKey(dagtest.Key("tips"))
	tips, err := c.Tips(ctx, &pk, 2048)
	if err != nil {
		t.Fatal(err)
	}
	want := &Tips{
		Trunk: n.ledger.Root(), Branch: n.ledger.Root(),
		Difficulty: pow.DefaultRules().Required(2048, 0),
		Issuer:     &IssuerState{},
	}
	if diff := cmp.Diff(want, tips, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Time" }, cmp.Ignore())); diff != "" {
		t.Errorf("Tips (-want +got):\n%s", diff)
	}
	if time.Since(tips.Time) > time.Minute {
		t.Errorf("Tips.Time = %v, not the node's clock", tips.Time)
	}
	if tips, err := c.Tips(ctx, nil, 0); err != nil || tips.Issuer != nil {
		t.Errorf("Tips without issuer = %+v, %v; want no issuer state", tips, err)
	}
}

func TestPostAndStatus(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	c := n.client(t)
	ctx := context.Background()
	root := n.ledger.Root()
	issuer := dagtest.NewIssuer("post", testRules)
	tx := issuer.Issue(dag.KindData, root, root, time.Now().UnixNano(), []byte("reading"))

	res, err := c.Post(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&SubmitResult{ID: tx.ID(), Status: StatusAttached}, res); diff != "" {
		t.Errorf("first post (-want +got):\n%s", diff)
	}
	res, err = c.PostRaw(ctx, tx.Bytes())
	if err != nil || res.Status != StatusDuplicate {
		t.Errorf("second post = %+v, %v; want duplicate", res, err)
	}

	st, err := c.Transaction(ctx, tx.ID())
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatePending || st.TotalWeight != 1 || st.Arrival != 1 || string(st.Transaction.Bytes()) != string(tx.Bytes()) {
		t.Errorf("status = %+v", st)
	}

	_, err = c.Transaction(ctx, dag.ID{1})
	if apiErr, ok := errorsAs[*APIError](err); !ok || apiErr.Status != 404 || !errors.Is(err, dag.ErrNotFound) {
		t.Errorf("unknown transaction: %v; want a 404 not_found", err)
	}

	lazy := issuer.Build(dag.KindData, root, root, time.Now().UnixNano(), nil) // no work done
	// One nonce in 256 meets 8 bits by chance; the test wants one that
	// does not.
	for pow.Verify(lazy.ID(), lazy.Nonce, testRules.Required(0, 0)) {
		lazy.Nonce++
	}
	_, err = c.Post(ctx, lazy)
	if !errors.Is(err, dag.ErrWork) || IsRetryable(err) {
		t.Errorf("post without work: %v; want insufficient_work", err)
	}
	_, err = c.PostRaw(ctx, append(tx.Bytes(), 0))
	if !errors.Is(err, dag.ErrTrailingBytes) {
		t.Errorf("post with a trailing byte: %v; want trailing_bytes", err)
	}
}

func TestPostBatch(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	c := n.client(t)
	root := n.ledger.Root()
	issuer := dagtest.NewIssuer("batch", testRules)
	now := time.Now().UnixNano()
	a := issuer.Issue(dag.KindData, root, root, now, []byte("a"))
	b := issuer.Issue(dag.KindData, a.ID(), root, now+1, []byte("b"))
	signed := issuer.Issue(dag.KindData, root, root, now+2, []byte("c"))
	// A fresh value, so that the ID is computed over the forged signature
	// rather than taken from Sign's cache.
	forged := &dag.Transaction{Kind: signed.Kind, Trunk: signed.Trunk, Branch: signed.Branch, Issuer: signed.Issuer,
		Seq: signed.Seq, Prev: signed.Prev, Time: signed.Time, Payload: signed.Payload, Signature: signed.Signature}
	forged.Signature[0] ^= 1
	forged.Nonce, _ = pow.Solve(context.Background(), forged.ID(), testRules.BaseBits, 1)

	results, err := c.PostBatch(context.Background(), []*dag.Transaction{a, b, a, forged})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []SubmitStatus
	for _, r := range results {
		statuses = append(statuses, r.Status)
	}
	// a is attached once; its copy within the same batch is either a
	// duplicate or, verified concurrently, attached as a no-op.
	if statuses[0] != StatusAttached || statuses[1] != StatusAttached || statuses[3] != StatusRejected {
		t.Errorf("statuses = %v", statuses)
	}
	if results[0].ID != a.ID() || results[1].ID != b.ID() {
		t.Errorf("results out of order: %+v", results)
	}
	err = results[3].Err()
	if apiErr, ok := errorsAs[*APIError](err); !ok || apiErr.Status != 422 || !errors.Is(err, dag.ErrSignature) {
		t.Errorf("forged item error = %v; want 422 bad_signature", err)
	}
	if results[0].Err() != nil {
		t.Errorf("accepted item has error %v", results[0].Err())
	}
}

// checkNoLeaks fails if an event stream is still open on the server, or a
// goroutine of this package or of a PoW solve outlives the test's calls.
func checkNoLeaks(t *testing.T, n *testNode) {
	t.Helper()
	poll.Until(t, poll.DefaultWithin, "event streams to end", func() bool { return n.subscribers.Load() == 0 })
	deadline := time.Now().Add(5 * time.Second)
	for {
		var leaked []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			ours := strings.Contains(g, "tangled/client.") || strings.Contains(g, "tangled/pow.")
			harness := strings.Contains(g, "testing.tRunner") || strings.Contains(g, "newTestNode") || strings.Contains(g, "(*testNode)")
			if ours && !harness {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlived the calls:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTransactionStatusJSONRoundTrip: the CLI prints a status with
// encoding/json; it must come out in the API's own form and read back.
func TestTransactionStatusJSONRoundTrip(t *testing.T) {
	in := `{"transaction":null,"status":"confirmed","reasons":["x"],"approval_weight":3,"total_weight":4,"approvers":["a","b","c"],"confirmed_index":7,"arrival":9}`
	var st TransactionStatus
	if err := json.Unmarshal([]byte(in), &st); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(&st)
	if err != nil {
		t.Fatal(err)
	}
	var back TransactionStatus
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if back.Status != StateConfirmed || back.ConfirmedIndex != 7 || back.Arrival != 9 || len(back.Approvers) != 3 || !strings.Contains(string(out), `"approval_weight":3`) {
		t.Fatalf("round trip: %s -> %+v", out, back)
	}
}

// TestAPIErrorIs: a code matches its dag sentinel and what that sentinel
// wraps (pruned is also not found), nothing else.
func TestAPIErrorIs(t *testing.T) {
	for _, c := range []struct {
		code   string
		target error
		want   bool
	}{
		{"pruned", dag.ErrPruned, true},
		{"pruned", dag.ErrNotFound, true},
		{"not_found", dag.ErrNotFound, true},
		{"not_found", dag.ErrPruned, false},
		{"pruned", dag.ErrClosed, false},
		{"rate_limited", dag.ErrOverloaded, false},
		{"unknown_code", dag.ErrNotFound, false},
	} {
		if got := errors.Is(&APIError{Code: c.code}, c.target); got != c.want {
			t.Errorf("errors.Is(%s, %v) = %v, want %v", c.code, c.target, got, c.want)
		}
	}
}
