// Package bench holds tangled's reusable workloads and benchmarks that
// span several packages: the ledger at scale (a DAG of a million
// transactions on Badger, restart time, memory per transaction, tip
// selection latency while ingest runs). The Tangle simulator and the load
// generator against real nodes will live here too.
//
// Run the large benchmark explicitly; it is skipped by plain `go test`:
//
//	go test ./bench/ -run '^$' -bench Ledger1M -benchtime 1x -timeout 30m
package bench
