package node_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// policyNet is a real node of a permissioned network whose two
// authorities may act on every class ("*", so network policies too). Its
// clock runs offset ahead of time.Now, so a test can move the rate
// limiters' time on without sleeping.
type policyNet struct {
	t      *testing.T
	n      *node.Node
	c      *client.Client
	base   string
	auths  [2]ed25519.PrivateKey
	offset atomic.Int64
}

func newPolicyNet(t *testing.T, rules pow.Rules, beacons time.Duration) *policyNet {
	t.Helper()
	dir := t.TempDir()
	if _, err := node.NewGenesis(dir, node.GenesisOptions{
		NetworkID: "policies-api", Authorities: 2, Classes: []string{dag.AllClasses}, Permissioned: true, Difficulty: &rules,
	}); err != nil {
		t.Fatal(err)
	}
	p := &policyNet{t: t}
	r := start(t, node.Config{
		DataDir: filepath.Join(dir, "node"), GenesisFile: filepath.Join(dir, node.GenesisFile),
		KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)), BeaconInterval: beacons,
		Now: func() time.Time { return time.Now().Add(time.Duration(p.offset.Load())) },
	})
	p.n, p.c, p.base = r.n, r.c, "http://"+r.n.HTTPAddr()
	for i := range p.auths {
		key, err := client.LoadKey(filepath.Join(dir, node.AuthorityKeyFile(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		p.auths[i] = key
	}
	return p
}

// register registers a fresh key of class by authority i.
func (p *policyNet) register(i int, class string) (dag.ID, ed25519.PrivateKey) {
	p.t.Helper()
	key := newKey(p.t)
	id, err := client.NewAuthority(p.c, p.auths[i]).Register(p.t.Context(), client.Registration{Key: publicKey(key), Class: class})
	if err != nil {
		p.t.Fatalf("registering a %s: %v", class, err)
	}
	return id, key
}

// setPolicy installs a policy by authority i and returns its transaction.
func (p *policyNet) setPolicy(i int, scope device.Scope, class string, dev dag.ID, text string) dag.ID {
	p.t.Helper()
	id, err := client.NewAuthority(p.c, p.auths[i]).SetPolicy(p.t.Context(),
		client.PolicyPayload{Scope: scope, Class: class, Device: dev, Source: mustSource(p.t, text)})
	if err != nil {
		p.t.Fatalf("setting policy %q: %v", text, err)
	}
	return id
}

// policyTx builds authority i's class policy transaction without the
// client's checks, so that what the node refuses reaches it; its trunk is
// see, so that its past holds the policy in force.
func (p *policyNet) policyTx(i int, class, text string, see dag.ID) *dag.Transaction {
	p.t.Helper()
	payload := device.PolicyPayload{Scope: device.ScopeClass, Class: class, Source: mustSource(p.t, text)}
	tx, err := control(p.t.Context(), p.c, p.auths[i], dag.KindPolicy, see, payload.Encode())
	if err != nil {
		p.t.Fatal(err)
	}
	return tx
}

func mustSource(t testing.TB, text string) *policy.Source {
	t.Helper()
	src, err := policy.ParseFile([]byte(text))
	if err != nil {
		t.Fatalf("policy %q: %v", text, err)
	}
	return src
}

// next builds key's next transaction as a device does: parents, seq,
// prev and difficulty from /v1/tips?issuer=. With solve false the nonce
// is one that misses the difficulty, for the node to solve.
func (p *policyNet) next(key ed25519.PrivateKey, payload []byte, solve bool) *dag.Transaction {
	p.t.Helper()
	pub := publicKey(key)
	tips, err := p.c.Tips(p.t.Context(), &pub, len(payload))
	if err != nil {
		p.t.Fatal(err)
	}
	tx := &dag.Transaction{Kind: dag.KindData, Trunk: tips.Trunk, Branch: tips.Branch, Seq: tips.Issuer.NextSeq, Prev: tips.Issuer.Prev,
		Time: time.Now().UnixNano(), Payload: payload}
	tx.Sign(key)
	if solve {
		if tx.Nonce, err = pow.Solve(p.t.Context(), tx.ID(), tips.Difficulty, 1); err != nil {
			p.t.Fatal(err)
		}
		return tx
	}
	for pow.Verify(tx.ID(), tx.Nonce, tips.Difficulty) {
		tx.Nonce++
	}
	return tx
}

// answer is an HTTP answer, decoded enough for the checks.
type answer struct {
	status int
	header http.Header
	body   []byte
	code   string
}

func (p *policyNet) do(method, target, ctype string, body []byte) answer {
	p.t.Helper()
	req, err := http.NewRequestWithContext(p.t.Context(), method, p.base+target, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		p.t.Fatal(err)
	}
	var e struct{ Code string }
	if resp.StatusCode >= 300 && json.Unmarshal(a.body, &e) == nil {
		a.code = e.Code
	}
	return a
}

func (p *policyNet) postBinary(target string, tx *dag.Transaction) answer {
	return p.do(http.MethodPost, target, "application/octet-stream", tx.Bytes())
}

// policyList is the contract's Policies, strictly decoded (scopes by
// name).
type policyList struct {
	Policies []struct {
		Transaction   dag.ID        `json:"transaction"`
		Scope         string        `json:"scope"`
		Class         string        `json:"class"`
		Device        *dag.ID       `json:"device"`
		Name          string        `json:"name"`
		Version       uint64        `json:"version"`
		Authority     dag.PublicKey `json:"authority"`
		InForce       bool          `json:"in_force"`
		Reads         string        `json:"reads"`
		Expression    string        `json:"expression"`
		Rate          string        `json:"rate"`
		NodeWork      string        `json:"node_work"`
		EstimatedCost uint64        `json:"estimated_cost"`
		Source        string        `json:"source"`
	} `json:"policies"`
}

func (l policyList) ids() []dag.ID {
	out := []dag.ID{}
	for _, p := range l.Policies {
		out = append(out, p.Transaction)
	}
	return out
}

// policyRefs is what a device or a history item names of its policies.
type policyRefs []struct {
	Transaction dag.ID `json:"transaction"`
	Scope       string `json:"scope"`
}

func (r policyRefs) ids() []dag.ID {
	out := []dag.ID{}
	for _, p := range r {
		out = append(out, p.Transaction)
	}
	return out
}

const thermostatV1 = `// name: thermostat
// version: 1
// reads: tx
// rate: 1/1h growth 2
// node-work: 2/1h
tx.size <= 256
`

// TestPoliciesAPI: through a real node, GET /v1/policies lists what is
// installed, filtered by scope, class, device and in_force (bad values
// are 400 malformed); a device names the policies in force for it and
// each item of its history the ones that judged it (none before the
// first policy, then the version its past held); refusals map to their
// statuses (policy_denied 403, policy_outdated 409, policy_invalid and
// policy_too_costly 422); /v1/tips?issuer= reports the difficulty under
// the device's policy rate, not the genesis rule.
func TestPoliciesAPI(t *testing.T) {
	p := newPolicyNet(t, testRules, 0)
	ctx := t.Context()

	var empty policyList
	if status, code := getJSON(t, p.base, "/v1/policies", &empty); status != 200 || empty.Policies == nil || len(empty.Policies) != 0 {
		t.Fatalf("policies before any: %d %s %+v", status, code, empty)
	}

	thID, thKey := p.register(0, "thermostat")
	lockID, _ := p.register(0, "lock")
	th := client.NewDevice(p.c, thKey)
	first, err := th.Send(ctx, dag.KindData, []byte("before any policy"))
	if err != nil {
		t.Fatal(err)
	}

	classV1 := p.setPolicy(0, device.ScopeClass, "thermostat", dag.ID{}, thermostatV1)
	network := p.setPolicy(1, device.ScopeNetwork, "", dag.ID{}, "// name: net\n// version: 1\n// reads: tx\ntx.size <= 1024\n")
	lock := p.setPolicy(0, device.ScopeDevice, "", lockID,
		"// name: lock\n// version: 1\n// reads: tx, device\ntx.kind != \"command\" || tx.issuer == device.owner\n")
	second, err := th.Send(ctx, dag.KindData, []byte("under v1"))
	if err != nil {
		t.Fatal(err)
	}
	classV2 := p.setPolicy(1, device.ScopeClass, "thermostat", dag.ID{},
		strings.NewReplacer("version: 1", "version: 2", "256", "128").Replace(thermostatV1))
	third, err := th.Send(ctx, dag.KindData, []byte("under v2"))
	if err != nil {
		t.Fatal(err)
	}

	var all policyList
	if status, code := getJSON(t, p.base, "/v1/policies", &all); status != 200 {
		t.Fatalf("policies: %d %s", status, code)
	}
	if got, want := all.ids(), []dag.ID{network, classV1, classV2, lock}; !slices.Equal(got, want) {
		t.Fatalf("policies %v, want network, class v1, class v2, device", got)
	}
	v1 := all.Policies[1]
	if v1.Scope != "class" || v1.Class != "thermostat" || v1.Device != nil || v1.Name != "thermostat" || v1.Version != 1 ||
		v1.InForce || v1.Authority != publicKey(p.auths[0]) || v1.Reads != "tx" || v1.Expression != "tx.size <= 256" ||
		v1.Rate != "1/1h0m0s growth 2" || v1.NodeWork != "2/1h0m0s" || !strings.Contains(v1.Source, "// name: thermostat") {
		t.Errorf("class v1: %+v", v1)
	}
	if d := all.Policies[3]; d.Scope != "device" || d.Device == nil || *d.Device != lockID || !d.InForce || d.Rate != "" || d.EstimatedCost == 0 {
		t.Errorf("device policy: %+v", d)
	}
	if n := all.Policies[0]; n.Scope != "network" || n.Class != "" || n.Device != nil || !n.InForce || n.Authority != publicKey(p.auths[1]) {
		t.Errorf("network policy: %+v", n)
	}

	for _, c := range []struct {
		query string
		want  []dag.ID
	}{
		{"?scope=network", []dag.ID{network}},
		{"?scope=class", []dag.ID{classV1, classV2}},
		{"?scope=device", []dag.ID{lock}},
		{"?class=thermostat", []dag.ID{classV1, classV2}},
		{"?class=lock", []dag.ID{}},
		{"?scope=class&class=thermostat&in_force=true", []dag.ID{classV2}},
		{"?device=" + lockID.String(), []dag.ID{lock}},
		{"?scope=device&device=" + thID.String(), []dag.ID{}},
		{"?in_force=true", []dag.ID{network, classV2, lock}},
		{"?in_force=false", []dag.ID{network, classV1, classV2, lock}},
	} {
		var l policyList
		if status, code := getJSON(t, p.base, "/v1/policies"+c.query, &l); status != 200 {
			t.Errorf("%s: %d %s", c.query, status, code)
			continue
		}
		if got := l.ids(); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	for _, query := range []string{
		"?scope=global", "?scope=Network", "?class=Bad%20Class", "?class=", "?device=xyz",
		"?device=" + strings.ToUpper(lockID.String()), "?in_force=yes", "?in_force=1",
		"?scope=network&class=thermostat", "?scope=class&device=" + lockID.String(),
		"?class=lock&device=" + lockID.String(), "?scope=class&scope=device", "?verbose=true",
	} {
		if status, code := getJSON(t, p.base, "/v1/policies"+query, nil); status != 400 || code != "malformed" {
			t.Errorf("GET /v1/policies%s: %d %s, want 400 malformed", query, status, code)
		}
	}

	// A device names what judges its next transaction, widest first.
	for _, c := range []struct {
		id   dag.ID
		want []dag.ID
	}{{thID, []dag.ID{network, classV2}}, {lockID, []dag.ID{network, lock}}} {
		var d struct {
			Policies policyRefs `json:"policies"`
		}
		if err := json.Unmarshal(p.do(http.MethodGet, "/v1/devices/"+c.id.String(), "", nil).body, &d); err != nil {
			t.Fatal(err)
		}
		if got := d.Policies.ids(); !slices.Equal(got, c.want) {
			t.Errorf("device %s: policies %v, want %v", c.id.Short(), got, c.want)
		}
	}

	// Each history item names the policies in force in its past: the
	// device's tips saw the newest at each moment.
	var h struct {
		Transactions []struct {
			ID       dag.ID     `json:"id"`
			Policies policyRefs `json:"policies"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal(p.do(http.MethodGet, "/v1/devices/"+thID.String()+"/transactions", "", nil).body, &h); err != nil {
		t.Fatal(err)
	}
	want := map[dag.ID][]dag.ID{first: {}, second: {network, classV1}, third: {network, classV2}}
	if len(h.Transactions) != 3 {
		t.Fatalf("history: %+v", h)
	}
	for _, it := range h.Transactions {
		if got := it.Policies.ids(); !slices.Equal(got, want[it.ID]) {
			t.Errorf("history item %s judged by %v, want %v", it.ID.Short(), got, want[it.ID])
		}
	}

	// The difficulty under the class's rate, 1 per hour growing 2 bits:
	// three in the window, so the next needs base + 2·3, where the
	// genesis rule (1000 free) asks for the base alone.
	pub := publicKey(thKey)
	tips, err := p.c.Tips(ctx, &pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := testRules.BaseBits + 2*3; tips.Difficulty != want || tips.Issuer.Recent != 3 {
		t.Errorf("tips for the thermostat: difficulty %d with %d recent, want %d (the genesis rule gives %d)",
			tips.Difficulty, tips.Issuer.Recent, want, testRules.Required(0, tips.Issuer.Recent))
	}
	lockTips, err := p.c.Tips(ctx, nil, 0)
	if err != nil || lockTips.Difficulty != testRules.BaseBits {
		t.Errorf("tips without an issuer: %+v, %v", lockTips, err)
	}

	// What this network serves (authorities of class "*", policies of
	// every scope with rates and node work) matches the document, strictly.
	spec := oaLoad(t, p.do(http.MethodGet, "/v1/openapi.json", "", nil).body)
	for _, target := range []string{
		"/v1/authorities", "/v1/policies", "/v1/policies?scope=class&in_force=true", "/v1/info",
		"/v1/devices/" + thID.String(), "/v1/devices/" + lockID.String(), "/v1/devices/" + thID.String() + "/transactions",
		"/v1/tips?issuer=" + pub.String(),
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if ok, errs := spec.v.ValidateHttpResponse(req, resp); !ok {
			t.Errorf("GET %s: the answer does not match the document:\n%s", target, oaErrors(errs))
		}
	}

	// Refusals, each with the status of its code.
	for _, c := range []struct {
		name   string
		tx     func() *dag.Transaction
		status int
		code   string
	}{
		{"over the class policy's size", func() *dag.Transaction { return p.next(thKey, make([]byte, 129), true) }, 403, device.CodePolicyDenied},
		{"the version in force again", func() *dag.Transaction {
			return p.policyTx(0, "thermostat", strings.Replace(thermostatV1, "version: 1", "version: 2", 1), classV2)
		}, 409, device.CodePolicyOutdated},
		{"a policy that does not compile", func() *dag.Transaction {
			return p.policyTx(0, "thermostat", "// name: broken\n// version: 3\n// reads: tx\ntx.size <= \"x\"\n", classV2)
		}, 422, device.CodePolicyInvalid},
		{"a policy over the cost limit", func() *dag.Transaction {
			return p.policyTx(0, "thermostat", "// name: costly\n// version: 3\n// reads: tx\n"+
				strings.Repeat("string(tx.payload) + ", 8)+"string(tx.payload) == \"\"\n", classV2)
		}, 422, device.CodePolicyTooCostly},
	} {
		a := p.postBinary("/v1/transactions", c.tx())
		if a.status != c.status || a.code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.body, c.status, c.code)
		}
	}
}

// TestTipsSeeNewestPolicy: with beacons off, a policy is one tip among
// many that do not see it; plain tip selection often misses it, but the
// parents handed to a covered device always see it (and its
// registration), over HTTP and through SelectTipsFor, so its next
// transaction is judged by it.
func TestTipsSeeNewestPolicy(t *testing.T) {
	p := newPolicyNet(t, testRules, time.Hour)
	ctx := t.Context()
	regD, keyD := p.register(0, "sensor")
	regE, keyE := p.register(0, "sensor")
	dev := client.NewDevice(p.c, keyD)
	if _, err := dev.Send(ctx, dag.KindData, []byte("first")); err != nil {
		t.Fatal(err)
	}
	pol := p.setPolicy(0, device.ScopeClass, "sensor", dag.ID{}, "// name: small\n// version: 1\n// reads: tx\ntx.size <= 16\n")
	// E's readings each approve E's registration only: 30 tips that do not
	// see the policy.
	prev := dag.ZeroID
	for i := range 30 {
		tx := &dag.Transaction{Kind: dag.KindData, Trunk: regE, Branch: regE, Seq: uint64(i), Prev: prev, Time: time.Now().UnixNano(), Payload: []byte("old view")}
		tx.Sign(keyE)
		var err error
		if tx.Nonce, err = pow.Solve(ctx, tx.ID(), testRules.Required(len(tx.Payload), 0), 1); err != nil {
			t.Fatal(err)
		}
		if res, err := p.c.Post(ctx, tx); err != nil || res.Status != client.StatusAttached {
			t.Fatalf("E's reading %d: %+v, %v", i, res, err)
		}
		prev = tx.ID()
	}
	l := p.n.Ledger()
	sees := func(trunk, branch, id dag.ID) bool { return l.Sees(trunk, id) || l.Sees(branch, id) }
	missed := 0
	for range 20 {
		trunk, branch, err := p.n.SelectTips(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !sees(trunk, branch, pol) {
			missed++
		}
	}
	if missed == 0 {
		t.Fatal("plain tip selection saw the policy 20 times in 20: the test shows nothing")
	}
	head, _ := l.IssuerState(publicKey(keyD), time.Now().UnixNano())
	for i := range 20 {
		trunk, branch, err := p.n.SelectTipsFor(ctx, publicKey(keyD))
		if err != nil {
			t.Fatal(err)
		}
		if !sees(trunk, branch, pol) || !(sees(trunk, branch, regD) || l.Sees(head.Prev, regD)) {
			t.Fatalf("selection %d for the device: %s, %s does not see the policy or the registration", i, trunk.Short(), branch.Short())
		}
	}
	pub := publicKey(keyD)
	tips, err := p.c.Tips(ctx, &pub, 0)
	if err != nil || !sees(tips.Trunk, tips.Branch, pol) {
		t.Fatalf("/v1/tips?issuer=: %+v, %v", tips, err)
	}
	// So the device's next reading is judged by the policy.
	var apiErr *client.APIError
	if _, err := dev.Send(ctx, dag.KindData, make([]byte, 17)); !errors.As(err, &apiErr) || apiErr.Code != device.CodePolicyDenied || apiErr.Status != 403 {
		t.Fatalf("17 bytes after the policy: %v, want %s", err, device.CodePolicyDenied)
	}
}

// rateRules make the work rule's cap reachable: 4 base bits, at most 10.
var rateRules = pow.Rules{BaseBits: 4, PayloadBytesPerBit: 512, RateWindow: 10 * time.Second, FreePerWindow: 1000, BitsPerExcess: 1, MaxBits: 10}

// TestIssuerRateFollowsPolicy: a sensor under a class policy of 1 free
// transaction an hour, growth 2, gets an HTTP bucket of that rate with
// the work rule's MaxCounted as burst (1 + ⌈(10−4)/2⌉ = 4): the fifth
// transaction in a row is 429 with a Retry-After of the policy's pace,
// while a device of another class keeps the node's limit. A new version
// of 3600 an hour refills the same bucket at once: two seconds later on
// the node's clock the refused transaction passes.
func TestIssuerRateFollowsPolicy(t *testing.T) {
	p := newPolicyNet(t, rateRules, 0)
	_, sensor := p.register(0, "sensor")
	_, other := p.register(0, "meter")
	p.setPolicy(0, device.ScopeClass, "sensor", dag.ID{}, "// name: slow\n// version: 1\n// reads: tx\n// rate: 1/1h growth 2\ntrue\n")

	for i := range 6 {
		if a := p.postBinary("/v1/transactions", p.next(other, []byte("meter"), true)); a.status != 202 {
			t.Fatalf("meter reading %d: %d %s", i, a.status, a.body)
		}
	}
	for i := range 4 {
		if a := p.postBinary("/v1/transactions", p.next(sensor, []byte("sensor"), true)); a.status != 202 {
			t.Fatalf("sensor reading %d: %d %s", i, a.status, a.body)
		}
	}
	fifth := p.next(sensor, []byte("sensor"), true)
	a := p.postBinary("/v1/transactions", fifth)
	retry, _ := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != 429 || a.code != "rate_limited" || !strings.Contains(string(a.body), "issuer") || retry < 60 {
		t.Fatalf("fifth sensor reading: %d %s (Retry-After %q), want 429 rate_limited for the issuer at the policy's pace", a.status, a.body, a.header.Get("Retry-After"))
	}

	p.setPolicy(0, device.ScopeClass, "sensor", dag.ID{}, "// name: slow\n// version: 2\n// reads: tx\n// rate: 3600/1h growth 2\ntrue\n")
	if a := p.postBinary("/v1/transactions", fifth); a.status != 429 {
		t.Fatalf("right after the new version: %d %s, want 429: the bucket keeps its (spent) tokens", a.status, a.body)
	}
	p.offset.Add(int64(2 * time.Second))
	if a := p.postBinary("/v1/transactions", fifth); a.status != 202 {
		t.Fatalf("two seconds later under 3600/h: %d %s, want 202", a.status, a.body)
	}
}

// TestNodeWork: POST /v1/transactions?work=node solves the work of a
// signed, unsolved transaction for a device whose policy grants node work,
// in either encoding, within the allowance (2 an hour: the third is 429);
// it refuses (403 node_work_refused) an unregistered key, a device
// without an allowance and a transaction over its device's free rate (the
// node never pays the rate part), checks the signature first (422), and
// answers 429 while its solver is busy without charging the device. The
// counts show in /v1/info.
func TestNodeWork(t *testing.T) {
	p := newPolicyNet(t, testRules, 0)
	_, m1 := p.register(0, "meter")
	_, m3 := p.register(0, "meter")
	m2ID, m2 := p.register(0, "meter")
	_, plain := p.register(1, "sensor")
	p.setPolicy(0, device.ScopeClass, "meter", dag.ID{}, "// name: meter\n// version: 1\n// reads: tx\n// node-work: 2/1h\ntrue\n")
	p.setPolicy(0, device.ScopeDevice, "", m2ID, "// name: tight\n// version: 1\n// reads: tx\n// rate: 1/1h growth 1\n// node-work: 10/1h\ntrue\n")
	const work = "/v1/transactions?work=node"

	forged := p.next(m1, []byte("forged"), false)
	forged.Signature[0] ^= 1
	jsonTx := p.next(m1, []byte("json"), false)
	body, err := json.Marshal(jsonTx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		do     func() answer
		status int
		code   string
	}{
		{"an unregistered key", func() answer { return p.postBinary(work, p.next(newKey(t), []byte("who"), false)) }, 403, "node_work_refused"},
		{"a device without an allowance", func() answer { return p.postBinary(work, p.next(plain, []byte("no"), false)) }, 403, "node_work_refused"},
		{"a bad signature", func() answer { return p.postBinary(work, forged) }, 422, "bad_signature"},
		{"work other than node", func() answer { return p.postBinary("/v1/transactions?work=gpu", p.next(m1, []byte("gpu"), false)) }, 400, "malformed"},
		{"JSON", func() answer { return p.do(http.MethodPost, work, "application/json", body) }, 202, ""},
		{"binary", func() answer { return p.postBinary(work, p.next(m1, []byte("binary"), false)) }, 202, ""},
		{"the same again", func() answer { return p.do(http.MethodPost, work, "application/json", body) }, 200, ""},
		{"over the allowance", func() answer { return p.postBinary(work, p.next(m1, []byte("third"), false)) }, 429, "rate_limited"},
		{"first under its own free rate", func() answer { return p.postBinary(work, p.next(m2, []byte("one"), false)) }, 202, ""},
		{"over its free rate", func() answer { return p.postBinary(work, p.next(m2, []byte("two"), false)) }, 403, "node_work_refused"},
	} {
		a := c.do()
		if a.status != c.status || a.code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.body, c.status, c.code)
		}
		if a.status == 429 && a.header.Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", c.name)
		}
		if a.status == 202 {
			var res client.SubmitResult
			if err := json.Unmarshal(a.body, &res); err != nil || res.Status != client.StatusAttached {
				t.Errorf("%s: %s", c.name, a.body)
			}
			if info, ok := p.n.Ledger().Info(res.ID); !ok || info.Issuer == (dag.PublicKey{}) {
				t.Errorf("%s: %s not attached", c.name, res.ID.Short())
			}
		}
	}

	// A busy solver: 429, and the device's allowance is untouched (both
	// its transactions pass once the solver is free).
	release := p.n.OccupySolver()
	a := p.postBinary(work, p.next(m3, []byte("busy"), false))
	release()
	if a.status != 429 || a.code != "rate_limited" || !strings.Contains(string(a.body), "busy") || a.header.Get("Retry-After") != "1" {
		t.Fatalf("while the solver is busy: %d %s (Retry-After %q)", a.status, a.body, a.header.Get("Retry-After"))
	}
	for i := range 2 {
		if a := p.postBinary(work, p.next(m3, fmt.Appendf(nil, "after %d", i), false)); a.status != 202 {
			t.Fatalf("after the busy spell, %d: %d %s", i, a.status, a.body)
		}
	}

	var info struct {
		NodeWork map[string]uint64 `json:"node_work"`
	}
	if err := json.Unmarshal(p.do(http.MethodGet, "/v1/info", "", nil).body, &info); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"solved": 5, "refused": 4, "rate_limited": 2}
	got := map[string]uint64{"solved": info.NodeWork["solved"], "refused": info.NodeWork["refused"], "rate_limited": info.NodeWork["rate_limited"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/v1/info node_work (-want +got):\n%s", diff)
	}
}
