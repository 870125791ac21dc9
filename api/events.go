package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

const (
	// maxEventIDs bounds the id filters of one stream. 512 IDs make a
	// request line of about 35 KB, well inside the 64 KiB header limit a
	// node serves with (1024 would not fit); the per-event lookup stays a
	// small map.
	maxEventIDs = 512
	// streamWriteTimeout is how long one write to an event stream may
	// block. A client that stops reading blocks the writes once the socket
	// buffers fill; the deadline ends its stream instead of holding the
	// handler forever. The server's own WriteTimeout is lifted for streams,
	// which must outlive it.
	streamWriteTimeout = 10 * time.Second
	// maxCoalesced bounds the bytes of queued events sent in one write.
	maxCoalesced = 32 << 10
)

// eventBody is the contract's Event.
type eventBody struct {
	Kind           string        `json:"kind"`
	ID             dag.ID        `json:"id"`
	Issuer         dag.PublicKey `json:"issuer"`
	Seq            uint64        `json:"seq"`
	TxKind         dag.Kind      `json:"tx_kind"`
	Time           string        `json:"time"`
	Confirmed      bool          `json:"confirmed"`
	Conflicting    bool          `json:"conflicting"`
	ApprovalWeight uint64        `json:"approval_weight"`
	// Trunk and Branch are the transaction's parents: with them a
	// reader (the dashboard) draws approvals without a lookup per event.
	Trunk  dag.ID `json:"trunk"`
	Branch dag.ID `json:"branch"`
}

// streamEvent is what a stream buffers: the fields of Event and nothing
// else of dag.Info, which is larger.
type streamEvent struct {
	id          dag.ID
	trunk       dag.ID
	branch      dag.ID
	issuer      dag.PublicKey
	seq         uint64
	time        int64
	weight      uint64
	kind        dag.EventKind
	txKind      dag.Kind
	confirmed   bool
	conflicting bool
}

func (e *streamEvent) body() eventBody {
	return eventBody{
		Kind: e.kind.String(), ID: e.id, Issuer: e.issuer, Seq: e.seq, TxKind: e.txKind,
		Time:      dag.FormatTime(e.time),
		Confirmed: e.confirmed, Conflicting: e.conflicting, ApprovalWeight: e.weight,
		Trunk: e.trunk, Branch: e.branch,
	}
}

type eventFilter struct {
	issuer *dag.PublicKey
	ids    map[dag.ID]struct{} // nil: every ID
}

func parseEventFilter(q url.Values) (eventFilter, error) {
	var f eventFilter
	if v, ok := q["issuer"]; ok {
		var pk dag.PublicKey
		if err := pk.UnmarshalText([]byte(v[0])); err != nil {
			return f, fmt.Errorf("issuer: %w", err)
		}
		f.issuer = &pk
	}
	if ids := q["id"]; len(ids) > 0 {
		if len(ids) > maxEventIDs {
			return f, fmt.Errorf("%w: %d id filters, at most %d", dag.ErrMalformed, len(ids), maxEventIDs)
		}
		f.ids = make(map[dag.ID]struct{}, len(ids))
		for _, v := range ids {
			id, err := dag.ParseID(v)
			if err != nil {
				return f, err
			}
			f.ids[id] = struct{}{}
		}
	}
	return f, nil
}

func (f *eventFilter) match(in *dag.Info) bool {
	if f.issuer != nil && in.Issuer != *f.issuer {
		return false
	}
	if f.ids != nil {
		if _, ok := f.ids[in.ID]; !ok {
			return false
		}
	}
	return true
}

// subscriber is one stream's side of a ledger subscription.
type subscriber struct {
	filter eventFilter
	ch     chan streamEvent
	// lagged is closed, once, when an event did not fit in ch.
	lagged  chan struct{}
	dropped atomic.Bool
}

// deliver runs on the ledger's committing goroutine, so it never blocks:
// a full buffer ends the stream instead of slowing every commit.
func (sub *subscriber) deliver(e dag.Event) {
	// Ruled out and tip again are this node's tip-selection view, not
	// changes of the transaction's ledger state; the stream carries only
	// the latter.
	if e.Kind == dag.EventRuledOut || e.Kind == dag.EventTip || sub.dropped.Load() || !sub.filter.match(&e.Info) {
		return
	}
	in := &e.Info
	select {
	case sub.ch <- streamEvent{
		id: in.ID, trunk: in.Trunk, branch: in.Branch, issuer: in.Issuer, seq: in.Seq, time: in.Time, weight: in.Weight,
		kind: e.Kind, txKind: in.Kind, confirmed: in.Confirmed, conflicting: in.Conflicting,
	}:
	default:
		if sub.dropped.CompareAndSwap(false, true) {
			close(sub.lagged)
		}
	}
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	filter, err := parseEventFilter(r.URL.Query())
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	select {
	case <-s.closing:
		writeError(w, newError(codeClosed, "api: the node is shutting down"))
		return
	default:
	}
	if s.streams.Add(1) > int64(s.cfg.MaxStreams) {
		s.streams.Add(-1)
		writeError(w, newError(codeOverloaded, fmt.Sprintf("api: %d event streams open, the most this node serves", s.cfg.MaxStreams)))
		return
	}
	defer s.streams.Add(-1)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Proxies such as nginx buffer responses unless told not to.
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}

	sub := &subscriber{filter: filter, ch: make(chan streamEvent, s.cfg.EventBuffer), lagged: make(chan struct{})}
	// Subscribed before the headers go out: a client that has the
	// response may rely on seeing every later event.
	unsubscribe := s.ledger.Subscribe(sub.deliver)
	defer unsubscribe()

	rc := http.NewResponseController(w)
	// Lifts the server's WriteTimeout, which would cut every stream; each
	// write below sets its own deadline. Unsupported writers (tests' own
	// ResponseWriters) have no deadline to lift.
	_ = rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send([]byte(": stream open\n\n")) {
		return
	}

	keepAlive := time.NewTicker(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	buf := make([]byte, 0, 4096)
	for {
		// Lagged wins over queued events: the client has to resync anyway,
		// and telling it sooner wastes less of its time.
		select {
		case <-sub.lagged:
			send(s.laggedEvent())
			return
		default:
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-sub.lagged:
		case ev := <-sub.ch:
			buf = appendEvent(buf[:0], &ev)
		coalesce:
			for len(buf) < maxCoalesced {
				select {
				case ev := <-sub.ch:
					buf = appendEvent(buf, &ev)
				default:
					break coalesce
				}
			}
			if !send(buf) {
				return
			}
		case <-keepAlive.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}

func appendEvent(buf []byte, ev *streamEvent) []byte {
	data, err := json.Marshal(ev.body())
	if err != nil {
		// Only an unknown kind fails to marshal, and the ledger attaches
		// none.
		return buf
	}
	buf = append(buf, "event: "...)
	buf = append(buf, ev.kind.String()...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	return append(buf, '\n', '\n')
}

func (s *Server) laggedEvent() []byte {
	data, _ := json.Marshal(errorBody{
		Code:    "lagged",
		Message: fmt.Sprintf("api: the stream fell more than %d events behind and is closed; reconnect and resync", s.cfg.EventBuffer),
	})
	return append(append([]byte("event: lagged\ndata: "), data...), '\n', '\n')
}
