package network_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// testRules keep proof-of-work trivial so tests spend their time on the
// network.
var testRules = pow.Rules{BaseBits: 1}

// host is a ledger, pipeline and memory store: the parts of a node the
// network talks to.
type host struct {
	ledger *dag.Ledger
	pipe   *dag.Pipeline
	store  *storage.Memory
}

func (h *host) Ledger() network.Ledger { return h.ledger }
func (h *host) Submit(ctx context.Context, txs []*dag.Transaction) []dag.Result {
	return h.pipe.SubmitDecoded(ctx, txs)
}
func (h *host) Range(from uint64, fn func(uint64, []byte) error) error {
	return h.store.Range(from, fn)
}

// peerNode is one host with its network, running until the test ends or
// stop is called.
type peerNode struct {
	*host
	key  ed25519.PrivateKey
	pub  dag.PublicKey
	net  *network.Network
	tr   network.Transport
	stop func()
}

func newHost(t testing.TB, g *dag.Genesis) *host {
	t.Helper()
	return reopenHost(t, g, storage.NewMemory())
}

// reopenHost opens a host on a store another host used: what a node that
// restarts finds (its ledger replays the log).
func reopenHost(t testing.TB, g *dag.Genesis, store *storage.Memory) *host {
	t.Helper()
	l, err := dag.Open(dag.Config{Genesis: g, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	p, err := dag.NewPipeline(l, dag.PipelineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &host{ledger: l, pipe: p, store: store}
}

// startPeer runs a host and a network over tr until the test ends.
func startPeer(t testing.TB, g *dag.Genesis, key ed25519.PrivateKey, tr network.Transport, cfg network.Config) *peerNode {
	t.Helper()
	return startPeerOn(t, newHost(t, g), key, tr, cfg)
}

// startPeerOn is startPeer on a given host.
func startPeerOn(t testing.TB, h *host, key ed25519.PrivateKey, tr network.Transport, cfg network.Config) *peerNode {
	t.Helper()
	cfg.Transport, cfg.Key = tr, key
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = 500 * time.Millisecond
	}
	n, err := network.New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pipeDone, netDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(pipeDone); _ = h.pipe.Run(ctx) }()
	go func() { defer close(netDone); _ = n.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-netDone
		<-pipeDone
	}
	t.Cleanup(stop)
	return &peerNode{host: h, key: key, pub: dagtest.PublicKey(key), net: n, tr: tr, stop: stop}
}

// submitAll submits txs to h and fails on anything but attached or parked.
func submitAll(t testing.TB, h *host, txs []*dag.Transaction) {
	t.Helper()
	for i, r := range h.pipe.SubmitDecoded(context.Background(), txs) {
		if r.Status != dag.StatusAttached && r.Status != dag.StatusParked {
			t.Fatalf("tx %d: %v %v", i, r.Status, r.Err)
		}
	}
}

func peerInfo(n *network.Network, key dag.PublicKey) (network.PeerInfo, bool) {
	for _, p := range n.Peers() {
		if p.Key == key {
			return p, true
		}
	}
	return network.PeerInfo{}, false
}
