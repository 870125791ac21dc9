package dag

// Store is the durable log the ledger writes through. The ledger declares
// it; the storage package implements it on Badger and in memory.
//
// The log holds the raw bytes of every attached transaction under its
// arrival number (1, 2, 3, ... in attach order) and the raw bytes of every
// transaction parked for missing parents. Everything else the ledger knows
// (approvers, tips, validator bits, confirmation, conflicts, issuer chains)
// is a deterministic function of that sequence and is rebuilt by Replay, so
// derived state can never disagree with the transactions after a crash.
type Store interface {
	// Commit writes w atomically and durably (fsync) and returns only then.
	// Write sets become durable in the order Commit is called; after a
	// crash the store holds a prefix of that order.
	Commit(w *WriteSet) error
	// Replay calls attached for every attached transaction in arrival
	// order, then parked for every parked transaction. Each raw slice is
	// a fresh copy that the callee keeps. It stops at the first error a
	// callback returns and returns it.
	Replay(attached func(arrival uint64, raw []byte) error, parked func(raw []byte) error) error
	// Transaction returns the raw bytes of the attached transaction with
	// this arrival number, or an error wrapping ErrNotFound.
	Transaction(arrival uint64) ([]byte, error)
}

// WriteSet is one atomic unit of the log.
type WriteSet struct {
	// Attached are newly attached transactions, in arrival order.
	Attached []StoredTransaction
	// Parked are transactions waiting for parents (Arrival is 0).
	Parked []StoredTransaction
	// Unparked are parked transactions that left the parking lot (they
	// attached, and appear in Attached of the same write set, or were
	// dropped as invalid once their parents arrived).
	Unparked []ID
}

// StoredTransaction is one transaction in a write set. Raw must not be
// modified: it is shared with the ledger.
type StoredTransaction struct {
	Arrival uint64
	ID      ID
	Raw     []byte
}

// Empty reports whether the write set holds nothing.
func (w *WriteSet) Empty() bool {
	return len(w.Attached) == 0 && len(w.Parked) == 0 && len(w.Unparked) == 0
}

// merge appends o to w, keeping order.
func (w *WriteSet) merge(o *WriteSet) {
	w.Attached = append(w.Attached, o.Attached...)
	w.Parked = append(w.Parked, o.Parked...)
	w.Unparked = append(w.Unparked, o.Unparked...)
}

// Archive is implemented by a Store that can hold the state of confirmed
// transactions the ledger no longer keeps in memory (Config.MemoryBudget).
// Records are derived from the log: the ledger writes them for durable
// transactions only, checks each against the log when it reads it back,
// and rewrites them when a replay archives the same transactions again,
// so they need no fsync of their own and a crash cannot make them lie.
type Archive interface {
	// Archive writes the records, replacing any under the same ID or
	// confirmed index (a record with ConfirmedIndex 0 has none).
	Archive(records []ArchivedRecord) error
	// Archived returns the record stored under id (false if none).
	Archived(id ID) (data []byte, ok bool, err error)
	// ArchivedAt returns the ID archived at a 1-based position of the
	// confirmed order (false if none).
	ArchivedAt(confirmedIndex uint64) (ID, bool, error)
}

// ArchivedRecord is one archived transaction: its ID, its position in the
// confirmed order (0 for an unconfirmed one: it has no position, and the
// store writes no confirmed-order key) and the ledger's opaque record of
// it.
type ArchivedRecord struct {
	ID             ID
	ConfirmedIndex uint64
	Data           []byte
}

// Pruner is implemented by an Archive that can forget confirmed
// transactions for good (Ledger.Prune): their bytes, their record and
// their place in the confirmed order. Reading a pruned arrival afterwards
// returns an error wrapping ErrPruned.
type Pruner interface {
	// Prune deletes the entries' bytes, records and confirmed-order keys.
	// A crash may leave a prefix of the deletions done; the ledger only
	// prunes what no kept transaction needs, so any prefix is consistent.
	Prune(entries []PrunedEntry) error
	// Pruned is how many transactions have been pruned from the store
	// (zero for a store that never was).
	Pruned() uint64
}

// PrunedEntry names one pruned transaction in each keyspace that holds it.
type PrunedEntry struct {
	Arrival        uint64
	ID             ID
	ConfirmedIndex uint64
}
