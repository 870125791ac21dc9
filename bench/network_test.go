package bench_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// peerNode runs an in-process node with peering on loopback until the
// benchmark ends; peers are "KEY@ADDR".
func peerNode(tb testing.TB, dir string, index int, peers []string) *node.Node {
	tb.Helper()
	n, err := node.New(node.Config{
		DataDir: filepath.Join(dir, "node-"+string(rune('a'+index))), HTTPAddr: "127.0.0.1:0",
		P2PAddr: "127.0.0.1:0", Peers: peers,
		GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(index+1)),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Network: network.Config{HeartbeatInterval: 200 * time.Millisecond},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return n
}

// twoValidators writes a two-validator genesis with trivial work and
// returns the dagtest view of it for generating streams.
func twoValidators(tb testing.TB, dir string) *dagtest.Network {
	tb.Helper()
	rules := pow.Rules{BaseBits: 1}
	g, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "bench", Validators: 2, Difficulty: &rules})
	if err != nil {
		tb.Fatal(err)
	}
	return &dagtest.Network{Genesis: g}
}

// submitAll feeds txs to n's pipeline from several goroutines, in order
// within each, and fails on anything but attached or parked.
func submitAll(tb testing.TB, n *node.Node, txs []*dag.Transaction) {
	const workers, batch = 4, 256
	var wg sync.WaitGroup
	var chunks [][]*dag.Transaction
	for len(txs) > 0 {
		c := txs[:min(batch, len(txs))]
		txs = txs[len(c):]
		chunks = append(chunks, c)
	}
	next := make(chan []*dag.Transaction)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				for _, r := range n.Submit(context.Background(), c, nil) {
					if r.Status != dag.StatusAttached && r.Status != dag.StatusParked && r.Status != dag.StatusDuplicate {
						tb.Errorf("submit: %v %v", r.Status, r.Err)
					}
				}
			}
		}()
	}
	for _, c := range chunks {
		next <- c
	}
	close(next)
	wg.Wait()
}

func waitTransactions(tb testing.TB, n *node.Node, want uint64, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for n.Ledger().Stats().Transactions < want {
		if time.Now().After(deadline) {
			tb.Fatalf("node has %d of %d transactions after %v", n.Ledger().Stats().Transactions, want, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkGossip measures gossip between two validator nodes on loopback
// QUIC: transactions submitted to node A's pipeline (no HTTP) until node B
// has every one of them attached and durable. Both nodes verify every
// signature, and both share this machine's 2 cores, so a pair of real
// machines does at least this well. TANGLED_BENCH_TXS sets the count
// (default 50,000).
func BenchmarkGossip(b *testing.B) {
	total := envInt("TANGLED_BENCH_TXS", 50_000)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		net := twoValidators(b, dir)
		txs := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 5, Devices: 4096, BeaconEvery: -1, Lag: 1024, Step: time.Microsecond}).Take(total)
		a := peerNode(b, dir, 0, nil)
		nb := peerNode(b, dir, 1, []string{net.Genesis.Validators[0].PublicKey.String() + "@" + a.P2PAddr()})
		waitPeers(b, a, 1)
		base := nb.Ledger().Stats().Transactions
		b.StartTimer()
		start := time.Now()
		submitAll(b, a, txs)
		waitTransactions(b, nb, base+uint64(len(txs)), 2*time.Minute)
		took := time.Since(start)
		b.ReportMetric(float64(len(txs))/took.Seconds(), "tx/s")
	}
}

func waitPeers(tb testing.TB, n *node.Node, want int) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		connected := 0
		for _, p := range n.Peers() {
			if p.State == string(network.StateConnected) {
				connected++
			}
		}
		if connected >= want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d peers connected", connected, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkSync measures how long a new node takes to sync a peer's
// history of TANGLED_BENCH_TXS transactions (default 100,000) over
// loopback QUIC: from its start until every transaction is attached and
// durable in its own store (bulk sync, then gossip and requests for the
// rest).
func BenchmarkSync(b *testing.B) {
	total := envInt("TANGLED_BENCH_TXS", 100_000)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		net := twoValidators(b, dir)
		txs := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 6, Devices: 4096, BeaconEvery: -1, Lag: 1024, Step: time.Microsecond}).Take(total)
		a := peerNode(b, dir, 0, nil)
		submitAll(b, a, txs)
		// Let the lone validator's beacons settle: it cannot confirm
		// alone (one of two validators), so they stop at once.
		want := a.Ledger().Stats().Transactions
		b.StartTimer()
		start := time.Now()
		nb := peerNode(b, dir, 1, []string{net.Genesis.Validators[0].PublicKey.String() + "@" + a.P2PAddr()})
		waitTransactions(b, nb, want, 5*time.Minute)
		took := time.Since(start)
		b.ReportMetric(took.Seconds(), "sync-s")
		b.ReportMetric(float64(want)/took.Seconds(), "tx/s")
	}
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
