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

// confirmWatch follows one node's event stream and notes when each data
// transaction was confirmed there.
type confirmWatch struct {
	c          *client.Client
	stream     *client.EventStream // the first; run reconnects as needed
	reconnects atomic.Int64

	mu        sync.Mutex // guards confirmed
	confirmed map[dag.ID]time.Time
}

// newConfirmWatch subscribes before it returns, so that the caller can
// start sending knowing that no confirmation will be missed.
func newConfirmWatch(ctx context.Context, url string) (*confirmWatch, error) {
	// A client of its own: the stream's connection is not shared with
	// the devices' requests.
	c, err := client.New(url, client.Options{})
	if err != nil {
		return nil, err
	}
	s, err := c.Subscribe(ctx, client.EventFilter{})
	if err != nil {
		return nil, fmt.Errorf("bench: subscribing to %s: %w", url, err)
	}
	return &confirmWatch{c: c, stream: s, confirmed: map[dag.ID]time.Time{}}, nil
}

// run reads events until ctx ends. The API has no filter by event kind,
// so attached events are read and dropped too. A stream that fell behind
// is closed by the node ("lagged"); run reconnects at once and the
// confirmations it missed are looked up at the end (lookupUnobserved).
func (w *confirmWatch) run(ctx context.Context) {
	s := w.stream
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
			if s, err = w.c.Subscribe(ctx, client.EventFilter{}); err == nil {
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
