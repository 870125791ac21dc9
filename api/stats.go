package api

import (
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
)

// rejectionCounts counts every rejection the API returns by its stable code:
// whole requests refused with an error body, and the rejected items of a
// batch response. Codes come from this package's and the rule layers'
// tables, never from input, so the map stays small.
type rejectionCounts struct {
	mu sync.RWMutex
	// byCode is guarded by mu; its counters are updated without it once
	// they exist.
	byCode map[string]*atomic.Uint64
}

func (r *rejectionCounts) add(code string, n uint64) {
	r.mu.RLock()
	c, ok := r.byCode[code]
	r.mu.RUnlock()
	if !ok {
		r.mu.Lock()
		if c, ok = r.byCode[code]; !ok {
			if r.byCode == nil {
				r.byCode = make(map[string]*atomic.Uint64)
			}
			c = new(atomic.Uint64)
			r.byCode[code] = c
		}
		r.mu.Unlock()
	}
	c.Add(n)
}

func (r *rejectionCounts) snapshot() map[string]uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]uint64, len(r.byCode))
	for code, c := range maps.All(r.byCode) {
		out[code] = c.Load()
	}
	return out
}

// Rejections returns how many rejections the API has returned since it
// started, by code: every error response (a 4xx or 5xx with a
// {"code", "message"} body) and every rejected item of a batch response.
// A code that never occurred is absent. The counters only grow, so a
// scraper (Prometheus, the dashboard) derives rates from two readings.
func (s *Server) Rejections() map[string]uint64 {
	return s.rejected.snapshot()
}

// countBatch counts a batch response's rejected items.
func (s *Server) countBatch(results []submitResult) {
	for i := range results {
		if code := results[i].Code; code != "" {
			s.rejected.add(code, 1)
		}
	}
}

// countingWriter carries the Server to writeError, which every error
// response goes through, so a rejection is counted wherever in the
// handlers it is written.
type countingWriter struct {
	http.ResponseWriter
	server *Server
}

// Unwrap lets http.ResponseController reach the connection (event
// streams flush and lift write deadlines through it).
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countError counts e if w is the Server's counting writer.
func countError(w http.ResponseWriter, e *apiError) {
	if cw, ok := w.(*countingWriter); ok {
		cw.server.rejected.add(e.code, 1)
	}
}

// unwrapCounting returns the writer under the counting one.
func unwrapCounting(w http.ResponseWriter) http.ResponseWriter {
	if cw, ok := w.(*countingWriter); ok {
		return cw.ResponseWriter
	}
	return w
}
