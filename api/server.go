package api

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
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
	ledger  *dag.Ledger
	cfg     Config

	genesis     dag.Genesis
	totalWeight uint64
	// approverNames[i] names genesis validator i in TransactionStatus.
	approverNames []string
	network       networkInfo

	clients *limiters[netip.Addr]
	issuers *limiters[dag.PublicKey]

	mux *http.ServeMux
	// paths matches a request's path alone, to tell a wrong method (405)
	// from an unknown path (404); allow holds each path's methods.
	paths *http.ServeMux
	allow map[string]string

	streams   atomic.Int64
	closing   chan struct{}
	closeOnce sync.Once
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
		issuers:     newLimiters[dag.PublicKey](cfg.IssuerRate, cfg.IssuerBurst, maxIssuerLimiters),
		mux:         http.NewServeMux(),
		paths:       http.NewServeMux(),
		allow:       make(map[string]string),
		closing:     make(chan struct{}),
	}
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
		s.mux.HandleFunc(rt.method+" "+rt.path, rt.handler)
		if _, ok := methods[rt.path]; !ok {
			order = append(order, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
		if rt.method == http.MethodGet {
			methods[rt.path] = append(methods[rt.path], http.MethodHead)
		}
	}
	for _, path := range order {
		s.paths.HandleFunc(path, func(http.ResponseWriter, *http.Request) {})
		s.allow[path] = strings.Join(methods[path], ", ")
	}
	s.mux.HandleFunc("/", s.unrouted)
	return s, nil
}

// route is one endpoint of the contract.
type route struct {
	method  string
	path    string
	handler http.HandlerFunc
}

// routes lists every endpoint; the OpenAPI test checks the document
// against this list.
func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/healthz", s.healthz},
		{http.MethodGet, "/v1/openapi.json", s.openAPI},
		{http.MethodGet, "/v1/info", s.info},
		{http.MethodGet, "/v1/tips", s.tips},
		{http.MethodPost, "/v1/transactions", s.submit},
		{http.MethodPost, "/v1/transactions/batch", s.submitBatch},
		{http.MethodGet, "/v1/transactions/{id}", s.transaction},
		{http.MethodGet, "/v1/events", s.events},
		{http.MethodGet, "/v1/peers", s.peers},
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
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
