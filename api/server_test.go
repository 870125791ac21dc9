package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/pow"
)

func TestHealthz(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/healthz")
	if r.status != http.StatusOK || string(r.body) != "{\"status\":\"ok\"}\n" {
		t.Fatalf("healthz: %d %q", r.status, r.body)
	}
}

func TestInfo(t *testing.T) {
	rules := pow.Rules{BaseBits: 2, PayloadBytesPerBit: 256, RateWindow: 10 * time.Second, FreePerWindow: 3, BitsPerExcess: 1}
	h := newHarness(t, harnessConfig{validators: 2, rules: rules})
	root := h.ledger.Root()
	h.mustAttach(dagtest.NewIssuer("dev", rules).Issue(dag.KindData, root, root, at(time.Second), []byte("x")))

	r := h.get("/v1/info")
	if r.status != http.StatusOK {
		t.Fatalf("info: %d %s", r.status, r.body)
	}
	type validator struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
		Weight    uint64 `json:"weight"`
	}
	type info struct {
		Version string `json:"version"`
		Node    struct {
			PublicKey string `json:"public_key"`
			Validator bool   `json:"validator"`
		} `json:"node"`
		Network struct {
			NetworkID  string        `json:"network_id"`
			GenesisID  string        `json:"genesis_id"`
			Validators []validator   `json:"validators"`
			Threshold  dag.Threshold `json:"confirmation_threshold"`
			MaxPayload int           `json:"max_payload"`
			Difficulty pow.Rules     `json:"difficulty"`
		} `json:"network"`
		Counts   map[string]int    `json:"counts"`
		NodeWork map[string]uint64 `json:"node_work"`
	}
	got := decodeAs[info](t, r)
	var want info
	want.Version = "test"
	want.Node.PublicKey = dagtest.PublicKey(h.net.Validators[0]).String()
	want.Node.Validator = true
	want.Network.NetworkID = h.net.Genesis.NetworkID
	want.Network.GenesisID = h.net.Genesis.ID().String()
	for _, v := range h.net.Genesis.Validators {
		want.Network.Validators = append(want.Network.Validators, validator{v.Name, v.PublicKey.String(), v.Weight})
	}
	want.Network.Threshold = dag.DefaultThreshold
	want.Network.MaxPayload = dag.DefaultMaxPayload
	want.Network.Difficulty = rules
	want.Counts = map[string]int{"transactions": 1, "tips": 1, "confirmed": 0, "parked": 0, "conflicting": 0, "issuers": 1, "beacons": 0}
	// The harness's backend does no work for devices.
	want.NodeWork = map[string]uint64{"solved": 0, "refused": 0, "rate_limited": 0, "solve_ms": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("info (-want +got):\n%s", diff)
	}
}

func TestTips(t *testing.T) {
	rules := pow.Rules{BaseBits: 2, PayloadBytesPerBit: 256, RateWindow: time.Hour, FreePerWindow: 1, BitsPerExcess: 1}
	h := newHarness(t, harnessConfig{rules: rules})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("dev", rules)
	pk := dagtest.PublicKey(dev.Key)

	type issuer struct {
		NextSeq     uint64 `json:"next_seq"`
		Prev        string `json:"prev"`
		Recent      int    `json:"recent"`
		Conflicting bool   `json:"conflicting"`
	}
	type tips struct {
		Trunk      string  `json:"trunk"`
		Branch     string  `json:"branch"`
		Difficulty int     `json:"difficulty"`
		Issuer     *issuer `json:"issuer"`
		Time       string  `json:"time"`
	}
	get := func(query string) tips {
		t.Helper()
		r := h.get("/v1/tips" + query)
		if r.status != http.StatusOK {
			t.Fatalf("tips%s: %d %s", query, r.status, r.body)
		}
		if !strings.Contains(query, "issuer") && strings.Contains(string(r.body), `"issuer"`) {
			t.Fatalf("issuer block without an issuer query: %s", r.body)
		}
		return decodeAs[tips](t, r)
	}
	nowText := testNow.UTC().Format(time.RFC3339Nano)
	zero := dag.ZeroID.String()

	if diff := cmp.Diff(tips{Trunk: root.String(), Branch: root.String(), Difficulty: 2, Time: nowText}, get("")); diff != "" {
		t.Fatalf("empty ledger (-want +got):\n%s", diff)
	}
	if got := get("?payload_size=1024"); got.Difficulty != 2+4 {
		t.Fatalf("payload 1024: difficulty %d, want 6", got.Difficulty)
	}
	if diff := cmp.Diff(&issuer{Prev: zero}, get("?issuer="+pk.String()).Issuer); diff != "" {
		t.Fatalf("new issuer (-want +got):\n%s", diff)
	}

	a := dev.Issue(dag.KindData, root, root, at(time.Second), nil)
	b := dev.Issue(dag.KindData, a.ID(), a.ID(), at(2*time.Second), nil)
	h.mustAttach(a, b)
	got := get("?issuer=" + pk.String() + "&payload_size=256")
	// Two recent, one free: the next is the second beyond the free one.
	want := tips{Trunk: b.ID().String(), Branch: b.ID().String(), Difficulty: 2 + 1 + 2, Time: nowText,
		Issuer: &issuer{NextSeq: 2, Prev: b.ID().String(), Recent: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("known issuer (-want +got):\n%s", diff)
	}
	if d := dev.Bits(testNow.UnixNano(), 256); d != got.Difficulty {
		t.Fatalf("the issuer computes %d bits, the node says %d", d, got.Difficulty)
	}

	for _, c := range []struct {
		query  string
		status int
		code   string
	}{
		{"?issuer=zz", 400, "malformed"},
		{"?issuer=" + pk.String()[:10], 400, "malformed"},
		{"?payload_size=-1", 400, "malformed"},
		{"?payload_size=ten", 400, "malformed"},
		{"?payload_size=4097", 413, "payload_too_large"},
	} {
		wantError(t, h.get("/v1/tips"+c.query), c.status, c.code)
	}
}

// status is the contract's TransactionStatus as a client decodes it.
type status struct {
	Transaction    json.RawMessage `json:"transaction"`
	Status         string          `json:"status"`
	Reasons        []string        `json:"reasons"`
	ApprovalWeight uint64          `json:"approval_weight"`
	TotalWeight    uint64          `json:"total_weight"`
	Approvers      []string        `json:"approvers"`
	ConfirmedIndex uint64          `json:"confirmed_index"`
	Arrival        uint64          `json:"arrival"`
}

func (h *harness) status(id dag.ID) status {
	h.t.Helper()
	r := h.get("/v1/transactions/" + id.String())
	if r.status != http.StatusOK {
		h.t.Fatalf("status of %s: %d %s", id.Short(), r.status, r.body)
	}
	return decodeAs[status](h.t, r)
}

func TestTransactionStatus(t *testing.T) {
	h := newHarness(t, harnessConfig{validators: 2})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("dev", testRules)
	a := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("reading"))
	h.mustAttach(a)

	st := h.status(a.ID())
	if diff := cmp.Diff(json.RawMessage(txJSON(t, a)), st.Transaction); diff != "" {
		t.Fatalf("transaction (-want +got):\n%s", diff)
	}
	st.Transaction = nil
	want := status{Status: "pending", Reasons: []string{"approval weight 0 of 2; confirmation needs more than 2/3"},
		TotalWeight: 2, Approvers: []string{}, Arrival: 1}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("pending (-want +got):\n%s", diff)
	}

	// One of two validators is not above 2/3; both are.
	b1 := h.validator(1).Issue(dag.KindBeacon, a.ID(), a.ID(), at(2*time.Second), nil)
	h.mustAttach(b1)
	if st := h.status(a.ID()); st.Status != "pending" || st.ApprovalWeight != 1 || !slices.Equal(st.Approvers, []string{"v1"}) {
		t.Fatalf("one approver: %+v", st)
	}
	b0 := h.validator(0).Issue(dag.KindBeacon, a.ID(), a.ID(), at(2*time.Second), nil)
	h.mustAttach(b0)
	st = h.status(a.ID())
	st.Transaction = nil
	want = status{Status: "confirmed", Reasons: []string{}, ApprovalWeight: 2, TotalWeight: 2,
		Approvers: []string{"v0", "v1"}, ConfirmedIndex: 1, Arrival: 1}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("confirmed (-want +got):\n%s", diff)
	}

	wantError(t, h.get("/v1/transactions/"+strings.Repeat("ab", 32)), 404, "not_found")
	wantError(t, h.get("/v1/transactions/"+root.String()), 404, "not_found")
	wantError(t, h.get("/v1/transactions/xyz"), 400, "malformed")
}

func TestTransactionStatusUnnamedApprover(t *testing.T) {
	h := newHarness(t, harnessConfig{unnamed: true})
	root := h.ledger.Root()
	a := dagtest.NewIssuer("dev", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
	h.mustAttach(a, h.validator(0).Issue(dag.KindBeacon, a.ID(), a.ID(), at(2*time.Second), nil))
	st := h.status(a.ID())
	if want := []string{dagtest.PublicKey(h.net.Validators[0]).String()}; st.Status != "confirmed" || !slices.Equal(st.Approvers, want) {
		t.Fatalf("status %q approvers %v, want confirmed by %v", st.Status, st.Approvers, want)
	}
}

func TestTransactionStatusParked(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("dev", testRules)
	a := dev.Issue(dag.KindData, root, root, at(time.Second), nil)
	b := dev.Issue(dag.KindData, a.ID(), root, at(2*time.Second), nil)

	r := h.postBinary(b)
	res := decodeAs[submitResult](t, r)
	if r.status != http.StatusAccepted || res.Status != "parked" || !slices.Equal(res.Missing, []dag.ID{a.ID()}) {
		t.Fatalf("post b: %d %s", r.status, r.body)
	}
	st := h.status(b.ID())
	st.Transaction = nil
	want := status{Status: "parked", Reasons: []string{"waiting for missing transaction " + a.ID().String()},
		TotalWeight: 1, Approvers: []string{}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("parked (-want +got):\n%s", diff)
	}
	h.mustAttach(a)
	poll.Until(t, poll.DefaultWithin, "b to attach", func() bool { _, ok := h.ledger.Info(b.ID()); return ok })
	if st := h.status(b.ID()); st.Status != "pending" || st.Arrival != 2 {
		t.Fatalf("after a: %+v", st)
	}
}

func TestTransactionStatusConflicting(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("cloned", testRules)
	clone := dagtest.NewIssuer("cloned", testRules)
	a := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("one"))
	twin := clone.Issue(dag.KindData, root, root, at(time.Second), []byte("two"))
	next := dev.Issue(dag.KindData, a.ID(), a.ID(), at(2*time.Second), nil)
	h.mustAttach(a, next)
	r := h.postBinary(twin)
	if res := decodeAs[submitResult](t, r); r.status != http.StatusAccepted || !res.Conflicting {
		t.Fatalf("twin: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		id     dag.ID
		reason string
	}{
		{a.ID(), "equivocation: the issuer signed two transactions with sequence 0"},
		{twin.ID(), "equivocation: the issuer signed two transactions with sequence 0"},
		{next.ID(), "equivocation: the issuer signed two transactions with sequence 0; this transaction extends one of them"},
	} {
		st := h.status(c.id)
		if st.Status != "conflicting" || !slices.Equal(st.Reasons, []string{c.reason}) {
			t.Fatalf("%s: status %q reasons %q, want conflicting with %q", c.id.Short(), st.Status, st.Reasons, c.reason)
		}
	}
	r = h.get("/v1/tips?issuer=" + dagtest.PublicKey(dev.Key).String())
	if !strings.Contains(string(r.body), `"conflicting":true`) {
		t.Fatalf("tips of a cloned issuer: %s", r.body)
	}
}

func TestRouting(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := strings.Repeat("ab", 32)
	for _, c := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nope", 404, "not_found", ""},
		{"GET", "/v1", 404, "not_found", ""},
		{"GET", "/v1/info/", 404, "not_found", ""},
		{"POST", "/nope", 404, "not_found", ""},
		{"DELETE", "/v1/info", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/transactions", 405, "method_not_allowed", "POST"},
		{"PUT", "/v1/transactions/batch", 405, "method_not_allowed", "POST"},
		{"GET", "/v1/transactions/batch", 405, "method_not_allowed", "POST"},
		{"POST", "/v1/transactions/" + id, 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/v1/events", 405, "method_not_allowed", "GET, HEAD"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := h.do(c.method, c.path, "", nil)
			wantError(t, r, c.status, c.code)
			if got := r.header.Get("Allow"); got != c.allow {
				t.Fatalf("Allow %q, want %q", got, c.allow)
			}
		})
	}
	if r := h.do("HEAD", "/v1/info", "", nil); r.status != http.StatusOK {
		t.Fatalf("HEAD /v1/info: %d", r.status)
	}
}

func TestConfig(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	for _, c := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"limits off", Config{ClientRate: -1, IssuerRate: -1, ClientBurst: 1}, true},
		{"small body", Config{MaxBodyBytes: 10}, false},
		{"negative batch", Config{MaxBatchBytes: -1}, false},
		{"burst below batch", Config{ClientBurst: 10, MaxBatchItems: 11}, false},
		{"burst and batch", Config{ClientBurst: 10, MaxBatchItems: 10}, true},
		{"negative timeout", Config{SubmitTimeout: -time.Second}, false},
		{"negative buffer", Config{EventBuffer: -1}, false},
		{"negative streams", Config{MaxStreams: -1}, false},
		{"negative keep-alive", Config{KeepAlive: -1}, false},
		{"negative issuer burst", Config{IssuerBurst: -1}, false},
	} {
		_, err := New(h.backend, c.cfg)
		if (err == nil) != c.ok {
			t.Errorf("%s: New error %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "api: ") {
			t.Errorf("%s: error %q lacks the package prefix", c.name, err)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// openAPIDoc is the part of an OpenAPI document the tests check.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/v1/openapi.json")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var doc openAPIDoc
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, rt := range h.api.routes() {
		served[strings.ToLower(rt.method)+" "+rt.path] = true
		if _, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; !ok {
			t.Errorf("%s %s is served but not documented", rt.method, rt.path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !served[method+" "+path] {
				t.Errorf("%s %s is documented but not served", method, path)
			}
		}
	}
	var codes []string
	for code := range statusOf {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	documented := slices.Clone(doc.Components.Schemas["Error"].Properties["code"].Enum)
	sort.Strings(documented)
	if diff := cmp.Diff(codes, documented); diff != "" {
		t.Errorf("error codes (-served +documented):\n%s", diff)
	}
}

// TestStatusNeverHidesAConflict: one half of an equivocation is confirmed
// before the other arrives; its status then says conflicting, with the
// confirmation kept in confirmed_index and the reasons.
func TestStatusNeverHidesAConflict(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	a := dagtest.NewIssuer("cloned", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("one"))
	twin := dagtest.NewIssuer("cloned", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("two"))
	h.mustAttach(a)
	h.mustAttach(h.validator(0).Issue(dag.KindBeacon, a.ID(), a.ID(), at(2*time.Second), nil))
	if st := h.status(a.ID()); st.Status != "confirmed" {
		t.Fatalf("before the twin: %+v", st)
	}
	h.postBinary(twin)
	st := h.status(a.ID())
	if st.Status != "conflicting" || st.ConfirmedIndex == 0 || len(st.Reasons) != 2 || !strings.Contains(st.Reasons[0], "confirmed") {
		t.Fatalf("confirmed half after the twin arrived: status %q, confirmed_index %d, reasons %q", st.Status, st.ConfirmedIndex, st.Reasons)
	}
}
