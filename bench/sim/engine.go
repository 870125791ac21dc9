package sim

// root is the index of the genesis root in parent lists: every other
// transaction is numbered by the order in which it became visible
// (0, 1, 2, ...), which is also its dag arrival number minus one.
const root int32 = -1

// engine is the tangle the simulator drives. Times are virtual unix
// nanoseconds.
type engine interface {
	// choose appends to dst the parents of a transaction issued at now by
	// issuer, drawn among the tips visible to it: distinct indices of
	// visible transactions, or root.
	choose(now int64, issuer int, dst []int32) ([]int32, error)
	// attach makes the next transaction (index = the number attached so
	// far) visible at now. issued is its issuing time.
	attach(issued, now int64, parents []int32) error
	// tips is the number of visible tips: visible transactions that no
	// visible transaction approves, the genesis root included until it is
	// approved. With a tip expiry, expired tips no longer count; in the
	// network model, the mean over the nodes' views.
	tips() float64
	// overflowed reports whether a bounded tip pool ever dropped a tip, which
	// would make the selection no longer uniform over all tips.
	overflowed() bool
}
