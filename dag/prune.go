package dag

import (
	"fmt"
	"sync"
)

// Pruning keeps the store within a disk budget
// (docs/design/2026-12-03-pruning.md). It forgets, for good, archived
// transactions of the kinds nothing but the ledger's own history needs
// (data, beacons, checkpoint cosignatures): their bytes, their record and
// their place in the confirmed order. Everything the rule layer's state is
// built from (control transactions, key rotations, commands, installs),
// conflicting transactions (the evidence of a cloned key) and what stays in
// memory (chain heads and first transactions, tips, the unconfirmed and
// the newest confirmed) is kept.
//
// One invariant makes a pruned store replayable and keeps validity
// independent of pruning: a transaction is pruned only when every
// transaction that references it (its approvers and its chain successor)
// has been pruned too, or is itself a candidate of the same pass. A
// candidate with a kept referencer stays whole (bytes and record) and is
// re-examined by later passes: the frontier, Hornet's solid entry points.
// So every kept transaction's references are kept, in memory or as a
// record that resurrects them, apart from frontier transactions, which are
// never re-attached: replay skips them and resurrects them from their
// record when a kept transaction names them.

// prunable reports whether transactions of kind k may be pruned: no rule
// layer state is built from them beyond a chain's length.
func prunable(k Kind) bool {
	return k == KindData || k == KindBeacon || k == KindCheckpoint
}

// pruneState is Prune's own: one pass at a time.
type pruneState struct {
	sync.Mutex
	// cursor is the next position of the confirmed order to examine;
	// positions below it are pruned, kept for good, or in frontier.
	cursor uint64
	// frontier maps candidates kept for a referencer to their position.
	frontier map[ID]uint64
}

// PruneStats is what one Prune call did.
type PruneStats struct {
	// Examined counts the confirmed positions read: the frontier's and
	// the cursor's.
	Examined int
	// New counts the positions the cursor passed. Fewer than the limit
	// means the cursor reached the newest archived position, or one to
	// hold back: a further call now would find nothing new.
	New int
	// Pruned counts the transactions removed from the store.
	Pruned int
	// Frontier is how many candidates wait for a referencer to go.
	Frontier int
	// Cursor is the first confirmed position not yet examined.
	Cursor uint64
}

// rewriteWatch is the set of IDs whose records archive passes rewrote
// while a Prune call was reading records without the writer's lock. A
// record is rewritten when its transaction, evicted, came back into memory
// and changed (it gained an approver): what Prune read of it may be out of
// date. Only these candidates wait for the next call; an earlier version
// distrusted the whole pass after any rewrite, and under steady traffic
// (every pass rewrites a few chain heads and parents of tips) nothing was
// ever pruned.
type rewriteWatch struct {
	sync.Mutex
	watching bool
	ids      map[ID]struct{}
}

// watch starts collecting (Prune, before its reads).
func (w *rewriteWatch) watch() {
	w.Lock()
	defer w.Unlock()
	w.watching = true
	clear(w.ids)
}

// note records the nodes an archive pass rewrites, if Prune is watching.
// Called with writeMu held.
func (w *rewriteWatch) note(nodes []*node) {
	if len(nodes) == 0 {
		return
	}
	w.Lock()
	defer w.Unlock()
	if !w.watching {
		return
	}
	if w.ids == nil {
		w.ids = make(map[ID]struct{}, len(nodes))
	}
	for _, n := range nodes {
		w.ids[n.id] = struct{}{}
	}
}

// stop ends collecting and returns the IDs rewritten meanwhile (Prune,
// with writeMu held, so that no pass runs between its check and its
// deletion). The set stays readable until the next watch.
func (w *rewriteWatch) stop() map[ID]struct{} {
	w.Lock()
	defer w.Unlock()
	w.watching = false
	return w.ids
}

type pruneCandidate struct {
	entry PrunedEntry
	refs  []ID // approvers and chain successor, from the record
}

// Prune removes from the store confirmed, archived transactions of the
// prunable kinds issued before (unix ns), oldest in the confirmed order
// first, examining at most limit positions (0: no limit). wait, if not
// nil, holds a transaction back for now, like one issued too recently
// (the node's audit log has not logged it yet); the pass stops there. A store that is
// not a Pruner, or a ledger that archives nothing (Config.MemoryBudget),
// prunes nothing. Prune reads the store without the ledger's locks and
// takes the writer's lock only to check and delete, so ingest waits only
// for the deletion itself.
func (l *Ledger) Prune(before int64, limit int, wait func(ID) bool) (PruneStats, error) {
	pr, ok := l.cfg.Store.(Pruner)
	if !ok || l.archive == nil {
		return PruneStats{}, nil
	}
	if err := l.failure(); err != nil {
		return PruneStats{}, err
	}
	l.prune.Lock()
	defer l.prune.Unlock()
	if l.prune.cursor == 0 {
		l.prune.cursor = 1
	}
	if l.prune.frontier == nil {
		l.prune.frontier = make(map[ID]uint64)
	}
	l.mu.RLock()
	base := l.mu.confirmedBase
	l.mu.RUnlock()
	l.rewrites.watch()
	defer l.rewrites.stop() // on the error paths; stopping twice is harmless

	var st PruneStats
	cands := make(map[ID]*pruneCandidate)
	var order []*pruneCandidate
	// examine reads position pos (want: the ID expected there, for the
	// frontier).
	const (
		skip = iota
		candidate
		tooYoung
	)
	examine := func(pos uint64, want ID) (int, error) {
		st.Examined++
		id, ok, err := l.archive.ArchivedAt(pos)
		if err != nil {
			return skip, fmt.Errorf("%w: prune: %v", ErrStore, err)
		}
		if !ok || (!want.IsZero() && id != want) {
			return skip, nil // pruned, or renumbered by a replay
		}
		rec, tx, err := l.readArchived(id)
		if err != nil {
			return skip, err
		}
		if tx == nil || rec.confIndex != pos {
			return skip, nil
		}
		if tx.Time >= before || wait != nil && wait(id) {
			return tooYoung, nil
		}
		if !prunable(tx.Kind) || rec.flags&flagConflicting != 0 {
			return skip, nil // kept for good
		}
		c := &pruneCandidate{entry: PrunedEntry{Arrival: rec.arrival, ID: id, ConfirmedIndex: pos}, refs: rec.approvers}
		if !rec.next.IsZero() {
			c.refs = append(c.refs, rec.next)
		}
		cands[id] = c
		order = append(order, c)
		return candidate, nil
	}
	for id, pos := range l.prune.frontier {
		r, err := examine(pos, id)
		if err != nil {
			return st, err
		}
		if r != tooYoung {
			delete(l.prune.frontier, id)
		}
	}
	// limit bounds the new positions; the frontier is re-read in full (it
	// holds only candidates kept for a referencer, and counting it against
	// limit let a frontier of limit entries stop the cursor for good).
	for ; l.prune.cursor <= base && (limit == 0 || st.New < limit); st.New++ {
		r, err := examine(l.prune.cursor, ID{})
		if err != nil {
			return st, err
		}
		if r == tooYoung {
			break
		}
		l.prune.cursor++
	}
	st.Cursor = l.prune.cursor

	// A referencer outside the candidates is kept unless it is gone
	// already (neither in memory nor archived).
	gone := make(map[ID]bool)
	for _, c := range order {
		for _, r := range c.refs {
			if _, ok := cands[r]; ok {
				continue
			}
			if _, ok := gone[r]; ok {
				continue
			}
			l.mu.RLock()
			_, resident := l.mu.nodes[r]
			l.mu.RUnlock()
			archived := false
			if !resident {
				// A record without its bytes is pruned (storage deletes
				// bytes that its value-log GC brought back again, not
				// records: see storage/zombies.go).
				_, tx, err := l.readArchived(r)
				if err != nil {
					return st, err
				}
				archived = tx != nil
			}
			gone[r] = !resident && !archived
		}
	}

	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	// With writeMu held nothing attaches, resurrects or archives, so the
	// map is stable. A candidate whose record was rewritten since the reads
	// above (it came back, gained an approver and was archived again)
	// waits in the frontier for the next call rather than trust a stale
	// approver list. A candidate referenced by another candidate goes with
	// it even if that one stays, in memory or rewritten: a kept candidate
	// is frontier, which replay never re-attaches (see above).
	rewritten := l.rewrites.stop()
	var entries []PrunedEntry
	for _, c := range order {
		_, keep := l.mu.nodes[c.entry.ID]
		if _, ok := rewritten[c.entry.ID]; ok {
			keep = true
		}
		for _, r := range c.refs {
			if keep {
				break
			}
			if _, ok := l.mu.nodes[r]; ok {
				keep = true
			} else if _, ok := cands[r]; !ok && !gone[r] {
				keep = true
			}
		}
		if keep {
			l.prune.frontier[c.entry.ID] = c.entry.ConfirmedIndex
			continue
		}
		entries = append(entries, c.entry)
	}
	if err := pr.Prune(entries); err != nil {
		err = fmt.Errorf("%w: prune: %v", ErrStore, err)
		l.failed.CompareAndSwap(nil, &err)
		return st, err
	}
	st.Pruned = len(entries)
	st.Frontier = len(l.prune.frontier)
	return st, nil
}

// pruned reports whether the store has pruned anything: replay must then
// expect gaps and references it can only resolve from the archive.
func (l *Ledger) pruned() bool {
	pr, ok := l.cfg.Store.(Pruner)
	return ok && pr.Pruned() > 0
}

// restoreFromRecord gives a transaction that replay just attached what its
// archived record knew and the pruned log can no longer rebuild: a chain
// successor that was pruned (so that the successor, sent again, is a
// duplicate and not a fork) and its confirmation, when the beacons that
// confirmed it were pruned (replay confirms such transactions at its end).
// Called with l.mu held, during replay of a pruned store.
func (l *Ledger) restoreFromRecord(n *node) error {
	data, ok, err := l.archive.Archived(n.id)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	if !ok {
		return nil
	}
	rec, err := decodeRecord(data)
	if err != nil || rec.arrival != n.arrival {
		return nil // another transaction's record at a reused arrival: stale
	}
	if n.next == nil && !rec.next.IsZero() {
		n.next = l.nodeOrStub(rec.next)
	}
	if rec.flags&flagConfirmed != 0 || len(rec.approvers) > 0 {
		n.validators |= rec.validators
		n.weight = max(n.weight, rec.weight)
		l.mu.restored = append(l.mu.restored, restored{n, rec.approvers, rec.flags&flagConfirmed != 0})
	}
	return nil
}

// restored is a transaction replay attached whose record says more than
// the pruned log: confirmed, or approvers that replay may not bring back.
type restored struct {
	n         *node
	approvers []ID
	confirmed bool
}

// finishRestore confirms the restored transactions that replay left
// unconfirmed (their beacons were pruned) and gives each the approvers its
// record lists and replay did not attach (pruned ones, as stubs), so that
// it is no tip again. Called with l.mu held, at the end of replay.
func (l *Ledger) finishRestore() {
	var newly []*node
	for _, r := range l.mu.restored {
		n := r.n
		have := make(map[ID]bool, len(n.approvers))
		for _, a := range n.approvers {
			have[a.id] = true
		}
		for _, a := range r.approvers {
			if !have[a] {
				n.approvers = append(n.approvers, l.nodeOrStub(a))
			}
		}
		if len(n.approvers) > 0 && n.tipIndex >= 0 {
			l.removeTip(n)
		}
		if r.confirmed && !n.confirmed() {
			n.flags |= flagConfirmed
			newly = append(newly, n)
		}
	}
	l.mu.restored = nil
	if len(newly) > 0 {
		l.confirm(&batch{replaying: true}, newly)
	}
}

// unpark takes a transaction that offer just parked back out of the
// parking lot (replay's frontier transactions). Called with l.mu held.
func (l *Ledger) unpark(id ID) {
	p := l.mu.parked[id]
	if p == nil {
		return
	}
	delete(l.mu.parked, id)
	for _, ref := range p.tx.references() {
		ws := l.mu.waiting[ref]
		for i, w := range ws {
			if w == p {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(l.mu.waiting, ref)
		} else {
			l.mu.waiting[ref] = ws
		}
	}
}
