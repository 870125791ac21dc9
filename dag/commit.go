package dag

import (
	"fmt"
	"sync"
)

// Pending is the outcome of an AttachVerified call that may not be durable
// yet.
type Pending struct {
	l       *Ledger
	results []Result
	writes  *WriteSet
	events  []change
	done    bool // guarded by l.commit.mu
	err     error
}

// Wait blocks until the batch is durable (or the store failed) and returns
// the per-transaction results. Events of the batch have been delivered to
// subscribers when it returns.
func (p *Pending) Wait() ([]Result, error) {
	if p.l != nil {
		p.l.commit.wait(p)
	}
	return p.results, p.err
}

// committer turns a stream of pending batches into group commits: the
// first waiter to find no commit in progress becomes the leader, takes every
// batch queued so far, writes them in one Store.Commit (one fsync), delivers
// their events in order and wakes their waiters. Batches queued meanwhile
// form the next group. No goroutine of its own, so a ledger needs no Run.
type committer struct {
	l       *Ledger
	mu      sync.Mutex
	cond    sync.Cond
	queue   []*Pending
	leading bool
}

func (c *committer) init(l *Ledger) {
	c.l = l
	c.cond.L = &c.mu
}

// enqueue adds a batch in attach order. Called with l.writeMu held, which
// is what makes queue order equal arrival order.
func (c *committer) enqueue(p *Pending, b *batch) {
	p.writes = &b.writes
	p.events = b.events
	c.mu.Lock()
	c.queue = append(c.queue, p)
	c.mu.Unlock()
}

func (c *committer) wait(p *Pending) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !p.done {
		if c.leading {
			c.cond.Wait()
			continue
		}
		group := c.queue
		c.queue = nil
		c.leading = true
		c.mu.Unlock()
		err := c.flush(group)
		c.mu.Lock()
		for _, q := range group {
			q.done = true
			q.err = err
			q.writes, q.events = nil, nil
		}
		c.leading = false
		c.cond.Broadcast()
	}
}

// flush makes one group durable and then publishes its events.
func (c *committer) flush(group []*Pending) error {
	l := c.l
	if err := l.failure(); err != nil {
		return err
	}
	if l.cfg.Store != nil {
		merged := group[0].writes
		if len(group) > 1 {
			merged = &WriteSet{}
			for _, p := range group {
				merged.merge(p.writes)
			}
		}
		if !merged.Empty() {
			if err := l.cfg.Store.Commit(merged); err != nil {
				// Memory is now ahead of the disk. Refusing every later
				// write keeps the disk a consistent prefix; a restart
				// replays it.
				err = fmt.Errorf("%w: %v", ErrStore, err)
				l.failed.CompareAndSwap(nil, &err)
				return err
			}
			if a := merged.Attached; len(a) > 0 {
				l.durableArrival.Store(a[len(a)-1].Arrival)
			}
		}
	}
	for _, p := range group {
		l.publish(p.events)
	}
	return nil
}

// Subscribe registers fn for every event, delivered in commit order from
// the goroutine that commits. fn must be quick and must not call
// AttachVerified or Wait; a slow consumer should copy the event into its
// own bounded buffer. The returned function unsubscribes.
func (l *Ledger) Subscribe(fn func(Event)) (cancel func()) {
	l.subs.Lock()
	id := l.subs.next
	l.subs.next++
	l.subs.fns[id] = fn
	l.subs.Unlock()
	return func() {
		l.subs.Lock()
		delete(l.subs.fns, id)
		l.subs.Unlock()
	}
}

// change is an event before delivery: the snapshot is taken when it is
// published, so a batch that nobody listens to costs no snapshots.
type change struct {
	kind EventKind
	n    *node
	tx   *Transaction // attached events only
}

// publishChunk bounds how long publish holds the read lock while it takes
// snapshots.
const publishChunk = 256

func (l *Ledger) publish(changes []change) {
	if len(changes) == 0 {
		return
	}
	l.subs.RLock()
	defer l.subs.RUnlock()
	if len(l.subs.fns) == 0 {
		return
	}
	events := make([]Event, 0, min(len(changes), publishChunk))
	for len(changes) > 0 {
		chunk := changes[:min(len(changes), publishChunk)]
		changes = changes[len(chunk):]
		events = events[:0]
		l.mu.RLock()
		for _, c := range chunk {
			events = append(events, Event{Kind: c.kind, Info: l.info(c.n), Tx: c.tx})
		}
		l.mu.RUnlock()
		for _, e := range events {
			for _, fn := range l.subs.fns {
				fn(e)
			}
		}
	}
}
