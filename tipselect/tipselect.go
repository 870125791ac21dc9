package tipselect

import (
	"errors"

	"github.com/tangled-ledger/tangled/dag"
)

// View is the read side of a ledger that selection needs. Implementations are
// safe for concurrent use.
type View interface {
	// Info returns what the ledger knows about an attached transaction.
	Info(id dag.ID) (dag.Info, bool)
	// Approvers appends the direct approvers of id to dst.
	Approvers(id dag.ID, dst []dag.ID) []dag.ID
	// RecentConfirmed returns the confirmed transaction depth places before
	// the newest in confirmed order (0 = newest), or the genesis root when
	// nothing is confirmed yet.
	RecentConfirmed(depth int) (dag.ID, bool)
}

// Rand is the injected random source. *math/rand/v2.Rand satisfies it; it
// is not safe for concurrent use, so callers give each goroutine its own or
// wrap the global functions of math/rand/v2.
type Rand interface {
	IntN(n int) int
	Float64() float64
}

var (
	// ErrNoTips means there is nothing to approve: the view knows no
	// confirmed transaction (not even the genesis root), or a walk would
	// have to start from a conflicting one.
	ErrNoTips = errors.New("tipselect: no tips")
	// ErrConfig is wrapped by every error that reports an invalid
	// configuration.
	ErrConfig = errors.New("tipselect: invalid config")
)
