// Package node is tangled's composition root: it wires storage, the ledger,
// the ingest pipeline, tip selection, the validator's beacons and the HTTP
// API into one process, owns every long-lived goroutine, and shuts them
// down in order.
//
//	n, err := node.New(node.Config{DataDir: "./tangled-data", HTTPAddr: "127.0.0.1:8080"})
//	if err != nil { ... }
//	err = n.Run(ctx) // returns after ctx ends and everything has stopped
//
// Without a genesis file, New creates a single-validator development
// network in the data directory on first start (genesis.json and
// validator-1.key) and reuses it afterwards, so one command runs a node
// that confirms on its own.
package node
