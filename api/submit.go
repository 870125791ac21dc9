package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

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
	// The body is read as sent: a compressed one would only fail to
	// decode, so say why instead.
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !(len(ce) == 1 && strings.EqualFold(ce[0], "identity")) {
		return 0, newError(codeUnsupportedMedia, fmt.Sprintf("api: Content-Encoding %q; bodies are not compressed", strings.Join(ce, ", ")))
	}
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

// decodeTransaction decodes one transaction in either encoding. Both go
// through dag.Decode, so JSON and binary submissions meet one set of rules
// and the errors wrap dag's sentinels.
func decodeTransaction(enc encoding, body []byte, maxPayload int) (*dag.Transaction, error) {
	raw := body
	if enc == encodingJSON {
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

// junkDebt refuses a client whose junk bucket is in debt, before its body
// is read.
func (s *Server) junkDebt(client netip.Addr, now time.Time) *apiError {
	if wait, ok := s.junk.has(client, now); !ok {
		e := newError(codeRateLimited, "api: this client sent too many invalid transactions; it may post again after Retry-After")
		e.retry = wait
		return e
	}
	return nil
}

// admitIssuer charges an issuer's bucket inside the pipeline, after the
// transaction's work and signature verified: only what the key signed
// costs the key. An issuer whose device has a policy rate gets a bucket of
// that rate (IssuerLimiter), never above the configured one.
func (s *Server) admitIssuer(now time.Time) dag.Admit {
	if s.issuers == nil {
		return nil
	}
	return func(tx *dag.Transaction) error {
		limit, burst := s.issuerLimit(tx.Issuer)
		if wait, ok := s.issuers.takeAs(tx.Issuer, 1, now, limit, burst); !ok {
			return s.rateLimited("issuer "+tx.Issuer.String(), wait)
		}
		return nil
	}
}

// issuerLimit is the rate and burst of issuer's bucket.
func (s *Server) issuerLimit(issuer dag.PublicKey) (rate.Limit, int) {
	limit, burst := rate.Limit(s.cfg.IssuerRate), s.cfg.IssuerBurst
	il, ok := s.backend.(IssuerLimiter)
	if !ok {
		return limit, burst
	}
	perSecond, b, ok := il.IssuerLimit(issuer)
	if !ok || math.IsNaN(perSecond) {
		return limit, burst
	}
	return min(limit, rate.Limit(max(perSecond, 0))), max(min(burst, b), 1)
}

// refuse answers a whole request with e, charging the client's junk
// bucket when e is the sender's fault.
func (s *Server) refuse(w http.ResponseWriter, client netip.Addr, e *apiError, now time.Time) {
	if e.senderFault() {
		s.junk.charge(client, 1, now)
	}
	writeError(w, e)
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	client := clientKey(r, s.cfg.TrustProxy)
	now := s.now()
	enc, aerr := requestEncoding(r)
	if aerr != nil {
		s.refuse(w, client, aerr, now)
		return
	}
	nodeWork := false
	if v, ok := r.URL.Query()["work"]; ok {
		if v[0] != "node" {
			s.refuse(w, client, newError(codeMalformed, fmt.Sprintf("api: work %q; the one value is node (the node solves the proof-of-work)", v[0])), now)
			return
		}
		nodeWork = true
	}
	if aerr := s.junkDebt(client, now); aerr != nil {
		writeError(w, aerr)
		return
	}
	if wait, ok := s.clients.take(client, 1, now); !ok {
		writeError(w, s.rateLimited("client", wait))
		return
	}
	b, aerr := s.readBody(w, r, s.cfg.MaxBodyBytes)
	var tx *dag.Transaction
	var err error
	if aerr == nil {
		if enc, aerr = enc.resolve(b.data); aerr == nil {
			tx, err = decodeTransaction(enc, b.data, s.genesis.MaxPayload)
		}
	}
	b.free() // the decoded transaction owns a copy
	if aerr == nil && err != nil {
		aerr = errorOf(err)
	}
	if aerr == nil && nodeWork {
		aerr = s.workFor(r.Context(), tx)
	}
	if aerr != nil {
		s.refuse(w, client, aerr, now)
		return
	}
	ctx, cancel := s.submitContext(r)
	res := s.backend.Submit(ctx, []*dag.Transaction{tx}, s.admitIssuer(now))[0]
	cancel()
	if res.Status == dag.StatusRejected {
		err = res.Err
		if err == nil {
			err = errors.New("api: backend rejected without a reason")
		}
		s.refuse(w, client, errorOf(err), now)
		return
	}
	status := http.StatusAccepted
	if res.Status == dag.StatusDuplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, resultOf(res))
}

// workFor has the backend solve tx's work on its device's behalf.
func (s *Server) workFor(ctx context.Context, tx *dag.Transaction) *apiError {
	wk, ok := s.backend.(Worker)
	if !ok {
		return newError(CodeNodeWorkRefused, "api: this node does no work on devices' behalf; solve the nonce and post without work=node")
	}
	if err := wk.WorkFor(ctx, tx); err != nil {
		return errorOf(err)
	}
	return nil
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
	client := clientKey(r, s.cfg.TrustProxy)
	now := s.now()
	enc, aerr := requestEncoding(r)
	if aerr != nil {
		s.refuse(w, client, aerr, now)
		return
	}
	// A client is checked before its body is read; how many tokens the
	// batch takes is known only after parsing.
	if aerr := s.junkDebt(client, now); aerr != nil {
		writeError(w, aerr)
		return
	}
	if wait, ok := s.clients.has(client, now); !ok {
		writeError(w, s.rateLimited("client", wait))
		return
	}
	b, aerr := s.readBody(w, r, s.cfg.MaxBatchBytes)
	defer b.free()
	if aerr == nil {
		enc, aerr = enc.resolve(b.data)
	}
	var items [][]byte
	if aerr == nil {
		var err error
		if enc == encodingJSON {
			items, err = parseJSONBatch(b.data, s.cfg.MaxBatchItems)
		} else {
			items, err = parseBinaryBatch(b.data, s.cfg.MaxBatchItems)
		}
		if err != nil {
			aerr = errorOf(err)
		}
	}
	if aerr != nil {
		s.refuse(w, client, aerr, now)
		return
	}
	if len(items) > 0 {
		if wait, ok := s.clients.take(client, len(items), now); !ok {
			writeError(w, s.rateLimited("client", wait))
			return
		}
	}

	results := make([]submitResult, len(items))
	txs := make([]*dag.Transaction, 0, len(items))
	index := make([]int, 0, len(items))
	junk := 0
	for i, item := range items {
		tx, err := decodeTransaction(enc, item, s.genesis.MaxPayload)
		if err != nil {
			e := errorOf(err)
			results[i] = rejected(dag.ZeroID, e)
			if e.senderFault() {
				junk++
			}
			continue
		}
		txs = append(txs, tx)
		index = append(index, i)
	}
	// The decoded transactions own copies of their bytes.
	items = nil
	b.free()
	var retry time.Duration
	if len(txs) > 0 {
		ctx, cancel := s.submitContext(r)
		out := s.backend.Submit(ctx, txs, s.admitIssuer(now))
		cancel()
		if len(out) != len(txs) {
			writeError(w, newError(codeInternal, fmt.Sprintf("api: backend returned %d results for %d transactions", len(out), len(txs))))
			return
		}
		for k, res := range out {
			results[index[k]] = resultOf(res)
			if res.Err != nil {
				e := errorOf(res.Err)
				retry = max(retry, e.retry)
				if e.senderFault() {
					junk++
				}
			}
		}
	}
	s.junk.charge(client, junk, now)
	s.countBatch(results)
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

// parseJSONBatch decodes {"transactions": [...]} by the JSON form's
// object rules: valid UTF-8, no unknown or repeated keys, no null, a list
// of objects and nothing after it, so that a misspelt envelope is not
// silently an empty batch. Each item is checked by dag.DecodeJSON later.
func parseJSONBatch(body []byte, maxItems int) ([][]byte, error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: batch: "+format, append([]any{dag.ErrMalformed}, args...)...)
	}
	if !utf8.Valid(body) {
		return nil, malformed("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return nil, malformed("%v", err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, malformed(`the body is an object {"transactions": [...]}`)
	}
	var items [][]byte
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("%v", err)
		}
		if key, _ := tok.(string); key != "transactions" {
			return nil, malformed("unknown field %q", tok)
		}
		if found {
			return nil, malformed(`key "transactions" appears twice`)
		}
		found = true
		if tok, err = dec.Token(); err != nil {
			return nil, malformed("%v", err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, malformed(`"transactions" must be a list`)
		}
		for dec.More() {
			if len(items) == maxItems {
				return nil, newError(codeBodyTooLarge, fmt.Sprintf("api: batch of more than %d transactions", maxItems))
			}
			var item json.RawMessage
			if err := dec.Decode(&item); err != nil {
				return nil, malformed("item %d: %v", len(items), err)
			}
			items = append(items, item)
		}
		if _, err := dec.Token(); err != nil { // ]
			return nil, malformed("%v", err)
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, malformed("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("data after the object")
	}
	if !found {
		return nil, malformed(`no "transactions" list`)
	}
	return items, nil
}
