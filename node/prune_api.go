package node

import (
	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
)

// Pruned implements api.PruneReporter: id was pruned here when the audit
// log has logged it but the ledger no longer holds it, attached, archived
// or parked. Nothing else removes a logged transaction, and the prune loop
// never prunes what the log has not logged (pruneOnce's wait), so every
// pruned transaction answers true until the log's compaction drops its
// index (compactAudit, after the prune pass): then the ID is unknown here,
// and the API answers 404 as for one never seen. A store that never pruned
// answers false without a look-up.
func (b apiBackend) Pruned(id dag.ID) bool {
	if b.audit == nil || b.store.Pruned() == 0 || b.ledger.Known(id) {
		return false
	}
	_, err := b.audit.log.IndexOf(id)
	return err == nil
}

var _ api.PruneReporter = apiBackend{}
