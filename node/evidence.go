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

// auditQueue bounds the ledger events waiting for the log's goroutine.
// The subscriber only hands events over (the ledger calls it on its
// committing goroutine, which must not wait); when the queue is full an
// event is dropped, which costs only a store read (a leaf hash) or a
// later checkpoint (a claim), never the log's correctness.
const auditQueue = 1 << 16

// unloggedMax bounds the confirmed data the node tracks until a final
// checkpoint covers it (what keeps a validator's beacons coming).
const unloggedMax = 1 << 16

// audit owns the node's audit log (package evidence): one goroutine,
// started by Run, appends anchors as the orderer's transactions are
// confirmed and takes in validators' cosignatures; the beacon loop of a
// validator signs the checkpoints the log closes (issueCheckpoints), so
// the node's own chain has one writer.
type audit struct {
	log    *evidence.Log
	events chan dag.Event
	wake   chan struct{}
	// dropped counts events refused for a full queue.
	dropped atomic.Uint64

	// The log's goroutine's own: the orderer's newest confirmed
	// transaction, and the confirmed data not yet logged (unlogged, at
	// most unloggedMax) or logged below need but not under a final
	// checkpoint yet.
	newest    dag.ID
	newestSeq uint64
	hasNewest bool
	unlogged  map[dag.ID]struct{}
	need      uint64
	// warnedStall: the stall was logged.
	warnedStall bool

	mu sync.Mutex
	// toSign are checkpoints this validator has yet to cosign.
	toSign []evidence.Checkpoint
	// lags: confirmed data waits for a final checkpoint.
	lags bool
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
	a := &audit{log: log, events: make(chan dag.Event, auditQueue), wake: make(chan struct{}, 1),
		found: map[string]uint64{}, unlogged: map[dag.ID]struct{}{}}
	n.audit = a
	log.OnLogged(a.logged)
	// After a restart the log may lag what replay confirmed: start from
	// the orderer's newest confirmed transaction.
	if st, ok := n.ledger.IssuerState(log.Orderer(), n.cfg.Now().UnixNano()); ok {
		for id := st.Prev; ; {
			info, ok := n.ledger.Info(id)
			if !ok {
				break
			}
			if info.Confirmed {
				a.newest, a.newestSeq, a.hasNewest = info.ID, info.Seq, true
				a.poke()
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

// onEvent is the ledger subscriber's part for the log: it hands the
// events the log needs to its goroutine and never waits.
func (a *audit) onEvent(e dag.Event) {
	switch {
	case e.Kind == dag.EventAttached && e.Tx != nil,
		e.Kind == dag.EventConfirmed && (e.Info.Kind.Spec().Data || e.Info.Issuer == a.log.Orderer()):
	default:
		return
	}
	select {
	case a.events <- e:
		a.poke()
	default:
		a.dropped.Add(1)
	}
}

// take handles the queued events: leaf hashes, confirmed data to watch,
// the orderer's progress; it returns the claims to take in.
func (a *audit) take() []*dag.Transaction {
	var claims []*dag.Transaction
	for {
		select {
		case e := <-a.events:
			switch e.Kind {
			case dag.EventAttached:
				a.log.NoteAttached(e.Tx)
				if e.Tx.Kind == dag.KindCheckpoint {
					claims = append(claims, e.Tx)
				}
			case dag.EventConfirmed:
				// Logged already when its event comes after the round
				// that logged it: nothing to wait for.
				if e.Info.Kind.Spec().Data && len(a.unlogged) < unloggedMax && !a.log.RecentlyLogged(e.Info.ID) {
					a.unlogged[e.Info.ID] = struct{}{}
				}
				if e.Info.Issuer == a.log.Orderer() && (!a.hasNewest || e.Info.Seq > a.newestSeq) {
					a.newest, a.newestSeq, a.hasNewest = e.Info.ID, e.Info.Seq, true
				}
			}
		default:
			return claims
		}
	}
}

// logged is the log's hook for each transaction it appends (called on
// the log's goroutine, from Advance).
func (a *audit) logged(id dag.ID, index uint64) {
	if _, ok := a.unlogged[id]; ok {
		delete(a.unlogged, id)
		a.need = max(a.need, index+1)
	}
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
		claims := a.take()
		if a.hasNewest {
			closed, err := a.log.Advance(n.ledger, a.newest)
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
		f, _, _ := a.log.Latest()
		stalled := n.auditStalled()
		a.mu.Lock()
		// A stalled log cannot catch up by more beacons: they would only
		// keep the validators busy for ever.
		a.lags = !stalled && (len(a.unlogged) > 0 || f.Size < a.need)
		a.mu.Unlock()
		if len(a.events) > 0 {
			a.poke() // more arrived while this round ran
		}
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

// auditStalled reports whether the log waits for an orderer's
// transaction that this node has ruled out (it approves a transaction of
// a device revoked or quarantined here): honest validators never approve
// it, so it is never confirmed and the log cannot pass it. This is the
// known liveness limit of ordering by the orderer's chain (see
// docs/design/2026-12-02-evidence.md); it is logged once.
func (n *Node) auditStalled() bool {
	a := n.audit
	anchor, _, ok := a.log.Anchor()
	if !ok {
		return false // before the first anchor
	}
	next, ok := n.ledger.Successor(anchor)
	if !ok {
		return false
	}
	info, ok := n.ledger.Info(next)
	stalled := ok && !info.Confirmed && info.RuledOut
	if stalled && !a.warnedStall {
		a.warnedStall = true
		n.log.Warn("audit log stalled: the orderer's next transaction is ruled out on this node and will not be confirmed", "transaction", next.String())
	}
	return stalled
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
	n.audit.mu.Lock()
	defer n.audit.mu.Unlock()
	return n.audit.lags
}

// AuditLog is the node's audit log.
func (n *Node) AuditLog() *evidence.Log { return n.audit.log }
