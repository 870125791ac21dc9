package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// submitResult is the contract's SubmitResult.
type submitResult struct {
	ID          dag.ID   `json:"id"`
	Status      string   `json:"status"`
	Missing     []dag.ID `json:"missing,omitempty"`
	Conflicting bool     `json:"conflicting,omitempty"`
	Code        string   `json:"code,omitempty"`
	Message     string   `json:"message,omitempty"`
}

type batchBody struct {
	Results []submitResult `json:"results"`
}

// encoding is how a POST body is encoded.
type encoding uint8

const (
	encodingJSON encoding = iota + 1
	encodingBinary
	// encodingSniff: no Content-Type; a body that starts with '{' is JSON.
	encodingSniff
)

const (
	mediaJSON   = "application/json"
	mediaBinary = "application/octet-stream"
)

func requestEncoding(r *http.Request) (encoding, *apiError) {
	ct := r.Header.Get("Content-Type")
	switch ct {
	case mediaJSON:
		return encodingJSON, nil
	case mediaBinary:
		return encodingBinary, nil
	case "":
		return encodingSniff, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case mediaJSON:
			return encodingJSON, nil
		case mediaBinary:
			return encodingBinary, nil
		}
	}
	return 0, newError(codeUnsupportedMedia, fmt.Sprintf("api: Content-Type %q; send %s or %s", ct, mediaJSON, mediaBinary))
}

// resolve settles encodingSniff by looking at the body.
func (e encoding) resolve(body []byte) (encoding, *apiError) {
	if e != encodingSniff {
		return e, nil
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return encodingJSON, nil
	}
	return 0, newError(codeUnsupportedMedia, fmt.Sprintf("api: no Content-Type; send %s or %s", mediaJSON, mediaBinary))
}

// Single-transaction bodies are read into pooled buffers: the decoder
// copies what it keeps, so a buffer is free again once decoding is done.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBody keeps one oversized request from pinning a large buffer in
// the pool.
const maxPooledBody = 256 << 10

// readBody reads the whole body into buf, failing with body_too_large past
// limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) ([]byte, *apiError) {
	if r.ContentLength > limit {
		return buf, newError(codeBodyTooLarge, fmt.Sprintf("api: body of %d bytes exceeds %d", r.ContentLength, limit))
	}
	// One spare byte lets the read that reports EOF land without growing
	// the buffer.
	if r.ContentLength > 0 && int64(cap(buf)) <= r.ContentLength {
		buf = make([]byte, 0, r.ContentLength+1)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return buf, newError(codeBodyTooLarge, fmt.Sprintf("api: body exceeds %d bytes", limit))
			}
			return buf, newError(codeMalformed, "api: reading body: "+err.Error())
		}
	}
}

// decodeTransaction decodes one transaction in either encoding. Both go
// through dag.Decode, so JSON and binary submissions meet one set of rules
// and the errors wrap dag's sentinels.
func decodeTransaction(enc encoding, body []byte, maxPayload int) (*dag.Transaction, error) {
	raw := body
	if enc == encodingJSON {
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("%w: json: a transaction is an object", dag.ErrMalformed)
		}
		var err error
		if raw, err = dag.DecodeJSON(body); err != nil {
			return nil, err
		}
	}
	return dag.Decode(raw, maxPayload)
}

// submitContext bounds how long a POST waits for room in the ingest queue;
// a transaction already queued is still waited for until durable.
func (s *Server) submitContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.SubmitTimeout)
}

func (s *Server) rateLimited(who string, wait time.Duration) *apiError {
	e := newError(codeRateLimited, "api: "+who+" rate limit exceeded")
	e.retry = wait
	return e
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	enc, aerr := requestEncoding(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	now := s.now()
	if wait, ok := s.clients.take(clientKey(r, s.cfg.TrustProxy), 1, now); !ok {
		writeError(w, s.rateLimited("client", wait))
		return
	}
	bp := bodyPool.Get().(*[]byte)
	body, aerr := readBody(w, r, s.cfg.MaxBodyBytes, (*bp)[:0])
	var tx *dag.Transaction
	var err error
	if aerr == nil {
		if enc, aerr = enc.resolve(body); aerr == nil {
			tx, err = decodeTransaction(enc, body, s.genesis.MaxPayload)
		}
	}
	if cap(body) <= maxPooledBody {
		*bp = body[:0]
		bodyPool.Put(bp)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	if wait, ok := s.issuers.take(tx.Issuer, 1, now); !ok {
		writeError(w, s.rateLimited("issuer", wait))
		return
	}
	ctx, cancel := s.submitContext(r)
	res := s.backend.Submit(ctx, []*dag.Transaction{tx})[0]
	cancel()
	err = nil
	if res.Status == dag.StatusRejected {
		err = res.Err
		if err == nil {
			err = errors.New("api: backend rejected without a reason")
		}
	}
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	status := http.StatusAccepted
	if res.Status == dag.StatusDuplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, resultOf(res))
}

// resultOf converts an accepted or rejected dag result.
func resultOf(res dag.Result) submitResult {
	out := submitResult{ID: res.ID, Status: res.Status.String(), Missing: res.Missing, Conflicting: res.Conflicting}
	if res.Status == dag.StatusRejected || res.Err != nil {
		err := res.Err
		if err == nil {
			err = errors.New("api: backend rejected without a reason")
		}
		e := errorOf(err)
		out.Status, out.Code, out.Message = dag.StatusRejected.String(), e.code, e.message
	}
	return out
}

func rejected(id dag.ID, e *apiError) submitResult {
	return submitResult{ID: id, Status: dag.StatusRejected.String(), Code: e.code, Message: e.message}
}

func (s *Server) submitBatch(w http.ResponseWriter, r *http.Request) {
	enc, aerr := requestEncoding(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	client := clientKey(r, s.cfg.TrustProxy)
	// A client that has no token left is refused before its body is read;
	// how many tokens the batch takes is known only after parsing.
	if wait, ok := s.clients.has(client, s.now()); !ok {
		writeError(w, s.rateLimited("client", wait))
		return
	}
	body, aerr := readBody(w, r, s.cfg.MaxBatchBytes, nil)
	if aerr == nil {
		enc, aerr = enc.resolve(body)
	}
	var items [][]byte
	if aerr == nil {
		var err error
		if enc == encodingJSON {
			items, err = parseJSONBatch(body, s.cfg.MaxBatchItems)
		} else {
			items, err = parseBinaryBatch(body, s.cfg.MaxBatchItems)
		}
		if err != nil {
			aerr = errorOf(err)
		}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	now := s.now()
	if len(items) > 0 {
		if wait, ok := s.clients.take(client, len(items), now); !ok {
			writeError(w, s.rateLimited("client", wait))
			return
		}
	}

	results := make([]submitResult, len(items))
	txs := make([]*dag.Transaction, 0, len(items))
	index := make([]int, 0, len(items))
	var retry time.Duration
	for i, item := range items {
		tx, err := decodeTransaction(enc, item, s.genesis.MaxPayload)
		if err != nil {
			results[i] = rejected(dag.ZeroID, errorOf(err))
			continue
		}
		if wait, ok := s.issuers.take(tx.Issuer, 1, now); !ok {
			results[i] = rejected(tx.ID(), s.rateLimited("issuer", wait))
			retry = max(retry, wait)
			continue
		}
		txs = append(txs, tx)
		index = append(index, i)
	}
	if len(txs) > 0 {
		ctx, cancel := s.submitContext(r)
		out := s.backend.Submit(ctx, txs)
		cancel()
		if len(out) != len(txs) {
			writeError(w, newError(codeInternal, fmt.Sprintf("api: backend returned %d results for %d transactions", len(out), len(txs))))
			return
		}
		for k, res := range out {
			results[index[k]] = resultOf(res)
			if res.Err != nil {
				retry = max(retry, errorOf(res.Err).retry)
			}
		}
	}
	if retry > 0 {
		// Not a 429, but the client learns when to resend the items
		// refused for load.
		setRetryAfter(w, retry)
	}
	writeJSON(w, http.StatusOK, batchBody{Results: results})
}

// parseBinaryBatch splits a sequence of (u32 big-endian length, bytes)
// frames. The items alias body.
func parseBinaryBatch(body []byte, maxItems int) ([][]byte, error) {
	items := make([][]byte, 0, min(len(body)/(4+dag.MinSize)+1, maxItems))
	for len(body) > 0 {
		if len(body) < 4 {
			return nil, fmt.Errorf("%w: batch: %d bytes after item %d, too few for a length prefix", dag.ErrMalformed, len(body), len(items))
		}
		n := binary.BigEndian.Uint32(body)
		body = body[4:]
		if uint64(n) > uint64(len(body)) {
			return nil, fmt.Errorf("%w: batch: item %d claims %d bytes, %d left", dag.ErrMalformed, len(items), n, len(body))
		}
		if len(items) == maxItems {
			return nil, newError(codeBodyTooLarge, fmt.Sprintf("api: batch of more than %d transactions", maxItems))
		}
		items = append(items, body[:n:n])
		body = body[n:]
	}
	return items, nil
}

// parseJSONBatch decodes {"transactions": [...]} strictly: unknown fields,
// a missing list and anything after the object are malformed, so that a
// misspelt envelope is not silently an empty batch.
func parseJSONBatch(body []byte, maxItems int) ([][]byte, error) {
	var env struct {
		Transactions *[]json.RawMessage `json:"transactions"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: batch: %v", dag.ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: batch: data after the object", dag.ErrMalformed)
	}
	if env.Transactions == nil {
		return nil, fmt.Errorf("%w: batch: no \"transactions\" list", dag.ErrMalformed)
	}
	list := *env.Transactions
	if len(list) > maxItems {
		return nil, newError(codeBodyTooLarge, fmt.Sprintf("api: batch of %d transactions, at most %d", len(list), maxItems))
	}
	items := make([][]byte, len(list))
	for i, m := range list {
		items[i] = m
	}
	return items, nil
}
