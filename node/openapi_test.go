package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi-validator/strict"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// TestOpenAPIContract checks the OpenAPI document a real node serves
// against what that node does: every endpoint and every refusal that can
// be provoked from outside is sent over a real connection, and both the
// request and the node's response are validated against the document with
// an OpenAPI 3.1 validator (pb33f/libopenapi-validator, with format and
// content assertions). Responses are checked in strict mode too, so a
// property or header the node sends without documenting it fails.
//
// Each case says whether the document accepts its request: a request the
// node refuses for a rule the document can express (a pattern, a const,
// additionalProperties, a maximum) must be refused by the document too,
// and one the document cannot tell (a bad signature) must pass it. The
// response must always match the document. Cases marked with a section of
// docs/design/2026-12-02-api-hardening.md check the rules of that note.
//
// Each case posts from its own loopback address (Linux routes all of
// 127.0.0.0/8 to the loopback interface), so the per-client budgets of one
// case do not leak into another and the rate-limit cases are exact.
func TestOpenAPIContract(t *testing.T) {
	c := newOANode(t, nil)
	t.Run("document", func(t *testing.T) {
		if ok, errs := c.spec.v.ValidateDocument(); !ok {
			t.Fatalf("the served document is not valid OpenAPI 3.1:\n%s", oaErrors(errs))
		}
	})
	for _, tc := range openAPICases() {
		t.Run(tc.name, func(t *testing.T) { c.run(t, tc) })
	}
	t.Run("overloaded by body memory", c.bodyBudgetCase)
	// The device layer's endpoints and refusals, on a node whose genesis
	// names an authority and is permissioned.
	t.Run("devices", func(t *testing.T) {
		d := newOANode(t, newKey(t))
		for _, tc := range openAPIDeviceCases() {
			t.Run(tc.name, func(t *testing.T) { d.run(t, tc) })
		}
	})
}

// TestOpenAPIPruned checks 410 pruned against the served document, in
// strict mode, on a real validator that prunes everything it may
// (prune-after of a nanosecond, about 160 confirmed transactions kept in
// memory): the status and the evidence of a transaction it confirmed,
// logged and pruned are 410 pruned, while one it never held stays 404 and
// one it keeps (a chain's head) is served; once the audit log has
// compacted a transaction's block its ID is 404, and a consistency proof
// from a size inside a compacted block 410 pruned.
func TestOpenAPIPruned(t *testing.T) {
	cl := newCluster(t, 1)
	m := cl.members[0]
	cfg := pruneConfig(m, cl.genesis, 0)
	cfg.PruneAfter = time.Nanosecond
	m.r = start(t, cfg)
	txs := cl.generator().Take(1500)
	cl.post(txs, 500, func(int) *member { return m })
	cl.waitConfirmed([]*member{m}, txs[len(txs)-20:], 30*time.Second)
	// pruned is logged and pruned, in the log's last block, which is not
	// complete, so compaction leaves its index (410); compacted is one
	// whose index compaction dropped (404, as unknown).
	var pruned, compacted dag.ID
	log := m.r.n.AuditLog()
	poll.Until(t, 30*time.Second, "a logged transaction to be pruned and an older one compacted", func() bool {
		if m.r.n.PruneStats().CompactedLeaves == 0 {
			return false
		}
		last := log.Size() >> evidence.CompactLevel << evidence.CompactLevel
		pruned, compacted = dag.ID{}, dag.ID{}
		for _, tx := range txs {
			if m.r.n.Ledger().Known(tx.ID()) {
				continue
			}
			index, err := log.IndexOf(tx.ID())
			switch {
			case err != nil:
				compacted = tx.ID()
			case index >= last:
				pruned = tx.ID()
			}
		}
		return !pruned.IsZero() && !compacted.IsZero()
	})
	// A size whose root compaction dropped (the first positions hold
	// the kept registrations, whose paths keep the roots of small sizes).
	var gone uint64
	for m := log.Compacted() - 1; m > 0 && gone == 0; m-- {
		if _, err := log.RootAt(m); errors.Is(err, evidence.ErrCompacted) {
			gone = m
		}
	}
	if gone == 0 {
		t.Fatalf("compacted to %d, every size still servable", log.Compacted())
	}
	head := txs[len(txs)-1].ID()
	c := oaConnect(t, m.r.n.HTTPAddr(), nil)
	for _, tc := range []oaCase{
		{name: "pruned transaction", reqValid: true, status: 410, code: "pruned",
			build: oaGet("/v1/transactions/" + pruned.String())},
		{name: "evidence of a pruned transaction", reqValid: true, status: 410, code: "pruned",
			build: oaGet("/v1/transactions/" + pruned.String() + "/evidence")},
		{name: "compacted transaction", reqValid: true, status: 404, code: "not_found",
			build: oaGet("/v1/transactions/" + compacted.String())},
		{name: "consistency from a compacted size", reqValid: true, status: 410, code: "pruned",
			build: oaGet(fmt.Sprintf("/v1/log/consistency?from=%d&to=%d", gone, log.Size()))},
		{name: "consistency from a block's end", reqValid: true, status: 200,
			build: oaGet(fmt.Sprintf("/v1/log/consistency?from=%d&to=%d", 1<<evidence.CompactLevel, log.Size()))},
		{name: "unknown transaction on a pruning node", reqValid: true, status: 404, code: "not_found",
			build: oaGet("/v1/transactions/" + oaRandomID().String())},
		{name: "evidence of an unknown transaction on a pruning node", reqValid: true, status: 404, code: "not_found",
			build: oaGet("/v1/transactions/" + oaRandomID().String() + "/evidence")},
		{name: "kept chain head", reqValid: true, status: 200, build: oaGet("/v1/transactions/" + head.String()),
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var st struct{ Status string }
				res.json(t, &st)
				if st.Status != "confirmed" {
					t.Errorf("chain head %s: status %q, want confirmed", head.Short(), st.Status)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) { c.run(t, tc) })
	}
}

// openAPIConfig keeps the limits small enough to reach from a test.
var openAPIConfig = api.Config{
	MaxBatchItems: 16,
	MaxBatchBytes: 256 << 10,
	// The least that lets one full batch be read (its chunks and their
	// joined copy); three bodies of three quarters of a batch do not fit.
	BodyBudget: 516 << 10,
	// A client has 16 tokens and gets one back every 20 s: a batch of 16
	// leaves none for the requests right after it.
	ClientRate: 0.05, ClientBurst: 16,
	// After four transactions rejected for its own fault a client is
	// refused for 20 s.
	JunkRate: 0.05, JunkBurst: 4,
	MaxStreams: 4,
}

// oaSourceBase is the first loopback address the cases post from.
var oaSourceBase = [4]byte{127, 77, 0, 0}

// oaNode is the node under test, the document it serves and the helpers
// the cases share.
type oaNode struct {
	addr       string
	spec       *oaSpec
	fix        *client.Client // fixtures: every connection from a fresh address
	maxPayload int
	next       atomic.Uint32 // source address counter
	// fleet is the genesis authority's key; nil in a network without
	// authorities.
	fleet ed25519.PrivateKey
}

// evidenceReady: the node serves the transaction's evidence now.
func evidenceReady(t *testing.T, c *oaNode, id dag.ID) bool {
	resp, err := http.Get("http://" + c.addr + "/v1/transactions/" + id.String() + "/evidence")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// newOANode starts the node under test; with fleet, its genesis names
// that authority and is permissioned (authorityNetwork).
func newOANode(t *testing.T, fleet ed25519.PrivateKey) *oaNode {
	t.Helper()
	dir := t.TempDir()
	var genesis, key string
	if fleet != nil {
		genesis, key = authorityNetwork(t, dir, publicKey(fleet))
	} else {
		genesis, key = testNetwork(t, dir)
	}
	r := start(t, node.Config{
		DataDir: dir, GenesisFile: genesis, KeyFile: key,
		// Slow enough that a transaction is still pending when its status
		// is read right after the post.
		BeaconInterval: 250 * time.Millisecond,
		API:            openAPIConfig,
	})
	return oaConnect(t, r.n.HTTPAddr(), fleet)
}

// oaConnect loads the document the node at addr serves and readies the
// fixtures' client; fleet is its genesis authority's key, or nil.
func oaConnect(t *testing.T, addr string, fleet ed25519.PrivateKey) *oaNode {
	t.Helper()
	c := &oaNode{addr: addr, fleet: fleet}
	fix, err := client.New("http://"+c.addr, client.Options{HTTPClient: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return c.dialer().DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	c.fix = fix

	conn, err := c.dialer().Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /v1/openapi.json HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", c.addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET /v1/openapi.json: %v", err)
	}
	doc, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json: %d, %v", resp.StatusCode, err)
	}
	c.spec = oaLoad(t, doc)

	info, err := c.fix.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c.maxPayload = info.Network.MaxPayload
	return c
}

// dialer dials from the next unused loopback address.
func (c *oaNode) dialer() *net.Dialer {
	n := c.next.Add(1)
	ip := net.IPv4(oaSourceBase[0], oaSourceBase[1]+byte(n>>16), byte(n>>8), byte(n))
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
}

// freshFrom returns a loopback address no case has used.
func (c *oaNode) freshFrom() string {
	return c.dialer().LocalAddr.(*net.TCPAddr).IP.String()
}

// oaSpec is the served document, parsed, with its validators.
type oaSpec struct {
	// v checks responses in strict mode: a property, parameter or header
	// the document does not declare is an error, so whatever the node
	// adds without documenting it fails.
	v validator.Validator
	// loose is v without strict mode. It checks requests, so that the
	// document's own rules (additionalProperties, patterns) are what
	// refuses them, and the one response that is open by nature: the
	// OpenAPI document itself.
	loose      validator.Validator
	model      *v3.Document
	schema     schema_validation.SchemaValidator
	strictOpts *config.ValidationOptions
}

func oaLoad(t *testing.T, raw []byte) *oaSpec {
	t.Helper()
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("the served document does not parse: %v", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("the served document does not build: %v", err)
	}
	assertions := []config.Option{config.WithFormatAssertions(), config.WithContentAssertions()}
	opts := append(slices.Clone(assertions),
		config.WithStrictMode(),
		// A generic hardening header on every response, not part of the
		// contract.
		config.WithStrictIgnoredHeadersExtra("x-content-type-options"),
	)
	v, errs := validator.NewValidator(doc, opts...)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	loose, errs := validator.NewValidator(doc, assertions...)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return &oaSpec{v: v, loose: loose, model: &model.Model,
		schema: schema_validation.NewSchemaValidator(opts...), strictOpts: config.NewValidationOptions(opts...)}
}

// component is a schema of components.schemas.
func (s *oaSpec) component(t *testing.T, name string) *base.Schema {
	t.Helper()
	p := s.model.Components.Schemas.GetOrZero(name)
	if p == nil {
		t.Fatalf("the document has no schema %s", name)
	}
	return p.Schema()
}

// responseSchema is the JSON schema of components.responses[name].
func (s *oaSpec) responseSchema(t *testing.T, name string) *base.Schema {
	t.Helper()
	r := s.model.Components.Responses.GetOrZero(name)
	if r == nil {
		t.Fatalf("the document has no response %s", name)
	}
	mt := r.Content.GetOrZero("application/json")
	if mt == nil || mt.Schema == nil {
		t.Fatalf("response %s has no application/json schema", name)
	}
	return mt.Schema.Schema()
}

// checkValue validates JSON against a schema, in strict mode too (every
// property must be declared), and describes the failures.
func (s *oaSpec) checkValue(schema *base.Schema, data []byte) string {
	if ok, errs := s.schema.ValidateSchemaBytes(schema, data); !ok {
		return oaErrors(errs)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "  - " + err.Error()
	}
	var b strings.Builder
	for _, u := range strict.ValidateBody(schema, v, strict.DirectionResponse, s.strictOpts, 3.1).UndeclaredValues {
		fmt.Fprintf(&b, "  - %s %s is not declared (declared: %s)\n", u.Type, u.Path, strings.Join(u.DeclaredProperties, ", "))
	}
	return b.String()
}

// requestGaps reports what the document refuses in a request but the
// validator does not check: a query string that is not valid
// percent-encoding (RFC 3986); a path that matches no documented path
// exactly (the validator ignores empty segments and a trailing slash); a
// query parameter the operation does not declare, or a scalar one given
// twice (the API's rule, stated in the document's description, that a
// request means exactly what it says); and the items and maxItems of an
// exploded array parameter (the validator checks neither when the
// parameter is repeated).
func (s *oaSpec) requestGaps(r *http.Request) []string {
	var gaps []string
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		gaps = append(gaps, "query string: "+err.Error())
	}
	var item *v3.PathItem
	for path, pi := range s.model.Paths.PathItems.FromOldest() {
		if oaPathMatches(path, r.URL.Path) {
			item = pi
		}
	}
	if item == nil {
		return append(gaps, "path "+r.URL.Path+" is not in the document")
	}
	op := item.GetOperations().GetOrZero(strings.ToLower(r.Method))
	if op == nil {
		return gaps
	}
	declared := map[string]bool{}
	for _, p := range op.Parameters {
		if p.In != "query" || p.Schema == nil {
			continue
		}
		declared[p.Name] = true
		values, ok := q[p.Name]
		switch {
		case !ok:
		case !slices.Contains(p.Schema.Schema().Type, "array"):
			if len(values) > 1 {
				gaps = append(gaps, fmt.Sprintf("query parameter %s given %d times", p.Name, len(values)))
			}
		default:
			data, _ := json.Marshal(values)
			if msg := s.checkValue(p.Schema.Schema(), data); msg != "" {
				gaps = append(gaps, "query parameter "+p.Name+":\n"+msg)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !declared[name] {
			gaps = append(gaps, "query parameter "+name+" is not declared")
		}
	}
	return gaps
}

// oaPathMatches: path is template with each {parameter} standing for one
// segment, and no empty, "." or ".." segment (but "/" is "/").
func oaPathMatches(template, path string) bool {
	if template == "/" {
		// The dashboard's page: the one path that ends in "/".
		return path == "/"
	}
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		switch {
		case i > 0 && (ps[i] == "" || ps[i] == "." || ps[i] == ".."):
			return false
		case strings.HasPrefix(ts[i], "{"):
		case ts[i] != ps[i]:
			return false
		}
	}
	return true
}

func oaErrors(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s: %s", oaClip(e.Message), oaClip(e.Reason))
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s", oaClip(f.Reason))
			if f.FieldPath != "" {
				fmt.Fprintf(&b, " (at %s)", f.FieldPath)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// oaClip keeps a validator message readable when it quotes a large value.
func oaClip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// oaCase is one request and what the document and the node must make of
// it.
type oaCase struct {
	name string
	// note names the section of the hardening design note whose rule the
	// case checks; failures say so.
	note string
	// build makes the request; it may post fixtures first.
	build func(t *testing.T, c *oaNode) oaRequest
	// reqValid: the document accepts the request.
	reqValid bool
	status   int
	// code is the error code of a JSON error response; "" for none.
	code  string
	check func(t *testing.T, c *oaNode, res *oaResult)
}

// oaRequest is what a case sends.
type oaRequest struct {
	method string
	target string // path and query, written on the request line as is
	ctype  string
	body   []byte
	header http.Header
	// raw, when set, is written to the connection instead; method, target
	// and header then describe the request to the validator.
	raw string
	// from is the source address; empty means a fresh one.
	from string
	// docMethod is the method under which the document lists the
	// response (a 405 answers a method the path does not have).
	docMethod string
	// loose checks the response without strict mode.
	loose bool
	// docResponse names the component response to check the body
	// against when the path is not in the document at all.
	docResponse string
	// onOpen runs once the headers of an event stream have arrived; the
	// first message after it is read. Without it no message is read.
	onOpen func()
	// retry asks for a new attempt (a race the case cannot exclude).
	retry   func(res *oaResult) bool
	cleanup func()
}

// oaResult is what came back.
type oaResult struct {
	resp *http.Response
	body []byte
	// event and data are the first message of an event stream.
	event string
	data  []byte
}

func (res *oaResult) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(res.body, v); err != nil {
		t.Fatalf("response body %q: %v", res.body, err)
	}
}

func (c *oaNode) run(t *testing.T, tc oaCase) {
	prefix := ""
	if tc.note != "" {
		prefix = "[design note " + tc.note + "] "
	}
	var req oaRequest
	var res *oaResult
	for attempt := 1; ; attempt++ {
		req = tc.build(t, c)
		if req.cleanup != nil {
			defer req.cleanup()
		}
		res = c.exchange(t, req)
		if req.retry == nil || attempt == 3 || !req.retry(res) {
			break
		}
	}

	// The request against the document.
	vreq := c.validationRequest(t, req, req.method)
	ok, errs := c.spec.loose.ValidateHttpRequest(vreq)
	gaps := c.spec.requestGaps(vreq)
	switch {
	case tc.reqValid && (!ok || len(gaps) > 0):
		t.Errorf("%sthe document refuses this request, which it should accept:\n%s  %s", prefix, oaErrors(errs), strings.Join(gaps, "\n  "))
	case !tc.reqValid && ok && len(gaps) == 0:
		t.Errorf("%sthe document accepts this request, which it should refuse (%s %.200s)", prefix, req.method, req.target)
	}

	// The node's answer.
	if res.resp.StatusCode != tc.status {
		t.Errorf("%sstatus %d, want %d; body %.300s", prefix, res.resp.StatusCode, tc.status, res.body)
	}
	if tc.code != "" {
		var e struct{ Code, Message string }
		if ct := res.resp.Header.Get("Content-Type"); ct != "application/json" || json.Unmarshal(res.body, &e) != nil || e.Code != tc.code {
			t.Errorf("%sanswer %s %.300q, want a JSON error with code %q", prefix, ct, res.body, tc.code)
		}
	}

	// The answer against the document.
	if req.docResponse != "" {
		if msg := c.spec.checkValue(c.spec.responseSchema(t, req.docResponse), res.body); msg != "" {
			t.Errorf("%sthe answer does not match the document's %s response:\n%s", prefix, req.docResponse, msg)
		}
	} else {
		method := req.method
		if req.docMethod != "" {
			method = req.docMethod
		}
		resp := *res.resp
		resp.Body = io.NopCloser(bytes.NewReader(res.body))
		if res.event != "" || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			resp.Body = http.NoBody
		}
		v := c.spec.v
		if req.loose {
			v = c.spec.loose
		}
		if ok, errs := v.ValidateHttpResponse(c.validationRequest(t, req, method), &resp); !ok {
			t.Errorf("%sthe answer (%d %s, %.200q) does not match the document:\n%s", prefix,
				res.resp.StatusCode, res.resp.Header.Get("Content-Type"), res.body, oaErrors(errs))
		}
	}
	if tc.check != nil && !t.Failed() {
		tc.check(t, c, res)
	}
}

// validationRequest is req as the validator sees it.
func (c *oaNode) validationRequest(t *testing.T, req oaRequest, method string) *http.Request {
	t.Helper()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	r, err := http.NewRequest(method, "http://"+c.addr+req.target, body)
	if err != nil {
		t.Fatalf("validation request %s %s: %v", method, req.target, err)
	}
	for k, v := range req.header {
		r.Header[k] = slices.Clone(v)
	}
	if req.ctype != "" {
		r.Header.Set("Content-Type", req.ctype)
	}
	return r
}

// exchange sends req on a fresh connection and reads the answer.
func (c *oaNode) exchange(t *testing.T, req oaRequest) *oaResult {
	t.Helper()
	from := req.from
	if from == "" {
		from = c.freshFrom()
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	wire := req.raw
	if wire == "" {
		wire = c.wire(req)
	}
	if _, err := io.WriteString(conn, wire); err != nil {
		t.Fatalf("sending: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to %.60q: %v", wire, err)
	}
	res := &oaResult{resp: resp}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		if req.onOpen != nil {
			req.onOpen()
			res.event, res.data = oaReadEvent(t, bufio.NewReader(resp.Body))
		}
		return res
	}
	if res.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return res
}

// wire is req's HTTP/1.1 form.
func (c *oaNode) wire(req oaRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", req.method, req.target, c.addr)
	if req.ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", req.ctype)
	}
	for _, k := range slices.Sorted(maps.Keys(req.header)) {
		for _, v := range req.header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if req.body != nil || req.method == http.MethodPost {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(req.body))
	}
	b.WriteString("\r\n")
	b.Write(req.body)
	return b.String()
}

// oaReadEvent reads the first message of an event stream, skipping
// comments.
func oaReadEvent(t *testing.T, br *bufio.Reader) (event string, data []byte) {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if event != "" || data != nil {
				return event, data
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: ")...)
		default:
			t.Fatalf("unexpected event stream line %q", line)
		}
	}
}

// Fixtures.

// tx builds a signed transaction with work for the node's current
// difficulty. A zero at means now, cut to the millisecond plus 123 µs: a
// fraction without trailing zeros that a case can respell.
func (c *oaNode) tx(t *testing.T, key ed25519.PrivateKey, kind dag.Kind, seq uint64, prev dag.ID, payload []byte, at time.Time) *dag.Transaction {
	t.Helper()
	pub := dag.PublicKey(key.Public().(ed25519.PublicKey))
	tips, err := c.fix.Tips(t.Context(), &pub, min(len(payload), c.maxPayload))
	if err != nil {
		t.Fatal(err)
	}
	if at.IsZero() {
		at = time.Now().Truncate(time.Millisecond).Add(123 * time.Microsecond)
	}
	tx := &dag.Transaction{Kind: kind, Trunk: tips.Trunk, Branch: tips.Branch, Seq: seq, Prev: prev, Time: at.UnixNano(), Payload: payload}
	tx.Sign(key)
	if err := c.fix.Solve(t.Context(), tx, max(tips.Difficulty, testRules.Required(len(payload), 0))); err != nil {
		t.Fatal(err)
	}
	return tx
}

// data is a fresh issuer's first data transaction.
func (c *oaNode) data(t *testing.T, payload string) *dag.Transaction {
	return c.tx(t, newKey(t), dag.KindData, 0, dag.ZeroID, []byte(payload), time.Time{})
}

// attach posts tx through the client and requires it attached.
func (c *oaNode) attach(t *testing.T, tx *dag.Transaction) *dag.Transaction {
	t.Helper()
	res, err := c.fix.Post(t.Context(), tx)
	if err != nil || res.Status != client.StatusAttached {
		t.Fatalf("fixture %s: %+v, %v", tx.ID().Short(), res, err)
	}
	return tx
}

// forged is a fresh issuer's transaction with a signature that does not
// verify, and work for the ID that signature gives it.
func (c *oaNode) forged(t *testing.T, payload string) *dag.Transaction {
	t.Helper()
	b := c.data(t, payload).Bytes()
	b[len(b)-20] ^= 0xff
	return c.resolve(t, b)
}

// resolve re-decodes tx's bytes, so that a changed field gets its own ID,
// and solves the work for that ID.
func (c *oaNode) resolve(t *testing.T, raw []byte) *dag.Transaction {
	t.Helper()
	tx, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.fix.Solve(t.Context(), tx, testRules.Required(len(tx.Payload), 0)); err != nil {
		t.Fatal(err)
	}
	return tx
}

func oaJSON(t *testing.T, tx *dag.Transaction) []byte {
	t.Helper()
	b, err := json.Marshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oaEditJSON changes the JSON form of tx.
func oaEditJSON(t *testing.T, tx *dag.Transaction, edit func(m map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(oaJSON(t, tx)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func oaBatchJSON(items ...[]byte) []byte {
	return []byte(`{"transactions":[` + string(bytes.Join(items, []byte(","))) + `]}`)
}

func oaBatchBinary(items ...[]byte) []byte {
	var b []byte
	for _, it := range items {
		b = binary.BigEndian.AppendUint32(b, uint32(len(it)))
		b = append(b, it...)
	}
	return b
}

func oaRandomID() dag.ID {
	var id dag.ID
	_, _ = rand.Read(id[:])
	return id
}

// Request builders.

func oaGet(target string) func(*testing.T, *oaNode) oaRequest {
	return func(*testing.T, *oaNode) oaRequest { return oaRequest{method: http.MethodGet, target: target} }
}

func oaPost(target, ctype string, body func(t *testing.T, c *oaNode) []byte) func(*testing.T, *oaNode) oaRequest {
	return func(t *testing.T, c *oaNode) oaRequest {
		return oaRequest{method: http.MethodPost, target: target, ctype: ctype, body: body(t, c)}
	}
}

const (
	oaJSONType   = "application/json"
	oaBinaryType = "application/octet-stream"
)

// Checks.

func oaWantSubmit(status client.SubmitStatus) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		var r client.SubmitResult
		res.json(t, &r)
		if r.Status != status {
			t.Fatalf("submit status %q, want %q", r.Status, status)
		}
	}
}

func oaWantResults(statuses ...string) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		var r struct{ Results []client.SubmitResult }
		res.json(t, &r)
		var got []string
		for _, it := range r.Results {
			s := string(it.Status)
			if it.Code != "" {
				s += " " + it.Code
			}
			if it.Conflicting {
				s += " conflicting"
			}
			got = append(got, s)
		}
		if !slices.Equal(got, statuses) {
			t.Fatalf("results %q, want %q", got, statuses)
		}
	}
}

func oaWantHeader(name string, ok func(v string) bool) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		if v := res.resp.Header.Get(name); !ok(v) {
			t.Fatalf("header %s: %q", name, v)
		}
	}
}

var oaRetryAfter = oaWantHeader("Retry-After", func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n >= 1 })

func oaWantAllow(allow string) func(*testing.T, *oaNode, *oaResult) {
	return oaWantHeader("Allow", func(v string) bool { return v == allow })
}

func oaWantPlain(t *testing.T, c *oaNode, res *oaResult) {
	if ct := res.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want text/plain from net/http", ct)
	}
}

func oaWantStatus(status client.State) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		var st client.TransactionStatus
		res.json(t, &st)
		if st.Status != status {
			t.Fatalf("transaction status %q, want %q", st.Status, status)
		}
	}
}

// oaWantEvent checks the first message of a stream: its name, and its data
// and the message as a whole against the document.
func oaWantEvent(name string, id *dag.ID) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		if res.event != name {
			t.Fatalf("first event %q (data %s), want %q", res.event, res.data, name)
		}
		if msg := c.spec.checkValue(c.spec.component(t, "Event"), res.data); msg != "" {
			t.Fatalf("event data %s does not match Event:\n%s", res.data, msg)
		}
		whole, _ := json.Marshal(map[string]string{"event": res.event, "data": string(res.data)})
		if msg := c.spec.checkValue(c.spec.component(t, "EventStreamMessage"), whole); msg != "" {
			t.Fatalf("message %s does not match EventStreamMessage:\n%s", whole, msg)
		}
		var ev struct{ ID dag.ID }
		if err := json.Unmarshal(res.data, &ev); err != nil || ev.ID != *id {
			t.Fatalf("event for %s, want %s", ev.ID.Short(), id.Short())
		}
	}
}

// oaStrictJSON is a case of the strict JSON form (design note §3): the
// transaction's JSON, respelt by edit, is malformed.
func oaStrictJSON(name string, reqValid bool, edit func(t *testing.T, tx *dag.Transaction) []byte) oaCase {
	return oaCase{
		name: "strict JSON: " + name, note: "§3",
		build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
			return edit(t, c.data(t, "strict"))
		}),
		reqValid: reqValid, status: 400, code: "malformed",
	}
}

// oaRespell replaces the first old in tx's JSON with new.
func oaRespell(old, new string) func(t *testing.T, tx *dag.Transaction) []byte {
	return func(t *testing.T, tx *dag.Transaction) []byte {
		b := string(oaJSON(t, tx))
		if !strings.Contains(b, old) {
			t.Fatalf("%q not in %s", old, b)
		}
		return []byte(strings.Replace(b, old, new, 1))
	}
}

func openAPICases() []oaCase {
	var (
		// The exhausted client of the rate-limit cases.
		exhausted = "127.76.0.1"
		// The client in junk debt.
		indebted = "127.76.0.2"
		ids513   = func() string {
			q := make([]string, 513)
			for i := range q {
				q[i] = "id=" + oaRandomID().String()
			}
			return strings.Join(q, "&")
		}()
	)
	return []oaCase{
		// Every endpoint, answered.
		{name: "healthz", build: oaGet("/healthz"), reqValid: true, status: 200},
		{name: "openapi.json", reqValid: true, status: 200,
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/openapi.json", loose: true}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var doc struct{ OpenAPI string }
				if res.json(t, &doc); !strings.HasPrefix(doc.OpenAPI, "3.1.") {
					t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
				}
			}},
		{name: "info", build: oaGet("/v1/info"), reqValid: true, status: 200},
		{name: "stats", build: oaGet("/v1/stats"), reqValid: true, status: 200,
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var st struct {
					Transactions uint64            `json:"transactions"`
					Rejections   map[string]uint64 `json:"rejections"`
				}
				if res.json(t, &st); st.Rejections == nil {
					t.Fatalf("stats without a rejections object: %s", res.body)
				}
			}},
		{name: "dashboard page", build: oaGet("/"), reqValid: true, status: 200},
		{name: "dashboard asset", build: oaGet("/dashboard/dashboard.js"), reqValid: true, status: 200},
		{name: "dashboard asset unknown", build: oaGet("/dashboard/missing.js"), reqValid: true, status: 404, code: "not_found"},
		{name: "tips", build: oaGet("/v1/tips"), reqValid: true, status: 200,
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var tips client.Tips
				if res.json(t, &tips); tips.Issuer != nil {
					t.Fatal("an issuer block without an issuer")
				}
			}},
		{name: "tips with a known issuer", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				tx := c.attach(t, c.data(t, "known issuer"))
				return oaRequest{method: "GET", target: "/v1/tips?issuer=" + tx.Issuer.String() + "&payload_size=1024"}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var tips client.Tips
				if res.json(t, &tips); tips.Issuer == nil || tips.Issuer.NextSeq != 1 || tips.Issuer.Prev.IsZero() {
					t.Fatalf("issuer block %+v, want next_seq 1 and the first transaction as prev", tips.Issuer)
				}
				if want := testRules.Required(1024, 0); tips.Difficulty < want {
					t.Fatalf("difficulty %d for 1024 payload bytes, want at least %d", tips.Difficulty, want)
				}
			}},
		{name: "tips with a new issuer", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				pub := newKey(t).Public().(ed25519.PublicKey)
				return oaRequest{method: "GET", target: "/v1/tips?issuer=" + dag.PublicKey(pub).String()}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var tips client.Tips
				if res.json(t, &tips); tips.Issuer == nil || tips.Issuer.NextSeq != 0 || !tips.Issuer.Prev.IsZero() {
					t.Fatalf("issuer block %+v, want next_seq 0 and a zero prev", tips.Issuer)
				}
			}},
		{name: "post JSON", reqValid: true, status: 202, check: oaWantSubmit(client.StatusAttached),
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte { return oaJSON(t, c.data(t, "json")) })},
		{name: "post JSON with charset", reqValid: true, status: 202, check: oaWantSubmit(client.StatusAttached),
			build: oaPost("/v1/transactions", "application/json; charset=utf-8", func(t *testing.T, c *oaNode) []byte { return oaJSON(t, c.data(t, "charset")) })},
		{name: "post binary", reqValid: true, status: 202, check: oaWantSubmit(client.StatusAttached),
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte { return c.data(t, "binary").Bytes() })},
		{name: "post parked", reqValid: true, status: 202,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				tx := c.data(t, "parked")
				tx.Trunk = oaRandomID()
				tx.Sign(newKey(t))
				return c.resolve(t, tx.Bytes()).Bytes()
			}),
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var r client.SubmitResult
				if res.json(t, &r); r.Status != client.StatusParked || len(r.Missing) != 1 {
					t.Fatalf("%+v, want parked with one missing reference", r)
				}
			}},
		{name: "post duplicate", reqValid: true, status: 200, check: oaWantSubmit(client.StatusDuplicate),
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaJSON(t, c.attach(t, c.data(t, "twice")))
			})},
		{name: "batch JSON", reqValid: true, status: 200, check: oaWantResults("attached", "attached", "rejected bad_signature"),
			build: oaPost("/v1/transactions/batch", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaBatchJSON(oaJSON(t, c.data(t, "b1")), oaJSON(t, c.data(t, "b2")), oaJSON(t, c.forged(t, "forged")))
			})},
		{name: "batch binary", reqValid: true, status: 200, check: oaWantResults("attached", "rejected malformed", "attached"),
			build: oaPost("/v1/transactions/batch", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				return oaBatchBinary(c.data(t, "b3").Bytes(), []byte("junk"), c.data(t, "b4").Bytes())
			})},
		{name: "batch empty", reqValid: true, status: 200, check: oaWantResults(),
			build: oaPost("/v1/transactions/batch", oaJSONType, func(*testing.T, *oaNode) []byte { return []byte(`{"transactions":[]}`) })},
		{name: "batch with a malformed JSON item", reqValid: false, status: 200, check: oaWantResults("attached", "rejected malformed"),
			build: oaPost("/v1/transactions/batch", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaBatchJSON(oaJSON(t, c.data(t, "b5")), oaEditJSON(t, c.data(t, "b6"), func(m map[string]any) { m["extra"] = true }))
			})},
		{name: "batch equivocation", note: "§6", reqValid: true, status: 200,
			check: oaWantResults("attached conflicting", "attached conflicting"),
			build: oaPost("/v1/transactions/batch", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				key := newKey(t)
				a := c.tx(t, key, dag.KindData, 0, dag.ZeroID, []byte("one"), time.Time{})
				b := c.tx(t, key, dag.KindData, 0, dag.ZeroID, []byte("other"), time.Time{})
				return oaBatchJSON(oaJSON(t, a), oaJSON(t, b))
			})},
		{name: "status pending", reqValid: true, status: 200, check: oaWantStatus(client.StatePending),
			build: func(t *testing.T, c *oaNode) oaRequest {
				tx := c.attach(t, c.data(t, "pending"))
				return oaRequest{method: "GET", target: "/v1/transactions/" + tx.ID().String(),
					// A beacon may land between the post and the read.
					retry: func(res *oaResult) bool { return !bytes.Contains(res.body, []byte(`"status":"pending"`)) }}
			}},
		{name: "status confirmed", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				tx := c.attach(t, c.data(t, "confirmed"))
				if _, err := c.fix.WaitConfirmed(t.Context(), tx.ID()); err != nil {
					t.Fatal(err)
				}
				return oaRequest{method: "GET", target: "/v1/transactions/" + tx.ID().String()}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var st client.TransactionStatus
				if res.json(t, &st); st.Status != client.StateConfirmed || st.ConfirmedIndex == 0 || len(st.Approvers) == 0 {
					t.Fatalf("%+v, want confirmed with an index and approvers", st)
				}
			}},
		{name: "status parked", reqValid: true, status: 200, check: oaWantStatus(client.StateParked),
			build: func(t *testing.T, c *oaNode) oaRequest {
				tx := c.data(t, "parked")
				tx.Branch = oaRandomID()
				tx.Sign(newKey(t))
				tx = c.resolve(t, tx.Bytes())
				if res, err := c.fix.Post(t.Context(), tx); err != nil || res.Status != client.StatusParked {
					t.Fatalf("fixture: %+v, %v", res, err)
				}
				return oaRequest{method: "GET", target: "/v1/transactions/" + tx.ID().String()}
			}},
		{name: "status conflicting", reqValid: true, status: 200, check: oaWantStatus(client.StateConflicting),
			build: func(t *testing.T, c *oaNode) oaRequest {
				key := newKey(t)
				a := c.tx(t, key, dag.KindData, 0, dag.ZeroID, []byte("left"), time.Time{})
				b := c.tx(t, key, dag.KindData, 0, dag.ZeroID, []byte("right"), time.Time{})
				if _, err := c.fix.PostBatch(t.Context(), []*dag.Transaction{a, b}); err != nil {
					t.Fatal(err)
				}
				return oaRequest{method: "GET", target: "/v1/transactions/" + b.ID().String(),
					retry: func(res *oaResult) bool { return !bytes.Contains(res.body, []byte(`"status":"conflicting"`)) }}
			}},
		{name: "status not found", reqValid: true, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/transactions/" + oaRandomID().String()}
			}},
		{name: "evidence of a confirmed transaction", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				tx := c.attach(t, c.data(t, "evidence"))
				if _, err := c.fix.WaitConfirmed(t.Context(), tx.ID()); err != nil {
					t.Fatal(err)
				}
				poll.Until(t, 30*time.Second, "a final checkpoint over the transaction", func() bool {
					return evidenceReady(t, c, tx.ID())
				})
				return oaRequest{method: "GET", target: "/v1/transactions/" + tx.ID().String() + "/evidence"}
			}},
		{name: "evidence pending", reqValid: true, status: 409, code: "evidence_pending",
			build: func(t *testing.T, c *oaNode) oaRequest {
				tx := c.attach(t, c.data(t, "evidence-pending"))
				return oaRequest{method: "GET", target: "/v1/transactions/" + tx.ID().String() + "/evidence",
					// Confirmed and checkpointed already on a fast run: try a newer one.
					retry: func(res *oaResult) bool { return res.resp.StatusCode == 200 }}
			}},
		{name: "evidence of an unknown transaction", reqValid: true, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/transactions/" + oaRandomID().String() + "/evidence"}
			}},
		{name: "device evidence without authorities", reqValid: true, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/evidence"}
			}},
		{name: "log checkpoint", build: oaGet("/v1/log/checkpoint"), reqValid: true, status: 200},
		{name: "log consistency", build: oaGet("/v1/log/consistency?from=1&to=1"), reqValid: true, status: 200},
		{name: "log consistency beyond the log", build: oaGet("/v1/log/consistency?from=1&to=1000000000000"), reqValid: true, status: 404, code: "beyond_log"},
		{name: "log consistency backwards", build: oaGet("/v1/log/consistency?from=2&to=1"), reqValid: true, status: 400, code: "malformed"},
		{name: "log consistency without to", build: oaGet("/v1/log/consistency?from=1"), reqValid: false, status: 400, code: "malformed"},
		{name: "log misbehaviour", build: oaGet("/v1/log/misbehaviour"), reqValid: true, status: 200},
		{name: "peers", build: oaGet("/v1/peers"), reqValid: true, status: 200},
		{name: "authorities without authorities", build: oaGet("/v1/authorities"), reqValid: true, status: 200,
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				if string(res.body) != `{"permissioned":false,"authorities":[]}`+"\n" {
					t.Fatalf("authorities %s, want none", res.body)
				}
			}},
		{name: "firmware without authorities", build: oaGet("/v1/firmware/sensor"), reqValid: true, status: 200,
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var f device.FirmwareStatus
				if res.json(t, &f); f.Class != "sensor" || len(f.Releases) != 0 {
					t.Fatalf("%s, want no releases", res.body)
				}
			}},
		{name: "policies without authorities", build: oaGet("/v1/policies?in_force=true"), reqValid: true, status: 200,
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				if string(res.body) != `{"policies":[]}`+"\n" {
					t.Fatalf("policies %s, want none", res.body)
				}
			}},
		{name: "node_work_refused without authorities", reqValid: true, status: 403, code: "node_work_refused",
			build: oaPost("/v1/transactions?work=node", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				return c.unsolved(t, c.data(t, "do my work")).Bytes()
			})},
		{name: "work other than node", reqValid: false, status: 400, code: "malformed",
			build: oaPost("/v1/transactions?work=gpu", oaBinaryType, func(t *testing.T, c *oaNode) []byte { return c.data(t, "gpu").Bytes() })},
		{name: "device without authorities", reqValid: true, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String()}
			}},
		{name: "device transactions without authorities", reqValid: true, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions?limit=10"}
			}},
		func() oaCase {
			var id dag.ID
			return oaCase{name: "events by issuer", reqValid: true, status: 200, check: oaWantEvent("attached", &id),
				build: func(t *testing.T, c *oaNode) oaRequest {
					tx := c.data(t, "event")
					id = tx.ID()
					return oaRequest{method: "GET", target: "/v1/events?issuer=" + tx.Issuer.String(), onOpen: func() { c.attach(t, tx) }}
				}}
		}(),
		func() oaCase {
			var id dag.ID
			return oaCase{name: "events by id", reqValid: true, status: 200, check: oaWantEvent("attached", &id),
				build: func(t *testing.T, c *oaNode) oaRequest {
					tx := c.data(t, "watched")
					id = tx.ID()
					return oaRequest{method: "GET", target: "/v1/events?id=" + oaRandomID().String() + "&id=" + id.String(),
						onOpen: func() { c.attach(t, tx) }}
				}}
		}(),

		// Every refusal of a transaction.
		{name: "malformed binary", build: oaPost("/v1/transactions", oaBinaryType, func(*testing.T, *oaNode) []byte { return []byte("not a transaction") }),
			reqValid: true, status: 400, code: "malformed"},
		{name: "malformed JSON", build: oaPost("/v1/transactions", oaJSONType, func(*testing.T, *oaNode) []byte { return []byte(`{"version":1,`) }),
			reqValid: false, status: 400, code: "malformed"},
		{name: "bad_version binary", reqValid: true, status: 400, code: "bad_version",
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				b := c.data(t, "v2").Bytes()
				b[0] = 2
				return b
			})},
		{name: "bad_version JSON", reqValid: false, status: 400, code: "bad_version",
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaEditJSON(t, c.data(t, "v2"), func(m map[string]any) { m["version"] = 2 })
			})},
		{name: "bad_kind binary", reqValid: true, status: 400, code: "bad_kind",
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				b := c.data(t, "k10").Bytes()
				b[1] = 200 // 11 is the last kind, command
				return b
			})},
		{name: "bad_kind JSON", note: "§3", reqValid: false, status: 400, code: "bad_kind",
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaEditJSON(t, c.data(t, "reading"), func(m map[string]any) { m["kind"] = "reading" })
			})},
		{name: "trailing_bytes", reqValid: true, status: 400, code: "trailing_bytes",
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte { return append(c.data(t, "tail").Bytes(), 0) })},
		{name: "payload_too_large binary", reqValid: true, status: 413, code: "payload_too_large",
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				return c.tx(t, newKey(t), dag.KindData, 0, dag.ZeroID, make([]byte, c.maxPayload+1), time.Time{}).Bytes()
			})},
		{name: "payload_too_large JSON", reqValid: true, status: 413, code: "payload_too_large",
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaJSON(t, c.tx(t, newKey(t), dag.KindData, 0, dag.ZeroID, make([]byte, c.maxPayload+1), time.Time{}))
			})},
		{name: "payload_too_large tips", reqValid: true, status: 413, code: "payload_too_large",
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/tips?payload_size=" + strconv.Itoa(c.maxPayload+1)}
			}},
		{name: "body_too_large", reqValid: true, status: 413, code: "body_too_large",
			build: oaPost("/v1/transactions", oaBinaryType, func(*testing.T, *oaNode) []byte { return make([]byte, api.DefaultMaxBodyBytes+1) })},
		{name: "body_too_large batch bytes", reqValid: true, status: 413, code: "body_too_large",
			build: oaPost("/v1/transactions/batch", oaBinaryType, func(*testing.T, *oaNode) []byte {
				return make([]byte, openAPIConfig.MaxBatchBytes+1)
			})},
		{name: "body_too_large batch items", reqValid: true, status: 413, code: "body_too_large",
			build: oaPost("/v1/transactions/batch", oaBinaryType, func(*testing.T, *oaNode) []byte {
				return make([]byte, 4*(openAPIConfig.MaxBatchItems+1)) // empty frames
			})},
		{name: "unsupported_media_type", reqValid: false, status: 415, code: "unsupported_media_type",
			build: oaPost("/v1/transactions", "text/plain", func(t *testing.T, c *oaNode) []byte { return oaJSON(t, c.data(t, "text")) })},
		{name: "unsupported_media_type without Content-Type", reqValid: false, status: 415, code: "unsupported_media_type",
			build: oaPost("/v1/transactions", "", func(t *testing.T, c *oaNode) []byte { return c.data(t, "bare").Bytes() })},
		{name: "unsupported_media_type batch", reqValid: false, status: 415, code: "unsupported_media_type",
			build: oaPost("/v1/transactions/batch", "application/xml", func(*testing.T, *oaNode) []byte { return []byte("<transactions/>") })},
		{name: "unsupported_media_type Content-Encoding", reqValid: false, status: 415, code: "unsupported_media_type",
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "POST", target: "/v1/transactions", ctype: oaJSONType, body: oaJSON(t, c.data(t, "gz")),
					header: http.Header{"Content-Encoding": {"gzip"}}}
			}},
		{name: "bad_signature", reqValid: true, status: 422, code: "bad_signature",
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte { return c.forged(t, "forged").Bytes() })},
		{name: "insufficient_work", reqValid: true, status: 422, code: "insufficient_work",
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				tx := c.data(t, "lazy")
				for pow.Verify(tx.ID(), tx.Nonce, testRules.BaseBits) {
					tx.Nonce++
				}
				return tx.Bytes()
			})},
		{name: "future_time", reqValid: true, status: 422, code: "future_time",
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaJSON(t, c.tx(t, newKey(t), dag.KindData, 0, dag.ZeroID, []byte("tomorrow"), time.Now().Add(24*time.Hour).Truncate(time.Second)))
			})},
		{name: "broken_chain", reqValid: true, status: 409, code: "broken_chain",
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				other := c.attach(t, c.data(t, "someone else"))
				return oaJSON(t, c.tx(t, newKey(t), dag.KindData, 1, other.ID(), []byte("not my chain"), time.Time{}))
			})},
		{name: "not_validator", reqValid: true, status: 403, code: "not_validator",
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaJSON(t, c.tx(t, newKey(t), dag.KindBeacon, 0, dag.ZeroID, nil, time.Time{}))
			})},

		// The strict JSON form.
		oaStrictJSON("unknown key", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["comment"] = "hi" })
		}),
		oaStrictJSON("repeated key", true, oaRespell(`"kind":"data"`, `"kind":"data","kind":"data"`)),
		oaStrictJSON("null value", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["id"] = nil })
		}),
		oaStrictJSON("missing key", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { delete(m, "prev") })
		}),
		oaStrictJSON("upper-case hex", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["trunk"] = strings.ToUpper(m["trunk"].(string)) })
		}),
		oaStrictJSON("id that does not match", true, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["id"] = oaRandomID().String() })
		}),
		oaStrictJSON("time with an offset", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["time"] = strings.TrimSuffix(m["time"].(string), "Z") + "+00:00" })
		}),
		oaStrictJSON("time with a trailing zero", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["time"] = strings.TrimSuffix(m["time"].(string), "Z") + "0Z" })
		}),
		oaStrictJSON("time in lower case", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["time"] = strings.ToLower(m["time"].(string)) })
		}),
		oaStrictJSON("nonce with a leading zero", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["nonce"] = "0" + m["nonce"].(string) })
		}),
		oaStrictJSON("nonce as a number", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["nonce"] = json.Number(m["nonce"].(string)) })
		}),
		oaStrictJSON("seq as a string", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["seq"] = "0" })
		}),
		oaStrictJSON("negative seq", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["seq"] = -1 })
		}),
		oaStrictJSON("version as a string", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["version"] = "1" })
		}),
		oaStrictJSON("non-canonical base64", false, oaRespell(`"payload":"c3RyaWN0"`, `"payload":"c3RyaWN0\n"`)),
		oaStrictJSON("unpadded base64", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return oaEditJSON(t, tx, func(m map[string]any) { m["payload"] = "c3RyaWN0MQ" })
		}),
		oaStrictJSON("invalid UTF-8", false, oaRespell(`"payload":"c3RyaWN0"`, "\"payload\":\"c3Ry\xffWN0\"")),
		oaStrictJSON("data after the object", false, func(t *testing.T, tx *dag.Transaction) []byte {
			return append(oaJSON(t, tx), []byte(" {}")...)
		}),
		{name: "strict JSON: batch envelope with an unknown key", note: "§3", reqValid: false, status: 400, code: "malformed",
			build: oaPost("/v1/transactions/batch", oaJSONType, func(*testing.T, *oaNode) []byte { return []byte(`{"transactions":[],"more":[]}`) })},
		{name: "strict JSON: batch envelope with a repeated key", note: "§3", reqValid: true, status: 400, code: "malformed",
			build: oaPost("/v1/transactions/batch", oaJSONType, func(*testing.T, *oaNode) []byte { return []byte(`{"transactions":[],"transactions":[]}`) })},
		{name: "strict JSON: batch envelope without transactions", note: "§3", reqValid: false, status: 400, code: "malformed",
			build: oaPost("/v1/transactions/batch", oaJSONType, func(*testing.T, *oaNode) []byte { return []byte(`{}`) })},

		// Queries and paths.
		{name: "query: upper-case issuer", note: "§4", reqValid: false, status: 400, code: "malformed",
			build: func(t *testing.T, c *oaNode) oaRequest {
				pub := newKey(t).Public().(ed25519.PublicKey)
				return oaRequest{method: "GET", target: "/v1/tips?issuer=" + strings.ToUpper(dag.PublicKey(pub).String())}
			}},
		{name: "query: short issuer", build: oaGet("/v1/tips?issuer=abcd"), reqValid: false, status: 400, code: "malformed"},
		{name: "query: negative payload_size", build: oaGet("/v1/tips?payload_size=-1"), reqValid: false, status: 400, code: "malformed"},
		{name: "query: payload_size not a number", build: oaGet("/v1/tips?payload_size=many"), reqValid: false, status: 400, code: "malformed"},
		{name: "query: payload_size with a leading zero", note: "§4", build: oaGet("/v1/tips?payload_size=05"), reqValid: true, status: 400, code: "malformed"},
		{name: "query: unknown parameter", note: "§4", build: oaGet("/v1/tips?limit=2"), reqValid: false, status: 400, code: "malformed"},
		{name: "query: repeated parameter", note: "§4", reqValid: false, status: 400, code: "malformed",
			build: func(t *testing.T, c *oaNode) oaRequest {
				pk := dag.PublicKey(newKey(t).Public().(ed25519.PublicKey)).String()
				return oaRequest{method: "GET", target: "/v1/tips?issuer=" + pk + "&issuer=" + pk}
			}},
		{name: "query: does not parse", note: "§4", build: oaGet("/v1/tips?payload_size=%zz"), reqValid: false, status: 400, code: "malformed"},
		{name: "query: on an endpoint without parameters", note: "§4", build: oaGet("/v1/info?verbose=1"), reqValid: false, status: 400, code: "malformed"},
		{name: "query: on a post", note: "§4", reqValid: false, status: 400, code: "malformed",
			build: oaPost("/v1/transactions?async=1", oaBinaryType, func(t *testing.T, c *oaNode) []byte { return c.data(t, "query").Bytes() })},
		{name: "query: 513 event ids", note: "§4", build: oaGet("/v1/events?" + ids513), reqValid: false, status: 400, code: "malformed"},
		{name: "query: malformed event id", build: oaGet("/v1/events?id=xyz"), reqValid: false, status: 400, code: "malformed"},
		{name: "query: repeated event issuer", note: "§4", reqValid: false, status: 400, code: "malformed",
			build: func(t *testing.T, c *oaNode) oaRequest {
				pk := dag.PublicKey(newKey(t).Public().(ed25519.PublicKey)).String()
				return oaRequest{method: "GET", target: "/v1/events?issuer=" + pk + "&issuer=" + pk}
			}},
		{name: "path: malformed transaction id", build: oaGet("/v1/transactions/xyz"), reqValid: false, status: 400, code: "malformed"},
		{name: "path: upper-case transaction id", note: "§3", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/transactions/" + strings.ToUpper(oaRandomID().String())}
			}},
		{name: "path: unknown", reqValid: false, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/nothing", docResponse: "NotFound"}
			}},
		{name: "path: trailing slash", note: "§4", reqValid: false, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/info/", docResponse: "NotFound"}
			}},
		{name: "path: empty segment", note: "§4", reqValid: false, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "//v1/info", docResponse: "NotFound"}
			}},
		{name: "path: dot segment", note: "§4", reqValid: false, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/./info", docResponse: "NotFound"}
			}},
		{name: "path: dot-dot segment", note: "§4", reqValid: false, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/transactions/../info", docResponse: "NotFound"}
			}},

		// Methods.
		{name: "method_not_allowed DELETE info", reqValid: false, status: 405, code: "method_not_allowed", check: oaWantAllow("GET, HEAD"),
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "DELETE", target: "/v1/info", docMethod: "GET"}
			}},
		{name: "method_not_allowed GET transactions", reqValid: false, status: 405, code: "method_not_allowed", check: oaWantAllow("POST"),
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/transactions", docMethod: "POST"}
			}},
		{name: "method_not_allowed GET batch", reqValid: false, status: 405, code: "method_not_allowed", check: oaWantAllow("POST"),
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/transactions/batch", docMethod: "POST"}
			}},
		{name: "method_not_allowed POST status", reqValid: false, status: 405, code: "method_not_allowed", check: oaWantAllow("GET, HEAD"),
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "POST", target: "/v1/transactions/" + oaRandomID().String(), body: []byte{}, docMethod: "GET"}
			}},

		// Budgets and load.
		{name: "rate_limited client", reqValid: true, status: 429, code: "rate_limited", check: oaRetryAfter,
			build: func(t *testing.T, c *oaNode) oaRequest {
				next := c.data(t, "one more").Bytes()
				// A full batch takes every token of the client.
				pre := c.exchange(t, oaRequest{method: "POST", target: "/v1/transactions/batch", ctype: oaBinaryType, from: exhausted,
					body: oaBatchBinary(func() [][]byte {
						items := make([][]byte, openAPIConfig.MaxBatchItems)
						for i := range items {
							items[i] = c.data(t, "spend").Bytes()
						}
						return items
					}()...)})
				if pre.resp.StatusCode != 200 {
					t.Fatalf("spending the client's tokens: %d %s", pre.resp.StatusCode, pre.body)
				}
				return oaRequest{method: "POST", target: "/v1/transactions", ctype: oaBinaryType, body: next, from: exhausted}
			}},
		{name: "rate_limited client batch", reqValid: true, status: 429, code: "rate_limited", check: oaRetryAfter,
			// The client the case before exhausted.
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "POST", target: "/v1/transactions/batch", ctype: oaBinaryType, body: oaBatchBinary(c.data(t, "and more").Bytes()), from: exhausted}
			}},
		{name: "rate_limited junk", note: "§2", reqValid: true, status: 429, code: "rate_limited", check: oaRetryAfter,
			build: func(t *testing.T, c *oaNode) oaRequest {
				next := c.data(t, "honest now").Bytes()
				for range openAPIConfig.JunkBurst {
					pre := c.exchange(t, oaRequest{method: "POST", target: "/v1/transactions", ctype: oaBinaryType, body: []byte("junk"), from: indebted})
					if pre.resp.StatusCode != 400 {
						t.Fatalf("sending junk: %d %s", pre.resp.StatusCode, pre.body)
					}
				}
				return oaRequest{method: "POST", target: "/v1/transactions", ctype: oaBinaryType, body: next, from: indebted}
			}},
		{name: "overloaded event streams", reqValid: true, status: 429, code: "overloaded", check: oaRetryAfter,
			build: func(t *testing.T, c *oaNode) oaRequest {
				// Hold streams until the node refuses one; streams of
				// earlier cases may still be closing.
				var held []net.Conn
				for range openAPIConfig.MaxStreams + 2 {
					conn, err := c.dialer().Dial("tcp", c.addr)
					if err != nil {
						t.Fatal(err)
					}
					_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
					fmt.Fprintf(conn, "GET /v1/events HTTP/1.1\r\nHost: %s\r\n\r\n", c.addr)
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						t.Fatal(err)
					}
					if resp.StatusCode != 200 {
						conn.Close()
						break
					}
					held = append(held, conn)
				}
				return oaRequest{method: "GET", target: "/v1/events", cleanup: func() {
					for _, conn := range held {
						conn.Close()
					}
				}}
			}},

		// What net/http answers before the handler.
		{name: "net/http: missing Host", reqValid: true, status: 400, check: oaWantPlain,
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/healthz", raw: "GET /healthz HTTP/1.1\r\n\r\n"}
			}},
		{name: "net/http: malformed header", reqValid: true, status: 400, check: oaWantPlain,
			build: func(_ *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/info", raw: "GET /v1/info HTTP/1.1\r\nHost: " + c.addr + "\r\nno colon here\r\n\r\n"}
			}},
		{name: "net/http: HTTP/2 preface", note: "§5", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "PRI", target: "/*", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", docResponse: "BadRequest"}
			}},
		{name: "net/http: headers over 64 KiB", reqValid: true, status: 431, check: oaWantPlain,
			build: func(_ *testing.T, c *oaNode) oaRequest {
				agent := strings.Repeat("a", 80<<10)
				return oaRequest{method: "GET", target: "/v1/info", header: http.Header{"User-Agent": {agent}},
					raw: "GET /v1/info HTTP/1.1\r\nHost: " + c.addr + "\r\nUser-Agent: " + agent + "\r\n\r\n"}
			}},
		{name: "net/http: unsupported Transfer-Encoding", reqValid: true, status: 501, check: oaWantPlain,
			build: func(_ *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/info", header: http.Header{"Transfer-Encoding": {"gzip"}},
					raw: "GET /v1/info HTTP/1.1\r\nHost: " + c.addr + "\r\nTransfer-Encoding: gzip\r\n\r\n"}
			}},
		{name: "net/http: HTTP/3.0 request line", reqValid: true, status: 505, check: oaWantPlain,
			build: func(_ *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/healthz", raw: "GET /healthz HTTP/3.0\r\nHost: " + c.addr + "\r\n\r\n"}
			}},
		{name: "net/http: unknown Expect", reqValid: true, status: 417,
			build: func(_ *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/info", header: http.Header{"Expect": {"teapot"}},
					raw: "GET /v1/info HTTP/1.1\r\nHost: " + c.addr + "\r\nExpect: teapot\r\n\r\n"}
			}},
	}
}

// bodyBudgetCase: bodies that are still arriving hold the node's body
// memory budget, and the request whose buffer would grow past it is
// answered 429 overloaded, with Retry-After, and its connection closed
// (design note §1). Each connection declares a full batch, sends three
// quarters of it and waits; three such bodies overfill the budget.
func (c *oaNode) bodyBudgetCase(t *testing.T) {
	const conns = 6
	declared := openAPIConfig.MaxBatchBytes
	sent := declared * 3 / 4
	type answer struct {
		resp *http.Response
		body []byte
	}
	answers := make(chan answer, conns)
	var wg sync.WaitGroup
	var open []net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for range conns {
		conn, err := c.dialer().Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(deadline)
		open = append(open, conn)
		wg.Add(2)
		go func() {
			defer wg.Done()
			// A refused connection stops reading; the write fails then.
			_, _ = fmt.Fprintf(conn, "POST /v1/transactions/batch HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", c.addr, oaBinaryType, declared)
			_, _ = conn.Write(make([]byte, sent))
		}()
		go func() {
			defer wg.Done()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				return // still waiting for the rest of its body when closed
			}
			body, _ := io.ReadAll(resp.Body)
			answers <- answer{resp, body}
		}()
	}
	var got *answer
	select {
	case a := <-answers:
		got = &a
	case <-time.After(time.Until(deadline)):
	}
	for _, conn := range open {
		conn.Close()
	}
	wg.Wait()
	if got == nil {
		t.Fatalf("[design note §1] %d connections each sent %d of the %d bytes they declared and none was answered within 10 s; the body budget is %d bytes",
			conns, sent, declared, openAPIConfig.BodyBudget)
	}
	if got.resp.StatusCode != 429 || !bytes.Contains(got.body, []byte(`"code":"overloaded"`)) {
		t.Fatalf("[design note §1] answer %d %s, want 429 overloaded", got.resp.StatusCode, got.body)
	}
	if got.resp.Header.Get("Retry-After") == "" || !got.resp.Close {
		t.Errorf("[design note §1] 429 without Retry-After or without closing the connection: %v", got.resp.Header)
	}
	req := oaRequest{method: "POST", target: "/v1/transactions/batch", ctype: oaBinaryType, body: make([]byte, declared)}
	if ok, errs := c.spec.loose.ValidateHttpRequest(c.validationRequest(t, req, req.method)); !ok {
		t.Errorf("the document refuses the request, which it should accept:\n%s", oaErrors(errs))
	}
	resp := *got.resp
	resp.Body = io.NopCloser(bytes.NewReader(got.body))
	if ok, errs := c.spec.v.ValidateHttpResponse(c.validationRequest(t, req, req.method), &resp); !ok {
		t.Errorf("the answer does not match the document:\n%s", oaErrors(errs))
	}
}

// Device fixtures: the node's genesis names c.fleet as its authority.

// control posts the authority's next control transaction (see control in
// devices_api_test.go) and requires it attached.
func (c *oaNode) control(t *testing.T, kind dag.Kind, see dag.ID, payload []byte) *dag.Transaction {
	t.Helper()
	return c.attach(t, c.controlTx(t, c.fleet, kind, see, payload))
}

// controlTx builds a control transaction of key without posting it.
func (c *oaNode) controlTx(t *testing.T, key ed25519.PrivateKey, kind dag.Kind, see dag.ID, payload []byte) *dag.Transaction {
	t.Helper()
	tx, err := control(t.Context(), c.fix, key, kind, see, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// registration is the payload registering key as a sensor.
func oaRegistration(key ed25519.PrivateKey) []byte {
	reg := device.Registration{Key: publicKey(key), Class: "sensor", Attributes: []device.Attribute{{Key: "serial", Value: "S-1"}}}
	return reg.Encode()
}

// oaDevice is a registered device and what it has sent.
type oaDevice struct {
	key  ed25519.PrivateKey
	reg  *dag.Transaction
	sent []*dag.Transaction
}

// device registers a fresh key and posts readings of it.
func (c *oaNode) device(t *testing.T, readings int) *oaDevice {
	t.Helper()
	d := &oaDevice{key: newKey(t)}
	d.reg = c.control(t, dag.KindRegister, dag.ID{}, oaRegistration(d.key))
	for i := range readings {
		d.sent = append(d.sent, c.attach(t, c.reading(t, d, fmt.Sprintf("reading %d", i))))
	}
	return d
}

// reading is the device's next data transaction, not posted; its
// parents come from /v1/tips?issuer=, which makes it see the device's
// newest control transaction.
func (c *oaNode) reading(t *testing.T, d *oaDevice, payload string) *dag.Transaction {
	t.Helper()
	seq, prev := uint64(0), dag.ZeroID
	if n := len(d.sent); n > 0 {
		seq, prev = d.sent[n-1].Seq+1, d.sent[n-1].ID()
	}
	return c.tx(t, d.key, dag.KindData, seq, prev, []byte(payload), time.Time{})
}

func (d *oaDevice) path(suffix string) string { return "/v1/devices/" + d.reg.ID().String() + suffix }

// oaWantPage checks a page of a device's transactions: its sequence
// numbers and next cursor.
func oaWantPage(seqs []uint64, cursor string) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		var p deviceTransactions
		res.json(t, &p)
		var got []uint64
		for _, it := range p.Transactions {
			got = append(got, it.Seq)
		}
		if !slices.Equal(got, seqs) || p.NextCursor != cursor {
			t.Fatalf("page: seqs %v, next_cursor %q; want %v, %q", got, p.NextCursor, seqs, cursor)
		}
	}
}

func oaWantDevice(state string, control int) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		var d device.Device
		if res.json(t, &d); d.State != state || len(d.Control) != control {
			t.Fatalf("device %+v, want %s with %d control records", d, state, control)
		}
	}
}

// unsolved gives tx a nonce that misses the network's work, for the
// node to solve (work=node).
func (c *oaNode) unsolved(t *testing.T, tx *dag.Transaction) *dag.Transaction {
	t.Helper()
	bits := testRules.Required(len(tx.Payload), 0)
	for tx.Nonce = 0; pow.Verify(tx.ID(), tx.Nonce, bits); tx.Nonce++ {
	}
	return tx
}

// devicePolicyTx builds the authority's policy for d without posting it;
// its trunk is see (d's registration when zero), so its past holds what
// the policy's rights and version are judged by.
func (c *oaNode) devicePolicyTx(t *testing.T, d *oaDevice, see dag.ID, text string) *dag.Transaction {
	t.Helper()
	if see.IsZero() {
		see = d.reg.ID()
	}
	payload := device.PolicyPayload{Scope: device.ScopeDevice, Device: d.reg.ID(), Source: mustSource(t, text)}
	return c.controlTx(t, c.fleet, dag.KindPolicy, see, payload.Encode())
}

// policyDevice registers a device and attaches a device policy to it.
func (c *oaNode) policyDevice(t *testing.T, readings int, text string) (*oaDevice, *dag.Transaction) {
	t.Helper()
	d := c.device(t, readings)
	return d, c.attach(t, c.devicePolicyTx(t, d, dag.ID{}, text))
}

const oaNodeWorkPolicy = "// name: helped\n// version: 1\n// reads: tx\n// rate: 10/1m growth 1\n// node-work: 1/1h\ntrue\n"

func oaWantPolicies(want func(c *oaNode) int) func(*testing.T, *oaNode, *oaResult) {
	return func(t *testing.T, c *oaNode, res *oaResult) {
		var l policyList
		if res.json(t, &l); len(l.Policies) != want(c) {
			t.Fatalf("%d policies, want %d: %s", len(l.Policies), want(c), res.body)
		}
	}
}

func openAPIDeviceCases() []oaCase {
	var policyCount atomic.Int64 // policies the cases installed
	counted := func(t *testing.T, c *oaNode, readings int, text string) (*oaDevice, *dag.Transaction) {
		policyCount.Add(1)
		return c.policyDevice(t, readings, text)
	}
	return []oaCase{
		{name: "policies", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				counted(t, c, 0, oaNodeWorkPolicy)
				return oaRequest{method: "GET", target: "/v1/policies"}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var l policyList
				res.json(t, &l)
				if int64(len(l.Policies)) != policyCount.Load() || l.Policies[0].NodeWork != "1/1h0m0s" || l.Policies[0].Rate != "10/1m0s growth 1" || !l.Policies[0].InForce {
					t.Fatalf("%s, want the %d installed, the first with its rate and node work", res.body, policyCount.Load())
				}
			}},
		{name: "policies of a device in force", reqValid: true, status: 200, check: oaWantPolicies(func(*oaNode) int { return 1 }),
			build: func(t *testing.T, c *oaNode) oaRequest {
				d, _ := counted(t, c, 0, "// name: one\n// version: 1\n// reads: tx\ntrue\n")
				return oaRequest{method: "GET", target: "/v1/policies?scope=device&in_force=true&device=" + d.reg.ID().String()}
			}},
		{name: "policies of a class", reqValid: true, status: 200, check: oaWantPolicies(func(*oaNode) int { return 0 }),
			build: oaGet("/v1/policies?scope=class&class=sensor&in_force=false")},
		{name: "policies unknown scope", reqValid: false, status: 400, code: "malformed", build: oaGet("/v1/policies?scope=world")},
		{name: "policies in_force not a boolean", reqValid: false, status: 400, code: "malformed", build: oaGet("/v1/policies?in_force=yes")},
		{name: "policies malformed device", reqValid: false, status: 400, code: "malformed", build: oaGet("/v1/policies?device=sensor-1")},
		{name: "policies class with another scope", reqValid: true, status: 400, code: "malformed", build: oaGet("/v1/policies?scope=device&class=sensor")},
		{name: "policies unknown parameter", reqValid: false, status: 400, code: "malformed", build: oaGet("/v1/policies?name=helped")},
		{name: "firmware of a class", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				// A release, confirmed, and a device's ok install report.
				d := c.device(t, 0)
				image := []byte("sensor firmware 3")
				rel := &device.Release{Class: "sensor", Component: "main", Seq: 3, Digest: device.ImageDigest(image),
					Size: uint64(len(image)), URIs: []string{"https://updates.example/3"}, Security: true}
				r := c.control(t, dag.KindRelease, d.reg.ID(), rel.Encode())
				if _, err := c.fix.WaitConfirmed(t.Context(), r.ID()); err != nil {
					t.Fatal(err)
				}
				report := c.tx(t, d.key, dag.KindInstall, 0, dag.ZeroID, device.InstallPayload(r.ID(), rel.Digest, device.InstallOK), time.Time{})
				d.sent = append(d.sent, c.attach(t, report))
				return oaRequest{method: "GET", target: "/v1/firmware/sensor"}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var f device.FirmwareStatus
				res.json(t, &f)
				if len(f.Releases) != 1 || !f.Releases[0].Active || f.Releases[0].Seq != 3 || f.Installed[3] != 1 {
					t.Fatalf("%s, want release 3 active and installed once", res.body)
				}
			}},
		{name: "device with firmware", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				d := c.device(t, 0)
				image := []byte("sensor firmware 4")
				rel := &device.Release{Class: "sensor", Component: "main", Seq: 4, Digest: device.ImageDigest(image), Size: uint64(len(image))}
				r := c.control(t, dag.KindRelease, d.reg.ID(), rel.Encode())
				c.attach(t, c.tx(t, d.key, dag.KindInstall, 0, dag.ZeroID, device.InstallPayload(r.ID(), rel.Digest, device.InstallOK), time.Time{}))
				return oaRequest{method: "GET", target: d.path("")}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var d device.Device
				if res.json(t, &d); d.Firmware == nil || *d.Firmware != 4 || d.FirmwareRelease == nil {
					t.Fatalf("%s, want firmware 4", res.body)
				}
			}},
		{name: "firmware rollback", reqValid: true, status: 409, code: device.CodeFirmwareRollback,
			build: func(t *testing.T, c *oaNode) oaRequest {
				rel := &device.Release{Class: "sensor", Component: "main", Seq: 2, Digest: device.ImageDigest([]byte("old")), Size: 3}
				r := c.controlTx(t, c.fleet, dag.KindRelease, dag.ID{}, rel.Encode())
				return oaRequest{method: "POST", target: "/v1/transactions", ctype: "application/json", body: oaJSON(t, r)}
			}},
		{name: "firmware malformed class", reqValid: true, status: 400, code: "malformed", build: oaGet("/v1/firmware/Sensor")},
		{name: "method_not_allowed POST policies", reqValid: false, status: 405, code: "method_not_allowed", check: oaWantAllow("GET, HEAD"),
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "POST", target: "/v1/policies", body: []byte{}, docMethod: "GET"}
			}},
		{name: "device with a policy", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				d, _ := counted(t, c, 1, "// name: one\n// version: 1\n// reads: tx\ntrue\n")
				return oaRequest{method: "GET", target: d.path("")}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				d, err := client.DecodeDevice(res.body)
				if err != nil || len(d.Policies) != 1 || d.Policies[0].Scope != device.ScopeDevice || d.Policies[0].Name != "one" {
					t.Fatalf("%s (%v), want its one device policy", res.body, err)
				}
			}},
		{name: "device transactions judged by a policy", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				d, _ := counted(t, c, 1, "// name: one\n// version: 1\n// reads: tx\ntrue\n")
				d.sent = append(d.sent, c.attach(t, c.reading(t, d, "judged")))
				return oaRequest{method: "GET", target: d.path("/transactions")}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var p deviceTransactions
				if res.json(t, &p); len(p.Transactions) != 2 || len(p.Transactions[0].Policies) != 0 ||
					len(p.Transactions[1].Policies) != 1 || p.Transactions[1].Policies[0].Scope != "device" {
					t.Fatalf("%s, want the second reading judged by the device policy and the first by none", res.body)
				}
			}},
		{name: "policy_denied", reqValid: true, status: 403, code: device.CodePolicyDenied,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d, _ := counted(t, c, 0, "// name: tiny\n// version: 1\n// reads: tx\ntx.size <= 4\n")
				return c.reading(t, d, "too long").Bytes()
			})},
		{name: "policy_outdated", reqValid: true, status: 409, code: device.CodePolicyOutdated,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d, first := counted(t, c, 0, "// name: one\n// version: 1\n// reads: tx\ntrue\n")
				return c.devicePolicyTx(t, d, first.ID(), "// name: again\n// version: 1\n// reads: tx\ntrue\n").Bytes()
			})},
		{name: "policy_invalid", reqValid: true, status: 422, code: device.CodePolicyInvalid,
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaJSON(t, c.devicePolicyTx(t, c.device(t, 0), dag.ID{}, "// name: broken\n// version: 1\n// reads: tx\ntx.size <= \"x\"\n"))
			})},
		{name: "policy_too_costly", reqValid: true, status: 422, code: device.CodePolicyTooCostly,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				expr := strings.Repeat("string(tx.payload) + ", 8) + "string(tx.payload) == \"\""
				return c.devicePolicyTx(t, c.device(t, 0), dag.ID{}, "// name: costly\n// version: 1\n// reads: tx\n"+expr+"\n").Bytes()
			})},
		{name: "node work JSON", reqValid: true, status: 202, check: oaWantSubmit(client.StatusAttached),
			build: oaPost("/v1/transactions?work=node", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				d, _ := counted(t, c, 0, oaNodeWorkPolicy)
				return oaJSON(t, c.unsolved(t, c.reading(t, d, "solve me")))
			})},
		{name: "node work over the allowance", reqValid: true, status: 429, code: "rate_limited", check: oaRetryAfter,
			build: oaPost("/v1/transactions?work=node", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d, _ := counted(t, c, 0, oaNodeWorkPolicy)
				first := c.unsolved(t, c.reading(t, d, "first"))
				if res, err := c.fix.PostNodeWork(t.Context(), first); err != nil || res.Status != client.StatusAttached {
					t.Fatalf("the first under the allowance: %+v, %v", res, err)
				}
				d.sent = append(d.sent, first)
				return c.unsolved(t, c.reading(t, d, "second")).Bytes()
			})},
		{name: "node_work_refused", reqValid: true, status: 403, code: "node_work_refused",
			build: oaPost("/v1/transactions?work=node", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d := c.device(t, 0)
				return c.unsolved(t, c.reading(t, d, "no allowance")).Bytes()
			})},

		{name: "device by id", reqValid: true, status: 200, check: oaWantDevice("active", 0),
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: c.device(t, 2).path("")}
			}},
		{name: "device by key", reqValid: true, status: 200, check: oaWantDevice("active", 0),
			build: func(t *testing.T, c *oaNode) oaRequest {
				d := c.device(t, 1)
				return oaRequest{method: "GET", target: "/v1/devices/" + publicKey(d.key).String()}
			}},
		{name: "device before its first transaction", reqValid: true, status: 200, check: oaWantDevice("active", 0),
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: c.device(t, 0).path("")}
			}},
		{name: "device suspended and revoked", reqValid: true, status: 200, check: oaWantDevice("revoked", 2),
			build: func(t *testing.T, c *oaNode) oaRequest {
				d := c.device(t, 1)
				suspend := c.control(t, dag.KindSuspend, d.reg.ID(), device.LifecyclePayload(d.reg.ID()))
				c.control(t, dag.KindRevoke, suspend.ID(), device.LifecyclePayload(d.reg.ID()))
				return oaRequest{method: "GET", target: d.path("")}
			}},
		{name: "device not found", reqValid: true, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String()}
			}},
		{name: "device malformed id", reqValid: false, status: 400, code: "malformed", build: oaGet("/v1/devices/sensor-1")},
		{name: "device upper-case id", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + strings.ToUpper(oaRandomID().String())}
			}},
		{name: "device with a query", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "?verbose=1"}
			}},
		{name: "method_not_allowed POST device", reqValid: false, status: 405, code: "method_not_allowed", check: oaWantAllow("GET, HEAD"),
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "POST", target: "/v1/devices/" + oaRandomID().String(), body: []byte{}, docMethod: "GET"}
			}},

		{name: "device transactions first page", reqValid: true, status: 200, check: oaWantPage([]uint64{0, 1}, "2"),
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: c.device(t, 3).path("/transactions?limit=2")}
			}},
		{name: "device transactions last page", reqValid: true, status: 200, check: oaWantPage([]uint64{2}, ""),
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: c.device(t, 3).path("/transactions?limit=2&cursor=2")}
			}},
		{name: "device transactions by sequence and time", reqValid: true, status: 200, check: oaWantPage([]uint64{1, 2}, ""),
			build: func(t *testing.T, c *oaNode) oaRequest {
				d := c.device(t, 4)
				q := url.Values{"from_seq": {"1"}, "to_seq": {"3"}, "to_time": {dag.FormatTime(d.sent[2].Time)},
					"from_time": {dag.FormatTime(d.sent[0].Time)}, "limit": {"1000"}}
				return oaRequest{method: "GET", target: d.path("/transactions?" + q.Encode())}
			}},
		{name: "device transactions confirmed", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				d := c.device(t, 1)
				if _, err := c.fix.WaitConfirmed(t.Context(), d.sent[0].ID()); err != nil {
					t.Fatal(err)
				}
				return oaRequest{method: "GET", target: d.path("/transactions")}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var p deviceTransactions
				if res.json(t, &p); len(p.Transactions) != 1 || p.Transactions[0].Status != "confirmed" || p.Transactions[0].ConfirmedIndex == 0 {
					t.Fatalf("%+v, want one confirmed transaction with its index", p)
				}
			}},
		{name: "device transactions none yet", reqValid: true, status: 200, check: oaWantPage(nil, ""),
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: c.device(t, 0).path("/transactions")}
			}},
		{name: "device transactions not found", reqValid: true, status: 404, code: "not_found",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions"}
			}},
		{name: "device transactions limit over 1000", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions?limit=1001"}
			}},
		{name: "device transactions limit 0", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions?limit=0"}
			}},
		{name: "device transactions cursor with from_seq", reqValid: true, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions?cursor=2&from_seq=2"}
			}},
		{name: "device transactions malformed cursor", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions?cursor=next"}
			}},
		{name: "device transactions time with an offset", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions?from_time=2026-12-02T10:30:00%2B01:00"}
			}},
		{name: "device transactions unknown parameter", reqValid: false, status: 400, code: "malformed",
			build: func(*testing.T, *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/devices/" + oaRandomID().String() + "/transactions?offset=2"}
			}},

		{name: "authorities", build: oaGet("/v1/authorities"), reqValid: true, status: 200,
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var a authorities
				if res.json(t, &a); !a.Permissioned || len(a.Authorities) != 1 || a.Authorities[0].PublicKey != publicKey(c.fleet) {
					t.Fatalf("%+v, want the permissioned network's one authority", a)
				}
			}},

		// Control transactions in the transaction endpoints.
		{name: "post a registration as JSON", reqValid: true, status: 202, check: oaWantSubmit(client.StatusAttached),
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaJSON(t, c.controlTx(t, c.fleet, dag.KindRegister, dag.ID{}, oaRegistration(newKey(t))))
			})},
		{name: "status of a registration", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: "/v1/transactions/" + c.device(t, 0).reg.ID().String()}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var st client.TransactionStatus
				if res.json(t, &st); st.Transaction == nil || st.Transaction.Kind != dag.KindRegister {
					t.Fatalf("%+v, want a registration", st)
				}
			}},
		{name: "status ruled out", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				d := c.device(t, 1)
				c.control(t, dag.KindRevoke, d.reg.ID(), device.LifecyclePayload(d.reg.ID()))
				return oaRequest{method: "GET", target: "/v1/transactions/" + d.sent[0].ID().String(),
					// A beacon may confirm the reading before the revocation.
					retry: func(res *oaResult) bool { return !bytes.Contains(res.body, []byte("ruled out")) }}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var st client.TransactionStatus
				if res.json(t, &st); st.Status != client.StatePending || !slices.ContainsFunc(st.Reasons, func(r string) bool { return strings.HasPrefix(r, "ruled out") }) {
					t.Fatalf("%+v, want pending and ruled out", st)
				}
			}},
		func() oaCase {
			var id dag.ID
			return oaCase{name: "events of a registration", reqValid: true, status: 200, check: oaWantEvent("attached", &id),
				build: func(t *testing.T, c *oaNode) oaRequest {
					tx := c.controlTx(t, c.fleet, dag.KindRegister, dag.ID{}, oaRegistration(newKey(t)))
					id = tx.ID()
					return oaRequest{method: "GET", target: "/v1/events?id=" + id.String(), onOpen: func() { c.attach(t, tx) }}
				}}
		}(),

		// The device layer's refusals.
		{name: "device_unregistered", reqValid: true, status: 403, code: device.CodeUnregistered,
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte { return oaJSON(t, c.data(t, "who am I")) })},
		{name: "device_revoked", reqValid: true, status: 403, code: device.CodeRevoked,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d := c.device(t, 1)
				c.control(t, dag.KindRevoke, d.reg.ID(), device.LifecyclePayload(d.reg.ID()))
				return c.reading(t, d, "still here").Bytes()
			})},
		{name: "device_suspended", reqValid: true, status: 403, code: device.CodeSuspended,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d := c.device(t, 0)
				c.control(t, dag.KindSuspend, d.reg.ID(), device.LifecyclePayload(d.reg.ID()))
				return c.reading(t, d, "paused").Bytes()
			})},
		{name: "not_authority", reqValid: true, status: 403, code: "not_authority",
			build: oaPost("/v1/transactions", oaJSONType, func(t *testing.T, c *oaNode) []byte {
				return oaJSON(t, c.controlTx(t, newKey(t), dag.KindRegister, dag.ID{}, oaRegistration(newKey(t))))
			})},
		{name: "device_exists", reqValid: true, status: 409, code: device.CodeDeviceExists,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d := c.device(t, 0)
				return c.controlTx(t, c.fleet, dag.KindRegister, d.reg.ID(), oaRegistration(d.key)).Bytes()
			})},
		{name: "invalid_transition", reqValid: true, status: 409, code: device.CodeInvalidTransition,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				d := c.device(t, 0)
				return c.controlTx(t, c.fleet, dag.KindResume, d.reg.ID(), device.LifecyclePayload(d.reg.ID())).Bytes()
			})},
		{name: "unknown_device", reqValid: true, status: 422, code: device.CodeUnknownDevice,
			build: oaPost("/v1/transactions", oaBinaryType, func(t *testing.T, c *oaNode) []byte {
				return c.controlTx(t, c.fleet, dag.KindSuspend, dag.ID{}, device.LifecyclePayload(oaRandomID())).Bytes()
			})},
	}
}
