package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
)

// sseEvent is one dispatched server-sent event, or a comment (name ":").
type sseEvent struct {
	name, data string
}

// stream is a client of /v1/events.
type stream struct {
	t      testing.TB
	cancel context.CancelFunc
	events chan sseEvent
	done   chan struct{}
}

func (h *harness) stream(query string) *stream {
	h.t.Helper()
	return openStream(h.t, h.client, h.srv.URL+"/v1/events"+query)
}

func openStream(t testing.TB, client *http.Client, url string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: t, cancel: cancel, events: make(chan sseEvent, 4096), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{name: ":", data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			default:
				t.Errorf("unexpected stream line %q", line)
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

// next returns the next event, skipping comments.
func (s *stream) next() sseEvent {
	s.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("stream ended")
			}
			if ev.name != ":" {
				return ev
			}
		case <-timeout:
			s.t.Fatal("no event within 5 s")
		}
	}
}

func (s *stream) close() {
	s.cancel()
	<-s.done
}

// eventJSON is the contract's Event as a client decodes it.
type eventJSON struct {
	Kind           string `json:"kind"`
	ID             string `json:"id"`
	Issuer         string `json:"issuer"`
	Seq            uint64 `json:"seq"`
	TxKind         string `json:"tx_kind"`
	Time           string `json:"time"`
	Confirmed      bool   `json:"confirmed"`
	Conflicting    bool   `json:"conflicting"`
	ApprovalWeight uint64 `json:"approval_weight"`
	Trunk          string `json:"trunk"`
	Branch         string `json:"branch"`
}

func (s *stream) nextEvent() eventJSON {
	s.t.Helper()
	ev := s.next()
	var e eventJSON
	dec := json.NewDecoder(strings.NewReader(ev.data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		s.t.Fatalf("event %q data %q: %v", ev.name, ev.data, err)
	}
	if e.Kind != ev.name {
		s.t.Fatalf("event %q carries kind %q", ev.name, e.Kind)
	}
	return e
}

func eventOf(kind string, tx *dag.Transaction, confirmed, conflicting bool, weight uint64) eventJSON {
	return eventJSON{
		Kind: kind, ID: tx.ID().String(), Issuer: tx.Issuer.String(), Seq: tx.Seq, TxKind: tx.Kind.String(),
		Time: tx.IssuedAt().Format(time.RFC3339Nano), Confirmed: confirmed, Conflicting: conflicting, ApprovalWeight: weight,
		Trunk: tx.Trunk.String(), Branch: tx.Branch.String(),
	}
}

func TestEventsAttachedConfirmedConflicting(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	s := h.stream("")
	dev := dagtest.NewIssuer("dev", testRules)
	clone := dagtest.NewIssuer("dev", testRules)
	a := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("21.5C"))
	h.mustAttach(a)
	if diff := cmp.Diff(eventOf("attached", a, false, false, 0), s.nextEvent()); diff != "" {
		t.Fatalf("attached (-want +got):\n%s", diff)
	}

	beacon := h.validator(0).Issue(dag.KindBeacon, a.ID(), a.ID(), at(2*time.Second), nil)
	h.mustAttach(beacon)
	for _, want := range []eventJSON{
		eventOf("attached", beacon, false, false, 0),
		eventOf("confirmed", a, true, false, 1),
	} {
		if diff := cmp.Diff(want, s.nextEvent()); diff != "" {
			t.Fatalf("after the beacon (-want +got):\n%s", diff)
		}
	}

	twin := clone.Issue(dag.KindData, root, root, at(time.Second), []byte("cloned"))
	h.postBinary(twin)
	for _, want := range []eventJSON{
		eventOf("attached", twin, false, true, 0),
		eventOf("conflicting", twin, false, true, 0),
		eventOf("conflicting", a, true, true, 1),
	} {
		if diff := cmp.Diff(want, s.nextEvent()); diff != "" {
			t.Fatalf("after the twin (-want +got):\n%s", diff)
		}
	}
}

func TestEventsFilters(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	root := h.ledger.Root()
	dev := dagtest.NewIssuer("dev", testRules)
	a := dev.Issue(dag.KindData, root, root, at(time.Second), nil)
	other := dagtest.NewIssuer("other", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
	beacon := h.validator(0).Issue(dag.KindBeacon, a.ID(), other.ID(), at(2*time.Second), nil)

	byID := h.stream("?id=" + a.ID().String() + "&id=" + strings.Repeat("0f", 32))
	byIssuer := h.stream("?issuer=" + beacon.Issuer.String())
	h.mustAttach(other, a, beacon)

	for _, want := range []eventJSON{
		eventOf("attached", a, false, false, 0),
		eventOf("confirmed", a, true, false, 1),
	} {
		if diff := cmp.Diff(want, byID.nextEvent()); diff != "" {
			t.Fatalf("id filter (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff(eventOf("attached", beacon, false, false, 0), byIssuer.nextEvent()); diff != "" {
		t.Fatalf("issuer filter (-want +got):\n%s", diff)
	}

	for _, q := range []string{"?issuer=xyz", "?id=123", "?id=" + strings.Repeat("&id=00", maxEventIDs+1)} {
		wantError(t, h.get("/v1/events"+q), 400, "malformed")
	}
}

// blockingWriter is a ResponseWriter whose writes after the first block
// until gate is closed: a client that stops reading, without depending on
// socket buffer sizes.
type blockingWriter struct {
	header  http.Header
	gate    chan struct{}
	flushed chan struct{}
	once    sync.Once

	mu     sync.Mutex
	writes int
	out    bytes.Buffer
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	first := w.writes == 0
	w.writes++
	w.mu.Unlock()
	if !first {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

func (w *blockingWriter) Flush() { w.once.Do(func() { close(w.flushed) }) }

func TestEventsLagged(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{EventBuffer: 2}})
	w := &blockingWriter{header: http.Header{}, gate: make(chan struct{}), flushed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		h.api.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/events", nil))
	}()
	<-w.flushed

	// One event is being written, at most two are buffered: twenty
	// overflow the buffer.
	gen := dagtest.NewGenerator(h.net, dagtest.GeneratorConfig{Seed: 1, BeaconEvery: -1})
	r := h.post("/v1/transactions/batch", mediaBinary, binaryBatch(dagtest.Encode(gen.Take(20))...))
	if r.status != http.StatusOK {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	close(w.gate)
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("a lagged stream was not closed")
	}
	out := w.out.String()
	if !strings.HasSuffix(out, "\n\n") || !strings.Contains(out, "event: lagged\ndata: {\"code\":\"lagged\"") {
		t.Fatalf("stream did not end with a lagged event:\n%s", out)
	}
	if strings.Count(out, "event: attached") >= 20 {
		t.Fatalf("every event arrived; the stream never lagged:\n%s", out)
	}
	if n := h.api.streams.Load(); n != 0 {
		t.Fatalf("%d streams still counted", n)
	}
}

func TestEventsEndOnDisconnect(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	var streams []*stream
	for range 5 {
		streams = append(streams, h.stream(""))
	}
	poll.Until(t, poll.DefaultWithin, "five streams", func() bool { return h.api.streams.Load() == 5 })
	for _, s := range streams {
		s.close()
	}
	poll.Until(t, poll.DefaultWithin, "streams to end", func() bool { return h.api.streams.Load() == 0 })
	h.client.CloseIdleConnections()
	// No handler, server connection or client connection may be left:
	// the pipeline's and the listener's goroutines are all that remain.
	leaks := []string{"(*Server).events", "net/http.(*conn).serve", "net/http.(*persistConn)"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		dump := string(buf[:runtime.Stack(buf, true)])
		leaked := ""
		for _, l := range leaks {
			if strings.Contains(dump, l) {
				leaked = l
			}
		}
		if leaked == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still running after every stream closed:\n%s", leaked, dump)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The ledger does not call dead subscribers: posting still works.
	root := h.ledger.Root()
	h.mustAttach(dagtest.NewIssuer("after", testRules).Issue(dag.KindData, root, root, at(time.Second), nil))
}

func TestEventsMaxStreams(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{MaxStreams: 2}})
	a, b := h.stream(""), h.stream("")
	wantError(t, h.get("/v1/events"), 429, "overloaded")
	a.close()
	poll.Until(t, poll.DefaultWithin, "a stream to end", func() bool { return h.api.streams.Load() == 1 })
	c := h.stream("")
	b.close()
	c.close()
}

// TestEventsOutliveWriteTimeout runs the API in an http.Server with the
// timeouts a node sets: a stream keeps going past WriteTimeout, sends
// keep-alives and still delivers events.
func TestEventsOutliveWriteTimeout(t *testing.T) {
	h := newHarness(t, harnessConfig{api: Config{KeepAlive: 40 * time.Millisecond}})
	srv := httptest.NewUnstartedServer(h.api)
	srv.Config.ReadHeaderTimeout = time.Second
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()
	defer h.api.CloseStreams()

	s := openStream(t, srv.Client(), srv.URL+"/v1/events")
	deadline := time.Now().Add(500 * time.Millisecond)
	keepAlives := 0
	for time.Now().Before(deadline) {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("stream ended at the server's WriteTimeout")
			}
			if ev.name == ":" && ev.data == "keep-alive" {
				keepAlives++
			}
		case <-time.After(time.Second):
			t.Fatal("no keep-alive")
		}
	}
	if keepAlives < 3 {
		t.Fatalf("%d keep-alives in 500 ms at a 40 ms interval", keepAlives)
	}
	root := h.ledger.Root()
	tx := dagtest.NewIssuer("late", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
	h.mustAttach(tx)
	if diff := cmp.Diff(eventOf("attached", tx, false, false, 0), s.nextEvent()); diff != "" {
		t.Fatalf("event after WriteTimeout (-want +got):\n%s", diff)
	}
}

func TestEventsCloseStreams(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	s := h.stream("")
	h.api.CloseStreams()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("CloseStreams left a stream open")
	}
	wantError(t, h.get("/v1/events"), 503, "closed")
}

// TestConcurrentClients posts from many clients in every encoding while
// others read statuses and streams, for the race detector; every stream
// must see every transaction.
func TestConcurrentClients(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	const posters, perPoster = 8, 25
	var streams []*stream
	for range 4 {
		streams = append(streams, h.stream(""))
	}
	filtered := h.stream("?issuer=" + dagtest.PublicKey(dagtest.Key("poster-0")).String())

	// The posting goroutines must not call t.Fatal; they report errors.
	tipsOf := func() (tipsBody, error) {
		var tips tipsBody
		r, err := h.try(http.MethodGet, "/v1/tips", "", nil)
		if err == nil {
			err = json.Unmarshal(r.body, &tips)
		}
		return tips, err
	}
	post := func(tx *dag.Transaction, mode int) error {
		var r response
		var err error
		switch mode {
		case 0:
			r, err = h.try(http.MethodPost, "/v1/transactions", mediaBinary, bytes.NewReader(tx.Bytes()))
		case 1:
			data, _ := json.Marshal(tx)
			r, err = h.try(http.MethodPost, "/v1/transactions", mediaJSON, bytes.NewReader(data))
		default:
			data, _ := json.Marshal(map[string][]*dag.Transaction{"transactions": {tx}})
			r, err = h.try(http.MethodPost, "/v1/transactions/batch", mediaJSON, bytes.NewReader(data))
			if err == nil {
				var b batchBody
				if err = json.Unmarshal(r.body, &b); err == nil && (len(b.Results) != 1 || b.Results[0].Status != "attached") {
					err = fmt.Errorf("batch: %s", r.body)
				}
				r.status = http.StatusAccepted
			}
		}
		if err == nil && r.status != http.StatusAccepted {
			err = fmt.Errorf("post %s: %d %s", tx.ID().Short(), r.status, r.body)
		}
		return err
	}

	var wg sync.WaitGroup
	ids := make([][]dag.ID, posters)
	errs := make(chan error, posters+1)
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := dagtest.NewIssuer(fmt.Sprintf("poster-%d", p), testRules)
			for i := range perPoster {
				tips, err := tipsOf()
				if err != nil {
					errs <- err
					return
				}
				tx := dev.Issue(dag.KindData, tips.Trunk, tips.Branch, at(time.Duration(i+1)*time.Second), []byte{byte(p), byte(i)})
				if err := post(tx, i%3); err != nil {
					errs <- err
					return
				}
				ids[p] = append(ids[p], tx.ID())
				if r, err := h.try(http.MethodGet, "/v1/transactions/"+tx.ID().String(), "", nil); err != nil || r.status != http.StatusOK {
					errs <- fmt.Errorf("status: %v %d %s", err, r.status, r.body)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		v := h.validator(0)
		for i := range 20 {
			tips, err := tipsOf()
			if err != nil {
				errs <- err
				return
			}
			beacon := v.Issue(dag.KindBeacon, tips.Trunk, tips.Branch, at(time.Duration(i+1)*time.Millisecond), nil)
			if err := post(beacon, 0); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	want := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			want[id.String()] = true
		}
	}
	for i, s := range append(streams, filtered) {
		seen := map[string]bool{}
		expect := len(want)
		if s == filtered {
			expect = perPoster
		}
		for len(seen) < expect {
			e := s.nextEvent()
			if e.Kind != "attached" || e.TxKind != "data" {
				continue
			}
			if !want[e.ID] {
				t.Fatalf("stream %d: unknown transaction %s", i, e.ID)
			}
			if s == filtered && e.Issuer != dagtest.PublicKey(dagtest.Key("poster-0")).String() {
				t.Fatalf("filtered stream got issuer %s", e.Issuer)
			}
			seen[e.ID] = true
		}
	}
	if st := h.ledger.Stats(); st.Transactions != posters*perPoster+20 || st.Confirmed == 0 {
		t.Fatalf("stats %+v", st)
	}
}
