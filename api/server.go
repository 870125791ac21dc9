package api

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

//go:embed openapi.json
var openAPI []byte

// Server is the HTTP API of one node. It is an http.Handler; the caller
// owns the listener and the http.Server (and its timeouts).
type Server struct {
	backend Backend
	ledger  Ledger
	cfg     Config

	genesis     dag.Genesis
	totalWeight uint64
	// approverNames[i] names genesis validator i in TransactionStatus.
	approverNames []string
	network       networkInfo

	clients *limiters[netip.Addr]
	junk    *limiters[netip.Addr]
	issuers *limiters[dag.PublicKey]
	budget  bodyBudget

	mux *http.ServeMux
	// paths matches a request's path alone, to tell a wrong method (405)
	// from an unknown path (404); allow holds each path's methods.
	paths *http.ServeMux
	allow map[string]string

	// rejected counts the rejections returned, by code (Rejections).
	rejected rejectionCounts

	streams   atomic.Int64
	closing   chan struct{}
	closeOnce sync.Once

	// started and latency feed GET /v1/stats.
	started time.Time
	latency *latencyTracker
}

// New returns the API over backend.
func New(backend Backend, cfg Config) (*Server, error) {
	if backend == nil {
		return nil, errors.New("api: nil backend")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := backend.Ledger()
	if l == nil {
		return nil, errors.New("api: backend has no ledger")
	}
	g := l.Genesis()
	s := &Server{
		backend:     backend,
		ledger:      l,
		cfg:         cfg,
		genesis:     g,
		totalWeight: g.TotalWeight(),
		clients:     newLimiters[netip.Addr](cfg.ClientRate, cfg.ClientBurst, maxClientLimiters),
		junk:        newLimiters[netip.Addr](cfg.JunkRate, cfg.JunkBurst, maxClientLimiters),
		issuers:     newLimiters[dag.PublicKey](cfg.IssuerRate, cfg.IssuerBurst, maxIssuerLimiters),
		mux:         http.NewServeMux(),
		paths:       http.NewServeMux(),
		allow:       make(map[string]string),
		closing:     make(chan struct{}),
		started:     time.Now(),
		latency:     newLatencyTracker(time.Now),
	}
	// The server lives as long as the ledger it reads, so the
	// subscription is never cancelled.
	l.Subscribe(s.latency.observe)
	s.budget.limit = cfg.BodyBudget
	s.network = networkInfo{
		NetworkID:  g.NetworkID,
		GenesisID:  l.Root(),
		Validators: make([]validatorInfo, len(g.Validators)),
		Threshold:  g.Threshold,
		MaxPayload: g.MaxPayload,
		Difficulty: g.Difficulty,
	}
	for i, v := range g.Validators {
		s.network.Validators[i] = validatorInfo{Name: v.Name, PublicKey: v.PublicKey, Weight: v.Weight}
		name := v.Name
		if name == "" {
			name = v.PublicKey.String()
		}
		s.approverNames = append(s.approverNames, name)
	}

	methods := map[string][]string{}
	var order []string
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.method+" "+muxPattern(rt.path), checkQuery(rt.query, rt.handler))
		if _, ok := methods[rt.path]; !ok {
			order = append(order, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
		if rt.method == http.MethodGet {
			methods[rt.path] = append(methods[rt.path], http.MethodHead)
		}
	}
	for _, path := range order {
		s.paths.HandleFunc(muxPattern(path), func(http.ResponseWriter, *http.Request) {})
		s.allow[muxPattern(path)] = strings.Join(methods[path], ", ")
	}
	s.mux.HandleFunc("/", s.unrouted)
	return s, nil
}

// muxPattern is the ServeMux pattern of a documented path: "/" alone is
// the dashboard, every other path stays the API's JSON not_found.
func muxPattern(path string) string {
	if path == "/" {
		return "/{$}"
	}
	return path
}

// route is one endpoint of the contract.
type route struct {
	method  string
	path    string
	handler http.HandlerFunc
	// query lists the parameters the endpoint takes; any other is
	// malformed.
	query []queryParam
}

// queryParam is one query parameter an endpoint takes.
type queryParam struct {
	name       string
	repeatable bool
}

// routes lists every endpoint; the OpenAPI test checks the document
// against this list.
func (s *Server) routes() []route {
	issuer := queryParam{name: "issuer"}
	return []route{
		{http.MethodGet, "/healthz", s.healthz, nil},
		{http.MethodGet, "/v1/openapi.json", s.openAPI, nil},
		{http.MethodGet, "/v1/info", s.info, nil},
		{http.MethodGet, "/v1/tips", s.tips, []queryParam{issuer, {name: "payload_size"}}},
		{http.MethodPost, "/v1/transactions", s.submit, []queryParam{{name: "work"}}},
		{http.MethodPost, "/v1/transactions/batch", s.submitBatch, nil},
		{http.MethodGet, "/v1/transactions/{id}", s.transaction, nil},
		{http.MethodGet, "/v1/transactions/{id}/evidence", s.transactionEvidence, nil},
		{http.MethodGet, "/v1/events", s.events, []queryParam{issuer, {name: "id", repeatable: true}}},
		{http.MethodGet, "/v1/peers", s.peers, nil},
		{http.MethodGet, "/v1/devices/{id}", s.device, nil},
		{http.MethodGet, "/v1/devices/{id}/evidence", s.deviceEvidence, nil},
		{http.MethodGet, "/v1/log/checkpoint", s.logCheckpoint, nil},
		{http.MethodGet, "/v1/log/consistency", s.logConsistency, []queryParam{{name: "from"}, {name: "to"}}},
		{http.MethodGet, "/v1/log/misbehaviour", s.logMisbehaviour, nil},
		{http.MethodGet, "/v1/devices/{id}/transactions", s.deviceTransactions, []queryParam{
			{name: "from_seq"}, {name: "to_seq"}, {name: "from_time"}, {name: "to_time"}, {name: "limit"}, {name: "cursor"},
		}},
		{http.MethodGet, "/v1/authorities", s.authorities, nil},
		{http.MethodGet, "/v1/policies", s.policies, []queryParam{{name: "scope"}, {name: "class"}, {name: "device"}, {name: "in_force"}}},
		{http.MethodGet, "/v1/firmware/{class}", s.firmware, []queryParam{{name: "anchor"}}},
		{http.MethodPut, "/v1/firmware/images/{digest}", s.putImage, nil},
		{http.MethodGet, "/v1/firmware/images/{digest}", s.getImage, nil},
		{http.MethodGet, "/v1/stats", s.stats, nil},
		{http.MethodGet, "/", s.dashboardPage, nil},
		{http.MethodGet, "/dashboard/{asset}", s.dashboardAsset, nil},
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w = &countingWriter{ResponseWriter: w, server: s}
	// ServeMux answers a path that is not in canonical form with a
	// redirect in HTML; the API has one spelling per path and answers
	// every other in its own JSON.
	if r.ProtoMajor != 1 {
		// An HTTP/2 connection preface ("PRI * HTTP/2.0") sent in clear
		// text to this HTTP/1.1 server.
		writeError(w, newError(codeMalformed, fmt.Sprintf("api: %s is not served here; speak HTTP/1.1", r.Proto)))
		return
	}
	if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
		writeError(w, newError(codeNotFound, fmt.Sprintf("api: no endpoint %q: paths are written without empty, \".\" or \"..\" segments or a trailing slash", p)))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// checkQuery refuses a query string that does not parse, names a
// parameter the endpoint does not take, or repeats one that is not
// repeatable: a misspelt or doubled filter is an error, never silently
// ignored.
func checkQuery(params []queryParam, next http.HandlerFunc) http.HandlerFunc {
	var names []string
	for _, p := range params {
		names = append(names, p.name)
	}
	takes := "takes no query parameters"
	if len(names) > 0 {
		takes = "takes " + strings.Join(names, ", ")
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" {
			next(w, r)
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeError(w, newError(codeMalformed, "api: query string: "+err.Error()))
			return
		}
		for _, name := range slices.Sorted(maps.Keys(q)) {
			i := slices.IndexFunc(params, func(p queryParam) bool { return p.name == name })
			switch {
			case i < 0:
				writeError(w, newError(codeMalformed, fmt.Sprintf("api: unknown query parameter %q; %s %s", name, r.URL.Path, takes)))
				return
			case !params[i].repeatable && len(q[name]) > 1:
				writeError(w, newError(codeMalformed, fmt.Sprintf("api: query parameter %q given %d times; it takes one value", name, len(q[name]))))
				return
			}
		}
		next(w, r)
	}
}

// CloseStreams ends every open event stream and refuses new ones with 503
// closed. http.Server.Shutdown waits for handlers to return and an event
// stream never does by itself, so a node registers this with
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// unrouted answers what the mux has no endpoint for, in the API's JSON
// error form rather than the mux's plain text.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.paths.Handler(r); pattern != "" {
		s.methodNotAllowed(w, r, s.allow[pattern])
		return
	}
	writeError(w, newError(codeNotFound, "api: no endpoint "+r.URL.Path))
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, newError(codeMethodNotAllowed, fmt.Sprintf("api: %s %s is not allowed; allowed: %s", r.Method, r.URL.Path, allow)))
}

func (s *Server) now() time.Time { return s.cfg.Clock() }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	writeRaw(w, http.StatusOK, "application/json", openAPI)
}
