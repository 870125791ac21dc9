package storage

import (
	"errors"
	"fmt"

	"github.com/tangled-ledger/tangled/dag"
)

var (
	// ErrClosed is returned by every operation on a closed Badger store.
	ErrClosed = errors.New("storage: closed")
	// ErrArrivalOrder rejects a write set whose attached arrivals are not
	// strictly increasing and above every arrival already stored; nothing
	// of such a set is written.
	ErrArrivalOrder = errors.New("storage: attached arrivals out of order")
	// ErrSchema refuses a directory whose key layout this build does not
	// know (another version of tangled, or not a tangled store at all).
	ErrSchema = errors.New("storage: unknown schema")
)

// The stores implement the ledger's interface and the range read of the
// network's bulk sync.
var (
	_ dag.Store = (*Memory)(nil)
	_ dag.Store = (*Badger)(nil)

	_ dag.Archive = (*Memory)(nil)
	_ dag.Archive = (*Badger)(nil)
)

// checkArrivals accepts attached only if its arrivals strictly increase
// from above last, the highest arrival already stored. Gaps are allowed:
// numbering is the ledger's business, order is the log's.
func checkArrivals(last uint64, attached []dag.StoredTransaction) error {
	for i, tx := range attached {
		if tx.Arrival <= last {
			return fmt.Errorf("%w: attached[%d] has arrival %d, want above %d", ErrArrivalOrder, i, tx.Arrival, last)
		}
		last = tx.Arrival
	}
	return nil
}

func notFound(arrival uint64) error {
	return fmt.Errorf("storage: arrival %d: %w", arrival, dag.ErrNotFound)
}
