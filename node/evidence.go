package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/merkle"
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
	// checkpoint yet. On the orderer, uncovered holds the confirmed
	// transactions that no confirmed transaction approves and the log
	// lacks (at most unloggedMax, with the order they were confirmed in
	// here and how many rounds of new anchors passed them over): what the
	// next anchors must approve (see nextCover).
	newest    dag.ID
	newestSeq uint64
	hasNewest bool
	unlogged  map[dag.ID]struct{}
	need      uint64
	uncovered map[dag.ID]uncovered
	confirms  uint64
	// starvedTurn: the next anchor may take a passed-over transaction
	// (nextCover); it flips with each round that logs new anchors.
	starvedTurn bool
	// orderer: this node anchors the log (set before the ledger's
	// subscriber runs, read on it).
	orderer bool
	// The beacon loop's own (the orderer's anchors): the newest anchor
	// posted, its branch and when, and the newest checkpoint it signed.
	lastAnchor   dag.ID
	anchorBranch dag.ID
	anchorAt     time.Time
	signed       evidence.Checkpoint

	mu sync.Mutex
	// toSign are checkpoints this validator has yet to cosign.
	toSign []evidence.Checkpoint
	// lags: confirmed data waits for a final checkpoint.
	lags bool
	// cover (on the orderer): the next anchor's branch (see nextCover).
	cover dag.ID
	// waiting is the last round's counts, for tests' reports.
	waiting auditWaiting
	// found counts misbehaviour evidence by kind; closed the checkpoints
	// closed.
	found  map[string]uint64
	closed atomic.Uint64
}

// auditWaiting is what the log's goroutine waited for after a round.
type auditWaiting struct {
	unlogged, uncovered int
	need, final         uint64
	// A few of each, for a report of what waits.
	someUnlogged, someUncovered []dag.ID
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
	if log.Orderer() == n.publicKey {
		a.orderer, a.uncovered = true, map[dag.ID]uncovered{}
	}
	n.audit = a
	log.OnLogged(a.logged)
	a.seedUnlogged(n.ledger)
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

// seedBack bounds how far back in the confirmed order a restarted node
// looks for what its log lacks.
const seedBack = 1 << 14

// seedUnlogged fills, after a restart, what the confirmation events
// would have: the newest confirmed transactions (at most seedBack) that
// the log lacks, in confirmed order, so this node keeps beaconing, and
// the orderer anchoring, until they are logged and checkpointed.
func (a *audit) seedUnlogged(l *dag.Ledger) {
	total := uint64(l.Stats().Confirmed)
	if total == 0 || a.log.Size() >= total {
		return
	}
	from := uint64(1)
	if total > seedBack {
		from = total - seedBack + 1
	}
	for _, id := range l.Confirmed(from, seedBack, nil) {
		if _, err := a.log.IndexOf(id); err == nil {
			continue
		}
		info, ok := l.Info(id)
		if !ok {
			continue
		}
		if info.Kind.Spec().Data && len(a.unlogged) < unloggedMax {
			a.unlogged[id] = struct{}{}
		}
		a.noteConfirmed(info)
	}
	a.lags = len(a.unlogged) > 0
}

// onEvent is the ledger subscriber's part for the log: it hands the
// events the log needs to its goroutine and never waits.
func (a *audit) onEvent(e dag.Event) {
	switch {
	case e.Kind == dag.EventAttached && e.Tx != nil,
		e.Kind == dag.EventConfirmed && (a.orderer || e.Info.Kind.Spec().Data || e.Info.Issuer == a.log.Orderer()):
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
				a.noteConfirmed(e.Info)
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
	delete(a.uncovered, id)
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
			_, anchoredBefore, _ := a.log.Anchor()
			closed, err := a.log.Advance(n.ledger, a.newest)
			if _, anchored, _ := a.log.Anchor(); anchored != anchoredBefore {
				a.passedOver()
			}
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
		cover := a.nextCover()
		a.mu.Lock()
		a.lags = len(a.unlogged) > 0 || f.Size < a.need
		a.cover = cover
		a.waiting = auditWaiting{unlogged: len(a.unlogged), uncovered: len(a.uncovered), need: a.need, final: f.Size,
			someUnlogged: someOf(a.unlogged), someUncovered: someOf(a.uncovered)}
		a.mu.Unlock()
		if len(a.events) > 0 {
			a.poke() // more arrived while this round ran
		}
	}
}

// someOf is up to four keys of m (nil for none).
func someOf[V any](m map[dag.ID]V) []dag.ID {
	var dst []dag.ID
	for id := range m {
		if len(dst) == 4 {
			break
		}
		dst = append(dst, id)
	}
	return dst
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

// uncovered is what the orderer knows of a confirmed transaction that the
// log lacks and no confirmed transaction approves.
type uncovered struct {
	order   uint64 // confirmed here as the order-th
	skipped int    // rounds of new anchors that did not take it in
}

// noteConfirmed keeps the orderer's uncovered set: a confirmed
// transaction joins it, its parents leave it (their pasts are in its
// own). The confirmed frontier alone is not enough for an anchor's
// branch: the newest confirmed transaction's past need not hold
// everything confirmed before it (two confirmed in one batch, one whose
// approvers stay unconfirmed), and once anchors are confirmed the
// frontier is mostly the previous anchor. An event that comes late or is
// lost costs at most a needless anchor or a wait for a later anchor.
func (a *audit) noteConfirmed(info dag.Info) {
	if !a.orderer {
		return
	}
	delete(a.uncovered, info.Trunk)
	delete(a.uncovered, info.Branch)
	if len(a.uncovered) < unloggedMax && !a.log.RecentlyLogged(info.ID) {
		a.confirms++
		a.uncovered[info.ID] = uncovered{order: a.confirms}
	}
}

// passedOver notes a round that logged new anchors: what is still
// uncovered after it was not in their pasts. What the log holds after all
// (logged before it joined, which RecentlyLogged does not see after a
// restart) leaves, or anchoring it would never take it out.
func (a *audit) passedOver() {
	a.starvedTurn = !a.starvedTurn
	for id, u := range a.uncovered {
		u.skipped++
		if u.skipped >= starvedAfter {
			if _, err := a.log.IndexOf(id); err == nil {
				delete(a.uncovered, id)
				continue
			}
		}
		a.uncovered[id] = u
	}
}

// starvedAfter is how many rounds of new anchors may pass an uncovered
// transaction over before the next anchor approves it directly. One is
// usual for what was confirmed while an anchor waited for its own
// confirmation; the next anchor, on the newest, takes it in.
const starvedAfter = 2

// nextCover is the next anchor's branch (the zero ID for none): the
// uncovered transaction confirmed last here, whose past holds most of what
// the log lacks; every other round of new anchors, if anchors have passed
// one over starvedAfter times, the oldest of those instead. A confirmed
// transaction whose approvers are all ruled out (a device's last reading
// before a revocation confirmed earlier) is in no later confirmed past,
// and while confirmations keep coming there is always a newer one;
// without this it would wait, and keep the validators beaconing, for ever.
// Taking turns keeps the newest history coming too when many are passed
// over (siblings that later confirmations reach anyway).
func (a *audit) nextCover() dag.ID {
	var newest, starved dag.ID
	var newestAt, starvedAt uint64
	for id, u := range a.uncovered {
		if u.order > newestAt {
			newest, newestAt = id, u.order
		}
		if u.skipped >= starvedAfter && (starved.IsZero() || u.order < starvedAt) {
			starved, starvedAt = id, u.order
		}
	}
	if !starved.IsZero() && a.starvedTurn {
		return starved
	}
	return newest
}

// anchorEvery spaces the orderer's anchors while confirmed transactions
// wait outside the log: each anchor lets the log take in one of them and
// its past.
const anchorEvery = 200 * time.Millisecond

// issueCheckpoints signs and posts the checkpoints the log closed since
// the last call; the beacon loop calls it, so the node's chain has one
// writer. The orderer's checkpoint transactions are the log's anchors: it
// also posts one (at most every anchorEvery) while confirmed data waits
// for a final checkpoint, on its previous anchor (trunk) and the newest
// confirmed transaction that the log lacks and no confirmed transaction
// approves (branch), re-signing its newest checkpoint.
func (n *Node) issueCheckpoints(ctx context.Context) {
	if n.audit == nil || !n.validator {
		return
	}
	a := n.audit
	a.mu.Lock()
	todo := a.toSign
	a.toSign = nil
	a.mu.Unlock()
	if a.orderer {
		n.issueAnchor(ctx, todo)
		return
	}
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

// issueAnchor is the orderer's part of issueCheckpoints.
func (n *Node) issueAnchor(ctx context.Context, todo []evidence.Checkpoint) {
	a := n.audit
	frontier, _ := n.ledger.ConfirmedFrontier()
	a.mu.Lock()
	branch, lags := a.cover, a.lags
	a.mu.Unlock()
	if len(todo) > 0 {
		a.signed = todo[len(todo)-1]
	}
	// Only confirmed data waiting for a final checkpoint calls for
	// anchors: the validators' cosignatures approve the newest anchor, so
	// anchoring them in turn would keep the log busy for ever.
	if len(todo) == 0 && (!lags || branch.IsZero() || branch == a.anchorBranch || time.Since(a.anchorAt) < anchorEvery) {
		// Nothing new to anchor, or the last anchor's branch still waits.
		return
	}
	if branch.IsZero() {
		branch = frontier
	}
	if a.signed.Origin == "" {
		// Nothing closed yet: the empty log's checkpoint.
		a.signed = evidence.Checkpoint{Origin: a.log.Origin(), Root: merkle.Hash(sha256.Sum256(nil))}
	}
	if a.lastAnchor.IsZero() {
		a.lastAnchor = n.findLastAnchor()
	}
	payload := evidence.CheckpointPayload(a.signed, evidence.SignCheckpoint(n.key, a.signed))
	id, err := n.issueControl(ctx, dag.KindCheckpoint, a.lastAnchor, branch, payload)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("audit log anchor", "err", err)
		}
		return
	}
	a.lastAnchor, a.anchorBranch, a.anchorAt = id, branch, time.Now()
}

// findLastAnchor is the orderer's newest checkpoint transaction in its
// chain (the genesis root before the first), after a restart.
func (n *Node) findLastAnchor() dag.ID {
	st, ok := n.ledger.IssuerState(n.publicKey, n.cfg.Now().UnixNano())
	if !ok {
		return n.ledger.Root()
	}
	for id := st.Prev; ; {
		info, ok := n.ledger.Info(id)
		if !ok {
			return n.ledger.Root()
		}
		if evidence.IsAnchor(info) {
			return id
		}
		if info.Seq == 0 {
			return n.ledger.Root()
		}
		id = info.Prev
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
	n.audit.mu.Lock()
	defer n.audit.mu.Unlock()
	return n.audit.lags
}

// AuditLog is the node's audit log.
func (n *Node) AuditLog() *evidence.Log { return n.audit.log }
