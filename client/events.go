package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// EventStream is an open GET /v1/events. Next is for one goroutine; Close
// may be called from any goroutine, also to interrupt a Next.
type EventStream struct {
	parent context.Context
	ctx    context.Context // parent, plus Close, the idle timer and connect timeout
	cancel context.CancelCauseFunc
	body   io.ReadCloser
	sse    *sseReader
	idle   *time.Timer

	idleTimeout time.Duration
	opened      time.Time
	retry       time.Duration // the node's last reconnection hint
	err         error         // sticky: once Next fails it keeps failing
	closeOnce   sync.Once
}

// errClosed is what Next returns after the caller's own Close.
var errClosed = errors.New("client: event stream closed")

// Subscribe opens an event stream and returns once the node has accepted
// it, so events that happen after Subscribe returns are delivered (the
// node registers the subscription before it answers). The stream ends
// when ctx ends, on Close, or when the node ends it; it is idle-checked
// against StreamIdleTimeout.
func (c *Client) Subscribe(ctx context.Context, filter EventFilter) (*EventStream, error) {
	q := url.Values{}
	if filter.Issuer != nil {
		q.Set("issuer", filter.Issuer.String())
	}
	for _, id := range filter.IDs {
		q.Add("id", id.String())
	}
	r := request{method: http.MethodGet, path: "/v1/events", query: q}
	sctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(sctx, r.method, c.url(r.path, r.query), nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", c.opts.UserAgent)

	// Only the connection is bounded by RequestTimeout; the stream itself
	// lives as long as it keeps delivering.
	connect := time.AfterFunc(c.opts.RequestTimeout, func() { cancel(errRequestTimeout) })
	resp, err := c.http.Do(req)
	if !connect.Stop() && err == nil {
		drainClose(resp.Body)
		err = context.Cause(sctx)
	}
	if err != nil {
		cancel(nil)
		return nil, c.transportError(ctx, sctx, r, err)
	}
	if resp.StatusCode != http.StatusOK {
		apiErr := decodeAPIError(resp, c.opts.Now())
		drainClose(resp.Body)
		cancel(nil)
		return nil, apiErr
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		drainClose(resp.Body)
		cancel(nil)
		return nil, fmt.Errorf("client: %s %s: content type %q, want text/event-stream", r.method, r.path, mt)
	}
	s := &EventStream{
		parent: ctx, ctx: sctx, cancel: cancel, body: resp.Body,
		idleTimeout: c.opts.StreamIdleTimeout, opened: time.Now(),
	}
	s.idle = time.AfterFunc(s.idleTimeout, func() { cancel(ErrStreamIdle) })
	s.sse = newSSEReader(idleReader{resp.Body, s})
	return s, nil
}

// idleReader pushes the idle deadline back whenever bytes arrive,
// keep-alive comments included.
type idleReader struct {
	r io.Reader
	s *EventStream
}

func (r idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.s.idle.Reset(r.s.idleTimeout)
	}
	return n, err
}

// Next returns the next attached, confirmed or conflicting event. Event
// types this client does not know are skipped. Errors: ErrLagged when the
// node dropped the stream for falling behind, ErrStreamClosed when the
// node ended it, ErrStreamIdle, the context's error, or a network error;
// IsRetryable tells which are worth a reconnection.
func (s *EventStream) Next() (Event, error) {
	if s.err != nil {
		return Event{}, s.err
	}
	for {
		m, err := s.sse.next()
		if err != nil {
			s.err = s.failure(err)
			s.Close()
			return Event{}, s.err
		}
		if m.Retry > 0 {
			s.retry = m.Retry
		}
		switch kind := EventKind(m.Type); kind {
		case EventAttached, EventConfirmed, EventConflicting:
			var ev Event
			if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
				s.err = fmt.Errorf("client: event stream: decoding %s event: %w", kind, err)
				s.Close()
				return Event{}, s.err
			}
			if ev.Kind == "" {
				ev.Kind = kind
			}
			return ev, nil
		case "lagged":
			s.err = ErrLagged
			s.Close()
			return Event{}, s.err
		}
	}
}

// failure names why reading stopped: the read error itself mostly says
// only "context canceled".
func (s *EventStream) failure(err error) error {
	cause := context.Cause(s.ctx)
	switch {
	case s.parent.Err() != nil:
		return fmt.Errorf("client: event stream: %w", context.Cause(s.parent))
	case errors.Is(cause, errClosed):
		return errClosed
	case errors.Is(cause, ErrStreamIdle):
		return fmt.Errorf("%w: nothing received for %v", ErrStreamIdle, s.idleTimeout)
	case err == io.EOF:
		return ErrStreamClosed
	}
	return fmt.Errorf("client: event stream: %w", err)
}

// Close ends the stream and releases its connection. It is idempotent.
func (s *EventStream) Close() error {
	s.closeOnce.Do(func() {
		s.idle.Stop()
		s.cancel(errClosed)
		_ = s.body.Close()
	})
	return nil
}

// Events streams events until ctx ends, the node ends the stream, or the
// loop stops; an error is the last item. It holds no goroutine: breaking
// out of the loop closes the stream.
//
//	for ev, err := range c.Events(ctx, client.EventFilter{Issuer: &pk}) {
//		if err != nil { ... }
//	}
//
// Events does not reconnect; WaitConfirmed shows how, with Subscribe.
func (c *Client) Events(ctx context.Context, filter EventFilter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		s, err := c.Subscribe(ctx, filter)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer s.Close()
		for {
			ev, err := s.Next()
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// errStatusLags: an event said the transaction is final but the status
// read just after did not (another node behind a load balancer, say).
// Worth another look, after a backoff.
var errStatusLags = errors.New("client: status lags behind the event stream")

// WaitConfirmed waits until the transaction is confirmed or found
// conflicting and returns its status; for a conflicting one it returns the
// status and an error wrapping ErrConflicting, since it will never
// confirm.
//
// It subscribes to the transaction's events first and reads its status
// second, so a confirmation between the two is seen in the status, and one
// after in the stream. A broken stream is reopened, and the status read
// again, after a backoff; nothing is polled. A transaction the node has
// never seen is waited for too (it may be on its way from a peer), so
// bound ctx.
func (c *Client) WaitConfirmed(ctx context.Context, id dag.ID) (*TransactionStatus, error) {
	bo := c.newBackoff()
	var hint time.Duration
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, bo.next(hint)); err != nil {
				return nil, fmt.Errorf("client: waiting for %s: %w", id, err)
			}
		}
		s, err := c.Subscribe(ctx, EventFilter{IDs: []dag.ID{id}})
		if err != nil {
			if ctx.Err() == nil && IsRetryable(err) {
				continue
			}
			return nil, err
		}
		st, err := c.watch(ctx, s, id)
		s.Close()
		if err == nil {
			if st.Status == StateConflicting {
				return st, fmt.Errorf("%w: %s", ErrConflicting, id)
			}
			return st, nil
		}
		if ctx.Err() != nil || !(IsRetryable(err) || errors.Is(err, errStatusLags)) {
			return nil, err
		}
		// A stream that stayed up for a while was healthy: start the
		// next outage's backoff from the bottom again.
		if time.Since(s.opened) > c.opts.MaxBackoff {
			bo.reset()
		}
		hint = s.retry
	}
}

// watch reads the status once the stream is open, then waits on the
// stream for the transaction to become final.
func (c *Client) watch(ctx context.Context, s *EventStream, id dag.ID) (*TransactionStatus, error) {
	st, err := c.Transaction(ctx, id)
	switch {
	case err == nil && st.final():
		return st, nil
	case err != nil && !errors.Is(err, dag.ErrNotFound):
		return nil, err
	}
	for {
		ev, err := s.Next()
		if err != nil {
			return nil, err
		}
		if ev.ID != id {
			continue
		}
		if ev.Confirmed || ev.Conflicting || ev.Kind == EventConfirmed || ev.Kind == EventConflicting {
			st, err := c.Transaction(ctx, id)
			if err != nil {
				return nil, err
			}
			if !st.final() {
				return nil, errStatusLags
			}
			return st, nil
		}
	}
}
