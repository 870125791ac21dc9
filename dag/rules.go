package dag

// RuleLayer is the seam through which a layer above the ledger (the device
// package: registration, keys, revocation, policies) judges and records
// transactions. The ledger calls it inside attach, with its write lock
// held, in attach order:
//
//   - Check judges a solid transaction that passed the ledger's own rules
//     (chain, work) and returns nil to accept it or an error to reject it:
//     wrap a sentinel, or return a *Rejection with the layer's own code and
//     whose fault it is. Check must not change anything, and must decide
//     from the transaction and its past only (its issuer chain and the
//     cones of its parents, through past), never from arrival order, the
//     wall clock or anything else a node holds alone: then every node
//     reaches the same verdict. It is not called again when the ledger
//     replays its store, since stored transactions passed it once.
//   - Apply records a transaction that has been attached; it is called for
//     every attached transaction, also during replay, so a layer rebuilds
//     its state from the log. It must not fail or block.
//
// Both run on the single attaching goroutine and must be fast: they sit
// in the ledger's critical section.
type RuleLayer interface {
	Check(tx *Transaction, past PastView) error
	Apply(tx *Transaction, past PastView)
}

// PastView is the read view a RuleLayer gets during attach. It is valid
// only for the duration of the call and must not be kept.
type PastView interface {
	// Info describes an attached transaction (false if it is not).
	Info(id ID) (Info, bool)
}

// pastView reads the ledger without locking: it is handed out only while
// attach holds l.mu.
type pastView struct{ l *Ledger }

func (v pastView) Info(id ID) (Info, bool) {
	n := v.l.mu.nodes[id]
	if n == nil {
		return Info{}, false
	}
	return v.l.info(n), true
}
