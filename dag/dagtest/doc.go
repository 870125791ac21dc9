// Package dagtest builds valid, deterministic transaction streams for tests
// and benchmarks of the ledger and the packages around it: a genesis with
// seeded validator keys, devices that keep their issuer chains, and a
// generator of a realistic DAG (each transaction approves recent ones,
// validators issue beacons) signed with real Ed25519 keys and real work.
//
//	net := dagtest.NewNetwork(1, pow.Rules{BaseBits: 4})
//	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 1})
//	txs := gen.Take(1000) // valid in this order; beacons every 50
//	l, _ := dag.Open(dag.Config{Genesis: net.Genesis})
//	results, err := l.AttachVerified(txs).Wait()
package dagtest
