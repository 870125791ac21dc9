package client

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// testNode serves docs/api-contract.md over real parts: a dag.Ledger on
// an in-memory store behind a dag.Pipeline. Only the HTTP layer is written
// here, and it is kept as literal a reading of the contract as possible,
// so the client is tested against the contract rather than against itself.
type testNode struct {
	net      *dagtest.Network
	ledger   *dag.Ledger
	pipeline *dag.Pipeline
	srv      *httptest.Server

	// keepAlive is the comment interval of event streams.
	keepAlive time.Duration
	// subscribers counts open event streams, so tests can wait for a
	// subscription and check that streams end.
	subscribers atomic.Int64
	// done ends event streams when the test ends, so the server can close.
	done chan struct{}
}

type nodeConfig struct {
	rules pow.Rules
	// wrap, if set, wraps the contract handler (fault injection).
	wrap func(http.Handler) http.Handler
}

func newTestNode(tb testing.TB, cfg nodeConfig) *testNode {
	tb.Helper()
	n := &testNode{net: dagtest.NewNetwork(1, cfg.rules), keepAlive: 15 * time.Second, done: make(chan struct{})}
	l, err := dag.Open(dag.Config{Genesis: n.net.Genesis, Store: storage.NewMemory()})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := dag.NewPipeline(l, dag.PipelineConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	n.ledger, n.pipeline = l, p
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = p.Run(ctx) }()

	var h http.Handler = n.handler()
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	n.srv = httptest.NewServer(h)
	tb.Cleanup(func() {
		close(n.done)
		n.srv.Close()
		cancel()
		<-ran
	})
	return n
}

// client returns a client of n with quick backoffs.
func (n *testNode) client(tb testing.TB) *Client {
	tb.Helper()
	c, err := New(n.srv.URL, Options{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.CloseIdleConnections)
	return c
}

// beacon has the network's validator approve id, which confirms it: the
// network has one validator.
func (n *testNode) beacon(tb testing.TB, c *Client, id dag.ID) {
	tb.Helper()
	key := n.net.Validators[0]
	state, _ := n.ledger.IssuerState(dagtest.PublicKey(key), time.Now().UnixNano())
	v := &dagtest.Issuer{Key: key, Seq: state.NextSeq, Prev: state.Prev, Rules: n.net.Genesis.Difficulty}
	tx := v.Issue(dag.KindBeacon, id, id, time.Now().UnixNano(), nil)
	if _, err := c.Post(context.Background(), tx); err != nil {
		tb.Fatalf("posting beacon: %v", err)
	}
}

func (n *testNode) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/info", n.info)
	mux.HandleFunc("GET /v1/tips", n.tips)
	mux.HandleFunc("POST /v1/transactions", n.post)
	mux.HandleFunc("POST /v1/transactions/batch", n.postBatch)
	mux.HandleFunc("GET /v1/transactions/{id}", n.status)
	mux.HandleFunc("GET /v1/events", n.events)
	return mux
}

// contractStatus is the contract's error table.
var contractStatus = map[string]int{
	"malformed": 400, "bad_version": 400, "bad_kind": 400, "trailing_bytes": 400,
	"payload_too_large": 413, "body_too_large": 413, "unsupported_media_type": 415,
	"bad_signature": 422, "insufficient_work": 422, "future_time": 422,
	"broken_chain": 409, "not_validator": 403,
	"rate_limited": 429, "overloaded": 429, "parked_full": 429,
	"not_found": 404, "method_not_allowed": 405, "closed": 503,
	"store_failure": 500, "internal": 500,
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code, message string) {
	status, ok := contractStatus[code]
	if !ok {
		status = 500
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"code": code, "message": message})
}

func (n *testNode) info(w http.ResponseWriter, r *http.Request) {
	g := n.ledger.Genesis()
	s := n.ledger.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"version": "test",
		"node":    map[string]any{"public_key": dagtest.PublicKey(n.net.Validators[0]), "validator": true},
		"network": map[string]any{
			"network_id": g.NetworkID, "genesis_id": n.ledger.Root(), "validators": g.Validators,
			"confirmation_threshold": g.Threshold, "max_payload": g.MaxPayload, "difficulty": g.Difficulty,
		},
		"counts": map[string]any{
			"transactions": s.Transactions, "tips": s.Tips, "confirmed": s.Confirmed,
			"parked": s.Parked, "conflicting": s.Conflicting, "issuers": s.Issuers,
		},
	})
}

func (n *testNode) tips(w http.ResponseWriter, r *http.Request) {
	payloadSize := 0
	if v := r.URL.Query().Get("payload_size"); v != "" {
		var err error
		if payloadSize, err = strconv.Atoi(v); err != nil || payloadSize < 0 {
			writeError(w, "malformed", "payload_size must be a non-negative integer")
			return
		}
	}
	tips := n.ledger.Tips(nil)
	if len(tips) == 0 {
		id, _ := n.ledger.RecentConfirmed(0)
		tips = []dag.ID{id}
	}
	now := time.Now()
	out := map[string]any{
		"trunk":  tips[rand.IntN(len(tips))],
		"branch": tips[rand.IntN(len(tips))],
		"time":   now.UTC().Format(time.RFC3339Nano),
	}
	recent := 0
	if v := r.URL.Query().Get("issuer"); v != "" {
		var pk dag.PublicKey
		if err := pk.UnmarshalText([]byte(v)); err != nil {
			writeError(w, "malformed", err.Error())
			return
		}
		st, _ := n.ledger.IssuerState(pk, now.UnixNano())
		recent = st.Recent
		out["issuer"] = map[string]any{"next_seq": st.NextSeq, "prev": st.Prev, "recent": st.Recent, "conflicting": st.Conflicting}
	}
	out["difficulty"] = n.ledger.Required(dag.KindData, payloadSize, recent)
	writeJSON(w, http.StatusOK, out)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, string, bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "application/octet-stream" {
		writeError(w, "unsupported_media_type", "want application/json or application/octet-stream")
		return nil, "", false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		writeError(w, "body_too_large", err.Error())
		return nil, "", false
	}
	return body, mt, true
}

func submitResult(res dag.Result) map[string]any {
	out := map[string]any{"id": res.ID, "status": res.Status.String()}
	if len(res.Missing) > 0 {
		out["missing"] = res.Missing
	}
	if res.Conflicting {
		out["conflicting"] = true
	}
	if res.Err != nil {
		out["code"], out["message"] = dag.Code(res.Err), res.Err.Error()
	}
	return out
}

func (n *testNode) post(w http.ResponseWriter, r *http.Request) {
	body, mt, ok := readBody(w, r, dag.MinSize+dag.MaxPayloadLimit+1<<10)
	if !ok {
		return
	}
	raw := body
	if mt == "application/json" {
		var err error
		if raw, err = dag.DecodeJSON(body); err != nil {
			writeError(w, dag.Code(err), err.Error())
			return
		}
	}
	res, err := n.pipeline.Submit(r.Context(), raw)
	if err != nil {
		writeError(w, dag.Code(err), err.Error())
		return
	}
	status := http.StatusAccepted
	if res.Status == dag.StatusDuplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, submitResult(res))
}

func (n *testNode) postBatch(w http.ResponseWriter, r *http.Request) {
	body, mt, ok := readBody(w, r, 64<<20)
	if !ok {
		return
	}
	var raws [][]byte
	if mt == "application/json" {
		var j struct {
			Transactions []json.RawMessage `json:"transactions"`
		}
		if err := json.Unmarshal(body, &j); err != nil {
			writeError(w, "malformed", err.Error())
			return
		}
		for _, t := range j.Transactions {
			raw, _ := dag.DecodeJSON(t) // a nil raw is rejected by the pipeline as malformed
			raws = append(raws, raw)
		}
	} else {
		for len(body) > 0 {
			if len(body) < 4 || uint64(len(body)-4) < uint64(binary.BigEndian.Uint32(body)) {
				writeError(w, "malformed", "truncated batch frame")
				return
			}
			size := binary.BigEndian.Uint32(body)
			raws = append(raws, body[4:4+size])
			body = body[4+size:]
		}
	}
	results := make([]map[string]any, 0, len(raws))
	for _, res := range n.pipeline.SubmitMany(r.Context(), raws) {
		results = append(results, submitResult(res))
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

func (n *testNode) status(w http.ResponseWriter, r *http.Request) {
	id, err := dag.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, "malformed", err.Error())
		return
	}
	tx, err := n.ledger.Transaction(id)
	if err != nil {
		writeError(w, dag.Code(err), err.Error())
		return
	}
	g := n.ledger.Genesis()
	out := map[string]any{"transaction": tx, "total_weight": g.TotalWeight(), "reasons": []string{}, "approvers": []string{}}
	info, attached := n.ledger.Info(id)
	switch {
	case !attached:
		out["status"] = "parked"
	case info.Conflicting:
		out["status"] = "conflicting"
		out["reasons"] = []string{"equivocation"}
	case info.Confirmed:
		out["status"] = "confirmed"
		out["confirmed_index"] = info.ConfirmedIndex
	default:
		out["status"] = "pending"
	}
	if attached {
		var names []string
		for i, v := range g.Validators {
			if info.Validators&(1<<i) != 0 {
				names = append(names, v.Name)
			}
		}
		out["approvers"], out["approval_weight"], out["arrival"] = names, info.Weight, info.Arrival
	}
	writeJSON(w, http.StatusOK, out)
}

func eventJSON(e dag.Event) []byte {
	b, _ := json.Marshal(map[string]any{
		"kind": e.Kind.String(), "id": e.Info.ID, "issuer": e.Info.Issuer, "seq": e.Info.Seq,
		"tx_kind": e.Info.Kind.String(), "time": time.Unix(0, e.Info.Time).UTC().Format(time.RFC3339Nano),
		"confirmed": e.Info.Confirmed, "conflicting": e.Info.Conflicting, "approval_weight": e.Info.Weight,
	})
	return b
}

func (n *testNode) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var issuer *dag.PublicKey
	if v := q.Get("issuer"); v != "" {
		issuer = new(dag.PublicKey)
		if err := issuer.UnmarshalText([]byte(v)); err != nil {
			writeError(w, "malformed", err.Error())
			return
		}
	}
	ids := map[dag.ID]bool{}
	for _, v := range q["id"] {
		id, err := dag.ParseID(v)
		if err != nil {
			writeError(w, "malformed", err.Error())
			return
		}
		ids[id] = true
	}
	flusher := w.(http.Flusher)

	// Subscribe before the headers go out: a client that has the response
	// in hand must not miss what happens next.
	ch := make(chan dag.Event, 256)
	lagged := make(chan struct{})
	var lagOnce sync.Once
	cancel := n.ledger.Subscribe(func(e dag.Event) {
		if issuer != nil && e.Info.Issuer != *issuer || len(ids) > 0 && !ids[e.Info.ID] {
			return
		}
		select {
		case ch <- e:
		default:
			lagOnce.Do(func() { close(lagged) })
		}
	})
	defer cancel()
	n.subscribers.Add(1)
	defer n.subscribers.Add(-1)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ticker := time.NewTicker(n.keepAlive)
	defer ticker.Stop()
	for {
		select {
		case e := <-ch:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Kind, eventJSON(e))
			flusher.Flush()
		case <-lagged:
			fmt.Fprint(w, "event: lagged\ndata: {}\n\n")
			return
		case <-ticker.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-n.done:
			return
		}
	}
}

// errorsAs is errors.As for tests that want the value.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
