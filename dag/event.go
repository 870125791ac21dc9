package dag

// Info is a read-only snapshot of what the ledger knows about one attached
// transaction.
type Info struct {
	ID     ID
	Trunk  ID
	Branch ID
	Prev   ID
	Kind   Kind
	Issuer PublicKey
	Seq    uint64
	Time   int64 // issuing time, unix ns
	// Arrival numbers attached transactions 1, 2, 3, ... in attach order
	// on this node (0 for the genesis root).
	Arrival uint64
	// Confirmed is set once Weight exceeds the threshold. ConfirmedIndex is
	// the 1-based position in this ledger's confirmed order.
	Confirmed      bool
	ConfirmedIndex uint64
	// Conflicting marks an equivocation: this transaction or one of its
	// issuer-chain predecessors shares a sequence number with another.
	Conflicting bool
	// RuledOut: this node's state rules the transaction out (its device is
	// revoked, suspended or quarantined here, or it approves such a
	// transaction); it is valid, but honest tip selection never approves
	// it. Unlike Conflicting it is this node's view, not ledger state.
	RuledOut bool
	// Weight is the total weight of the distinct validators whose beacons
	// approve this transaction; Validators is the set as a bitmask of
	// genesis validator indices.
	Weight     uint64
	Validators uint64
	// OldestRoot and YoungestRoot are the issuing times of the oldest and
	// youngest confirmed transactions its unconfirmed past cone reaches
	// (Hornet's OCRI/YCRI in time units), computed at attach. Tip selection
	// uses them to judge laziness.
	OldestRoot   int64
	YoungestRoot int64
	// CumulativeWeight counts this transaction and its approvers within the
	// ledger's cumulative-weight window (1 when the window is disabled).
	CumulativeWeight uint64
	// Approvers is the number of direct approvers.
	Approvers int
}

// IsTip reports whether nothing approves the transaction yet.
func (i Info) IsTip() bool { return i.Approvers == 0 }

// EventKind says what happened to a transaction.
type EventKind uint8

// The event kinds.
const (
	// EventAttached: the transaction is solid, attached and durable.
	EventAttached EventKind = iota + 1
	// EventConfirmed: approval weight exceeded the threshold.
	EventConfirmed
	// EventConflicting: the transaction was found to be part of an
	// equivocation.
	EventConflicting
	// EventRuledOut: the transaction was ruled out for tip selection
	// (Info.RuledOut).
	EventRuledOut
	// EventTip: the transaction is a tip again, since everything that
	// approved it was ruled out.
	EventTip
)

func (k EventKind) String() string {
	switch k {
	case EventAttached:
		return "attached"
	case EventConfirmed:
		return "confirmed"
	case EventConflicting:
		return "conflicting"
	case EventRuledOut:
		return "ruled_out"
	case EventTip:
		return "tip"
	}
	return "unknown"
}

// Event reports a change of one transaction. Info is the transaction's
// state when the event is delivered (after the change became durable), so
// it may already include later changes: an attached event can show a
// transaction that is confirmed too.
type Event struct {
	Kind EventKind
	Info Info
	// Tx is the transaction itself on EventAttached (the network gossips
	// it without reading it back from the store); nil otherwise. It must
	// not be modified.
	Tx *Transaction
}
