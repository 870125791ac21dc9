package node_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
)

// TestPrunedNodeServesSync: a validator that prunes everything it may
// (prune-after of a nanosecond) keeps running, and a node that joins later
// receives by bulk sync every transaction the pruned one still holds
// (attached there or parked, since their pruned past is gone for good),
// while the validator keeps confirming new traffic.
func TestPrunedNodeServesSync(t *testing.T) {
	c := newCluster(t, 1)
	keyFile := filepath.Join(c.dir, "joiner.key")
	joinerKey := newKey(t)
	if err := client.SaveKey(keyFile, joinerKey, false); err != nil {
		t.Fatal(err)
	}
	joinerPub := dagtest.PublicKey(joinerKey)
	m := c.members[0]
	cfg := pruneConfig(m, c.genesis, 0)
	cfg.PruneAfter = time.Nanosecond
	cfg.P2PAddr = "127.0.0.1:0"
	cfg.AllowPeers = []string{joinerPub.String()}
	cfg.Network = network.Config{HeartbeatInterval: 200 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}
	m.r = start(t, cfg)
	m.p2p = m.r.n.P2PAddr()
	gen := c.generator()
	txs := gen.Take(6000)
	c.post(txs, 500, func(int) *member { return m })
	c.waitConfirmed([]*member{m}, txs[len(txs)-50:], 30*time.Second)
	poll.Until(t, 30*time.Second, "the validator to prune", func() bool { return m.r.n.PruneStats().Pruned > 3000 })

	var kept []dag.ID
	for _, tx := range txs {
		if _, ok := m.r.n.Ledger().Info(tx.ID()); ok {
			kept = append(kept, tx.ID())
		}
	}
	if len(kept) == 0 || len(kept) > len(txs)/2 {
		t.Fatalf("%d of %d transactions kept", len(kept), len(txs))
	}

	joiner := &member{name: "joiner", dataDir: filepath.Join(c.dir, "joiner"), keyFile: keyFile, key: joinerPub,
		peers: []string{m.key.String() + "@" + m.p2p}}
	c.start(joiner)
	// The validator goes on pruning meanwhile: what it drops after the
	// list was made need not reach the joiner.
	poll.Until(t, 30*time.Second, "the joiner to receive what the pruned node holds", func() bool {
		l, held := joiner.r.n.Ledger(), m.r.n.Ledger()
		got := 0
		for _, id := range kept {
			switch {
			case l.Known(id):
				got++
			case held.Known(id):
				return false
			}
		}
		return got >= len(kept)/2
	})
	poll.Until(t, 30*time.Second, "a bulk sync from the pruned node", func() bool {
		_, got := joiner.r.n.Network().Syncing()
		return got > 0
	})
	// New traffic on the validator's own tips (the generator's parents
	// are its own older transactions, which may be pruned by now: a
	// transaction on a pruned parent parks as unknown here, for good).
	dev := client.NewDevice(m.r.c, newKey(t))
	var more []dag.ID
	for i := range 50 {
		id, err := dev.Send(t.Context(), dag.KindData, []byte{byte(i)})
		if err != nil {
			t.Fatalf("after pruning, send %d: %v", i, err)
		}
		more = append(more, id)
	}
	poll.Until(t, 30*time.Second, "the validator to confirm new traffic", func() bool {
		for _, id := range more {
			if info, ok := m.r.n.Ledger().Info(id); !ok || !info.Confirmed {
				return false
			}
		}
		return true
	})
}
