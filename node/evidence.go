package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
)

// claimQueue bounds the checkpoint transactions waiting to be taken into
// the log's cosignatures (four validators post about one a second each).
const claimQueue = 4096

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
	n.audit = &audit{log: log, wake: make(chan struct{}, 1), found: map[string]uint64{}}
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

// runAudit is the log's goroutine.
func (n *Node) runAudit(ctx context.Context) {
	a := n.audit
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
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

// linkToChain gives the orderer's own transactions their predecessor as
// trunk (and the chosen trunk as branch): confirming one then confirms
// the one before, so the log's anchors are confirmed in chain order and
// the log never waits for an old anchor to be approved by chance. Other
// nodes' parents are left as chosen.
func (n *Node) linkToChain(prev, trunk, branch dag.ID) (dag.ID, dag.ID) {
	if n.audit == nil || prev.IsZero() || n.publicKey != n.audit.log.Orderer() {
		return trunk, branch
	}
	if trunk == prev {
		return prev, branch
	}
	return prev, trunk
}

// logLags reports whether the log waits for the orderer's newest
// transaction to be confirmed: beacons keep coming until it is, even when
// no data waits, so the newest history gets its checkpoint.
func (n *Node) logLags() bool {
	if n.audit == nil {
		return false
	}
	st, ok := n.ledger.IssuerState(n.audit.log.Orderer(), n.cfg.Now().UnixNano())
	if !ok {
		return false
	}
	info, ok := n.ledger.Info(st.Prev)
	return ok && !info.Confirmed
}

// AuditLog is the node's audit log.
func (n *Node) AuditLog() *evidence.Log { return n.audit.log }
