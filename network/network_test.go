package network_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
)

// transports builds n transports of one kind for the keys.
type transportKind struct {
	name string
	make func(t *testing.T, keys []ed25519Key, auth network.Authorizer) []network.Transport
}

type ed25519Key = []byte

func quicTransports(t *testing.T, keys []ed25519Key, auth network.Authorizer) []network.Transport {
	var out []network.Transport
	for _, k := range keys {
		tr, err := network.NewQUIC(network.QUICConfig{ListenAddr: "127.0.0.1:0", Key: k, Authorize: auth})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tr)
	}
	return out
}

func memTransports(t *testing.T, keys []ed25519Key, auth network.Authorizer) []network.Transport {
	m := network.NewMemNetwork(network.MemConfig{Seed: 1, Delay: time.Millisecond, Jitter: time.Millisecond})
	var out []network.Transport
	for _, k := range keys {
		out = append(out, m.Listen(k, auth))
	}
	return out
}

var kinds = []transportKind{{"quic", quicTransports}, {"mem", memTransports}}

// TestGossipReachesEveryPeer: transactions submitted to one node of a
// line a-b-c reach c through b (forwarding), including ones whose parents
// c never received by gossip (requests fill them in).
func TestGossipReachesEveryPeer(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			net := dagtest.NewNetwork(3, testRules)
			keys := []ed25519Key{net.Validators[0], net.Validators[1], net.Validators[2]}
			trs := kind.make(t, keys, network.AllowList(net.Genesis))
			a := startPeer(t, net.Genesis, net.Validators[0], trs[0], network.Config{})
			b := startPeer(t, net.Genesis, net.Validators[1], trs[1], network.Config{Peers: []network.PeerAddr{{Addr: trs[0].Addr()}}})
			c := startPeer(t, net.Genesis, net.Validators[2], trs[2], network.Config{Peers: []network.PeerAddr{{Addr: trs[1].Addr()}}})
			poll.Until(t, 5*time.Second, "line connected", func() bool {
				_, ab := peerInfo(a.net, b.pub)
				_, cb := peerInfo(c.net, b.pub)
				return ab && cb && len(b.net.Peers()) == 2
			})
			gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 7, BeaconEvery: -1})
			txs := gen.Take(500)
			submitAll(t, a.host, txs)
			for _, p := range []*peerNode{b, c} {
				poll.Until(t, 10*time.Second, "all transactions everywhere", func() bool {
					return p.ledger.Stats().Transactions == uint64(len(txs))
				})
			}
			for _, tx := range txs {
				if !c.ledger.Known(tx.ID()) {
					t.Fatalf("c lacks %s", tx.ID())
				}
			}
			info, _ := peerInfo(c.net, b.pub)
			if info.State != network.StateConnected || info.Traffic.TxIn == 0 || info.Score != network.MaxScore {
				t.Fatalf("c's view of b: %+v", info)
			}
		})
	}
}

// TestUnknownKeyCannotConnect: a node whose key is not allowed gets no
// session on either side, over real QUIC.
func TestUnknownKeyCannotConnect(t *testing.T) {
	net := dagtest.NewNetwork(2, testRules)
	stranger := dagtest.Key("stranger")
	auth := network.AllowList(net.Genesis)
	trs := quicTransports(t, []ed25519Key{net.Validators[0]}, auth)
	a := startPeer(t, net.Genesis, net.Validators[0], trs[0], network.Config{})
	// The stranger allows everyone, so only a's check can refuse it.
	str, err := network.NewQUIC(network.QUICConfig{ListenAddr: "127.0.0.1:0", Key: stranger,
		Authorize: func(dag.PublicKey) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	s := startPeer(t, net.Genesis, stranger, str, network.Config{Peers: []network.PeerAddr{{Addr: trs[0].Addr()}}})
	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 3, BeaconEvery: -1})
	submitAll(t, s.host, gen.Take(20))
	time.Sleep(time.Second)
	if peers := a.net.Peers(); len(peers) != 0 {
		t.Fatalf("a has peers %+v", peers)
	}
	if got := a.ledger.Stats().Transactions; got != 0 {
		t.Fatalf("a received %d transactions from a stranger", got)
	}
	// Dialing with the wrong expected key fails too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := str.Dial(ctx, trs[0].Addr(), dagtest.PublicKey(net.Validators[1])); err == nil {
		t.Fatalf("dial with the wrong expected key: %v", err)
	}
}

// TestCatchUpBySync: a node that connects after its peer holds thousands
// of transactions receives them by bulk sync.
func TestCatchUpBySync(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			net := dagtest.NewNetwork(2, testRules)
			keys := []ed25519Key{net.Validators[0], net.Validators[1]}
			trs := kind.make(t, keys, network.AllowList(net.Genesis))
			a := startPeer(t, net.Genesis, net.Validators[0], trs[0], network.Config{})
			gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 9, BeaconEvery: -1})
			const n = 3000
			submitAll(t, a.host, gen.Take(n))
			b := startPeer(t, net.Genesis, net.Validators[1], trs[1], network.Config{Peers: []network.PeerAddr{{Addr: trs[0].Addr()}}})
			poll.Until(t, 20*time.Second, fmt.Sprintf("b has %d", n), func() bool {
				return b.ledger.Stats().Transactions == n
			})
			if _, got := b.net.Syncing(); got == 0 {
				t.Fatal("nothing came by bulk sync")
			}
		})
	}
}

// TestRestartFetchesOnlyWhatItMissed: b keeps up with a by gossip, stops,
// misses transactions, and starts again on the same store and cursor
// file. Its bulk sync receives what it missed plus the followed cursor's
// margin, not the whole log (before the cursor followed gossip, it asked
// for everything since its last bulk sync: here, all of it).
func TestRestartFetchesOnlyWhatItMissed(t *testing.T) {
	net := dagtest.NewNetwork(2, testRules)
	keys := []ed25519Key{net.Validators[0], net.Validators[1]}
	trs := quicTransports(t, keys, network.AllowList(net.Genesis))
	a := startPeer(t, net.Genesis, net.Validators[0], trs[0], network.Config{})
	cursors := filepath.Join(t.TempDir(), "cursors.json")
	bcfg := network.Config{Peers: []network.PeerAddr{{Addr: trs[0].Addr()}}, CursorFile: cursors}
	b := startPeer(t, net.Genesis, net.Validators[1], trs[1], bcfg)
	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 3, BeaconEvery: -1})
	const before, missed = 4000, 3000
	keepUpByGossip(t, a, b, gen, before)
	margin := 2 * uint64(network.DefaultSyncThreshold)
	poll.Until(t, 10*time.Second, "b's cursor for a follows a's head", func() bool {
		return savedCursor(t, cursors) >= before+1-margin
	})
	if _, got := b.net.Syncing(); got != 0 {
		t.Fatalf("b kept up by gossip, yet bulk sync brought %d", got)
	}
	b.stop()
	submitAll(t, a.host, gen.Take(missed))

	tr, err := network.NewQUIC(network.QUICConfig{ListenAddr: "127.0.0.1:0", Key: net.Validators[1], Authorize: network.AllowList(net.Genesis)})
	if err != nil {
		t.Fatal(err)
	}
	b2 := startPeerOn(t, reopenHost(t, net.Genesis, b.store), net.Validators[1], tr, bcfg)
	poll.Until(t, 30*time.Second, "b caught up after its restart", func() bool {
		return b2.ledger.Stats().Transactions == before+missed
	})
	_, received := b2.net.Syncing()
	t.Logf("missed %d, received %d by bulk sync (margin %d)", missed, received, margin)
	if received < missed*9/10 || received > missed*3/2+margin {
		t.Fatalf("missed %d, bulk sync received %d: want at most 1.5x plus the margin %d", missed, received, margin)
	}
}

// keepUpByGossip submits n transactions of gen to a in steps gossip keeps
// up with (a bigger jump starts a bulk sync), each step waiting until b
// holds it; b starts from a's count.
func keepUpByGossip(t *testing.T, a, b *peerNode, gen *dagtest.Generator, n int) {
	t.Helper()
	base := b.ledger.Stats().Transactions
	for i := range n / 100 {
		submitAll(t, a.host, gen.Take(100))
		poll.Until(t, 10*time.Second, "b keeps up by gossip", func() bool {
			return b.ledger.Stats().Transactions == base+uint64(i+1)*100
		})
	}
}

func savedCursor(t *testing.T, path string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var f struct{ Cursors map[string]uint64 }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var c uint64
	for _, v := range f.Cursors {
		c = max(c, v)
	}
	return c
}

// TestPartitionSyncsWhatTheOtherSideAttached: two peers that kept up by
// gossip are cut apart and each attaches its own 2,000 transactions; the
// totals then match, yet each lacks the other's half. After the heal each
// must fetch the other's half by bulk sync from its cursor (what it
// missed plus the cursor's margin), not one missing parent at a time.
func TestPartitionSyncsWhatTheOtherSideAttached(t *testing.T) {
	net := dagtest.NewNetwork(2, testRules)
	auth := network.AllowList(net.Genesis)
	m := network.NewMemNetwork(network.MemConfig{Seed: 5, Delay: time.Millisecond})
	trA, trB := m.Listen(net.Validators[0], auth), m.Listen(net.Validators[1], auth)
	cfg := network.Config{HeartbeatInterval: 100 * time.Millisecond, ReconnectMax: 200 * time.Millisecond}
	a := startPeer(t, net.Genesis, net.Validators[0], trA, cfg)
	cfg.Peers = []network.PeerAddr{{Addr: trA.Addr(), Key: dagtest.PublicKey(net.Validators[0])}}
	b := startPeer(t, net.Genesis, net.Validators[1], trB, cfg)

	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 21, BeaconEvery: -1})
	const shared, each = 1000, 2000
	keepUpByGossip(t, a, b, gen, shared)
	margin := 2 * uint64(network.DefaultSyncThreshold)
	// The cursors follow the heads (a heartbeat or two).
	poll.Until(t, 10*time.Second, "both cursors follow", func() bool {
		_, ra := a.net.Syncing()
		_, rb := b.net.Syncing()
		return ra == 0 && rb == 0 && a.net.SyncCursor(b.pub) >= shared+1-margin && b.net.SyncCursor(a.pub) >= shared+1-margin
	})

	m.Partition([]string{trA.Addr()}, []string{trB.Addr()})
	submitAll(t, a.host, dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 22, BeaconEvery: -1}).Take(each))
	submitAll(t, b.host, dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 23, BeaconEvery: -1}).Take(each))
	if a.ledger.Stats().Transactions != b.ledger.Stats().Transactions {
		t.Fatal("the sides' totals differ: the test would not show the equal-totals case")
	}
	m.Heal()
	poll.Until(t, 30*time.Second, "both hold everything", func() bool {
		return a.ledger.Stats().Transactions == shared+2*each && b.ledger.Stats().Transactions == shared+2*each
	})
	for _, p := range []*peerNode{a, b} {
		_, received := p.net.Syncing()
		t.Logf("missed %d, received %d by bulk sync (margin %d)", each, received, margin)
		if received < each*9/10 || received > each*3/2+margin {
			t.Errorf("missed %d, bulk sync received %d: want what was missed, at most 1.5x plus the margin %d", each, received, margin)
		}
	}
}
