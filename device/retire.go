package device

import (
	"fmt"

	"github.com/tangled-ledger/tangled/dag"
)

// Key retirement (dag.KindRetire): an authority whose key was stolen or
// lost retires it in its own chain. In every past that holds the
// retirement the key acts no more (key_retired) and its firmware
// approvals, made before or after, count for nothing, so a release it
// helped approve falls back below its class's threshold there, as TUF's
// revoked keys stop counting toward a role's threshold. What the key did
// before (devices registered, policies, releases published) stays: a
// release still needs its other approvers, and a device keeps its
// identity. A replacement key needs a new genesis, like TUF's root.
//
// Anyone holding the key can retire it, the thief too: that only takes
// the stolen key out of use, which is what its owner wants.

// retirement is an authority's retirement in its chain.
type retirement struct {
	id  dag.ID
	seq uint64
}

// retiredIn reports whether named authority's retirement is in past.
// Several retirements (a forked chain) count from the first in the
// chain.
func (r *Registry) retiredIn(named int, past dag.PastView) bool {
	ret, ok := r.retired[named]
	return ok && past.Horizon(named) > ret.seq
}

// checkNotRetired refuses any transaction of an authority whose own
// retirement is in its past (which, its chain being in every one of its
// later transactions' pasts, is every transaction after it).
func (r *Registry) checkNotRetired(tx *dag.Transaction, past dag.PastView) error {
	named, ok := r.genesis.Named(tx.Issuer)
	if !ok || r.authorityIndex(tx.Issuer) < 0 || !r.retiredIn(named, past) {
		return nil
	}
	return reject(CodeKeyRetired, "authority key %s was retired in this transaction's past", tx.Issuer)
}

func (r *Registry) checkRetire(tx *dag.Transaction) error {
	if len(tx.Payload) != 0 {
		return fmt.Errorf("%w: a retirement's payload is empty", dag.ErrMalformed)
	}
	return nil
}

func (r *Registry) applyRetire(tx *dag.Transaction) {
	named, ok := r.genesis.Named(tx.Issuer)
	if !ok {
		return
	}
	if cur, ok := r.retired[named]; ok && (cur.seq < tx.Seq || cur.seq == tx.Seq && cur.id.Compare(tx.ID()) <= 0) {
		return
	}
	r.retired[named] = retirement{id: tx.ID(), seq: tx.Seq}
}
