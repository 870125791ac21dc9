// Package storage persists the ledger: it implements dag.Store on Badger v4
// (Badger, for nodes) and in memory (Memory, for tests and the simulator).
//
// The store is a log, not a database of ledger state. It holds the raw
// bytes of every attached transaction under its arrival number, and the
// raw bytes of the transactions parked for missing parents under their
// IDs. Everything else the ledger knows (approvers, tips, weights,
// confirmation) is rebuilt from Replay, so derived state can never
// disagree with the transactions after a crash. Raw bytes are opaque here:
// this package never decodes a transaction.
//
// # Guarantees
//
// Commit returns only after its write set is durable (fsync), and write
// sets become durable in call order: after kill -9 or a power loss, Open
// finds a prefix of the acknowledged sets, each whole (for the one
// exception, a set whose parking-lot changes alone exceed a Badger
// transaction, see Badger.Commit). Replay reports
// attached transactions in arrival order, then parked ones in ID order.
// Range reads attached transactions from a given arrival on, for the
// network's bulk sync, while Commits go on.
//
// # Using it
//
// A node opens the store, runs its value-log garbage collection, and opens
// the ledger on it, which replays the log:
//
//	store, err := storage.Open(dir, storage.Options{Logger: logger})
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	go store.Run(ctx) // value-log GC until ctx is done
//	ledger, err := dag.Open(dag.Config{Genesis: genesis, Store: store})
//
// The zero Options suit a 2-core machine with little memory; each field
// documents its default and why.
//
// # Layout on disk
//
// Keys carry a one-byte keyspace prefix: 'n' and an 8-byte big-endian
// arrival for attached transactions (so key order is arrival order), 'p'
// and a 32-byte ID for parked ones, 'm' for metadata: the schema version,
// which Open checks, and the head, the last arrival of the last complete
// write set. Transaction bodies live in Badger's value log, so compaction
// moves only keys and pointers.
package storage
