package network

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// requester asks peers for transactions that parked transactions wait for.
// Each ID is asked first of the peer that delivered the child (it attached
// the child, so it has the parent), then of the other peers in turn, with
// exponential backoff per ID.
type requester struct {
	n  *Network
	mu sync.Mutex
	m  map[dag.ID]*wanted
}

type wanted struct {
	next  time.Time
	tries int
	hint  *peer
}

const (
	// maxWanted bounds the IDs being chased; the ledger's own list of
	// missing parents brings back any that did not fit.
	maxWanted = 100_000
	// maxTries drops an ID after this many requests; if it is still
	// missing, the periodic scan of the ledger adds it again.
	maxTries = 30
	// maxRequestBackoff caps the wait between requests for one ID.
	maxRequestBackoff = 5 * time.Second
	// scanEvery is how many ticks pass between scans of the ledger's
	// missing list, which catches what no result reported (a restart).
	scanEvery = 20
)

func newRequester(n *Network) *requester {
	return &requester{n: n, m: map[dag.ID]*wanted{}}
}

// add starts chasing ids, asking hint first (nil for no preference).
func (r *requester) add(ids []dag.ID, hint *peer) {
	if len(ids) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if len(r.m) >= maxWanted {
			return
		}
		if _, ok := r.m[id]; !ok {
			r.m[id] = &wanted{hint: hint}
		}
	}
}

// pending returns how many IDs are being chased.
func (r *requester) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

func (r *requester) run(ctx context.Context) {
	t := time.NewTicker(r.n.cfg.RequestInterval)
	defer t.Stop()
	var missing []dag.ID
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if tick%scanEvery == 0 {
			missing = r.n.ledger.Missing(missing[:0])
			r.add(missing, nil)
		}
		r.send(r.n.cfg.Now())
	}
}

// send requests every due ID, grouped by the peer asked.
func (r *requester) send(now time.Time) {
	r.n.mu.Lock()
	sessions := append([]*session(nil), r.n.sessions...)
	r.n.mu.Unlock()
	if len(sessions) == 0 {
		return
	}
	groups := map[*session][]dag.ID{}
	r.mu.Lock()
	for id, w := range r.m {
		if now.Before(w.next) {
			continue
		}
		if r.n.ledger.Known(id) || w.tries >= maxTries {
			delete(r.m, id)
			continue
		}
		var target *session
		if w.tries == 0 && w.hint != nil {
			r.n.mu.Lock()
			target = w.hint.session
			r.n.mu.Unlock()
		}
		if target == nil {
			target = sessions[(int(idKey(id)%uint64(len(sessions)))+w.tries)%len(sessions)]
		}
		groups[target] = append(groups[target], id)
		backoff := min(r.n.cfg.RequestInterval<<min(w.tries, 16), maxRequestBackoff)
		w.next = now.Add(backoff + rand.N(backoff/4+1))
		w.tries++
	}
	r.mu.Unlock()
	for s, ids := range groups {
		s.request(ids)
	}
}
