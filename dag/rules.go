package dag

import (
	"time"

	"github.com/tangled-ledger/tangled/pow"
)

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
//     its state from the log. It must not fail or block. What it returns
//     is kept with the transaction (Applied).
//   - Equivocation reports two attached transactions of one issuer chain
//     with one sequence number (proof of a cloned key), after both were
//     applied; also during replay.
//
// All three run on the single attaching goroutine and must be fast: they
// sit in the ledger's critical section.
type RuleLayer interface {
	Check(tx *Transaction, past PastView) error
	Apply(tx *Transaction, past ApplyView) Applied
	Equivocation(a, b ID, past PastView)
}

// RateRuler is implemented by a rule layer that sets the rate part of the
// proof-of-work difficulty per issuer (the device layer: a policy's free
// rate and growth), so that an honest low-rate sensor pays the base cost
// and a hijacked, flooding one pays exponentially more.
type RateRuler interface {
	// RateRule is the rule for tx, judged from its past like Check: every
	// node requires the same work. False means the genesis rule.
	RateRule(tx *Transaction, past PastView) (RateRule, bool)
	// CurrentRateRule is the rule the issuer's next transaction meets when
	// its past holds everything attached here (what /v1/tips reports).
	CurrentRateRule(issuer PublicKey) (RateRule, bool)
}

// RateRule replaces the genesis difficulty's rate fields: Free
// transactions per Window, each one beyond them BitsPerExcess more bits.
type RateRule struct {
	Window        time.Duration
	Free          int
	BitsPerExcess int
}

// apply returns rules with the rate part replaced.
func (r RateRule) apply(rules pow.Rules) pow.Rules {
	rules.RateWindow, rules.FreePerWindow, rules.BitsPerExcess = r.Window, r.Free, r.BitsPerExcess
	return rules
}

// Applied is what a rule layer keeps with a transaction it applied.
type Applied struct {
	// Tag is the layer's label for the transaction, kept by the ledger at
	// no memory cost (it fits the node's padding) and read back with
	// PastView.Tag: the device package stores the index of the device
	// whose chain the transaction extends. Tags are local to a node.
	Tag uint32
	// RuleOut: this node's state already rules the transaction out (a
	// device revoked here, although the revocation is not in the
	// transaction's past). It stays valid, but honest tip selection never
	// approves it or anything that approves it (Info.RuledOut).
	RuleOut bool
}

// PastView is the read view a RuleLayer gets during attach. It is valid
// only for the duration of the call and must not be kept.
type PastView interface {
	// Info describes an attached transaction (false if it is not).
	Info(id ID) (Info, bool)
	// Tag is the Applied.Tag of an attached transaction (0 if none).
	Tag(id ID) uint32
	// Horizon is, for the genesis issuer with index named (Genesis.Named:
	// authorities, then validators), one more than the highest sequence
	// number of its control transactions (KindSpec.Control) in the past of
	// the transaction being judged (its parents' cones and issuer chains,
	// not the transaction itself in Check, the transaction included in
	// Apply); 0 if none. Since the past is closed under issuer chains, a
	// control transaction of that issuer with sequence s is in the past
	// exactly when s < Horizon: an O(1) past-cone test for the control
	// transactions every device rule hangs on. Always 0 in a network
	// without authorities.
	Horizon(named int) uint64
}

// ApplyView is the view Apply gets: the past, and a way to rule out
// transactions already attached.
type ApplyView interface {
	PastView
	// RuleOut marks an attached, unconfirmed transaction and its unconfirmed
	// descendants by approval (also future ones) as ruled out for tip
	// selection. Confirmed transactions and control transactions
	// (KindSpec.Control) are left alone, and so is the chain successor,
	// which the layer judges itself when it attaches.
	RuleOut(id ID)
}

// pastView reads the ledger without locking: it is handed out only while
// attach holds l.mu. near are the transaction's trunk, branch and
// predecessor (nil when absent), whose horizons make up its own; self is
// the attached node during Apply.
type pastView struct {
	l    *Ledger
	b    *batch
	near [3]*node
	self *node
}

func (v pastView) Info(id ID) (Info, bool) {
	n := v.l.peek(id)
	if n == nil {
		return Info{}, false
	}
	return v.l.info(n), true
}

func (v pastView) Tag(id ID) uint32 {
	for _, n := range v.near {
		if n != nil && n.id == id {
			return n.tag // the predecessor, usually: no map lookup
		}
	}
	if n := v.l.peek(id); n != nil {
		return n.tag
	}
	return 0
}

func (v pastView) Horizon(named int) uint64 {
	if v.self != nil {
		return v.self.horizon.at(named)
	}
	var h uint64
	for _, n := range v.near {
		if n != nil {
			h = max(h, n.horizon.at(named))
		}
	}
	return h
}

func (v pastView) RuleOut(id ID) {
	n := v.l.mu.nodes[id]
	if n == nil {
		// Archived: confirmed ones stay as they are; a stale unconfirmed
		// one is brought back to be ruled out.
		if g := v.l.peek(id); g == nil || g.confirmed() {
			return
		}
		n, _ = v.l.resolve(id)
	}
	if n != nil {
		v.l.ruleOut(v.b, n)
	}
}

// horizon is a node's vector of Horizon values, indexed by named issuer.
// Vectors are immutable and shared: a transaction whose past adds no
// control transaction to its trunk's points at the trunk's vector, so a
// new vector is allocated only around control transactions. A node holds
// a pointer (8 bytes), nil for "nothing".
type horizon struct{ v []uint64 }

func (h *horizon) at(i int) uint64 {
	if h != nil && i < len(h.v) {
		return h.v[i]
	}
	return 0
}

// dominates reports whether h is at least o everywhere.
func (h *horizon) dominates(o *horizon) bool {
	if o == nil || h == o {
		return true
	}
	for i, v := range o.v {
		if v > h.at(i) {
			return false
		}
	}
	return true
}

// mergeHorizons is the elementwise maximum, reusing an input whenever one
// dominates the others.
func mergeHorizons(hs [3]*horizon) *horizon {
	var best *horizon
	for _, h := range hs {
		if h == nil || best.dominates(h) {
			continue
		}
		if h.dominates(best) {
			best = h
			continue
		}
		merged := &horizon{v: make([]uint64, max(len(best.v), len(h.v)))}
		copy(merged.v, best.v)
		for i, v := range h.v {
			merged.v[i] = max(merged.v[i], v)
		}
		best = merged
	}
	return best
}

// with returns h with entry i raised to v (a new vector).
func (h *horizon) with(i int, v uint64, size int) *horizon {
	n := &horizon{v: make([]uint64, size)}
	if h != nil {
		copy(n.v, h.v)
	}
	n.v[i] = max(n.v[i], v)
	return n
}
