package dag

import (
	"fmt"

	"github.com/tangled-ledger/tangled/pow"
)

// Stats are the ledger's counters.
type Stats struct {
	Transactions uint64 // attached, not counting the genesis root
	Tips         int
	Confirmed    int
	Parked       int
	Conflicting  int
	Issuers      int
	// UnconfirmedData counts attached transactions other than beacons
	// that are not confirmed yet.
	UnconfirmedData int
	// Beacons counts attached validator beacons (part of Transactions).
	Beacons int
}

// Stats returns the current counters.
func (l *Ledger) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return Stats{
		Transactions: l.mu.arrivals,
		Tips:         len(l.mu.tips),
		Confirmed:    int(l.totalConfirmed()),
		Parked:       len(l.mu.parked),
		Conflicting:  l.mu.conflicts,
		Issuers:      len(l.mu.issuers),

		UnconfirmedData: l.mu.unconfirmedData,
		Beacons:         l.mu.beacons,
	}
}

// Genesis returns the network description (with defaults filled in).
func (l *Ledger) Genesis() Genesis { return l.genesis }

// Root returns the ID of the virtual genesis root.
func (l *Ledger) Root() ID { return l.root.id }

// Info returns what the ledger knows about an attached transaction. An
// archived one (Config.MemoryBudget) is read from the store.
func (l *Ledger) Info(id ID) (Info, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.peek(id)
	if n == nil {
		return Info{}, false
	}
	return l.info(n), true
}

// Known reports whether id is attached (archived included) or parked.
func (l *Ledger) Known(id ID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.mu.nodes[id]; ok {
		return true
	}
	if _, ok := l.mu.parked[id]; ok {
		return true
	}
	return l.peek(id) != nil
}

// Holds is Known for a caller that deletes what the ledger no longer has
// (the node's audit-log compaction): a store error is returned, not read
// as "no", so that a failed read never costs a kept transaction its proof.
func (l *Ledger) Holds(id ID) (bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.mu.nodes[id]; ok {
		return true, nil
	}
	if _, ok := l.mu.parked[id]; ok {
		return true, nil
	}
	n, err := l.loadArchived(id, false)
	return n != nil, err
}

// markKnown answers, for each non-nil transaction, whether it is already
// attached or parked: it sets the result to StatusDuplicate and the entry
// in txs to nil.
func (l *Ledger) markKnown(txs []*Transaction, results []Result) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i, tx := range txs {
		if tx == nil {
			continue
		}
		id := tx.ID()
		_, attached := l.mu.nodes[id]
		_, parked := l.mu.parked[id]
		if attached || parked {
			results[i] = Result{ID: id, Status: StatusDuplicate}
			txs[i] = nil
		}
	}
}

// IsParked reports whether id waits for missing parents.
func (l *Ledger) IsParked(id ID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.mu.parked[id]
	return ok
}

// Approvers appends the IDs of id's direct approvers to dst.
func (l *Ledger) Approvers(id ID, dst []ID) []ID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if n := l.peek(id); n != nil {
		for _, a := range n.approvers {
			dst = append(dst, a.id)
		}
	}
	return dst
}

// Tips appends the IDs of the current tips (attached transactions nothing
// approves, conflicting ones excluded) to dst.
func (l *Ledger) Tips(dst []ID) []ID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, n := range l.mu.tips {
		dst = append(dst, n.id)
	}
	return dst
}

// NewestTips appends to dst up to k of the most recently attached tips,
// newest first. Peers advertise them in heartbeats.
func (l *Ledger) NewestTips(k int, dst []ID) []ID {
	if k <= 0 {
		return dst
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	best := make([]*node, 0, k)
	for _, n := range l.mu.tips {
		if n == l.root {
			continue
		}
		// Insertion into a short list sorted by arrival, newest first.
		i := len(best)
		if i == k {
			if n.arrival <= best[k-1].arrival {
				continue
			}
			i--
		} else {
			best = append(best, nil)
		}
		for ; i > 0 && best[i-1].arrival < n.arrival; i-- {
			best[i] = best[i-1]
		}
		best[i] = n
	}
	for _, n := range best {
		dst = append(dst, n.id)
	}
	return dst
}

// SampleTips appends to dst k tips drawn uniformly at random, with
// replacement, by intN (which returns a number in [0, n)); fewer when the
// ledger has none but the genesis root.
func (l *Ledger) SampleTips(k int, intN func(n int) int, dst []ID) []ID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	tips := l.mu.tips
	if len(tips) == 0 || (len(tips) == 1 && tips[0] == l.root) {
		return dst
	}
	for range k {
		if n := tips[intN(len(tips))]; n != l.root {
			dst = append(dst, n.id)
		}
	}
	return dst
}

// OldestTip returns the earliest-attached tip other than skip and the
// genesis root. Validators approve it so that no transaction waits forever
// for a random pick.
func (l *Ledger) OldestTip(skip ID) (ID, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var oldest *node
	for _, n := range l.mu.tips {
		if n == l.root || n.id == skip {
			continue
		}
		if oldest == nil || n.arrival < oldest.arrival {
			oldest = n
		}
	}
	if oldest == nil {
		return ZeroID, false
	}
	return oldest.id, true
}

// IsTip reports whether id is attached and nothing approves it yet.
func (l *Ledger) IsTip(id ID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n, ok := l.mu.nodes[id]
	return ok && n.tipIndex >= 0
}

// RecentConfirmed returns the transaction depth places before the newest in
// the confirmed order (0 is the newest), clamped to the oldest; the genesis
// root while nothing is confirmed. Walks start here.
func (l *Ledger) RecentConfirmed(depth int) (ID, bool) {
	if depth <= 0 {
		// Every tip selection asks for this; it must not queue behind
		// the writer.
		return l.newest.Load().id, true
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	total := l.totalConfirmed()
	if total == 0 {
		return l.root.id, true
	}
	i := uint64(1)
	if uint64(depth) < total {
		i = total - uint64(depth)
	}
	if id, ok := l.confirmedAt(i); ok {
		return id, true
	}
	return l.mu.confirmed[0].id, true
}

// ConfirmedFrontier returns the newest transaction of the confirmed order
// (the genesis root before any) and its issuing time, without locking: tip
// selection reads it on every call.
func (l *Ledger) ConfirmedFrontier() (ID, int64) {
	n := l.newest.Load()
	return n.id, n.time
}

// Confirmed appends to dst the IDs at positions [from, from+limit) of the
// confirmed order (positions count from 1) and returns it.
func (l *Ledger) Confirmed(from uint64, limit int, dst []ID) []ID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i := from; i >= 1 && i <= l.totalConfirmed() && limit > 0; i++ {
		id, ok := l.confirmedAt(i)
		if !ok {
			break
		}
		dst = append(dst, id)
		limit--
	}
	return dst
}

// Missing appends to dst the IDs that parked transactions wait for and that
// this node has never seen: the ones to request from peers.
func (l *Ledger) Missing(dst []ID) []ID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for id := range l.mu.waiting {
		if _, ok := l.mu.parked[id]; !ok {
			dst = append(dst, id)
		}
	}
	return dst
}

// Transaction returns an attached or parked transaction with its bytes.
func (l *Ledger) Transaction(id ID) (*Transaction, error) {
	l.mu.RLock()
	if p, ok := l.mu.parked[id]; ok {
		l.mu.RUnlock()
		return p.tx, nil
	}
	n := l.peek(id)
	l.mu.RUnlock()
	if n == nil || n == l.root {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if l.cfg.Store == nil {
		return nil, fmt.Errorf("%w: %s (no store)", ErrNotFound, id)
	}
	raw, err := l.cfg.Store.Transaction(n.arrival)
	if err != nil {
		return nil, err
	}
	return Decode(raw, l.genesis.MaxPayload)
}

// IssuerState is what a device needs to issue its next transaction.
type IssuerState struct {
	// NextSeq and Prev are the sequence number and predecessor of the
	// issuer's next transaction (0 and ZeroID for a new issuer).
	NextSeq uint64
	Prev    ID
	// Recent counts the issuer's transactions within the difficulty
	// rules' rate window before at.
	Recent int
	// Conflicting is set when the issuer's chain head is part of an
	// equivocation (a cloned key).
	Conflicting bool
}

// IssuerState returns the issuer's chain head as this node knows it and its
// recent rate as of at (unix ns). Known is false for an issuer never seen.
func (l *Ledger) IssuerState(issuer PublicKey, at int64) (state IssuerState, known bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	iss, ok := l.mu.issuers[issuer]
	if !ok || iss.head == nil {
		return IssuerState{}, false
	}
	head := iss.head
	return IssuerState{
		NextSeq:     head.seq + 1,
		Prev:        head.id,
		Recent:      l.recentCount(l.rulesFor(issuer), head, at+1),
		Conflicting: head.conflicting(),
	}, true
}

// Required returns the proof-of-work bits a transaction of kind with a
// payload of payloadLen bytes needs when its issuer's recent count is
// recent (see IssuerState), under the genesis rules.
func (l *Ledger) Required(kind Kind, payloadLen, recent int) int {
	if kind.Spec().RateExempt {
		recent = 0
	}
	return l.rules.Required(payloadLen, recent)
}

// RequiredFor is Required under the rate rule the issuer's next
// transaction meets (RateRuler.CurrentRateRule: a device policy's free
// rate and growth), the genesis rule when there is none.
func (l *Ledger) RequiredFor(issuer PublicKey, kind Kind, payloadLen, recent int) int {
	if kind.Spec().RateExempt {
		recent = 0
	}
	return l.rulesFor(issuer).Required(payloadLen, recent)
}

// RulesFor is the difficulty rules the issuer's next transaction meets.
func (l *Ledger) RulesFor(issuer PublicKey) pow.Rules { return l.rulesFor(issuer) }

func (l *Ledger) rulesFor(issuer PublicKey) pow.Rules {
	if l.rateRuler != nil {
		if rr, ok := l.rateRuler.CurrentRateRule(issuer); ok {
			return rr.apply(l.rules)
		}
	}
	return l.rules
}

// Successor returns the first transaction seen that continues id's issuer
// chain (its sequence number plus one). Where the chain forks, the others
// are reported to the rule layer (RuleLayer.Equivocation), not here.
func (l *Ledger) Successor(id ID) (ID, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.peek(id)
	if n == nil || n.next == nil {
		return ID{}, false
	}
	return n.next.id, true
}

// Sees reports whether the control transaction control (KindSpec.Control,
// of a genesis authority or validator) is in the past of the attached
// transaction x, or is x: an O(1) test through x's horizon. A client
// choosing parents uses it to make sure its transaction sees an action
// (a device's resume, a transfer) that its validity hangs on.
func (l *Ledger) Sees(x, control ID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	xn, cn := l.peek(x), l.peek(control)
	if xn == nil || cn == nil || cn.issuer == nil || !cn.kind.Spec().Control {
		return false
	}
	named, ok := l.genesis.Named(cn.issuer.key)
	return ok && xn.horizon.at(named) > cn.seq
}

// HorizonOf is the attached transaction's horizon (PastView.Horizon of
// each named issuer, Genesis.Named order; the transaction included), a
// copy; false if it is not attached. A query recomputes from it what
// judged the transaction (the policies in force in its past).
func (l *Ledger) HorizonOf(id ID) ([]uint64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.peek(id)
	if n == nil {
		return nil, false
	}
	out := make([]uint64, l.named)
	for i := range out {
		out[i] = n.horizon.at(i)
	}
	return out, true
}
