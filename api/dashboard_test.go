package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

// TestDashboardRoutes: the page and its assets are served from the
// binary; every other path outside /v1 keeps the API's JSON errors.
func TestDashboardRoutes(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	cases := []struct {
		method, path string
		status       int
		ctype        string
		contains     string // in the body; for errors, the code
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `src="/dashboard/dashboard.js"`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/dashboard/dashboard.js", 200, "text/javascript; charset=utf-8", "window.tangledDashboard"},
		{"GET", "/dashboard/dashboard.css", 200, "text/css; charset=utf-8", "--confirmed"},
		{"GET", "/dashboard/index.html", 200, "text/html; charset=utf-8", "<canvas id=\"dag\""},
		{"GET", "/dashboard/missing.js", 404, "application/json", "not_found"},
		{"GET", "/dashboard/", 404, "application/json", "not_found"},
		{"GET", "/dashboard", 404, "application/json", "not_found"},
		{"GET", "/index.html", 404, "application/json", "not_found"},
		{"GET", "/v1/nothing", 404, "application/json", "not_found"},
		{"GET", "/dashboard/..%2fopenapi.json", 404, "application/json", "not_found"},
		{"POST", "/", 405, "application/json", "method_not_allowed"},
		{"GET", "/?x=1", 400, "application/json", "malformed"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := h.do(c.method, c.path, "", nil)
			if r.status != c.status || r.header.Get("Content-Type") != c.ctype {
				t.Fatalf("%d %q, want %d %q; body %s", r.status, r.header.Get("Content-Type"), c.status, c.ctype, r.body)
			}
			if c.status != 200 {
				wantError(t, r, c.status, c.contains)
				return
			}
			if !bytes.Contains(r.body, []byte(c.contains)) {
				t.Errorf("body lacks %q", c.contains)
			}
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

// TestDashboardAssetsAreLocal: the page loads nothing from another host,
// so it works offline.
func TestDashboardAssetsAreLocal(t *testing.T) {
	entries, err := dashboardFiles.ReadDir("dashboard")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		body, err := dashboardFiles.ReadFile("dashboard/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"http://", "https://", "//cdn", "@import"} {
			if bytes.Contains(body, []byte(ref)) {
				t.Errorf("%s refers to %q", e.Name(), ref)
			}
		}
	}
}

// TestLatencyTracker measures from attached to confirmed on the
// tracker's clock, once per transaction, and forgets attach times more
// than latencyWindow arrivals old.
func TestLatencyTracker(t *testing.T) {
	var now time.Time
	tr := newLatencyTracker(func() time.Time { return now })
	at := func(d time.Duration, kind dag.EventKind, arrival uint64) {
		now = time.Unix(0, 0).Add(d)
		tr.observe(dag.Event{Kind: kind, Info: dag.Info{Arrival: arrival}})
	}
	at(0, dag.EventAttached, 1)
	at(10*time.Millisecond, dag.EventAttached, 2)
	at(20*time.Millisecond, dag.EventAttached, 3)
	at(30*time.Millisecond, dag.EventConfirmed, 1)  // 30 ms
	at(50*time.Millisecond, dag.EventConfirmed, 2)  // 40 ms
	at(60*time.Millisecond, dag.EventConfirmed, 2)  // again: not measured twice
	at(50*time.Millisecond, dag.EventConfirmed, 9)  // never attached here: not measured
	at(50*time.Millisecond, dag.EventConfirmed, 0)  // the root: not measured
	at(120*time.Millisecond, dag.EventConfirmed, 3) // 100 ms
	got := tr.quantiles()
	want := latencyBody{Samples: 3, Total: 3, P50: 40, P90: 100, P99: 100, Max: 100}
	if got != want {
		t.Fatalf("quantiles %+v, want %+v", got, want)
	}

	// A transaction attached latencyWindow arrivals before the one that
	// took its slot is forgotten; the newer one is measured.
	tr = newLatencyTracker(func() time.Time { return now })
	at(0, dag.EventAttached, 5)
	at(time.Millisecond, dag.EventAttached, 5+latencyWindow)
	at(time.Second, dag.EventConfirmed, 5)
	at(2*time.Second, dag.EventConfirmed, 5+latencyWindow)
	if got := tr.quantiles(); got.Samples != 1 || got.Max != 1999 {
		t.Fatalf("after the ring wrapped: %+v, want one sample of 1999 ms", got)
	}
}

// TestStats: GET /v1/stats counts what the ledger did, measures a
// confirmation and counts rejections by code.
func TestStats(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	a := dagtest.NewIssuer("device", testRules).Issue(dag.KindData, root, root, at(time.Second), []byte("reading"))
	h.mustAttach(a)
	h.mustAttach(h.validator(0).Issue(dag.KindBeacon, a.ID(), a.ID(), at(2*time.Second), nil))
	wantError(t, h.post("/v1/transactions", mediaBinary, []byte{1, 2, 3}), http.StatusBadRequest, "malformed")

	r := h.get("/v1/stats")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var st statsBody
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Transactions != 2 || st.Confirmed != 1 || st.Conflicting != 0 || st.Tips != 1 || st.Issuers != 2 || st.Rejections["malformed"] != 1 {
		t.Errorf("stats %s", r.body)
	}
	// The reading waited for the beacon: one latency sample. The beacon
	// itself stays an unconfirmed tip.
	if l := st.Latency; l.Samples != 1 || l.Total != 1 || l.P50 != l.Max {
		t.Errorf("latency %+v, want one sample", l)
	}
	if st.Peers != (peerCounts{}) {
		t.Errorf("peers %+v on a backend without peering", st.Peers)
	}
}
