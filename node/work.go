package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/pow"
)

// Bounds of the work a node does on devices' behalf (POST
// /v1/transactions?work=node). One solver goroutine caps the CPU at one
// core whatever the load; the queue is short because a waiting request
// holds a connection, and a device told to come back (429) loses nothing.
const (
	workQueue = 8
	// workRetry is the Retry-After of a full queue: a queued solve of the
	// base bits takes milliseconds.
	workRetry = time.Second
	// maxWorkBuckets bounds the per-device allowance buckets; only
	// registered devices with an allowance get one.
	maxWorkBuckets = 1 << 16
)

// worker solves the proof-of-work of signed transactions for registered
// devices, within their policies' node-work allowance. Its Run is started
// by Node.Run and owns the solver goroutine.
type worker struct {
	n    *Node
	jobs chan *workJob
	// stopped is closed when Run returns: requests still waiting give up.
	stopped chan struct{}

	mu struct {
		sync.Mutex
		// buckets holds each device's allowance, by device ID.
		buckets map[dag.ID]*workBucket
	}

	solved, refused, limited atomic.Uint64
	solveNanos               atomic.Int64
}

type workBucket struct {
	lim  *rate.Limiter
	last time.Time
}

type workJob struct {
	ctx   context.Context
	id    dag.ID
	bits  int
	nonce uint64
	err   error
	done  chan struct{}
}

func newWorker(n *Node) *worker {
	w := &worker{n: n, jobs: make(chan *workJob, workQueue), stopped: make(chan struct{})}
	w.mu.buckets = make(map[dag.ID]*workBucket)
	return w
}

// Run solves queued jobs one at a time until ctx ends.
func (w *worker) Run(ctx context.Context) {
	defer close(w.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-w.jobs:
			w.solve(ctx, j)
		}
	}
}

func (w *worker) solve(ctx context.Context, j *workJob) {
	defer close(j.done)
	if j.err = j.ctx.Err(); j.err != nil {
		return // the client went away while queued: nothing spent
	}
	// Either the node stopping or the client leaving cancels the solve.
	jctx, cancel := context.WithCancel(j.ctx)
	stop := context.AfterFunc(ctx, cancel)
	defer func() { stop(); cancel() }()
	start := time.Now()
	j.nonce, j.err = pow.Solve(jctx, j.id, j.bits, 1)
	w.solveNanos.Add(int64(time.Since(start)))
}

// refuse counts and builds a node_work_refused.
func (w *worker) refuse(format string, args ...any) error {
	w.refused.Add(1)
	return &api.WorkError{Code: api.CodeNodeWorkRefused, Message: "node: " + fmt.Sprintf(format, args...)}
}

func (w *worker) limit(wait time.Duration, format string, args ...any) error {
	w.limited.Add(1)
	return &api.WorkError{Code: "rate_limited", Message: "node: " + fmt.Sprintf(format, args...), RetryAfter: wait}
}

// WorkFor implements api.Worker. The checks run cheapest first, and
// nothing is charged or spent before the signature verified: junk naming
// a device's key costs the device nothing. The node pays only the base
// and payload bits: a transaction whose issuer is over its free rate
// needs the exponential part, which is the flooder's own cost.
func (w *worker) WorkFor(ctx context.Context, tx *dag.Transaction) error {
	n := w.n
	if n.registry == nil {
		return w.refuse("this network has no devices; the node does work only for registered devices")
	}
	allowance, ok := n.registry.NodeWork(tx.Issuer)
	if !ok || allowance.Count <= 0 {
		return w.refuse("issuer %s is not a registered device whose policies grant a node-work allowance", tx.Issuer)
	}
	id := tx.ID()
	if stored, err := n.ledger.Transaction(id); err == nil {
		// A duplicate: the node solved it already (or someone did), and
		// the work is checked before the duplicate is answered.
		tx.Nonce = stored.Nonce
		return nil
	}
	if !dag.VerifySignature(tx) {
		w.refused.Add(1)
		return fmt.Errorf("%w: node work: the signature does not verify, so nothing was solved", dag.ErrSignature)
	}
	recent, err := w.recent(tx)
	if err != nil {
		return err
	}
	bits := n.ledger.RequiredFor(tx.Issuer, tx.Kind, len(tx.Payload), recent)
	if base := n.ledger.Required(tx.Kind, len(tx.Payload), 0); bits > base {
		return w.refuse("the transaction needs %d bits, %d of them for its issuer's rate (%d transactions within its window); the node pays only the base and payload bits (%d)",
			bits, bits-base, recent, base)
	}
	if pow.Verify(id, tx.Nonce, bits) {
		return nil // already solved: nothing to spend
	}
	d, ok := n.registry.DeviceByKey(tx.Issuer)
	if !ok {
		return w.refuse("issuer %s is not a registered device", tx.Issuer)
	}
	now := n.cfg.Now()
	res := w.reserve(d.ID, allowance.Count, allowance.Window, now)
	if wait := res.DelayFrom(now); !res.OK() || wait > 0 {
		res.CancelAt(now)
		return w.limit(max(wait, time.Second), "device %s spent its node-work allowance (%d per %v)", d.ID, allowance.Count, allowance.Window)
	}
	j := &workJob{ctx: ctx, id: id, bits: bits, done: make(chan struct{})}
	select {
	case w.jobs <- j:
	default:
		res.CancelAt(now) // not the device's fault: its allowance stays
		return w.limit(workRetry, "the node's solver is busy (%d transactions queued)", workQueue)
	}
	select {
	case <-j.done:
	case <-w.stopped:
		return fmt.Errorf("%w: the node stopped before solving", dag.ErrClosed)
	}
	if j.err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: the node stopped before solving", dag.ErrClosed)
	}
	tx.Nonce = j.nonce
	w.solved.Add(1)
	return nil
}

// recent is the issuer's chain transactions within its rate window before
// tx, as the ledger will count them at attach, when tx extends the chain
// head this node knows. For any other predecessor the rate part cannot be
// told here, so the node does not gamble its CPU on it.
func (w *worker) recent(tx *dag.Transaction) (int, error) {
	if tx.Seq == 0 {
		return 0, nil
	}
	// The ledger counts predecessors issued strictly after tx.Time minus
	// the window; IssuerState counts those after at+1 minus it.
	st, known := w.n.ledger.IssuerState(tx.Issuer, tx.Time-1)
	if !known || st.Prev != tx.Prev {
		return 0, w.refuse("the transaction extends %s, not its issuer's chain head on this node; post its predecessors first", tx.Prev)
	}
	return st.Recent, nil
}

// reserve takes one token of the device's allowance bucket (count per
// window, burst count). A bucket whose allowance changed (a new policy)
// keeps its tokens and refills at the new rate.
func (w *worker) reserve(device dag.ID, count int, window time.Duration, now time.Time) *rate.Reservation {
	limit := rate.Limit(float64(count) / window.Seconds())
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.mu.buckets[device]
	if b == nil {
		if len(w.mu.buckets) >= maxWorkBuckets {
			w.sweep(now)
		}
		b = &workBucket{lim: rate.NewLimiter(limit, count)}
		w.mu.buckets[device] = b
	} else if b.lim.Limit() != limit || b.lim.Burst() != count {
		b.lim.SetLimitAt(now, limit)
		b.lim.SetBurstAt(now, count)
	}
	b.last = now
	return b.lim.ReserveN(now, 1)
}

// sweep drops full buckets (indistinguishable from new ones), then, if
// the map is still full, arbitrary ones: they restart full, so the bound
// turns soft only for more devices than maxWorkBuckets. Called with w.mu
// held.
func (w *worker) sweep(now time.Time) {
	for id, b := range w.mu.buckets {
		if b.lim.TokensAt(now) >= float64(b.lim.Burst()) {
			delete(w.mu.buckets, id)
		}
	}
	for id := range w.mu.buckets {
		if len(w.mu.buckets) < maxWorkBuckets*7/8 {
			break
		}
		delete(w.mu.buckets, id)
	}
}

// WorkStats implements api.Worker.
func (w *worker) WorkStats() api.WorkStats {
	return api.WorkStats{
		Solved: w.solved.Load(), Refused: w.refused.Load(), Limited: w.limited.Load(),
		SolveTime: time.Duration(w.solveNanos.Load()),
	}
}
