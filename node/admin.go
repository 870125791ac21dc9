package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// The admin listener (Config.AdminAddr, off by default) serves what an
// operator needs and the public must never reach: the Go profiler and a
// runtime log-level switch. It has its own mux, so nothing here is
// reachable through the API's listener (net/http/pprof's init registers
// on http.DefaultServeMux, which the node never serves).
//
//	GET  /debug/pprof/             index of the runtime profiles
//	GET  /debug/pprof/{profile}    heap, goroutine, allocs, block, mutex, threadcreate
//	GET  /debug/pprof/profile      CPU profile (?seconds=N, default 30)
//	GET  /debug/pprof/trace        execution trace (?seconds=N)
//	GET  /debug/pprof/cmdline, /debug/pprof/symbol
//	GET  /debug/log-level          {"level": "INFO"}
//	PUT  /debug/log-level          body {"level": "debug"}: change it now
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/log-level", n.getLogLevel)
	mux.HandleFunc("PUT /debug/log-level", n.putLogLevel)
	return mux
}

type logLevelBody struct {
	Level string `json:"level"`
}

func (n *Node) getLogLevel(w http.ResponseWriter, _ *http.Request) {
	if n.cfg.LogLevel == nil {
		adminError(w, http.StatusNotImplemented, "node: the log level is fixed: the node was given a logger without Config.LogLevel")
		return
	}
	adminJSON(w, http.StatusOK, logLevelBody{Level: n.cfg.LogLevel.Level().String()})
}

func (n *Node) putLogLevel(w http.ResponseWriter, r *http.Request) {
	if n.cfg.LogLevel == nil {
		adminError(w, http.StatusNotImplemented, "node: the log level is fixed: the node was given a logger without Config.LogLevel")
		return
	}
	var body logLevelBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		adminError(w, http.StatusBadRequest, `node: the body is {"level": "debug|info|warn|error"}: `+err.Error())
		return
	}
	level, err := ParseLogLevel(body.Level)
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	old := n.cfg.LogLevel.Level()
	n.cfg.LogLevel.Set(level)
	n.log.Info("log level changed", "from", old.String(), "to", level.String(), "by", r.RemoteAddr)
	adminJSON(w, http.StatusOK, logLevelBody{Level: level.String()})
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, message string) {
	adminJSON(w, status, struct {
		Message string `json:"message"`
	}{message})
}

// listenAdmin binds the admin listener when Config.AdminAddr is set.
func (n *Node) listenAdmin() error {
	if n.cfg.AdminAddr == "" {
		return nil
	}
	l, err := net.Listen("tcp", n.cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("node: admin listen: %w", err)
	}
	n.adminListener = l
	n.admin = &http.Server{
		Handler:           n.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		// No WriteTimeout: a CPU profile or a trace takes as long as asked.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// AdminAddr is the admin listener's address; empty when it is off.
func (n *Node) AdminAddr() string {
	if n.adminListener == nil {
		return ""
	}
	return n.adminListener.Addr().String()
}

// serveAdmin serves the admin listener until the returned stop is called;
// stop shuts it down (cutting a profile in progress after ctx ends) and
// returns once the serving goroutine has exited.
func (n *Node) serveAdmin() (stop func(ctx context.Context)) {
	if n.admin == nil {
		return func(context.Context) {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.admin.Serve(n.adminListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("admin listener stopped", "err", err)
		}
	}()
	n.log.Info("admin endpoints", "addr", n.AdminAddr(), "paths", strings.Join([]string{"/debug/pprof/", "/debug/log-level"}, " "))
	return func(ctx context.Context) {
		if err := n.admin.Shutdown(ctx); err != nil {
			_ = n.admin.Close()
		}
		<-done
	}
}

// closeAdminListener releases the admin address of a node that never ran.
func (n *Node) closeAdminListener() {
	if n.adminListener != nil && !n.ran {
		_ = n.adminListener.Close()
	}
}
