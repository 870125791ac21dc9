package dag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A checkpoint lets a ledger that was shut down cleanly start without
// replaying its log, so that restart time depends on the memory budget and
// the number of issuers, not on history (docs/design/2026-12-02-bounded-memory.md).
//
// Checkpoint archives every transaction still in memory (confirmed or not)
// and saves what is not a property of any one transaction: the counters,
// the tips, each issuer's chain head and first transaction, the newest
// confirmed transaction and the rule layer's state. Open loads it instead
// of replaying when the log has not grown since, then brings back into
// memory only what must be there — tips, chain heads and first
// transactions, with their unconfirmed ancestors (resurrect) — and leaves
// the rest to the archive, read on demand as after any eviction. The
// checkpoint is dropped (durably) before the ledger accepts a write, so a
// crash later replays the log as before: a checkpoint never describes a
// log other than the one it was saved with.

// CheckpointStore is implemented by a Store that can keep the ledger's
// checkpoint.
type CheckpointStore interface {
	// SaveCheckpoint stores data durably as the checkpoint of the log as
	// it is now, replacing any other.
	SaveCheckpoint(data []byte) error
	// LoadCheckpoint returns the checkpoint; false if there is none, if
	// the log has changed since it was saved, or if it is damaged.
	LoadCheckpoint() (data []byte, ok bool, err error)
	// DropCheckpoint deletes the checkpoint durably.
	DropCheckpoint() error
	// ReplayParked calls parked for every parked transaction (Replay's
	// second half).
	ReplayParked(parked func(raw []byte) error) error
}

// RuleCheckpointer is implemented by a RuleLayer whose state a checkpoint
// can hold. Checkpoint is called with the ledger's writer lock held (no
// Apply runs meanwhile); Restore on a layer that has applied nothing,
// before the ledger accepts a transaction, and must leave the layer as it
// was when it fails. A ledger whose rule layer does not implement it
// always replays.
type RuleCheckpointer interface {
	Checkpoint() ([]byte, error)
	Restore(data []byte) error
}

// ErrCheckpoint: a checkpoint cannot be taken now (transactions not yet
// durable), or this ledger cannot take one (its store or rule layer does
// not support it, or it keeps everything in memory).
var ErrCheckpoint = errors.New("dag: no checkpoint")

// checkpointVersion is the first byte of a checkpoint.
const checkpointVersion = 1

// checkpoint is the decoded form of a checkpoint.
type checkpoint struct {
	arrivals        uint64
	confirmed       uint64
	conflicts       uint64
	unconfirmedData uint64
	beacons         uint64
	newest          ID // zero: the genesis root
	tips            []ID
	issuers         []issuerEntry
	hasRules        bool
	rules           []byte
}

type issuerEntry struct {
	key         PublicKey
	head, first ID // zero when none
}

func (c *checkpoint) encode() []byte {
	b := make([]byte, 0, 1+5*8+IDSize+4+IDSize*len(c.tips)+4+3*IDSize*len(c.issuers)+1+4+len(c.rules))
	b = append(b, checkpointVersion)
	for _, v := range []uint64{c.arrivals, c.confirmed, c.conflicts, c.unconfirmedData, c.beacons} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = append(b, c.newest[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.tips)))
	for _, id := range c.tips {
		b = append(b, id[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.issuers)))
	for _, e := range c.issuers {
		b = append(b, e.key[:]...)
		b = append(b, e.head[:]...)
		b = append(b, e.first[:]...)
	}
	if c.hasRules {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(len(c.rules)))
		b = append(b, c.rules...)
	} else {
		b = append(b, 0)
	}
	return b
}

// errCheckpointFormat marks a checkpoint that does not decode.
var errCheckpointFormat = errors.New("dag: malformed checkpoint")

// decodeCheckpoint is the inverse of encode; it rejects anything else,
// trailing bytes included.
func decodeCheckpoint(b []byte) (*checkpoint, error) {
	bad := func(what string) (*checkpoint, error) {
		return nil, fmt.Errorf("%w: %s", errCheckpointFormat, what)
	}
	const fixed = 1 + 5*8 + IDSize + 4
	if len(b) < fixed || b[0] != checkpointVersion {
		return bad(fmt.Sprintf("%d bytes, version %v", len(b), b[:min(len(b), 1)]))
	}
	c := &checkpoint{}
	p := b[1:]
	u64 := func() uint64 { v := binary.BigEndian.Uint64(p); p = p[8:]; return v }
	c.arrivals, c.confirmed, c.conflicts, c.unconfirmedData, c.beacons = u64(), u64(), u64(), u64(), u64()
	c.newest = ID(p[:IDSize])
	p = p[IDSize:]
	nt := uint64(binary.BigEndian.Uint32(p))
	p = p[4:]
	if uint64(len(p)) < nt*IDSize+4 {
		return bad(fmt.Sprintf("%d tips cut short", nt))
	}
	c.tips = make([]ID, nt)
	for i := range c.tips {
		c.tips[i] = ID(p[:IDSize])
		p = p[IDSize:]
	}
	ni := uint64(binary.BigEndian.Uint32(p))
	p = p[4:]
	if uint64(len(p)) < ni*3*IDSize+1 {
		return bad(fmt.Sprintf("%d issuers cut short", ni))
	}
	c.issuers = make([]issuerEntry, ni)
	for i := range c.issuers {
		e := &c.issuers[i]
		e.key = PublicKey(p[:IDSize])
		e.head = ID(p[IDSize : 2*IDSize])
		e.first = ID(p[2*IDSize : 3*IDSize])
		p = p[3*IDSize:]
	}
	switch p[0] {
	case 0:
		p = p[1:]
	case 1:
		if len(p) < 5 {
			return bad("rule layer state cut short")
		}
		n := binary.BigEndian.Uint32(p[1:])
		p = p[5:]
		if uint64(len(p)) != uint64(n) {
			return bad(fmt.Sprintf("rule layer state of %d bytes in %d", n, len(p)))
		}
		c.hasRules, c.rules = true, p
		p = nil
	default:
		return bad(fmt.Sprintf("rule layer flag %d", p[0]))
	}
	if len(p) != 0 {
		return bad(fmt.Sprintf("%d trailing bytes", len(p)))
	}
	return c, nil
}

// checkpointable reports whether this ledger can take and load
// checkpoints: a store that keeps them, archiving on (everything a
// checkpoint leaves out is read from the archive), no cumulative weights
// (they change on archived transactions) and a rule layer, if any, that
// can save its state.
func (l *Ledger) checkpointable() (CheckpointStore, RuleCheckpointer, bool) {
	cs, ok := l.cfg.Store.(CheckpointStore)
	if !ok || l.archive == nil || l.cfg.CumulativeWeightWindow > 0 {
		return nil, nil, false
	}
	if l.cfg.Rules == nil {
		return cs, nil, true
	}
	rc, ok := l.cfg.Rules.(RuleCheckpointer)
	return cs, rc, ok
}

// Checkpoint saves the ledger's state so that the next Open need not
// replay the log. Every AttachVerified must have been waited for (its
// transactions durable); the node calls it once ingest has stopped, at
// shutdown. Transactions attached afterwards make the checkpoint out of
// date (Open then replays), so it is safe, merely useless, to go on. It
// returns an error wrapping ErrCheckpoint when this ledger cannot take
// one, and one wrapping ErrStore when writing failed.
func (l *Ledger) Checkpoint() error {
	cs, rc, ok := l.checkpointable()
	if !ok {
		return fmt.Errorf("%w: the store, the memory budget or the rule layer does not allow one", ErrCheckpoint)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.failure(); err != nil {
		return err
	}
	l.commit.mu.Lock()
	queued := len(l.commit.queue) > 0 || l.commit.leading
	l.commit.mu.Unlock()
	if queued || l.durableArrival.Load() < l.mu.arrivals {
		return fmt.Errorf("%w: attached transactions are not durable yet (wait for every AttachVerified)", ErrCheckpoint)
	}
	// Everything in memory goes to the archive; with writeMu held nothing
	// changes the graph, so the map is read without the graph lock.
	var records []ArchivedRecord
	for _, n := range l.mu.nodes {
		if n == l.root || n.flags&(flagArchived|flagDirty) == flagArchived {
			continue // the root has no record; a clean archived one is current
		}
		records = append(records, ArchivedRecord{ID: n.id, ConfirmedIndex: n.confIndex, Data: recordOf(n).encode()})
	}
	if err := l.archive.Archive(records); err != nil {
		return fmt.Errorf("%w: checkpoint: %v", ErrStore, err)
	}
	c := checkpoint{
		arrivals: l.mu.arrivals, confirmed: l.totalConfirmed(), conflicts: uint64(l.mu.conflicts),
		unconfirmedData: uint64(max(l.mu.unconfirmedData, 0)), beacons: uint64(l.mu.beacons),
	}
	if n := l.newest.Load(); n != l.root {
		c.newest = n.id
	}
	c.tips = make([]ID, len(l.mu.tips))
	for i, n := range l.mu.tips {
		c.tips[i] = n.id
	}
	c.issuers = make([]issuerEntry, 0, len(l.mu.issuers))
	for key, iss := range l.mu.issuers {
		e := issuerEntry{key: key}
		if iss.head != nil {
			e.head = iss.head.id
		}
		if iss.first != nil {
			e.first = iss.first.id
		}
		c.issuers = append(c.issuers, e)
	}
	// Canonical: one state, one checkpoint.
	slices.SortFunc(c.issuers, func(a, b issuerEntry) int { return ID(a.key).Compare(ID(b.key)) })
	if rc != nil {
		state, err := rc.Checkpoint()
		if err != nil {
			return fmt.Errorf("%w: rule layer: %v", ErrCheckpoint, err)
		}
		c.hasRules, c.rules = true, state
	}
	if err := cs.SaveCheckpoint(c.encode()); err != nil {
		return fmt.Errorf("%w: checkpoint: %v", ErrStore, err)
	}
	return nil
}

// restoreCheckpoint loads the store's checkpoint into a ledger fresh from
// newLedger. False (and no error) means there is none that fits: the
// caller replays, on a new ledger, since a failed restore may have
// changed this one. The rule layer is restored last, so that it is left
// alone whenever the ledger's part fails.
func (l *Ledger) restoreCheckpoint() (bool, error) {
	cs, rc, ok := l.checkpointable()
	if !ok {
		return false, nil
	}
	data, ok, err := cs.LoadCheckpoint()
	if err != nil {
		return false, fmt.Errorf("%w: checkpoint: %v", ErrStore, err)
	}
	if !ok {
		return false, nil
	}
	c, err := decodeCheckpoint(data)
	if err != nil || c.hasRules != (rc != nil) {
		return false, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.archived.Store(true)
	l.mu.arrivals, l.mu.confirmedBase = c.arrivals, c.confirmed
	l.mu.conflicts, l.mu.unconfirmedData, l.mu.beacons = int(c.conflicts), int(c.unconfirmedData), int(c.beacons)
	l.durableArrival.Store(c.arrivals)
	// need resolves an ID the checkpoint names: it must be archived.
	need := func(id ID) (*node, error) {
		n, err := l.resolve(id)
		if err == nil && n == nil {
			err = fmt.Errorf("%s is not archived", id.Short())
		}
		return n, err
	}
	for _, e := range c.issuers {
		iss := l.issuerOf(e.key)
		if !e.head.IsZero() {
			if iss.head, err = need(e.head); err != nil {
				return false, nil
			}
		}
		if !e.first.IsZero() {
			if iss.first, err = need(e.first); err != nil {
				return false, nil
			}
		}
	}
	if !c.newest.IsZero() {
		n, err := need(c.newest)
		if err != nil || !n.confirmed() {
			return false, nil
		}
		l.newest.Store(n)
	}
	tips := make([]*node, len(c.tips))
	for i, id := range c.tips {
		if tips[i], err = need(id); err != nil {
			return false, nil
		}
	}
	// The tips are the checkpoint's, in its order (resurrect made some
	// of the nodes it brought back tips already).
	for _, n := range l.mu.tips {
		n.tipIndex = -1
	}
	l.mu.tips = l.mu.tips[:0]
	for _, n := range tips {
		if n.tipIndex < 0 {
			l.addTip(n)
		}
	}
	// What came back unconfirmed ages from here like new arrivals.
	slices.SortFunc(l.mu.recheck, func(a, b *node) int { return cmpArrival(a, b) })
	l.mu.aging = append(l.mu.aging[:0], l.mu.recheck...)
	clear(l.mu.recheck)
	l.mu.recheck = l.mu.recheck[:0]
	if rc != nil {
		if err := rc.Restore(c.rules); err != nil {
			return false, nil
		}
	}
	if err := cs.DropCheckpoint(); err != nil {
		return false, fmt.Errorf("%w: checkpoint: %v", ErrStore, err)
	}
	return true, nil
}

func cmpArrival(a, b *node) int {
	switch {
	case a.arrival < b.arrival:
		return -1
	case a.arrival > b.arrival:
		return 1
	}
	return 0
}

// replayParked attaches, through the live path, the parked transactions
// whose references are all known, and parks the others again: the part of
// replay a checkpoint does not cover.
func (l *Ledger) replayParked(cs CheckpointStore) error {
	var parked []*Transaction
	err := cs.ReplayParked(func(raw []byte) error {
		tx, err := decode(raw, l.genesis.MaxPayload, false)
		if err != nil {
			return fmt.Errorf("%w: parked: %v", ErrStore, err)
		}
		parked = append(parked, tx)
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.offerParked(parked)
}
