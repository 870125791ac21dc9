package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
)

func TestParsePolicyQuery(t *testing.T) {
	class, dev := device.ScopeClass, device.ScopeDevice
	id := dag.ID{7}
	for _, c := range []struct {
		query string
		want  device.PolicyQuery
		bad   bool
	}{
		{query: "", want: device.PolicyQuery{}},
		{query: "scope=class", want: device.PolicyQuery{Scope: &class}},
		{query: "scope=class&class=lock&in_force=true", want: device.PolicyQuery{Scope: &class, Class: "lock", InForce: true}},
		{query: "class=lock", want: device.PolicyQuery{Class: "lock"}},
		{query: "device=" + id.String() + "&scope=device&in_force=false", want: device.PolicyQuery{Scope: &dev, Device: &id}},
		{query: "scope=Class", bad: true},
		{query: "scope=", bad: true},
		{query: "class=Lock", bad: true},
		{query: "device=07", bad: true},
		{query: "in_force=TRUE", bad: true},
		{query: "scope=network&class=lock", bad: true},
		{query: "scope=class&device=" + id.String(), bad: true},
		{query: "class=lock&device=" + id.String(), bad: true},
	} {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parsePolicyQuery(q)
		if c.bad {
			if !errors.Is(err, dag.ErrMalformed) {
				t.Errorf("%q: %+v, %v; want malformed", c.query, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.query, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.query, diff)
		}
	}
}

// TestLimitersTakeAs: a bucket of its own numbers refuses past its burst
// with the wait of its own rate; new numbers keep the tokens but refill
// at the new rate; other keys keep the defaults.
func TestLimitersTakeAs(t *testing.T) {
	l := newLimiters[string](100, 200, 16)
	t0 := time.Unix(1_000_000, 0)
	slow := rate.Every(time.Hour)
	for i, s := range []struct {
		at       time.Duration
		limit    rate.Limit
		burst    int
		ok       bool
		waitOver time.Duration
	}{
		{0, slow, 2, true, 0},
		{0, slow, 2, true, 0},
		{time.Second, slow, 2, false, 59 * time.Minute},
		{time.Second, 1, 5, false, 0},        // the new numbers keep the spent bucket
		{3 * time.Second, 1, 5, true, 0},     // but refill at the new rate
		{3 * time.Second, 1, 5, true, 0},     // two seconds gave two tokens
		{3 * time.Second, 1, 5, false, 0},    // and no more
		{3 * time.Second, slow, 2, false, 0}, // back to slow: no refill
	} {
		wait, ok := l.takeAs("device", 1, t0.Add(s.at), s.limit, s.burst)
		if ok != s.ok || wait < s.waitOver {
			t.Errorf("step %d: ok %v wait %v, want ok %v and a wait over %v", i, ok, wait, s.ok, s.waitOver)
		}
	}
	for i := range 200 {
		if _, ok := l.take("other", 1, t0); !ok {
			t.Fatalf("the default bucket refused take %d of its burst of 200", i)
		}
	}
}

// limitingBackend is testBackend with per-issuer limits from a table.
type limitingBackend struct {
	*testBackend
	limits map[dag.PublicKey][2]float64 // rate, burst
}

func (b limitingBackend) IssuerLimit(issuer dag.PublicKey) (float64, int, bool) {
	l, ok := b.limits[issuer]
	return l[0], int(l[1]), ok
}

// TestIssuerLimitFromBackend: an IssuerLimiter's numbers set an issuer's
// bucket, capped by the configured IssuerRate and IssuerBurst; an issuer
// it does not name keeps the configured limit.
func TestIssuerLimitFromBackend(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	slow, fast, plain := dagtest.NewIssuer("slow", testRules), dagtest.NewIssuer("fast", testRules), dagtest.NewIssuer("plain", testRules)
	b := limitingBackend{h.backend, map[dag.PublicKey][2]float64{
		dagtest.PublicKey(slow.Key): {1.0 / 3600, 1},
		// Above the configured 10/s, burst 3: capped.
		dagtest.PublicKey(fast.Key): {1000, 1000},
	}}
	s, err := New(b, Config{Clock: func() time.Time { return testNow }, IssuerRate: 10, IssuerBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	root := h.ledger.Root()
	for _, c := range []struct {
		name     string
		issuer   *dagtest.Issuer
		accepted int
	}{{"policy burst 1", slow, 1}, {"capped at the configured burst 3", fast, 3}, {"configured burst 3", plain, 3}} {
		for i := range 4 {
			tx := c.issuer.Issue(dag.KindData, root, root, at(time.Duration(i+1)*time.Second), nil)
			res := s.backend.Submit(context.Background(), []*dag.Transaction{tx}, s.admitIssuer(testNow))[0]
			var ae *apiError
			switch {
			case i < c.accepted && res.Err != nil:
				t.Errorf("%s: transaction %d refused: %v", c.name, i, res.Err)
			case i >= c.accepted && (!errors.As(res.Err, &ae) || ae.code != codeRateLimited || statusFor(ae) != http.StatusTooManyRequests):
				t.Errorf("%s: transaction %d: %v, want rate_limited", c.name, i, res.Err)
			}
			if i >= c.accepted {
				break
			}
		}
	}
}
