package dag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Archiving keeps the ledger's memory bounded by Config.MemoryBudget
// instead of by history (docs/design/2026-12-02-bounded-memory.md).
// Confirmed transactions beyond the budget, oldest in the confirmed order
// first, leave memory: their record (what the ledger knows of them beyond
// their bytes) goes to the store's Archive, they leave the map and the
// confirmed order, and their pointers are cleared so that they are garbage
// once their in-memory children have left as well. A lookup that misses
// memory reads the archive. A transaction that references an archived one
// brings it back into memory from its record (resurrect), so it is judged
// exactly as if nothing had been archived; the resurrected node is archived
// again, with whatever changed, by the next pass.
//
// Unconfirmed transactions leave memory too once they are out of tip
// selection's reach (stale): nothing in memory approves them, they are no
// issuer's chain head or first transaction, Config.MemoryBudget's worth
// of transactions (counted as confirmed ones are) arrived after them, and
// they were issued more than Config.StaleAfter before the newest confirmed one. A
// fifth of a busy network's transactions may never be confirmed (tips
// nobody approved before they turned lazy); without this they would stay
// for ever. A stale tip leaves the tip list: the ledger's tips are the
// unapproved transactions within reach. Evicting only transactions that
// nothing in memory approves keeps one invariant that the walks rely on:
// the parents of an in-memory transaction are in memory or confirmed, so
// propagation and confirmation never meet an evicted unconfirmed one. A
// transaction that names a stale one brings it back with its unconfirmed
// ancestors (resurrect); walks that follow approvers (ruleOut,
// refreshRoots) bring back the stale approvers they meet.

// archiveChunk is how many transactions beyond the budget a pass waits
// for at most: passes write in chunks so that their cost is amortised. A
// small budget uses an eighth of itself (Ledger.chunk).
const archiveChunk = 4096

// nodeBytes is what one resident transaction costs in memory: the node,
// its map entry, its approver slice and its confirmed-order slot
// (BenchmarkLedgerHistory measured ≈350 B of heap per transaction).
const nodeBytes = 400

// recordVersion is the first byte of an archived record.
const recordVersion = 1

// record is the decoded form of an archived record: the node's fields that
// the transaction's bytes do not hold.
type record struct {
	arrival      uint64
	confIndex    uint64
	weight       uint64
	validators   uint64
	oldestRoot   int64
	youngestRoot int64
	cw           uint64
	tag          uint32
	flags        uint8
	next         ID // the first chain successor seen; zero if none
	horizon      []uint64
	approvers    []ID
}

// recordFlags are the node flags a record keeps.
const recordFlags = flagConfirmed | flagConflicting | flagRuledOut

// recordOf is n's record.
func recordOf(n *node) record {
	r := record{
		arrival: n.arrival, confIndex: n.confIndex, weight: n.weight, validators: n.validators,
		oldestRoot: n.oldestRoot, youngestRoot: n.youngestRoot, cw: n.cw, tag: n.tag,
		flags: n.flags & recordFlags, approvers: make([]ID, len(n.approvers)),
	}
	if n.next != nil {
		r.next = n.next.id
	}
	if n.horizon != nil {
		r.horizon = n.horizon.v
	}
	for i, a := range n.approvers {
		r.approvers[i] = a.id
	}
	return r
}

// encode is the record's canonical encoding (decodeRecord's only input
// that yields r).
func (r record) encode() []byte {
	b := make([]byte, 0, 1+7*8+4+1+IDSize+2+8*len(r.horizon)+4+IDSize*len(r.approvers))
	b = append(b, recordVersion)
	for _, v := range []uint64{r.arrival, r.confIndex, r.weight, r.validators, uint64(r.oldestRoot), uint64(r.youngestRoot), r.cw} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, r.tag)
	b = append(b, r.flags)
	b = append(b, r.next[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.horizon)))
	for _, v := range r.horizon {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.approvers)))
	for _, a := range r.approvers {
		b = append(b, a[:]...)
	}
	return b
}

// errRecord marks a record that does not decode.
var errRecord = errors.New("dag: malformed archived record")

// decodeRecord is the inverse of encodeRecord. It rejects anything else,
// trailing bytes included.
func decodeRecord(b []byte) (record, error) {
	var r record
	const fixed = 1 + 7*8 + 4 + 1 + IDSize + 2
	if len(b) < fixed || b[0] != recordVersion {
		return r, fmt.Errorf("%w: %d bytes", errRecord, len(b))
	}
	p := b[1:]
	u64 := func() uint64 { v := binary.BigEndian.Uint64(p); p = p[8:]; return v }
	r.arrival, r.confIndex, r.weight, r.validators = u64(), u64(), u64(), u64()
	r.oldestRoot, r.youngestRoot, r.cw = int64(u64()), int64(u64()), u64()
	r.tag = binary.BigEndian.Uint32(p)
	r.flags = p[4]
	p = p[5:]
	if r.flags&^recordFlags != 0 {
		return r, fmt.Errorf("%w: flags %#x", errRecord, r.flags)
	}
	r.next = ID(p[:IDSize])
	p = p[IDSize:]
	nh := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if len(p) < 8*nh+4 {
		return r, fmt.Errorf("%w: horizon of %d cut short", errRecord, nh)
	}
	if nh > 0 {
		r.horizon = make([]uint64, nh)
		for i := range r.horizon {
			r.horizon[i] = u64()
		}
	}
	na := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(len(p)) != uint64(na)*IDSize {
		return r, fmt.Errorf("%w: %d approvers in %d bytes", errRecord, na, len(p))
	}
	r.approvers = make([]ID, na)
	for i := range r.approvers {
		r.approvers[i] = ID(p[:IDSize])
		p = p[IDSize:]
	}
	return r, nil
}

// pinned reports whether n must stay in memory although it is archived:
// the genesis root, tips, and what the issuer state points at (chain
// heads, first transactions).
func (l *Ledger) pinned(n *node) bool {
	return n.tipIndex >= 0 || l.chainPinned(n)
}

// chainPinned reports whether n is the genesis root or what the issuer
// state points at: what stays in memory even when stale.
func (l *Ledger) chainPinned(n *node) bool {
	if n == l.root {
		return true
	}
	if iss := n.issuer; iss != nil && (iss.head == n || iss.first == n) {
		return true
	}
	if n.kind.Spec().RotatesKey {
		if next := l.mu.issuers[l.mu.rotated[n]]; next != nil && next.head == n {
			return true
		}
	}
	return false
}

// unpinned notes that n is no longer its chain's head: if it is
// unconfirmed and already aged out of the queue, the next pass looks at it
// again. Called with l.mu held.
func (l *Ledger) unpinned(n *node) {
	l.touch(n)
	if l.archive != nil && !n.confirmed() && n.arrival < l.agedBelow() {
		l.mu.recheck = append(l.mu.recheck, n)
	}
}

// agedBelow is the arrival below which the aging queue has let go of its
// entries (stale ones were examined). Called with l.mu held or writeMu.
func (l *Ledger) agedBelow() uint64 {
	if l.mu.agingHead < len(l.mu.aging) {
		return l.mu.aging[l.mu.agingHead].arrival
	}
	return l.mu.arrivals + 1
}

// touch notes a change to an archived node still in memory: its record is
// stale, so the next pass writes it again (and lets it go unless pinned).
// Called with l.mu held.
func (l *Ledger) touch(n *node) {
	if n.flags&flagArchived == 0 || n.flags&flagDirty != 0 || n.flags&flagEvicted != 0 {
		return
	}
	n.flags |= flagDirty
	l.mu.rearchive = append(l.mu.rearchive, n)
}

// archivePass archives the oldest confirmed transactions beyond the budget,
// the resurrected or changed ones, and the stale unconfirmed ones. It runs
// with writeMu held (or in replay, which has the ledger to itself) and l.mu
// not held: nothing else changes the graph meanwhile, and the store write
// happens outside the graph lock, so readers never wait for it. Only
// transactions whose bytes are durable are archived, so a record always
// names a stored arrival.
func (l *Ledger) archivePass() error {
	if l.archive == nil {
		return nil
	}
	excess := len(l.mu.confirmed) - l.resident
	aged := len(l.mu.aging) - l.mu.agingHead - l.resident
	if excess < l.chunk && len(l.mu.rearchive) < l.chunk && aged < l.chunk && len(l.mu.recheck) < l.chunk {
		return nil
	}
	durable := l.durableArrival.Load()
	take := 0
	for take < excess && l.mu.confirmed[take].arrival <= durable {
		take++
	}
	var stale []*node
	consumed := 0
	if l.inReplay {
		// Replay of a pruned log rebuilds approvers out of order with
		// the records (restoreFromRecord, finishRestore, which hold node
		// pointers): stale ones wait for live traffic; the queue keeps
		// only what may become stale. Replay of an unpruned log evicts
		// as live traffic does, so its memory stays bounded too.
		l.mu.aging = slices.DeleteFunc(l.mu.aging, func(n *node) bool { return n.confirmed() || n.flags&flagEvicted != 0 })
	} else {
		stale, consumed = l.selectStale(max(aged, 0), durable)
	}
	batch := make([]*node, 0, take+len(l.mu.rearchive)+len(stale))
	batch = append(batch, l.mu.confirmed[:take]...)
	batch = append(batch, l.mu.rearchive...)
	batch = append(batch, stale...)
	if len(batch) > 0 {
		records := make([]ArchivedRecord, len(batch))
		for i, n := range batch {
			records[i] = ArchivedRecord{ID: n.id, ConfirmedIndex: n.confIndex, Data: recordOf(n).encode()}
		}
		l.rewrites.note(l.mu.rearchive) // before the write: Prune reads the set under writeMu
		if err := l.archive.Archive(records); err != nil {
			return fmt.Errorf("%w: archive: %v", ErrStore, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range batch[:take+len(l.mu.rearchive)] {
		n.flags = n.flags&^flagDirty | flagArchived
		if !l.pinned(n) {
			l.evict(n)
		}
	}
	for _, n := range stale {
		n.flags |= flagArchived
		l.removeTip(n)
		l.evict(n)
	}
	clear(l.mu.confirmed[:take])
	l.mu.confirmed = l.mu.confirmed[take:]
	l.mu.confirmedBase += uint64(take)
	clear(l.mu.rearchive)
	l.mu.rearchive = l.mu.rearchive[:0]
	clear(l.mu.recheck)
	l.mu.recheck = l.mu.recheck[:0]
	clear(l.mu.aging[l.mu.agingHead : l.mu.agingHead+consumed])
	l.mu.agingHead += consumed
	if l.mu.agingHead > len(l.mu.aging)/2 {
		n := copy(l.mu.aging, l.mu.aging[l.mu.agingHead:])
		clear(l.mu.aging[n:])
		l.mu.aging = l.mu.aging[:n]
		l.mu.agingHead = 0
	}
	if len(batch) > 0 {
		l.archived.Store(true)
	}
	return nil
}

// selectStale picks the stale unconfirmed transactions to archive: among
// the first aged entries of the aging queue (those with at least
// l.resident arrivals after them) and the rechecked ones, each that is
// eligible, then, since evicting it may free them, its unconfirmed parents
// in turn (parents before children is never needed: a parent is only
// eligible once its approvers are gone). It reads the graph without l.mu,
// like archivePass. consumed is how many queue entries it used up.
func (l *Ledger) selectStale(aged int, durable uint64) (stale []*node, consumed int) {
	var chosen map[*node]bool
	var stack []*node
	consider := func(n *node) {
		stack = append(stack[:0], n)
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if chosen[c] || !l.staleEligible(c, durable, chosen) {
				continue
			}
			if chosen == nil {
				chosen = make(map[*node]bool)
			}
			chosen[c] = true
			stale = append(stale, c)
			stack = append(stack, c.parents[0])
			if c.parents[1] != c.parents[0] {
				stack = append(stack, c.parents[1])
			}
		}
	}
	queue := l.mu.aging[l.mu.agingHead:]
	reach := l.newest.Load().time - int64(l.cfg.StaleAfter)
	for consumed < aged && consumed < len(queue) && queue[consumed].arrival <= durable && queue[consumed].time < reach {
		consider(queue[consumed])
		consumed++
	}
	for _, n := range l.mu.recheck {
		consider(n)
	}
	return stale, consumed
}

// staleEligible reports whether n, aged, may leave memory although it is
// unconfirmed: it is in memory, durable, pinned by nothing but being a tip,
// and everything that approves it has left memory (or is chosen to).
func (l *Ledger) staleEligible(n *node, durable uint64, chosen map[*node]bool) bool {
	if n == nil || n.flags&(flagConfirmed|flagEvicted) != 0 || n.arrival > durable || l.mu.nodes[n.id] != n || l.chainPinned(n) {
		return false
	}
	if n.time >= l.newest.Load().time-int64(l.cfg.StaleAfter) {
		return false // still within the reach of tip selection and beacon sweeps
	}
	for _, a := range n.approvers {
		if chosen[a] {
			continue
		}
		if a.flags&flagEvicted == 0 || l.mu.nodes[a.id] != nil {
			return false
		}
	}
	return true
}

// evict takes an archived node out of memory. Other in-memory nodes may
// still point at it (children, a chain successor); they read only what it
// keeps (ID, time, sequence, arrival, flags), and every lookup by ID goes
// to the archive from now on. Called with l.mu held.
func (l *Ledger) evict(n *node) {
	if l.mu.nodes[n.id] == n {
		delete(l.mu.nodes, n.id)
	}
	delete(l.mu.rotated, n)
	n.parents = [2]*node{}
	n.prev, n.next, n.approvers, n.horizon = nil, nil, nil, nil
	n.mark = 0
	n.flags |= flagEvicted
}

// loadArchived builds the node of an archived transaction from its record
// and its bytes; nil if id is not archived (or its record is stale: after
// a crash an arrival may hold another transaction). With insert, the node
// goes back into memory (resurrect); without, it is a read-only copy for
// one answer. Called with l.mu held (for reading, without insert).
func (l *Ledger) loadArchived(id ID, insert bool) (*node, error) {
	if l.archive == nil || !l.archived.Load() {
		return nil, nil
	}
	if insert {
		return l.resurrect(id)
	}
	rec, tx, err := l.readArchived(id)
	if err != nil || tx == nil {
		return nil, err
	}
	return l.build(rec, tx, false), nil
}

// resurrect brings id back into memory and, when it is unconfirmed, its
// archived unconfirmed ancestors by approval with it, so that the parents
// of every in-memory transaction stay in memory or confirmed (see the
// invariant above). Iterative: a stale region may be deep. Called with l.mu
// held for writing.
func (l *Ledger) resurrect(id ID) (*node, error) {
	rec, tx, err := l.readArchived(id)
	if err != nil || tx == nil {
		return nil, err
	}
	first := l.build(rec, tx, true)
	work := []*node{first}
	for len(work) > 0 {
		n := work[len(work)-1]
		work = work[:len(work)-1]
		if n.confirmed() {
			continue
		}
		for i, p := range n.parents {
			if i == 1 && p == n.parents[0] || p.flags&flagStub == 0 {
				continue
			}
			rec, tx, err := l.readArchived(p.id)
			if err != nil {
				return nil, err
			}
			switch {
			case tx == nil:
				// Pruned: only confirmed transactions are, and only when
				// nothing kept references them; a stub does.
			case rec.flags&flagConfirmed != 0:
				// A confirmed parent stays out; its issuing time is what
				// the child's roots read (rootsOf).
				p.time, p.seq, p.arrival, p.kind = tx.Time, tx.Seq, rec.arrival, tx.Kind
			default:
				work = append(work, l.build(rec, tx, true)) // relink points n at it
			}
		}
	}
	return first, nil
}

// build makes the node of an archived transaction. With insert it goes
// into memory: the in-memory nodes that point at an evicted copy of it
// (its parents' approver lists, its chain neighbours, its approvers) are
// made to point at it. An unconfirmed one is an ordinary resident node
// again (its record is stale until it is archived anew) and is looked at
// by the next pass; a confirmed one stays archived, marked for rewriting.
// Called with l.mu held (for writing with insert).
func (l *Ledger) build(rec record, tx *Transaction, insert bool) *node {
	id := tx.ID()
	confirmed := rec.flags&flagConfirmed != 0
	n := &node{
		id: id, seq: tx.Seq, time: tx.Time, arrival: rec.arrival, confIndex: rec.confIndex,
		weight: rec.weight, validators: rec.validators, oldestRoot: rec.oldestRoot,
		youngestRoot: rec.youngestRoot, cw: rec.cw, tag: rec.tag, kind: tx.Kind,
		flags: rec.flags, tipIndex: -1,
	}
	if confirmed {
		n.flags |= flagArchived
	}
	n.parents[0] = l.nodeOrStub(tx.Trunk)
	n.parents[1] = n.parents[0]
	if tx.Branch != tx.Trunk {
		n.parents[1] = l.nodeOrStub(tx.Branch)
	}
	if tx.Seq > 0 {
		n.prev = l.nodeOrStub(tx.Prev)
	}
	if !rec.next.IsZero() {
		n.next = l.nodeOrStub(rec.next)
	}
	n.approvers = make([]*node, len(rec.approvers))
	for i, a := range rec.approvers {
		if confirmed {
			n.approvers[i] = l.nodeOrStub(a)
		} else {
			// What approves an unconfirmed transaction is unconfirmed.
			n.approvers[i] = l.nodeOrHusk(a)
		}
	}
	if len(rec.horizon) > 0 {
		n.horizon = &horizon{v: rec.horizon}
	}
	if insert {
		n.issuer = l.issuerOf(tx.Issuer)
	} else if n.issuer = l.mu.issuers[tx.Issuer]; n.issuer == nil {
		n.issuer = &issuer{key: tx.Issuer, validator: -1}
	}
	if !insert {
		return n
	}
	if tx.Kind.Spec().RotatesKey {
		newKey, _, _ := ParseRotatePayload(tx.Payload)
		l.mu.rotated[n] = newKey
	}
	l.mu.nodes[id] = n
	l.relink(n)
	if confirmed {
		l.touch(n)
		return n
	}
	if len(n.approvers) == 0 && n.flags&(flagConflicting|flagRuledOut) == 0 {
		l.addTip(n) // a stale tip is one again while it is in reach
	}
	l.mu.recheck = append(l.mu.recheck, n)
	return n
}

// relink points the in-memory neighbours of a resurrected node at it
// instead of at its evicted copy. Called with l.mu held for writing.
func (l *Ledger) relink(n *node) {
	resident := func(m *node) bool { return m != nil && m.flags&flagEvicted == 0 }
	for i, p := range n.parents {
		if i == 1 && p == n.parents[0] || !resident(p) {
			continue
		}
		for j, a := range p.approvers {
			if a.id == n.id {
				p.approvers[j] = n
			}
		}
	}
	if p := n.prev; resident(p) && p.next != nil && p.next.id == n.id {
		p.next = n
	}
	if c := n.next; resident(c) && c.prev != nil && c.prev.id == n.id {
		c.prev = n
	}
	for _, a := range n.approvers {
		if !resident(a) {
			continue
		}
		for k, p := range a.parents {
			if p != nil && p.id == n.id {
				a.parents[k] = n
			}
		}
		if a.prev != nil && a.prev.id == n.id {
			a.prev = n
		}
	}
}

// readArchived reads id's record and bytes; a nil transaction means that
// id is not archived.
func (l *Ledger) readArchived(id ID) (record, *Transaction, error) {
	data, ok, err := l.archive.Archived(id)
	if err != nil {
		return record{}, nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if !ok {
		return record{}, nil, nil
	}
	rec, err := decodeRecord(data)
	if err != nil {
		return record{}, nil, fmt.Errorf("%w: archived %s: %v", ErrStore, id.Short(), err)
	}
	tx, err := l.storedTransaction(rec.arrival)
	if err != nil || tx == nil || tx.ID() != id {
		return record{}, nil, err
	}
	return rec, tx, nil
}

// storedTransaction reads the attached transaction at arrival from the
// store; nil if there is none, or if it was pruned (a record whose bytes
// are gone is what a prune cut short by a crash leaves: pruned too).
func (l *Ledger) storedTransaction(arrival uint64) (*Transaction, error) {
	raw, err := l.cfg.Store.Transaction(arrival)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrPruned) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	tx, err := decode(raw, l.genesis.MaxPayload, false)
	if err != nil {
		return nil, fmt.Errorf("%w: arrival %d: %v", ErrStore, arrival, err)
	}
	return tx, nil
}

// nodeOrStub is the in-memory node of id, or a stub that holds only the
// ID and reads as confirmed: what a confirmed transaction references is
// confirmed, and a parent of an unconfirmed one that is not in memory is
// confirmed too (resurrect brings back the others).
func (l *Ledger) nodeOrStub(id ID) *node {
	if n := l.mu.nodes[id]; n != nil {
		return n
	}
	return &node{id: id, flags: flagConfirmed | flagStub | flagArchived | flagEvicted, tipIndex: -1}
}

// nodeOrHusk is the in-memory node of id, or a stub that reads as an
// evicted unconfirmed transaction: walks that meet it resurrect it (live).
func (l *Ledger) nodeOrHusk(id ID) *node {
	if n := l.mu.nodes[id]; n != nil {
		return n
	}
	return &node{id: id, flags: flagStub | flagArchived | flagEvicted, tipIndex: -1}
}

// current is the in-memory version of n: n itself, or for an evicted
// copy the node that replaced it (nil if there is none). Called with l.mu
// held.
func (l *Ledger) current(n *node) *node {
	if n == nil || n.flags&flagEvicted == 0 {
		return n
	}
	return l.mu.nodes[n.id]
}

// resolve returns the in-memory node of id, resurrecting it from the
// archive if it is there; nil if the ledger does not have it. Called with
// l.mu held for writing.
func (l *Ledger) resolve(id ID) (*node, error) {
	if n := l.mu.nodes[id]; n != nil {
		return n, nil
	}
	return l.loadArchived(id, true)
}

// live is the in-memory version of n, which may be an evicted node or a
// stub that other nodes still point at. Called with l.mu held for writing.
func (l *Ledger) live(n *node) (*node, error) {
	if n == nil || n.flags&flagEvicted == 0 {
		return n, nil
	}
	return l.resolve(n.id)
}

// peek returns the node of id for reading: the in-memory one or a
// read-only copy from the archive. Called with l.mu held.
func (l *Ledger) peek(id ID) *node {
	if n := l.mu.nodes[id]; n != nil {
		return n
	}
	n, _ := l.loadArchived(id, false)
	return n
}

// chainPrev is p's issuer-chain predecessor, read from the archive when
// memory no longer links to it; nil for a chain start or on a store error.
// Called with l.mu held.
func (l *Ledger) chainPrev(p *node) *node {
	if p.seq == 0 {
		return nil
	}
	q := p.prev
	if q != nil && q.flags&flagEvicted == 0 {
		return q
	}
	var id ID
	if q != nil {
		id = q.id
	} else {
		tx, err := l.storedTransaction(p.arrival)
		if err != nil || tx == nil {
			return nil
		}
		id = tx.Prev
	}
	return l.peek(id)
}

// archivedDuplicates marks, before the graph lock is taken, the
// transactions of a batch that are archived: the common answer (a new
// transaction) is a negative read of the store's index, which must not
// happen under the lock. Called with writeMu held, so the map does not
// change meanwhile.
func (l *Ledger) archivedDuplicates(txs []*Transaction) map[ID]bool {
	if l.archive == nil || !l.archived.Load() {
		return nil
	}
	var dup map[ID]bool
	for _, tx := range txs {
		id := tx.ID()
		if _, ok := l.mu.nodes[id]; ok {
			continue
		}
		if _, tx, err := l.readArchived(id); err == nil && tx != nil {
			if dup == nil {
				dup = make(map[ID]bool)
			}
			dup[id] = true
		}
	}
	return dup
}

// confirmedAt returns the ID at a 1-based position of the confirmed order.
// Called with l.mu held for reading; reads the archive below the resident
// part.
func (l *Ledger) confirmedAt(i uint64) (ID, bool) {
	base := l.mu.confirmedBase
	if i > base && i-base <= uint64(len(l.mu.confirmed)) {
		return l.mu.confirmed[i-base-1].id, true
	}
	if i == 0 || i > base || l.archive == nil {
		return ID{}, false
	}
	id, ok, err := l.archive.ArchivedAt(i)
	return id, ok && err == nil
}

// totalConfirmed is the length of the confirmed order. Called with l.mu
// held.
func (l *Ledger) totalConfirmed() uint64 {
	return l.mu.confirmedBase + uint64(len(l.mu.confirmed))
}
