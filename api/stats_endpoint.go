package api

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

const (
	// latencySamples is how many of the latest confirmations the latency
	// quantiles of GET /v1/stats cover: at 2,000 tx/s about half a
	// second, on a quiet node the last few minutes.
	latencySamples = 1024
	// latencyWindow is how many of the latest attached transactions keep
	// their attach time, in a ring indexed by arrival number: one that
	// confirms more than this many arrivals later (at 2,000 tx/s, half a
	// minute) is not measured, and memory stays fixed (1 MiB) whatever
	// never confirms.
	latencyWindow = 1 << 16
)

// latencyTracker measures confirmation latency on this node: from a
// transaction's attached event to its confirmed event. It is fed on the
// ledger's committing goroutine, so each call is a few stores under a
// short lock.
type latencyTracker struct {
	now func() time.Time

	mu struct {
		sync.Mutex
		// attached holds attach times (unix ns) by arrival number modulo
		// latencyWindow; a slot whose arrival differs was overwritten.
		attached [latencyWindow]struct {
			arrival uint64
			at      int64
		}
		// ring holds the latest latencies in ns, next the slot to write.
		ring  [latencySamples]int64
		next  int
		count uint64
	}
}

func newLatencyTracker(now func() time.Time) *latencyTracker {
	return &latencyTracker{now: now}
}

func (t *latencyTracker) observe(e dag.Event) {
	arrival := e.Info.Arrival
	if arrival == 0 || (e.Kind != dag.EventAttached && e.Kind != dag.EventConfirmed) {
		return
	}
	at := t.now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	slot := &t.mu.attached[arrival%latencyWindow]
	if e.Kind == dag.EventAttached {
		if e.Info.Confirmed {
			// Confirmed by the time it was durable (a batch that holds the
			// beacon too): no latency this node can see.
			return
		}
		slot.arrival, slot.at = arrival, at
		return
	}
	if slot.arrival != arrival {
		// Attached before this node started, or too long ago.
		return
	}
	slot.arrival = 0
	t.mu.ring[t.mu.next] = max(at-slot.at, 0)
	t.mu.next = (t.mu.next + 1) % latencySamples
	t.mu.count++
}

// latencyBody is the contract's ConfirmationLatency: quantiles in
// milliseconds over the latest samples.
type latencyBody struct {
	// Samples is how many confirmations the quantiles cover (at most
	// latencySamples); Total counts every one measured since start.
	Samples int     `json:"samples"`
	Total   uint64  `json:"total"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

func (t *latencyTracker) quantiles() latencyBody {
	t.mu.Lock()
	n := int(min(t.mu.count, latencySamples))
	samples := slices.Clone(t.mu.ring[:n])
	total := t.mu.count
	t.mu.Unlock()
	body := latencyBody{Samples: n, Total: total}
	if n == 0 {
		return body
	}
	slices.Sort(samples)
	ms := func(q float64) float64 {
		// Nearest rank: the smallest sample with at least q of them at or
		// below it.
		i := int(q*float64(n)+0.999999) - 1
		return float64(samples[min(max(i, 0), n-1)]) / 1e6
	}
	body.P50, body.P90, body.P99 = ms(0.50), ms(0.90), ms(0.99)
	body.Max = float64(samples[n-1]) / 1e6
	return body
}

// statsBody is the contract's Stats: what the dashboard's charts need in
// one read. Rates are left to the reader (differences between two reads).
type statsBody struct {
	Time          string            `json:"time"`
	UptimeSeconds float64           `json:"uptime_s"`
	Transactions  uint64            `json:"transactions"`
	Confirmed     int               `json:"confirmed"`
	Conflicting   int               `json:"conflicting"`
	Parked        int               `json:"parked"`
	Tips          int               `json:"tips"`
	Issuers       int               `json:"issuers"`
	Peers         peerCounts        `json:"peers"`
	Rejections    map[string]uint64 `json:"rejections"`
	Latency       latencyBody       `json:"confirmation_latency"`
	EventStreams  int64             `json:"event_streams"`
}

type peerCounts struct {
	Connected int `json:"connected"`
	Known     int `json:"known"`
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	st := s.ledger.Stats()
	now := time.Now()
	var peers peerCounts
	if pl, ok := s.backend.(PeerLister); ok {
		for _, p := range pl.Peers() {
			peers.Known++
			if p.State == "connected" {
				peers.Connected++
			}
		}
	}
	writeJSON(w, http.StatusOK, statsBody{
		Time:          dag.FormatTime(now.UnixNano()),
		UptimeSeconds: now.Sub(s.started).Seconds(),
		Transactions:  st.Transactions,
		Confirmed:     st.Confirmed,
		Conflicting:   st.Conflicting,
		Parked:        st.Parked,
		Tips:          st.Tips,
		Issuers:       st.Issuers,
		Peers:         peers,
		Rejections:    s.rejectionCounts(),
		Latency:       s.latency.quantiles(),
		EventStreams:  s.streams.Load(),
	})
}

// rejectionCounts is the rejections by code that the metrics code keeps
// (Server.Rejections); never nil, so the JSON is always an object.
func (s *Server) rejectionCounts() map[string]uint64 {
	if r := s.Rejections(); r != nil {
		return r
	}
	return map[string]uint64{}
}
