package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
)

// claimQueue bounds the checkpoint transactions waiting to be taken into
// the log's cosignatures (four validators post about one a second each).
const claimQueue = 4096

// unloggedMax bounds the confirmed data the node tracks until a final
// checkpoint covers it (what keeps a validator's beacons coming).
const unloggedMax = 1 << 16

// audit owns the node's audit log (package evidence): one goroutine,
// started by Run, appends anchors as the orderer's transactions are
// confirmed and takes in validators' cosignatures; the beacon loop of a
// validator signs the checkpoints the log closes (issueCheckpoints), so
// the node's own chain has one writer.
type audit struct {
	log  *evidence.Log
	wake chan struct{}

	mu sync.Mutex
	// newest is the orderer's newest confirmed transaction seen.
	newest    dag.ID
	newestSeq uint64
	hasNewest bool
	// toSign are checkpoints this validator has yet to cosign.
	toSign []evidence.Checkpoint
	// claims are attached checkpoint transactions not yet taken in.
	claims []*dag.Transaction
	// dropped counts claims refused for a full queue.
	dropped uint64
	// unlogged is the confirmed data not yet under a final checkpoint
	// (at most unloggedMax: a bound, not a promise).
	unlogged map[dag.ID]struct{}
	// settled is the final size settle last ran at (the log's goroutine's).
	settled uint64
	// found counts misbehaviour evidence by kind; closed the checkpoints
	// closed.
	found  map[string]uint64
	closed atomic.Uint64
}

func (a *audit) misbehaviourCount(kind string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.found[kind]
}

func (n *Node) openAudit() error {
	log, err := evidence.Open(n.genesis, n.store.Aux())
	if err != nil {
		return fmt.Errorf("node: audit log: %w", err)
	}
	n.audit = &audit{log: log, wake: make(chan struct{}, 1), found: map[string]uint64{}, unlogged: map[dag.ID]struct{}{}}
	// After a restart the log may lag what replay confirmed: start from
	// the orderer's newest confirmed transaction.
	if st, ok := n.ledger.IssuerState(log.Orderer(), n.cfg.Now().UnixNano()); ok {
		for id := st.Prev; ; {
			info, ok := n.ledger.Info(id)
			if !ok {
				break
			}
			if info.Confirmed {
				n.audit.noteConfirmed(info)
				break
			}
			if info.Seq == 0 {
				break
			}
			id = info.Prev
		}
	}
	return nil
}

// onAuditEvent is the ledger subscriber's part for the log: quick, it
// only records and wakes.
func (a *audit) onEvent(e dag.Event) {
	if e.Kind == dag.EventConfirmed && e.Info.Kind.Spec().Data {
		a.mu.Lock()
		if len(a.unlogged) < unloggedMax {
			a.unlogged[e.Info.ID] = struct{}{}
		}
		a.mu.Unlock()
	}
	if e.Kind == dag.EventAttached && e.Tx != nil {
		a.log.NoteAttached(e.Tx)
	}
	switch {
	case e.Kind == dag.EventConfirmed && e.Info.Issuer == a.log.Orderer():
		a.noteConfirmed(e.Info)
	case e.Kind == dag.EventAttached && e.Info.Kind == dag.KindCheckpoint && e.Tx != nil:
		a.mu.Lock()
		if len(a.claims) < claimQueue {
			a.claims = append(a.claims, e.Tx)
		} else {
			a.dropped++
		}
		a.mu.Unlock()
		a.poke()
	}
}

func (a *audit) noteConfirmed(info dag.Info) {
	a.mu.Lock()
	if !a.hasNewest || info.Seq > a.newestSeq {
		a.newest, a.newestSeq, a.hasNewest = info.ID, info.Seq, true
	}
	a.mu.Unlock()
	a.poke()
}

func (a *audit) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// auditPace is the least time between two rounds of the log's
// goroutine: under load every round appends many anchors in one store
// write (one fsync), instead of one write per anchor competing with the
// ledger's group commits. It adds at most this much to the evidence lag.
const auditPace = 50 * time.Millisecond

// runAudit is the log's goroutine.
func (n *Node) runAudit(ctx context.Context) {
	a := n.audit
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
		pace.Reset(auditPace)
		a.mu.Lock()
		newest, has := a.newest, a.hasNewest
		claims := a.claims
		a.claims = nil
		a.mu.Unlock()
		if has {
			closed, err := a.log.Advance(n.ledger, newest)
			if err != nil && !errors.Is(err, context.Canceled) {
				n.log.Warn("audit log", "err", err)
			}
			a.closed.Add(uint64(len(closed)))
			if n.validator && len(closed) > 0 {
				a.mu.Lock()
				// Only the newest matters for finality; older ones would
				// be signed late and add nothing.
				a.toSign = append(a.toSign[:0], closed[len(closed)-1])
				a.mu.Unlock()
			}
			n.reportMisbehaviour(a.log.Grown())
		}
		for _, tx := range claims {
			n.reportMisbehaviour(a.log.AddClaim(tx))
		}
		a.settle()
	}
}

func (n *Node) reportMisbehaviour(found []evidence.Misbehaviour, err error) {
	if err != nil {
		n.log.Warn("audit log cosignatures", "err", err)
	}
	for _, m := range found {
		n.log.Warn("validator misbehaviour", "kind", m.Kind, "validator", n.genesis.Validators[m.Validator].PublicKey.String(), "size", m.Size)
		n.audit.mu.Lock()
		n.audit.found[m.Kind]++
		n.audit.mu.Unlock()
	}
}

// issueCheckpoints signs and posts the checkpoints the log closed since
// the last call; the beacon loop calls it, so the node's chain has one
// writer.
func (n *Node) issueCheckpoints(ctx context.Context) {
	if n.audit == nil || !n.validator {
		return
	}
	a := n.audit
	a.mu.Lock()
	todo := a.toSign
	a.toSign = nil
	a.mu.Unlock()
	for _, c := range todo {
		payload := evidence.CheckpointPayload(c, evidence.SignCheckpoint(n.key, c))
		trunk, branch, err := n.SelectTips(ctx)
		if err != nil {
			return
		}
		if _, err := n.issueControl(ctx, dag.KindCheckpoint, trunk, branch, payload); err != nil && ctx.Err() == nil {
			n.log.Warn("checkpoint cosignature", "size", c.Size, "err", err)
		}
	}
}

// logLags reports whether confirmed data waits for a final checkpoint of
// the log: a validator's beacons keep coming until none does, even when no
// data waits for confirmation, so the newest history gets evidence within
// about a checkpoint interval. Only data counts: beacons and checkpoint
// transactions are logged with the next data, or they would keep the
// validators beaconing for ever.
func (n *Node) logLags() bool {
	if n.audit == nil {
		return false
	}
	a := n.audit
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.unlogged) > 0
}

// settle forgets the confirmed data that the newest final checkpoint
// covers. Called by the log's goroutine.
func (a *audit) settle() {
	f, _, ok := a.log.Latest()
	if !ok || f.Size == a.settled {
		return // nothing new is final
	}
	a.settled = f.Size
	a.mu.Lock()
	ids := make([]dag.ID, 0, len(a.unlogged))
	for id := range a.unlogged {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	for _, id := range ids {
		if i, err := a.log.IndexOf(id); err == nil && i < f.Size {
			a.mu.Lock()
			delete(a.unlogged, id)
			a.mu.Unlock()
		}
	}
}

// AuditLog is the node's audit log.
func (n *Node) AuditLog() *evidence.Log { return n.audit.log }
