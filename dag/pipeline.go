package dag

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/pow"
)

// PipelineConfig configures a Pipeline. Zero values mean the defaults.
type PipelineConfig struct {
	// Workers verifying signatures; 0 means GOMAXPROCS.
	Workers int
	// BatchSize is the most signatures one batch verification takes.
	BatchSize int
	// QueueLength bounds transactions waiting for signature verification;
	// submitters block (back-pressure) when it is full.
	QueueLength int
	// AttachBatch is the most transactions one ledger attach takes.
	AttachBatch int
	// KeyCacheBytes bounds the cache of expanded issuer keys.
	KeyCacheBytes int
	// BatchWait is how long a verifier holding a small batch waits for
	// more transactions before verifying; negative means never.
	BatchWait time.Duration
}

const (
	// DefaultBatchSize: batch verification's per-signature cost flattens
	// out between 64 and 256 entries; larger batches only add latency and
	// make a poisoned batch more expensive to re-check.
	DefaultBatchSize = 128
	// DefaultQueueLength is about a tenth of a second at full rate.
	DefaultQueueLength = 8192
	// DefaultAttachBatch bounds how long the ledger lock is held (a
	// millisecond or two) and how large one group commit grows.
	DefaultAttachBatch = 2048
	// DefaultKeyCacheBytes holds about 10,000 issuers' expanded keys.
	DefaultKeyCacheBytes = 16 << 20
	// DefaultBatchWait is small next to a group commit's fsync (several
	// milliseconds), which every acknowledgement waits for anyway.
	DefaultBatchWait = 500 * time.Microsecond
)

func (c PipelineConfig) withDefaults() PipelineConfig {
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.QueueLength == 0 {
		c.QueueLength = DefaultQueueLength
	}
	if c.AttachBatch == 0 {
		c.AttachBatch = DefaultAttachBatch
	}
	if c.KeyCacheBytes == 0 {
		c.KeyCacheBytes = DefaultKeyCacheBytes
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	return c
}

func (c PipelineConfig) validate() error {
	if c.Workers < 0 || c.BatchSize < 0 || c.QueueLength < 0 || c.AttachBatch < 0 || c.KeyCacheBytes < 0 {
		return errors.New("dag: negative pipeline setting")
	}
	return nil
}

// Pipeline is the ingest path for untrusted bytes from many goroutines:
// decode and proof-of-work check in the submitting goroutine (cheap, so
// spam dies before it costs a signature check), then parallel batch
// signature verification, then one attach goroutine feeding the ledger's
// group commit, then acknowledgement once durable. Every queue is bounded.
type Pipeline struct {
	l        *Ledger
	cfg      PipelineConfig
	verifier *Verifier

	verifyQ chan *job
	attachQ chan verified

	// take serialises taking batches off the verify queue, so batch
	// numbers follow queue order.
	take    sync.Mutex
	nextSeq uint64 // guarded by take
	ackQ    chan ack

	// intake lets Run wait for submitters that are mid-send before it
	// drains the queues at shutdown.
	intake  sync.RWMutex
	stop    chan struct{}
	stopped bool // guarded by intake

	counters pipelineCounters // Stats
}

// job is one transaction on its way through the pipeline.
type job struct {
	tx    *Transaction
	out   *Result
	group *sync.WaitGroup
	admit Admit
}

// Admit is a submitter's last word on a transaction whose work and
// signature have verified, before it reaches the ledger: a non-nil error
// rejects it with that error. It lets a caller charge budgets that must
// cost only whoever signed (the API's per-issuer rate limit), so junk that
// names someone else's key never touches them. It runs on the verify
// workers, concurrently, and must not block.
type Admit func(tx *Transaction) error

func (j *job) finish(r Result) {
	*j.out = r
	j.group.Done()
}

// verified is one verify batch's survivors; seq restores queue order.
type verified struct {
	seq  uint64
	jobs []*job
}

type ack struct {
	jobs    []*job
	pending *Pending
}

// NewPipeline builds a pipeline in front of l. Call Run to start it.
func NewPipeline(l *Ledger, cfg PipelineConfig) (*Pipeline, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Pipeline{
		l:        l,
		cfg:      cfg,
		verifier: NewVerifier(cfg.KeyCacheBytes),
		verifyQ:  make(chan *job, cfg.QueueLength),
		attachQ:  make(chan verified, cfg.Workers*2),
		ackQ:     make(chan ack, 4),
		stop:     make(chan struct{}),
	}, nil
}

// Run starts the verify workers, the attacher and the acknowledger and
// returns once ctx is done and all of them have exited. Transactions still
// queued then are answered with ErrClosed; those already attached are
// acknowledged once durable.
func (p *Pipeline) Run(ctx context.Context) error {
	var verifiers, attacher sync.WaitGroup
	for range p.cfg.Workers {
		verifiers.Add(1)
		go func() { defer verifiers.Done(); p.verifyLoop() }()
	}
	attacher.Add(1)
	go func() { defer attacher.Done(); p.attachLoop() }()
	acked := make(chan struct{})
	go func() { defer close(acked); p.ackLoop() }()

	<-ctx.Done()
	p.intake.Lock()
	p.stopped = true
	close(p.stop)
	p.intake.Unlock()
	verifiers.Wait()
	attacher.Wait()
	close(p.ackQ)
	<-acked
	closed := Result{Status: StatusRejected, Err: ErrClosed}
	for {
		select {
		case j := <-p.verifyQ:
			closed.ID = j.tx.ID()
			j.finish(closed)
		case v := <-p.attachQ:
			for _, j := range v.jobs {
				closed.ID = j.tx.ID()
				j.finish(closed)
			}
		default:
			return nil
		}
	}
}

// Submit offers one encoded transaction and waits until it is durable or
// rejected. The error is Result.Err.
func (p *Pipeline) Submit(ctx context.Context, raw []byte) (Result, error) {
	r := p.SubmitMany(ctx, [][]byte{raw})[0]
	return r, r.Err
}

// SubmitMany offers encoded transactions and waits until each is durable
// or rejected; results are in input order. It blocks while the queues are
// full; if ctx ends first, transactions not yet queued are rejected with
// ErrOverloaded (queued ones still complete).
func (p *Pipeline) SubmitMany(ctx context.Context, raws [][]byte) []Result {
	results := make([]Result, len(raws))
	txs := make([]*Transaction, len(raws))
	for i, raw := range raws {
		tx, err := Decode(raw, p.l.genesis.MaxPayload)
		if err != nil {
			results[i] = Result{Status: StatusRejected, Err: err}
			continue
		}
		txs[i] = tx
	}
	p.submit(ctx, txs, results, nil)
	return results
}

// SubmitDecoded is SubmitMany for transactions the caller already decoded
// with Decode (the API does, to rate-limit by issuer), so they are not
// decoded twice. The transactions must not be modified afterwards.
func (p *Pipeline) SubmitDecoded(ctx context.Context, txs []*Transaction) []Result {
	return p.SubmitAdmitted(ctx, txs, nil)
}

// SubmitAdmitted is SubmitDecoded with an admission check (nil means none)
// that runs after signature verification and before attach.
func (p *Pipeline) SubmitAdmitted(ctx context.Context, txs []*Transaction, admit Admit) []Result {
	results := make([]Result, len(txs))
	p.submit(ctx, slices.Clone(txs), results, admit)
	return results
}

// submit runs the checks that need no context, then queues what passes.
// Entries of txs that are nil already have their result; submit sets the
// entries it answers itself to nil.
func (p *Pipeline) submit(ctx context.Context, txs []*Transaction, results []Result, admit Admit) {
	jobs := make([]job, len(txs))
	var group sync.WaitGroup
	rules := p.l.rules
	var workChecked, workFailed uint64
	for i, tx := range txs {
		if tx == nil {
			continue
		}
		id := tx.ID()
		workChecked++
		// The payload part of the difficulty needs no context; the rate
		// part is checked at attach, where the issuer's chain is known.
		if need := rules.Required(len(tx.Payload), 0); !pow.Verify(id, tx.Nonce, need) {
			workFailed++
			results[i] = reject(id, fmt.Errorf("%w: need at least %d bits", ErrWork, need))
			txs[i] = nil
			continue
		}
		if err := p.l.checkIssuerKind(tx); err != nil {
			results[i] = reject(id, err)
			txs[i] = nil
			continue
		}
	}
	p.counters.workChecked.Add(workChecked)
	if workFailed > 0 {
		p.counters.workFailed.Add(workFailed)
	}
	// Duplicates (a replay flood, a gateway retrying) are answered before
	// they cost a signature check; one read lock covers the whole batch.
	p.l.markKnown(txs, results)

	p.intake.RLock()
	for i, tx := range txs {
		if tx == nil {
			continue
		}
		id := tx.ID()
		if p.stopped {
			results[i] = reject(id, ErrClosed)
			continue
		}
		j := &jobs[i]
		j.tx, j.out, j.group, j.admit = tx, &results[i], &group, admit
		group.Add(1)
		select {
		case p.verifyQ <- j:
		case <-p.stop:
			group.Done()
			results[i] = reject(id, ErrClosed)
		case <-ctx.Done():
			group.Done()
			results[i] = reject(id, fmt.Errorf("%w: %v", ErrOverloaded, ctx.Err()))
		}
	}
	p.intake.RUnlock()
	group.Wait()
	p.counters.countResults(results)
	// The twin of an equivocation may attach after the first half was
	// answered (later in its ledger batch, or in a later one: a large
	// submission spans several), so every result of a submission tells
	// the state at acknowledgement. A single transaction has no twin in
	// its own submission.
	if len(results) < 2 {
		return
	}
	for i := range results {
		if r := &results[i]; r.Status == StatusAttached && !r.Conflicting {
			if info, ok := p.l.Info(r.ID); ok && info.Conflicting {
				r.Conflicting = true
			}
		}
	}
}

// verifyLoop batch-verifies signatures. A batch is whatever is queued, up
// to BatchSize: under load batches fill up, and a lone transaction is not
// held back waiting for company. Batches are numbered as they are taken so
// the attacher can put them back in queue order: an issuer's transactions
// submitted in order then attach in order instead of parking each other.
func (p *Pipeline) verifyLoop() {
	txs := make([]*Transaction, 0, p.cfg.BatchSize)
	ok := make([]bool, p.cfg.BatchSize)
	for {
		batch, seq, open := p.takeBatch()
		if !open {
			return
		}
		txs = txs[:0]
		for _, j := range batch {
			txs = append(txs, j.tx)
		}
		start := time.Now()
		p.verifier.VerifyBatch(txs, ok[:len(txs)])
		p.counters.verifyNanos.Add(int64(time.Since(start)))
		p.counters.verifyBatches.Add(1)
		p.counters.sigChecked.Add(uint64(len(txs)))
		good := batch[:0]
		for i, j := range batch {
			switch {
			case !ok[i]:
				p.counters.sigFailed.Add(1)
				j.finish(reject(j.tx.ID(), ErrSignature))
			case j.admit != nil:
				if err := j.admit(j.tx); err != nil {
					j.finish(reject(j.tx.ID(), err))
					continue
				}
				fallthrough
			default:
				good = append(good, j)
			}
		}
		// Even an empty batch is passed on: the attacher waits for every
		// number in turn.
		select {
		case p.attachQ <- verified{seq: seq, jobs: good}:
		case <-p.stop:
			for _, j := range good {
				j.finish(reject(j.tx.ID(), ErrClosed))
			}
			return
		}
	}
}

// takeBatch takes up to BatchSize jobs off the verify queue and numbers
// them; open is false once the pipeline stops.
func (p *Pipeline) takeBatch() (batch []*job, seq uint64, open bool) {
	p.take.Lock()
	defer p.take.Unlock()
	select {
	case j := <-p.verifyQ:
		batch = append(make([]*job, 0, p.cfg.BatchSize), j)
	case <-p.stop:
		return nil, 0, false
	}
	var wait <-chan time.Time
fill:
	for len(batch) < p.cfg.BatchSize {
		select {
		case j := <-p.verifyQ:
			batch = append(batch, j)
			continue
		default:
		}
		// The queue is empty. A small batch verifies one signature at a
		// time (below minBatch) or gains little from batching, so when
		// transactions trickle in one per request, wait a moment for
		// company: BatchWait costs that much latency and buys the batch
		// equation's 3× cheaper signatures.
		if len(batch) >= p.cfg.BatchSize/4 || p.cfg.BatchWait <= 0 {
			break
		}
		if wait == nil {
			wait = time.After(p.cfg.BatchWait)
		}
		select {
		case j := <-p.verifyQ:
			batch = append(batch, j)
		case <-wait:
			break fill
		case <-p.stop:
			break fill
		}
	}
	seq = p.nextSeq
	p.nextSeq++
	return batch, seq, true
}

// attachLoop is the single writer: it hands verified transactions to the
// ledger in queue order, in batches, and passes the pending commits on, so
// the next batch attaches while the previous one is being synced.
func (p *Pipeline) attachLoop() {
	var txs []*Transaction
	early := map[uint64][]*job{} // batches that overtook an earlier one
	var next uint64
	receive := func(v verified) { early[v.seq] = v.jobs }
	for {
		if _, ready := early[next]; !ready {
			select {
			case v := <-p.attachQ:
				receive(v)
			case <-p.stop:
				p.failEarly(early)
				return
			}
			continue
		}
	fill:
		for {
			select {
			case v := <-p.attachQ:
				receive(v)
			default:
				break fill
			}
		}
		var jobs []*job
		for {
			batch, ready := early[next]
			if !ready || (len(jobs) > 0 && len(jobs)+len(batch) > p.cfg.AttachBatch) {
				break
			}
			delete(early, next)
			next++
			jobs = append(jobs, batch...)
		}
		if len(jobs) == 0 {
			continue
		}
		txs = txs[:0]
		for _, j := range jobs {
			txs = append(txs, j.tx)
		}
		// The ack queue is drained until Run closes it, so this send
		// cannot block forever.
		start := time.Now()
		pending := p.l.AttachVerified(txs)
		p.counters.attachNanos.Add(int64(time.Since(start)))
		p.counters.attachBatches.Add(1)
		p.ackQ <- ack{jobs: jobs, pending: pending}
	}
}

func (p *Pipeline) failEarly(early map[uint64][]*job) {
	for _, batch := range early {
		for _, j := range batch {
			j.finish(reject(j.tx.ID(), ErrClosed))
		}
	}
}

// ackLoop waits for durability in attach order; its Wait is what triggers
// the group commit.
func (p *Pipeline) ackLoop() {
	for a := range p.ackQ {
		start := time.Now()
		results, err := a.pending.Wait()
		p.counters.commitNanos.Add(int64(time.Since(start)))
		p.counters.commitBatches.Add(1)
		for i, j := range a.jobs {
			r := results[i]
			if err != nil && r.Status != StatusRejected && r.Status != StatusDuplicate {
				r = reject(r.ID, err)
			}
			j.finish(r)
		}
	}
}
