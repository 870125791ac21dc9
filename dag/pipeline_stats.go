package dag

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// PipelineStats are a pipeline's counters since it was built, for
// operators (a node exports them as metrics). Counters only grow; the
// queue lengths are a momentary reading.
type PipelineStats struct {
	// Results by status: every transaction offered is counted once, when
	// its submitter gets its answer (undecodable bytes count as rejected).
	Attached, Duplicate, Parked, Rejected uint64
	// RejectedByCode splits Rejected by the error's stable code (Code).
	RejectedByCode map[string]uint64

	// WorkChecked counts proof-of-work checks at intake, WorkFailed those
	// that failed (insufficient_work before any signature check).
	WorkChecked, WorkFailed uint64
	// SignaturesChecked counts signatures verified in batches,
	// SignaturesFailed the bad ones among them.
	SignaturesChecked, SignaturesFailed uint64

	// The stages' busy time and how many batches each handled: verify
	// (signature batches, summed over the workers), attach (the ledger's
	// critical section) and commit (waiting until a batch is durable,
	// which includes the group commit's fsync).
	VerifyBatches, AttachBatches, CommitBatches uint64
	VerifyTime, AttachTime, CommitTime          time.Duration

	// Queue lengths now and their capacities.
	VerifyQueue, VerifyQueueCap int
	AttachQueue, AttachQueueCap int
	AckQueue, AckQueueCap       int
}

// pipelineCounters back PipelineStats. The hot paths add to them once
// per submission or batch, never per transaction.
type pipelineCounters struct {
	attached, duplicate, parked, rejected       atomic.Uint64
	workChecked, workFailed                     atomic.Uint64
	sigChecked, sigFailed                       atomic.Uint64
	verifyBatches, attachBatches, commitBatches atomic.Uint64
	verifyNanos, attachNanos, commitNanos       atomic.Int64

	codesMu sync.Mutex
	codes   map[string]uint64 // guarded by codesMu
}

// countResults tallies one submission's answers.
func (c *pipelineCounters) countResults(results []Result) {
	var attached, duplicate, parked, rejected uint64
	for i := range results {
		switch results[i].Status {
		case StatusAttached:
			attached++
		case StatusDuplicate:
			duplicate++
		case StatusParked:
			parked++
		default:
			rejected++
		}
	}
	if attached > 0 {
		c.attached.Add(attached)
	}
	if duplicate > 0 {
		c.duplicate.Add(duplicate)
	}
	if parked > 0 {
		c.parked.Add(parked)
	}
	if rejected == 0 {
		return
	}
	c.rejected.Add(rejected)
	c.codesMu.Lock()
	defer c.codesMu.Unlock()
	if c.codes == nil {
		c.codes = make(map[string]uint64)
	}
	for i := range results {
		if r := &results[i]; r.Status != StatusAttached && r.Status != StatusDuplicate && r.Status != StatusParked {
			c.codes[Code(r.Err)]++
		}
	}
}

// Stats returns the pipeline's counters.
func (p *Pipeline) Stats() PipelineStats {
	c := &p.counters
	s := PipelineStats{
		Attached: c.attached.Load(), Duplicate: c.duplicate.Load(), Parked: c.parked.Load(), Rejected: c.rejected.Load(),
		WorkChecked: c.workChecked.Load(), WorkFailed: c.workFailed.Load(),
		SignaturesChecked: c.sigChecked.Load(), SignaturesFailed: c.sigFailed.Load(),
		VerifyBatches: c.verifyBatches.Load(), AttachBatches: c.attachBatches.Load(), CommitBatches: c.commitBatches.Load(),
		VerifyTime: time.Duration(c.verifyNanos.Load()), AttachTime: time.Duration(c.attachNanos.Load()),
		CommitTime:  time.Duration(c.commitNanos.Load()),
		VerifyQueue: len(p.verifyQ), VerifyQueueCap: cap(p.verifyQ),
		AttachQueue: len(p.attachQ), AttachQueueCap: cap(p.attachQ),
		AckQueue: len(p.ackQ), AckQueueCap: cap(p.ackQ),
	}
	c.codesMu.Lock()
	s.RejectedByCode = maps.Clone(c.codes)
	c.codesMu.Unlock()
	if s.RejectedByCode == nil {
		s.RejectedByCode = map[string]uint64{}
	}
	return s
}
