package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
)

// statusHook runs before (or instead of) the node's status answers.
type statusHook struct {
	served atomic.Int64
	// before runs with the count of status requests so far, before the
	// node answers; returning true means it answered itself.
	before func(w http.ResponseWriter, r *http.Request, count int64) bool
}

func (h *statusHook) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/transactions/") {
			count := h.served.Add(1)
			if h.before != nil && h.before(w, r, count) {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func waitAsync(ctx context.Context, c *Client, id dag.ID) <-chan result {
	done := make(chan result, 1)
	go func() {
		st, err := c.WaitConfirmed(ctx, id)
		done <- result{st, err}
	}()
	return done
}

type result struct {
	st  *TransactionStatus
	err error
}

func checkConfirmed(t *testing.T, r result, id dag.ID) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("WaitConfirmed: %v", r.err)
	}
	if r.st.Status != StateConfirmed || r.st.Transaction.ID() != id || r.st.ApprovalWeight != 1 ||
		r.st.ConfirmedIndex == 0 || len(r.st.Approvers) != 1 || r.st.Approvers[0] != "v0" {
		t.Errorf("status = %+v", r.st)
	}
}

func TestWaitConfirmedAlreadyConfirmed(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	c := n.client(t)
	id, err := newDevice(t, c, "early").Send(context.Background(), dag.KindData, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	n.beacon(t, c, id)
	st, err := c.WaitConfirmed(context.Background(), id)
	checkConfirmed(t, result{st, err}, id)
	checkNoLeaks(t, n)
}

// The confirmation arrives after the status was read: only the stream can
// tell.
func TestWaitConfirmedByEvent(t *testing.T) {
	hook := &statusHook{}
	n := newTestNode(t, nodeConfig{rules: testRules, wrap: hook.wrap})
	c := n.client(t)
	id, err := newDevice(t, c, "event").Send(context.Background(), dag.KindData, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	done := waitAsync(context.Background(), c, id)
	poll.Until(t, poll.DefaultWithin, "the status read", func() bool { return hook.served.Load() == 1 })
	n.beacon(t, c, id)
	checkConfirmed(t, <-done, id)
	if got := hook.served.Load(); got != 2 {
		t.Errorf("%d status reads, want 2 (one before, one after the event)", got)
	}
	checkNoLeaks(t, n)
}

// The confirmation lands between subscription and status read, and the
// status read still says pending (as a node whose read lags would): the
// event must not be missed.
func TestWaitConfirmedBetweenSubscribeAndStatus(t *testing.T) {
	var n *testNode
	var c *Client
	hook := &statusHook{before: func(w http.ResponseWriter, r *http.Request, count int64) bool {
		if count > 1 {
			return false
		}
		rec := httptest.NewRecorder()
		n.handler().ServeHTTP(rec, r) // pending, read before the beacon
		id, _ := dag.ParseID(strings.TrimPrefix(r.URL.Path, "/v1/transactions/"))
		n.beacon(t, c, id)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return true
	}}
	n = newTestNode(t, nodeConfig{rules: testRules, wrap: hook.wrap})
	c = n.client(t)
	id, err := newDevice(t, c, "between").Send(context.Background(), dag.KindData, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.WaitConfirmed(ctx, id)
	checkConfirmed(t, result{st, err}, id)
	checkNoLeaks(t, n)
}

// A stream the node drops (here: lagged right away) is reopened and the
// status read again.
func TestWaitConfirmedReconnects(t *testing.T) {
	hook := &statusHook{}
	var streams atomic.Int64
	n := newTestNode(t, nodeConfig{rules: testRules, wrap: func(next http.Handler) http.Handler {
		next = hook.wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/events" && streams.Add(1) == 1 {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprint(w, ": hello\n\nevent: lagged\ndata: {}\n\n")
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	c := n.client(t)
	id, err := newDevice(t, c, "reconnect").Send(context.Background(), dag.KindData, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	done := waitAsync(context.Background(), c, id)
	poll.Until(t, poll.DefaultWithin, "the second status read", func() bool { return hook.served.Load() == 2 })
	n.beacon(t, c, id)
	checkConfirmed(t, <-done, id)
	if got := streams.Load(); got != 2 {
		t.Errorf("%d event streams opened, want 2", got)
	}
	checkNoLeaks(t, n)
}

func TestWaitConfirmedCancel(t *testing.T) {
	hook := &statusHook{}
	n := newTestNode(t, nodeConfig{rules: testRules, wrap: hook.wrap})
	c := n.client(t)
	id, err := newDevice(t, c, "cancel").Send(context.Background(), dag.KindData, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := waitAsync(ctx, c, id)
	poll.Until(t, poll.DefaultWithin, "the status read", func() bool { return hook.served.Load() == 1 })
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) || r.st != nil {
			t.Errorf("WaitConfirmed = %+v, %v; want context.Canceled", r.st, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitConfirmed did not return after cancel")
	}
	checkNoLeaks(t, n)
}

// An ID the node has never seen is waited for, not an error: it may be on
// its way from a peer.
func TestWaitConfirmedUnknownWaits(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := n.client(t).WaitConfirmed(ctx, dag.ID{7}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitConfirmed on an unknown ID = %v, want the deadline", err)
	}
	checkNoLeaks(t, n)
}

func TestEventsIterator(t *testing.T) {
	n := newTestNode(t, nodeConfig{rules: testRules})
	c := n.client(t)
	issuer := dagtest.NewIssuer("events", testRules)
	other := dagtest.NewIssuer("other", testRules)
	pk := dagtest.PublicKey(issuer.Key)
	root := n.ledger.Root()
	now := time.Now().UnixNano()
	txs := []*dag.Transaction{
		other.Issue(dag.KindData, root, root, now, nil), // filtered out
		issuer.Issue(dag.KindData, root, root, now, []byte("a")),
		issuer.Issue(dag.KindData, root, root, now+1, []byte("b")),
	}
	go func() {
		for n.subscribers.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		for _, tx := range txs {
			if _, err := c.Post(context.Background(), tx); err != nil {
				t.Error(err)
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []Event
	for ev, err := range c.Events(ctx, EventFilter{Issuer: &pk}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
		if len(got) == 2 {
			break
		}
	}
	for i, ev := range got {
		tx := txs[i+1]
		if ev.Kind != EventAttached || ev.ID != tx.ID() || ev.Issuer != pk || ev.Seq != uint64(i) ||
			ev.TxKind != "data" || !ev.Time.Equal(tx.IssuedAt()) || ev.Confirmed {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
	// Leaving the loop closed the stream.
	checkNoLeaks(t, n)
}

func TestStreamIdleTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, err := New(srv.URL, Options{StreamIdleTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Subscribe(context.Background(), EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(); !errors.Is(err, ErrStreamIdle) || !IsRetryable(err) {
		t.Errorf("Next on a silent stream = %v, want ErrStreamIdle", err)
	}
	if _, err := s.Next(); !errors.Is(err, ErrStreamIdle) {
		t.Errorf("second Next = %v, want the same error", err)
	}
}

func TestSubscribeErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		check   func(error) bool
	}{
		{"api error", func(w http.ResponseWriter, r *http.Request) { writeError(w, "malformed", "bad id") },
			func(err error) bool { return errors.Is(err, dag.ErrMalformed) }},
		{"not a stream", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{}) },
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "content type") }},
		{"closed by node", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			fmt.Fprint(w, "event: attached\ndata: {\"kind\":\"attached\",\"seq\":3}\n\n")
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c, err := New(srv.URL, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Subscribe(context.Background(), EventFilter{IDs: []dag.ID{{1}, {2}}})
			if tc.check != nil {
				if !tc.check(err) {
					t.Errorf("Subscribe = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if ev, err := s.Next(); err != nil || ev.Seq != 3 || ev.Kind != EventAttached {
				t.Errorf("Next = %+v, %v", ev, err)
			}
			if _, err := s.Next(); !errors.Is(err, ErrStreamClosed) || !IsRetryable(err) {
				t.Errorf("Next at the end = %v, want ErrStreamClosed", err)
			}
		})
	}
}
