package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
)

// confirmWatch follows one node's event streams and notes when each data
// transaction was confirmed there.
type confirmWatch struct {
	c          *client.Client
	streams    []watchedStream
	reconnects atomic.Int64

	mu        sync.Mutex // guards confirmed
	confirmed map[dag.ID]time.Time
}

type watchedStream struct {
	filter client.EventFilter
	first  *client.EventStream // run reconnects as needed
}

// maxStreamsPerNode stays below the API's default limit of concurrent
// event streams (256), leaving room for other readers.
const maxStreamsPerNode = 200

// newConfirmWatch subscribes before it returns, so that the caller can
// start sending knowing that no confirmation will be missed. With up to
// maxStreamsPerNode issuers it opens one stream per issuer, filtered by
// the node: each stream then carries only its device's few events a
// second, as a device's own WaitConfirmed would, and neither the node's
// per-stream buffer nor this process's reader falls behind at thousands
// of transactions a second (one unfiltered stream lagged and was cut at
// 2,000 tx/s on 2 cores). With more issuers, one unfiltered stream.
func newConfirmWatch(ctx context.Context, url string, issuers []dag.PublicKey) (*confirmWatch, error) {
	// A client of its own: the streams' connections are not shared with
	// the devices' requests.
	c, err := client.New(url, client.Options{})
	if err != nil {
		return nil, err
	}
	w := &confirmWatch{c: c, confirmed: map[dag.ID]time.Time{}}
	filters := []client.EventFilter{{}}
	if len(issuers) > 0 && len(issuers) <= maxStreamsPerNode {
		filters = filters[:0]
		for i := range issuers {
			filters = append(filters, client.EventFilter{Issuer: &issuers[i]})
		}
	}
	for _, f := range filters {
		s, err := c.Subscribe(ctx, f)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("bench: subscribing to %s: %w", url, err)
		}
		w.streams = append(w.streams, watchedStream{filter: f, first: s})
	}
	return w, nil
}

func (w *confirmWatch) close() {
	for _, s := range w.streams {
		s.first.Close()
	}
}

// run reads every stream until ctx ends.
func (w *confirmWatch) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range w.streams {
		wg.Add(1)
		go func() { defer wg.Done(); w.follow(ctx, s) }()
	}
	wg.Wait()
}

// follow reads one stream. The API has no filter by event kind, so
// attached events are read and dropped too. A stream that fell behind is
// closed by the node ("lagged"); follow reconnects at once and the
// confirmations it missed are looked up at the end (lookupUnobserved).
func (w *confirmWatch) follow(ctx context.Context, ws watchedStream) {
	s := ws.first
	for {
		for {
			ev, err := s.Next()
			if err != nil {
				break
			}
			if ev.Kind == client.EventConfirmed && ev.TxKind != "beacon" {
				now := time.Now()
				w.mu.Lock()
				if _, seen := w.confirmed[ev.ID]; !seen {
					w.confirmed[ev.ID] = now
				}
				w.mu.Unlock()
			}
		}
		s.Close()
		for {
			if ctx.Err() != nil {
				return
			}
			var err error
			if s, err = w.c.Subscribe(ctx, ws.filter); err == nil {
				w.reconnects.Add(1)
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (w *confirmWatch) confirmedAt(id dag.ID) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.confirmed[id]
	return t, ok
}

func (w *confirmWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.confirmed)
}

// responseCounts counts the nodes' error answers by code, including the
// ones that Device.Send retries on its own (429 overloaded, rate limits):
// a send's final outcome alone would hide the back-pressure.
type responseCounts struct {
	mu     sync.Mutex // guards byCode
	byCode map[string]int
	base   http.RoundTripper
}

func newResponseCounts() *responseCounts {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every device of a node keeps a connection of its own, as in the
	// client's default transport.
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	return &responseCounts{byCode: map[string]int{}, base: tr}
}

func (rc *responseCounts) httpClient() *http.Client { return &http.Client{Transport: rc} }

// maxErrorPeek bounds what is read of an error body to learn its code.
const maxErrorPeek = 4 << 10

func (rc *responseCounts) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rc.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorPeek))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var j struct {
		Code string `json:"code"`
	}
	code := fmt.Sprintf("http_%d", resp.StatusCode)
	if json.Unmarshal(body, &j) == nil && j.Code != "" {
		code = j.Code
	}
	rc.mu.Lock()
	rc.byCode[code]++
	rc.mu.Unlock()
	return resp, nil
}

func (rc *responseCounts) snapshot() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.byCode))
	for k, v := range rc.byCode {
		out[k] = v
	}
	return out
}
