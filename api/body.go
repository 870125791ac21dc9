package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// bodyBudget bounds the bytes of request bodies held in memory by all
// requests together (Config.BodyBudget). Requests reserve capacity before
// they grow a buffer and return it once the body is decoded.
type bodyBudget struct {
	limit int64
	used  atomic.Int64
}

// reserve takes n bytes if they fit.
func (b *bodyBudget) reserve(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) release(n int64) { b.used.Add(-n) }

// firstChunk is the buffer a body starts with when the caller has none:
// enough for a batch of a dozen transactions, small enough that a
// connection that declares megabytes and sends one byte costs little.
const firstChunk = 4 << 10

// body is a request body read into memory, with the budget it holds.
type body struct {
	data   []byte
	budget *bodyBudget
	held   int64
}

// free returns the body's budget; the data must not be used afterwards
// unless the caller keeps it (the single-transaction path puts it back in
// its pool).
func (b *body) free() {
	if b.budget != nil {
		b.budget.release(b.held)
		b.held = 0
	}
}

// readBody reads r's body, at most limit bytes, into buf (which may be
// nil). The buffer grows with the bytes that arrive, doubling from
// firstChunk, and never beyond the declared Content-Length + 1, so a
// request costs memory in proportion to what it sent, not what it
// announced. Every growth is reserved from the shared budget first; the
// returned body holds the reservation until free. Errors are
// body_too_large, overloaded (budget exhausted) or malformed (the read
// failed).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) (body, *apiError) {
	b := body{data: buf[:0], budget: &s.budget}
	if r.ContentLength > limit {
		return b, newError(codeBodyTooLarge, fmt.Sprintf("api: body of %d bytes exceeds %d", r.ContentLength, limit))
	}
	if !b.grow(int64(cap(buf))) {
		return b, s.bodyBudgetExhausted(w)
	}
	// One spare byte beyond the limit lets MaxBytesReader report "too
	// large" rather than the buffer simply filling up; one beyond the
	// declared length lets the read that reports EOF land.
	ceiling := limit + 1
	if r.ContentLength >= 0 {
		ceiling = min(ceiling, r.ContentLength+1)
	}
	reader := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(b.data) == cap(b.data) {
			next := min(max(2*int64(cap(b.data)), firstChunk), ceiling)
			if next <= int64(cap(b.data)) {
				// Defensive: both readers stop (EOF, too large) before
				// a buffer of the ceiling's size fills up.
				next = int64(cap(b.data)) + firstChunk
			}
			if !b.grow(next - int64(cap(b.data))) {
				return b, s.bodyBudgetExhausted(w)
			}
			grown := make([]byte, len(b.data), next)
			copy(grown, b.data)
			b.data = grown
		}
		n, err := reader.Read(b.data[len(b.data):cap(b.data)])
		b.data = b.data[:len(b.data)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return b, newError(codeBodyTooLarge, fmt.Sprintf("api: body exceeds %d bytes", limit))
			}
			return b, newError(codeMalformed, "api: reading body: "+err.Error())
		}
	}
}

// grow reserves n more bytes for b.
func (b *body) grow(n int64) bool {
	if n <= 0 {
		return true
	}
	if !b.budget.reserve(n) {
		return false
	}
	b.held += n
	return true
}

// bodyBudgetExhausted answers a request whose body does not fit in the
// budget. The connection is closed: the rest of the body is not read.
func (s *Server) bodyBudgetExhausted(w http.ResponseWriter) *apiError {
	w.Header().Set("Connection", "close")
	return newError(codeOverloaded, fmt.Sprintf("api: request bodies in flight exceed the node's budget of %d bytes; retry later", s.budget.limit))
}

// Single-transaction bodies are read into pooled buffers: the decoder
// copies what it keeps, so a buffer is free again once decoding is done.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBody keeps one oversized request from pinning a large buffer in
// the pool.
const maxPooledBody = 256 << 10
