package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
)

// forgeUnder returns n transactions that name victim's key with enough
// work for testRules but a signature that is not the victim's: junk anyone
// can make without the key.
func forgeUnder(t testing.TB, victim dag.PublicKey, root dag.ID, n int) []*dag.Transaction {
	t.Helper()
	out := make([]*dag.Transaction, n)
	for i := range out {
		tx := &dag.Transaction{Kind: dag.KindData, Trunk: root, Branch: root, Issuer: victim,
			Time: at(time.Second), Payload: []byte(fmt.Sprintf("forged %d", i))}
		tx.Signature[0] = byte(i)
		tx.Signature[1] = byte(i >> 8)
		decoded, err := dag.Decode(withNonceFor(t, tx.Encode(nil), testRules.Required(len(tx.Payload), 0)), dag.MaxPayloadLimit)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = decoded
	}
	return out
}

// TestJunkDoesNotLockOutTheDevice is hole 2 of the hardening review:
// forged posts that name a device's key used to drain the device's own
// rate limit. Now they cost the client that sent them; the device's
// signed transactions are still accepted.
func TestJunkDoesNotLockOutTheDevice(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{
		IssuerRate: 1, IssuerBurst: 2, // tight: a single forged charge would show
		JunkRate: 1, JunkBurst: 10, TrustProxy: true,
	}})
	root := h.ledger.Root()
	victim := dagtest.NewIssuer("victim", testRules)
	pk := dagtest.PublicKey(victim.Key)
	forged := forgeUnder(t, pk, root, 4096+400)
	attacker := []string{"X-Forwarded-For", "203.0.113.66"}

	// 400 single forged posts: the first JunkBurst are judged (and cost
	// the attacker), the rest are refused before their body is read.
	var judged, refused int
	for _, tx := range forged[:400] {
		r := h.post("/v1/transactions", mediaBinary, tx.Bytes(), attacker...)
		switch e := decodeAs[errorBody](t, r); {
		case r.status == 422 && e.Code == "bad_signature":
			judged++
		case r.status == 429 && e.Code == "rate_limited" && strings.Contains(e.Message, "invalid transactions"):
			refused++
		default:
			t.Fatalf("forged post: %d %s", r.status, r.body)
		}
	}
	if judged != 10 || refused != 390 {
		t.Fatalf("forged posts: %d judged, %d refused; want 10 and 390 (JunkBurst 10)", judged, refused)
	}
	// A forged batch of 4096 from a second attacker address.
	raws := make([][]byte, 0, 4096)
	for _, tx := range forged[400:] {
		raws = append(raws, tx.Bytes())
	}
	r := h.post("/v1/transactions/batch", mediaBinary, binaryBatch(raws...), "X-Forwarded-For", "203.0.113.67")
	if r.status != http.StatusOK {
		t.Fatalf("forged batch: %d %.200s", r.status, r.body)
	}
	for i, res := range decodeAs[batchBody](t, r).Results {
		if res.Code != "bad_signature" {
			t.Fatalf("forged item %d: %+v", i, res)
		}
	}
	// The batch put that address deep in debt: refused before reading.
	wantError(t, h.post("/v1/transactions/batch", mediaBinary, binaryBatch(raws[0]), "X-Forwarded-For", "203.0.113.67"), 429, "rate_limited")

	// The device, from its own address, is not affected by any of it.
	a := victim.Issue(dag.KindData, root, root, at(2*time.Second), []byte("mine"))
	b := victim.Issue(dag.KindData, a.ID(), root, at(3*time.Second), []byte("mine too"))
	r = h.post("/v1/transactions/batch", mediaBinary, binaryBatch(a.Bytes(), b.Bytes()), "X-Forwarded-For", "198.51.100.7")
	for i, res := range decodeAs[batchBody](t, r).Results {
		if res.Status != "attached" {
			t.Fatalf("device's transaction %d: %+v", i, res)
		}
	}
	// Its own third transaction within the second is its own excess.
	c := victim.Issue(dag.KindData, b.ID(), root, at(4*time.Second), nil)
	wantError(t, h.post("/v1/transactions", mediaBinary, c.Bytes(), "X-Forwarded-For", "198.51.100.7"), 429, "rate_limited")
	if _, ok := h.ledger.Info(c.ID()); ok {
		t.Fatal("a transaction refused by the issuer limit was attached")
	}
}

// TestJunkBudgetCountsOnlySenderFaults: load and duplicates are nobody's
// fault and cost no junk budget.
func TestJunkBudgetCountsOnlySenderFaults(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{JunkRate: 1, JunkBurst: 1}})
	root := h.ledger.Root()
	tx := dagtest.NewIssuer("dev", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
	h.mustAttach(tx)
	for range 5 {
		if r := h.postBinary(tx); r.status != http.StatusOK {
			t.Fatalf("duplicate: %d %s", r.status, r.body)
		}
	}
	wantError(t, h.post("/v1/transactions", mediaBinary, []byte("junk")), 400, "malformed")
	wantError(t, h.post("/v1/transactions", mediaBinary, []byte("junk")), 429, "rate_limited")
}

// rawConn opens a TCP connection to the harness's server.
func (h *harness) rawConn(t *testing.T) net.Conn {
	t.Helper()
	u, _ := url.Parse(h.srv.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestBodyMemoryFollowsArrival is hole 1: connections that declare large
// bodies and send a byte hold a few KiB each, not what they declared, and
// the budget shared by all requests turns the excess into 429s.
func TestBodyMemoryFollowsArrival(t *testing.T) {
	const budget = 1100 << 10
	h := newHarness(t, harnessConfig{api: Config{MaxBatchBytes: 512 << 10, BodyBudget: budget, ClientRate: -1}})
	declare := func(c net.Conn, n int, send string) {
		fmt.Fprintf(c, "POST /v1/transactions/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n%s", n, send)
	}
	const conns = 100
	for range conns {
		declare(h.rawConn(t), 512<<10, "x")
	}
	poll.Until(t, poll.DefaultWithin, "every connection's first byte to be read", func() bool { return h.api.budget.used.Load() >= conns*firstChunk })
	if used := h.api.budget.used.Load(); used != conns*firstChunk {
		t.Fatalf("%d connections that declared 512 KiB and sent a byte hold %d bytes; want %d (one %d-byte chunk each)", conns, used, conns*firstChunk, firstChunk)
	}

	// Two slow senders that send most of a large body take what is left.
	for range 2 {
		declare(h.rawConn(t), 512<<10, strings.Repeat("y", 300<<10))
	}
	poll.Until(t, poll.DefaultWithin, "the slow senders' bytes", func() bool { return h.api.budget.used.Load() > budget/2 })

	// The next body that needs to grow past the budget is refused with
	// 429 and a Retry-After, and the node holds no more.
	big := make([]byte, 400<<10)
	r := h.post("/v1/transactions/batch", mediaBinary, big)
	wantError(t, r, 429, "overloaded")
	if used := h.api.budget.used.Load(); used > budget {
		t.Fatalf("budget overdrawn: %d > %d", used, budget)
	}
}

// TestBodyBudgetReturns: after the connections close, the budget is
// whole again and large bodies pass.
func TestBodyBudgetReturns(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{MaxBatchBytes: 512 << 10, BodyBudget: 1100 << 10, ClientRate: -1}})
	c := h.rawConn(t)
	fmt.Fprintf(c, "POST /v1/transactions/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n%s", 512<<10, strings.Repeat("z", 500<<10))
	poll.Until(t, poll.DefaultWithin, "the held body", func() bool { return h.api.budget.used.Load() >= 500<<10 })
	// 300 KiB needs its chunks and their joined copy (624 KiB); 584 KiB
	// are left.
	wantError(t, h.post("/v1/transactions/batch", mediaBinary, make([]byte, 300<<10)), 429, "overloaded")
	c.Close()
	poll.Until(t, poll.DefaultWithin, "the budget to return", func() bool { return h.api.budget.used.Load() == 0 })
	// 300 KiB of bad framing: what matters is that it is read and
	// judged, not refused for load.
	wantError(t, h.post("/v1/transactions/batch", mediaBinary, bytes.Repeat([]byte{0xff}, 300<<10)), 400, "malformed")
	if used := h.api.budget.used.Load(); used != 0 {
		t.Fatalf("budget not returned after a judged request: %d", used)
	}
}

// TestStrictRequests is the strictness table of the hardening note
// (§3, §4): one rule per case, each answered in the contract's JSON, none
// changing the ledger.
func TestStrictRequests(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	tx := dagtest.NewIssuer("dev", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("r"))
	js := string(txJSON(t, tx))
	key := tx.Issuer.String()
	id := tx.ID().String()
	upperJS := strings.Replace(js, tx.Trunk.String(), strings.ToUpper(tx.Trunk.String()), 1)
	ids := make([]string, maxEventIDs+1)
	for i := range ids {
		ids[i] = "id=" + (dag.ID{byte(i), byte(i >> 8), 1}).String()
	}
	cases := []struct {
		name, method, path, contentType, body string
		header                                []string
		status                                int
		code                                  string
	}{
		{"unparsable query", "GET", "/v1/tips?issuer=%zz", "", "", nil, 400, "malformed"},
		{"repeated issuer", "GET", "/v1/tips?issuer=" + key + "&issuer=" + key, "", "", nil, 400, "malformed"},
		{"unknown parameter", "GET", "/v1/tips?isuer=" + key, "", "", nil, 400, "malformed"},
		{"parameter on an endpoint without any", "GET", "/v1/info?verbose=1", "", "", nil, 400, "malformed"},
		{"query on a post", "POST", "/v1/transactions?async=1", mediaJSON, js, nil, 400, "malformed"},
		{"upper-case issuer", "GET", "/v1/tips?issuer=" + strings.ToUpper(key), "", "", nil, 400, "malformed"},
		{"empty issuer", "GET", "/v1/tips?issuer=", "", "", nil, 400, "malformed"},
		{"payload_size with sign", "GET", "/v1/tips?payload_size=%2B5", "", "", nil, 400, "malformed"},
		{"payload_size with leading zero", "GET", "/v1/tips?payload_size=05", "", "", nil, 400, "malformed"},
		{"payload_size negative", "GET", "/v1/tips?payload_size=-1", "", "", nil, 400, "malformed"},
		{"payload_size over the maximum", "GET", "/v1/tips?payload_size=999999", "", "", nil, 413, "payload_too_large"},
		{"repeated payload_size", "GET", "/v1/tips?payload_size=1&payload_size=2", "", "", nil, 400, "malformed"},
		{"upper-case id in path", "GET", "/v1/transactions/" + strings.ToUpper(id), "", "", nil, 400, "malformed"},
		{"too many event ids", "GET", "/v1/events?" + strings.Join(ids, "&"), "", "", nil, 400, "malformed"},
		{"repeated event issuer", "GET", "/v1/events?issuer=" + key + "&issuer=" + key, "", "", nil, 400, "malformed"},
		{"semicolon separator", "GET", "/v1/tips?payload_size=1;issuer=" + key, "", "", nil, 400, "malformed"},
		{"double slashes", "GET", "//v1//info", "", "", nil, 404, "not_found"},
		{"dot-dot segment", "GET", "/v1/../v1/info", "", "", nil, 404, "not_found"},
		{"dot segment", "GET", "/v1/./info", "", "", nil, 404, "not_found"},
		{"trailing slash", "GET", "/v1/tips/", "", "", nil, 404, "not_found"},
		{"gzip body", "POST", "/v1/transactions", mediaJSON, js, []string{"Content-Encoding", "gzip"}, 415, "unsupported_media_type"},
		{"unknown field", "POST", "/v1/transactions", mediaJSON, strings.Replace(js, "{", `{"extra":1,`, 1), nil, 400, "malformed"},
		{"duplicate key", "POST", "/v1/transactions", mediaJSON, strings.Replace(js, "{", `{"seq":5,`, 1), nil, 400, "malformed"},
		{"upper-case hex field", "POST", "/v1/transactions", mediaJSON, upperJS, nil, 400, "malformed"},
		{"invalid UTF-8", "POST", "/v1/transactions", mediaJSON, strings.Replace(js, `"kind":"data"`, "\"kind\":\"d\xffta\"", 1), nil, 400, "malformed"},
		{"time in 2600", "POST", "/v1/transactions", mediaJSON, strings.Replace(js, `"time":"`+dag.FormatTime(tx.Time)+`"`, `"time":"2600-01-01T00:00:00Z"`, 1), nil, 400, "malformed"},
		{"time in 9999", "POST", "/v1/transactions", mediaJSON, strings.Replace(js, `"time":"`+dag.FormatTime(tx.Time)+`"`, `"time":"9999-01-01T00:00:00Z"`, 1), nil, 400, "malformed"},
		{"batch: repeated key", "POST", "/v1/transactions/batch", mediaJSON, `{"transactions":[],"transactions":[` + js + `]}`, nil, 400, "malformed"},
		{"batch: null list", "POST", "/v1/transactions/batch", mediaJSON, `{"transactions":null}`, nil, 400, "malformed"},
		{"batch: unknown key", "POST", "/v1/transactions/batch", mediaJSON, `{"transactions":[],"x":1}`, nil, 400, "malformed"},
		{"batch: invalid UTF-8", "POST", "/v1/transactions/batch", mediaJSON, "{\"transactions\":[],\"\xff\":1}", nil, 400, "malformed"},
		{"batch: data after", "POST", "/v1/transactions/batch", mediaJSON, `{"transactions":[]} {}`, nil, 400, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.ledger.Stats()
			r := h.do(c.method, c.path, c.contentType, strings.NewReader(c.body), c.header...)
			wantError(t, r, c.status, c.code)
			if after := h.ledger.Stats(); after != before {
				t.Fatalf("rejection changed the ledger: %+v -> %+v", before, after)
			}
		})
	}
	t.Run("the 2600 time names the field and the range", func(t *testing.T) {
		r := h.post("/v1/transactions", mediaJSON, []byte(strings.Replace(js, dag.FormatTime(tx.Time), "2600-01-01T00:00:00Z", 1)))
		if e := decodeAs[errorBody](t, r); !strings.Contains(e.Message, "time") || !strings.Contains(e.Message, "2262-04-11T23:47:16.854775807Z") {
			t.Fatalf("message %q does not name the field and the range", e.Message)
		}
	})
	t.Run("512 event ids are taken", func(t *testing.T) {
		req, err := http.NewRequest("GET", h.srv.URL+"/v1/events?"+strings.Join(ids[:maxEventIDs], "&"), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("512 ids: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if len(req.URL.String()) > 40<<10 {
			t.Fatalf("512 ids make a %d-byte URL; the contract promises they fit in 64 KiB of headers", len(req.URL.String()))
		}
	})
}

// TestBatchConflictResults is hole 6: two transactions of one issuer and
// sequence number in one batch both say conflicting.
func TestBatchConflictResults(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	a := dagtest.NewIssuer("clone", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("a"))
	b := dagtest.NewIssuer("clone", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("b"))
	for _, enc := range []string{"binary", "json"} {
		t.Run(enc, func(t *testing.T) {
			var r response
			if enc == "binary" {
				r = h.post("/v1/transactions/batch", mediaBinary, binaryBatch(a.Bytes(), b.Bytes()))
			} else {
				r = h.post("/v1/transactions/batch", mediaJSON, jsonBatch(t, a, b))
			}
			for i, res := range decodeAs[batchBody](t, r).Results {
				want := "attached"
				if enc == "json" {
					want = "duplicate" // the binary run attached both
				}
				if res.Status != want || (want == "attached" && !res.Conflicting) {
					t.Fatalf("result %d: %+v; want %s and conflicting", i, res, want)
				}
			}
		})
	}
	for _, tx := range []*dag.Transaction{a, b} {
		var st struct{ Status string }
		if err := json.Unmarshal(h.get("/v1/transactions/"+tx.ID().String()).body, &st); err != nil || st.Status != statusConflicting {
			t.Fatalf("status of %s: %s", tx.ID().Short(), st.Status)
		}
	}
}

// rejectingBackend answers every submission with a rule layer's own
// rejection, as the device layer will.
type rejectingBackend struct {
	*testBackend
	err error
}

func (b rejectingBackend) Submit(_ context.Context, txs []*dag.Transaction, _ dag.Admit) []dag.Result {
	out := make([]dag.Result, len(txs))
	for i, tx := range txs {
		out[i] = dag.Result{ID: tx.ID(), Status: dag.StatusRejected, Err: b.err}
	}
	return out
}

// TestRuleLayerRejections: the device layer's codes have their statuses
// in the table (403, 409, 422); a code the API does not know is passed
// through with 422 when it is the sender's fault; either is charged as
// junk. A code that is nobody's fault is 500 internal.
func TestRuleLayerRejections(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	tx := dagtest.NewIssuer("dev", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
	for _, c := range []struct {
		err    error
		status int
		code   string
		junk   bool
	}{
		{&dag.Rejection{Code: "device_revoked", Fault: dag.FaultSender, Message: "device: revoked"}, 403, "device_revoked", true},
		{&dag.Rejection{Code: "device_exists", Fault: dag.FaultSender, Message: "device: exists"}, 409, "device_exists", true},
		{&dag.Rejection{Code: "rule_layer_own", Fault: dag.FaultSender, Message: "rules: no"}, 422, "rule_layer_own", true},
		{&dag.Rejection{Code: "rule_broke", Fault: dag.FaultNone, Message: "device: bug"}, 500, "internal", false},
	} {
		s, err := New(rejectingBackend{h.backend, c.err}, Config{Clock: func() time.Time { return testNow }, JunkRate: 1, JunkBurst: 1})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		resp, err := http.Post(srv.URL+"/v1/transactions", mediaBinary, bytes.NewReader(tx.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, response{status: resp.StatusCode, header: resp.Header, body: body}, c.status, c.code)
		// The sender's fault took the one junk token: the next post is
		// refused before it is read.
		resp, err = http.Post(srv.URL+"/v1/transactions", mediaBinary, bytes.NewReader(tx.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if junk := resp.StatusCode == http.StatusTooManyRequests; junk != c.junk {
			t.Errorf("%s: second post %d; charged as junk = %v, want %v", c.code, resp.StatusCode, junk, c.junk)
		}
		srv.Close()
	}
}
