package network_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
)

// TestMemPartitionCutsAndRefuses: a partition closes the connections that
// cross it (both ends, and their streams) and refuses dials across it,
// while links inside a group keep working; Heal lets dials through again.
func TestMemPartitionCutsAndRefuses(t *testing.T) {
	net := dagtest.NewNetwork(4, testRules)
	auth := network.AllowList(net.Genesis)
	m := network.NewMemNetwork(network.MemConfig{Seed: 1})
	trs := make([]network.Transport, 4)
	for i := range trs {
		trs[i] = m.Listen(net.Validators[i], auth)
		t.Cleanup(func() { _ = trs[i].Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Accept everything, so dials complete.
	for _, tr := range trs {
		go func() {
			for {
				if _, err := tr.Accept(ctx); err != nil {
					return
				}
			}
		}()
	}
	dial := func(from, to int) (network.Conn, error) {
		return trs[from].Dial(ctx, trs[to].Addr(), dagtest.PublicKey(net.Validators[to]))
	}
	conn01, err := dial(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	conn12, err := dial(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	st, err := conn01.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Endpoint 3 is in no group: it forms a group of its own.
	m.Partition([]string{trs[0].Addr()}, []string{trs[1].Addr(), trs[2].Addr()})
	select {
	case <-conn01.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a connection across the partition stays open")
	}
	if _, err := st.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("read on a cut stream: %v, want a broken pipe", err)
	}
	if closed(conn12) {
		t.Fatal("a connection inside a group was cut")
	}
	tests := []struct {
		from, to  int
		reachable bool
	}{
		{0, 1, false}, {1, 0, false}, {2, 0, false},
		{1, 2, true}, {2, 1, true},
		{3, 0, false}, {3, 1, false}, {0, 3, false},
	}
	for _, tt := range tests {
		c, err := dial(tt.from, tt.to)
		switch {
		case tt.reachable && err != nil:
			t.Errorf("dial %d→%d inside a group: %v", tt.from, tt.to, err)
		case !tt.reachable && !errors.Is(err, network.ErrUnreachable):
			t.Errorf("dial %d→%d across the partition: %v, want ErrUnreachable", tt.from, tt.to, err)
		}
		if c != nil {
			_ = c.CloseWithError(network.CodeNormal, "")
		}
	}

	m.Heal()
	for _, tt := range tests {
		c, err := dial(tt.from, tt.to)
		if err != nil {
			t.Errorf("dial %d→%d after Heal: %v", tt.from, tt.to, err)
			continue
		}
		_ = c.CloseWithError(network.CodeNormal, "")
	}
}

// TestMemPartitionAndHeal: nodes on both sides of a partition keep
// working in their own group; after Heal the static peers reconnect on
// their own, and transactions that approve both sides' tips bring all
// three ledgers together (missing-transaction requests walk back through
// what each side missed).
func TestMemPartitionAndHeal(t *testing.T) {
	net := dagtest.NewNetwork(3, testRules)
	auth := network.AllowList(net.Genesis)
	m := network.NewMemNetwork(network.MemConfig{Seed: 3, Delay: time.Millisecond, Jitter: time.Millisecond})
	var nodes []*peerNode
	var addrs []network.PeerAddr
	for i := range 3 {
		tr := m.Listen(net.Validators[i], auth)
		nodes = append(nodes, startPeer(t, net.Genesis, net.Validators[i], tr, network.Config{Peers: addrs}))
		addrs = append(addrs, network.PeerAddr{Addr: tr.Addr(), Key: dagtest.PublicKey(net.Validators[i])})
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	connected := func(x, y *peerNode) bool {
		info, _ := peerInfo(x.net, y.pub)
		return info.State == network.StateConnected
	}
	poll.Until(t, 5*time.Second, "mesh connected", func() bool {
		return connected(a, b) && connected(a, c) && connected(b, c) && connected(b, a) && connected(c, a) && connected(c, b)
	})

	m.Partition([]string{a.tr.Addr()}, []string{b.tr.Addr(), c.tr.Addr()})
	poll.Until(t, 5*time.Second, "links to a cut", func() bool {
		return !connected(a, b) && !connected(a, c) && !connected(b, a) && !connected(c, a)
	})
	// b and c keep redialing a (they have it as a static peer) and fail.
	poll.Until(t, 5*time.Second, "redials refused", func() bool {
		info, _ := peerInfo(c.net, a.pub)
		return strings.Contains(info.LastError, network.ErrUnreachable.Error())
	})

	genA := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 11, BeaconEvery: -1})
	genB := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 12, BeaconEvery: -1})
	txsA, txsB := genA.Take(50), genB.Take(50)
	submitAll(t, a.host, txsA)
	submitAll(t, b.host, txsB)
	poll.Until(t, 5*time.Second, "b's transactions reach c", func() bool { return knowsAll(c, txsB) })
	if !connected(b, c) {
		t.Fatal("the link inside the group was lost")
	}
	for _, p := range []*peerNode{b, c} {
		if knowsAny(p, txsA) {
			t.Fatal("a transaction crossed the partition")
		}
	}
	if knowsAny(a, txsB) {
		t.Fatal("a transaction crossed the partition")
	}

	m.Heal()
	poll.Until(t, 5*time.Second, "static peers reconnect after Heal", func() bool {
		return connected(a, b) && connected(a, c) && connected(b, c) && connected(b, a) && connected(c, a) && connected(c, b)
	})
	// Gossip carries only what is attached from now on, and a node
	// fetches a transaction only when something it has approves it: so
	// transactions that approve every tip of both sides join the ledgers.
	sw := newSweeper(max(txsA[len(txsA)-1].Time, txsB[len(txsB)-1].Time))
	merges := sw.sweep(append(a.ledger.Tips(nil), b.ledger.Tips(nil)...))
	submitAll(t, a.host, merges)
	all := append(append(append([]*dag.Transaction(nil), txsA...), txsB...), merges...)
	for _, p := range nodes {
		poll.Until(t, 10*time.Second, "ledgers converge", func() bool {
			st := p.ledger.Stats()
			return knowsAll(p, all) && st.Transactions == uint64(len(all)) && st.Parked == 0
		})
	}
}

// TestMemLossConverges: with 5% of writes lost, 500 transactions
// submitted to one end of a line a–b–c all reach c. Gossip is the only
// path from a to b, so every loss on it is repaired by missing-transaction
// requests. A node fetches a transaction only once something approves it,
// so while the ledgers differ a sweeper approves a's tips now and then, as
// tip selection on a live network does; otherwise a lost tip would never
// be missed.
func TestMemLossConverges(t *testing.T) {
	net := dagtest.NewNetwork(3, testRules)
	nodes := lossyLine(t, net, 5, network.Config{})
	a, b, c := nodes[0], nodes[1], nodes[2]

	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 13, BeaconEvery: -1})
	var txs []*dag.Transaction
	for len(txs) < 500 {
		batch := gen.Take(5) // small batches: many writes, so many chances to lose one
		submitAll(t, a.host, batch)
		txs = append(txs, batch...)
	}
	converged := func() bool {
		n := a.ledger.Stats().Transactions
		for _, p := range nodes {
			if st := p.ledger.Stats(); st.Transactions != n || st.Parked != 0 || !knowsAll(p, txs) {
				return false
			}
		}
		return true
	}
	sw := newSweeper(txs[len(txs)-1].Time)
	deadline := time.Now().Add(20 * time.Second)
	sweeps := 0
	for !converged() {
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %d sweeps: a %+v, b %+v, c %+v", sweeps, a.ledger.Stats(), b.ledger.Stats(), c.ledger.Stats())
		}
		time.Sleep(100 * time.Millisecond)
		if !converged() {
			submitAll(t, a.host, sw.sweep(a.ledger.Tips(nil)))
			sweeps++
		}
	}
	requested := requestsOut(b, c)
	t.Logf("converged after %d sweeps, %d IDs requested", sweeps, requested)
	if requested == 0 {
		t.Fatal("nothing was requested: the loss was not exercised")
	}
}

// TestMemLossConvergesByHeartbeats: the same lossy line, but nothing
// approves the last transactions, so a lost one is never named as a
// missing parent; the tips advertised in heartbeats bring it back.
func TestMemLossConvergesByHeartbeats(t *testing.T) {
	net := dagtest.NewNetwork(3, testRules)
	nodes := lossyLine(t, net, 9, network.Config{HeartbeatInterval: 50 * time.Millisecond})
	a, b, c := nodes[0], nodes[1], nodes[2]
	// Transactions that all approve the genesis root: every one is a tip,
	// so no child ever names a lost one.
	root := a.ledger.Root()
	var txs []*dag.Transaction
	for i := range 150 {
		tx := dagtest.NewIssuer(fmt.Sprintf("device-%d", i), testRules).Issue(dag.KindData, root, root, dagtest.GenesisTime.Add(time.Second).UnixNano(), nil)
		submitAll(t, a.host, []*dag.Transaction{tx})
		txs = append(txs, tx)
	}
	poll.Until(t, 30*time.Second, "every node knows every transaction", func() bool {
		return knowsAll(b, txs) && knowsAll(c, txs)
	})
	requested := requestsOut(b, c)
	if requested == 0 {
		t.Fatal("nothing was requested: the loss was not exercised")
	}
	t.Logf("%d IDs requested", requested)
}

// lossyLine starts the validators of net as a line a–b–c over a
// MemNetwork that loses 5 % of writes, each node with cfg and a static peer
// on the one before it, and waits until both links are up.
func lossyLine(t *testing.T, net *dagtest.Network, seed uint64, cfg network.Config) []*peerNode {
	t.Helper()
	auth := network.AllowList(net.Genesis)
	m := network.NewMemNetwork(network.MemConfig{Seed: seed, Delay: time.Millisecond, Jitter: time.Millisecond, Loss: 0.05})
	var nodes []*peerNode
	var prev []network.PeerAddr
	for i := range 3 {
		tr := m.Listen(net.Validators[i], auth)
		c := cfg
		c.Peers = prev
		nodes = append(nodes, startPeer(t, net.Genesis, net.Validators[i], tr, c))
		prev = []network.PeerAddr{{Addr: tr.Addr(), Key: dagtest.PublicKey(net.Validators[i])}}
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	poll.Until(t, 5*time.Second, "line connected", func() bool {
		ab, _ := peerInfo(b.net, a.pub)
		cb, _ := peerInfo(c.net, b.pub)
		return ab.State == network.StateConnected && cb.State == network.StateConnected
	})
	return nodes
}

// requestsOut sums the transaction IDs the nodes asked their peers for.
func requestsOut(nodes ...*peerNode) uint64 {
	var n uint64
	for _, p := range nodes {
		for _, info := range p.net.Peers() {
			n += info.Traffic.RequestsOut
		}
	}
	return n
}

// sweeper issues transactions that approve given tips, standing in for the
// tip selection of a live network.
type sweeper struct {
	is *dagtest.Issuer
	at int64 // the last issuing time
}

// newSweeper returns a sweeper whose transactions are issued after after.
func newSweeper(after int64) *sweeper {
	return &sweeper{is: dagtest.NewIssuer("sweeper", testRules), at: after}
}

// sweep returns a chain of transactions that together approve every one
// of tips.
func (s *sweeper) sweep(tips []dag.ID) []*dag.Transaction {
	var out []*dag.Transaction
	for i := 0; i < len(tips); i += 2 {
		trunk, branch := tips[i], tips[min(i+1, len(tips)-1)]
		s.at += int64(time.Millisecond)
		out = append(out, s.is.Issue(dag.KindData, trunk, branch, s.at, []byte("sweep")))
	}
	return out
}

func knowsAll(p *peerNode, txs []*dag.Transaction) bool {
	for _, tx := range txs {
		if !p.ledger.Known(tx.ID()) {
			return false
		}
	}
	return true
}

func knowsAny(p *peerNode, txs []*dag.Transaction) bool {
	for _, tx := range txs {
		if p.ledger.Known(tx.ID()) {
			return true
		}
	}
	return false
}
