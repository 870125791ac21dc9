package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// clusterRules keep work trivial and the rate rule off: the scenarios
// push thousands of transactions from a few generated devices.
var clusterRules = pow.Rules{BaseBits: 4}

// cluster is a network of validator nodes in one process, peering over
// real QUIC on loopback, each with its own data directory.
type cluster struct {
	t       testing.TB
	dir     string
	genesis string
	g       *dag.Genesis
	members []*member
	seed    uint64
	// beaconRule is the validators' Config.BeaconRule (empty: default);
	// beaconInterval their Config.BeaconInterval (zero: 50 ms).
	beaconRule     string
	beaconInterval time.Duration
}

type member struct {
	name    string
	dataDir string
	keyFile string
	key     dag.PublicKey
	p2p     string   // fixed after the first start, so peers can redial it
	peers   []string // static peers, KEY@ADDR
	allow   []string
	gate    *network.Gate
	r       *running
}

func newCluster(t testing.TB, validators int) *cluster {
	t.Helper()
	dir := t.TempDir()
	g, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "cluster", Validators: validators, Difficulty: &clusterRules})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir, genesis: filepath.Join(dir, node.GenesisFile), g: g}
	for i := range validators {
		m := &member{
			name:    fmt.Sprintf("v%d", i+1),
			dataDir: filepath.Join(dir, fmt.Sprintf("node-%d", i+1)),
			keyFile: filepath.Join(dir, node.ValidatorKeyFile(i+1)),
			key:     g.Validators[i].PublicKey,
		}
		c.members = append(c.members, m)
	}
	return c
}

// startAll starts the validators in order; each pins and dials the ones
// started before it, so the links form a full mesh.
func (c *cluster) startAll(allow ...string) {
	for i, m := range c.members {
		m.allow = allow
		for _, prev := range c.members[:i] {
			m.peers = append(m.peers, prev.key.String()+"@"+prev.p2p)
		}
		c.start(m)
	}
	c.waitMesh(c.members)
}

func (c *cluster) start(m *member) {
	c.t.Helper()
	if m.p2p == "" {
		m.p2p = "127.0.0.1:0"
	}
	interval := c.beaconInterval
	if interval == 0 {
		interval = 50 * time.Millisecond
	}
	m.r = start(c.t, node.Config{
		DataDir:        m.dataDir,
		GenesisFile:    c.genesis,
		KeyFile:        m.keyFile,
		P2PAddr:        m.p2p,
		Peers:          m.peers,
		AllowPeers:     m.allow,
		BeaconInterval: interval,
		BeaconRule:     c.beaconRule,
		Network: network.Config{
			HeartbeatInterval: 200 * time.Millisecond,
			ReconnectMax:      500 * time.Millisecond,
		},
		WrapTransport: func(tr network.Transport) network.Transport {
			m.gate = network.NewGate(tr)
			return m.gate
		},
		API: api.Config{ClientRate: -1, IssuerRate: -1},
	})
	m.p2p = m.r.n.P2PAddr()
}

// waitMesh waits until every member is connected to every other.
func (c *cluster) waitMesh(ms []*member) {
	c.t.Helper()
	poll.Until(c.t, 20*time.Second, "full mesh", func() bool {
		for _, m := range ms {
			connected := 0
			for _, p := range m.r.n.Peers() {
				if p.State == string(network.StateConnected) {
					connected++
				}
			}
			if connected < len(ms)-1 {
				return false
			}
		}
		return true
	})
}

// generator returns a new seeded stream of signed device transactions
// that approve the genesis and each other.
func (c *cluster) generator() *dagtest.Generator {
	c.seed++
	return dagtest.NewGenerator(&dagtest.Network{Genesis: c.g}, dagtest.GeneratorConfig{
		Seed: c.seed, Devices: 16, BeaconEvery: -1, Step: time.Microsecond,
	})
}

// post sends txs in batches, batch k to target(k).
func (c *cluster) post(txs []*dag.Transaction, batch int, target func(k int) *member) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for k := 0; len(txs) > 0; k++ {
		chunk := txs[:min(batch, len(txs))]
		txs = txs[len(chunk):]
		m := target(k)
		results, err := m.r.c.PostBatch(ctx, chunk)
		if err != nil {
			c.t.Fatalf("post to %s: %v", m.name, err)
		}
		for i, r := range results {
			if err := r.Err(); err != nil {
				c.t.Fatalf("post to %s: tx %d: %v", m.name, i, err)
			}
		}
	}
}

// waitConfirmed waits until every member knows every transaction and has
// confirmed it.
func (c *cluster) waitConfirmed(ms []*member, txs []*dag.Transaction, within time.Duration) {
	c.t.Helper()
	for _, m := range ms {
		poll.Until(c.t, within, fmt.Sprintf("%s confirms all %d", m.name, len(txs)), func() bool {
			l := m.r.n.Ledger()
			for _, tx := range txs {
				if info, ok := l.Info(tx.ID()); !ok || !info.Confirmed {
					return false
				}
			}
			return true
		})
	}
}

// waitQuiet waits until the members hold the same number of transactions,
// have nothing left to confirm and stay that way for a moment.
func (c *cluster) waitQuiet(ms []*member, within time.Duration) {
	c.t.Helper()
	stableSince := time.Time{}
	var last uint64
	tb := &dumpOnFatal{TB: c.t, dump: func() {
		for _, m := range ms {
			c.t.Logf("%s: %+v; audit log: %s", m.name, m.r.n.Ledger().Stats(), m.r.n.AuditWaiting())
		}
	}}
	poll.Until(tb, within, "the cluster to settle", func() bool {
		first := ms[0].r.n.Ledger().Stats()
		same := first.UnconfirmedData == 0
		for _, m := range ms[1:] {
			st := m.r.n.Ledger().Stats()
			same = same && st.Transactions == first.Transactions && st.UnconfirmedData == 0
		}
		if !same || first.Transactions != last {
			last, stableSince = first.Transactions, time.Time{}
			return false
		}
		if stableSince.IsZero() {
			stableSince = time.Now()
		}
		return time.Since(stableSince) > 500*time.Millisecond
	})
}

// sameConfirmed checks that the members confirmed exactly the same set.
func (c *cluster) sameConfirmed(ms []*member) {
	c.t.Helper()
	set := func(m *member) map[dag.ID]bool {
		out := map[dag.ID]bool{}
		for _, id := range m.r.n.Ledger().Confirmed(1, 1<<30, nil) {
			out[id] = true
		}
		return out
	}
	want := set(ms[0])
	for _, m := range ms[1:] {
		got := set(m)
		if len(got) != len(want) {
			c.t.Fatalf("%s confirmed %d, %s confirmed %d", m.name, len(got), ms[0].name, len(want))
		}
		for id := range want {
			if !got[id] {
				c.t.Fatalf("%s did not confirm %s", m.name, id)
			}
		}
	}
}

// checkPeersEndpoint reads GET /v1/peers over HTTP: every other validator
// is listed as connected, with a full score, traffic both ways and a
// heartbeat that names its latest confirmed transaction.
func (c *cluster) checkPeersEndpoint(m *member, want int) {
	c.t.Helper()
	resp, err := http.Get("http://" + m.r.n.HTTPAddr() + "/v1/peers")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Peers []api.Peer `json:"peers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /v1/peers: %d %v", resp.StatusCode, err)
	}
	if len(body.Peers) != want {
		c.t.Fatalf("GET /v1/peers lists %d peers, want %d: %+v", len(body.Peers), want, body.Peers)
	}
	for _, p := range body.Peers {
		if p.State != "connected" || p.Score != network.MaxScore || p.Traffic.TxIn == 0 || p.Traffic.TxOut == 0 ||
			p.Traffic.BytesIn == 0 || p.ConnectedAt == nil || p.Heartbeat.Transactions == 0 || p.Heartbeat.LatestConfirmed == nil {
			c.t.Fatalf("peer %s: %+v", p.Key, p)
		}
	}
}

// TestClusterConfirmsEverywhere: four validators, 1,000 transactions
// posted round-robin to all four are present and confirmed on every node
// with identical confirmed sets; then a node stopped while 300 more are
// posted catches up after its restart and confirms them too (under the
// rounds rule the others fill in for its turns). Under each beacon rule.
func TestClusterConfirmsEverywhere(t *testing.T) {
	for _, rule := range []string{node.BeaconSweep, node.BeaconRounds} {
		t.Run(rule, func(t *testing.T) { confirmsEverywhere(t, rule) })
	}
}

func confirmsEverywhere(t *testing.T, rule string) {
	c := newCluster(t, 4)
	c.beaconRule = rule
	c.startAll()
	gen := c.generator()
	txs := gen.Take(1000)
	c.post(txs, 25, func(k int) *member { return c.members[k%4] })
	c.waitConfirmed(c.members, txs, 60*time.Second)
	c.waitQuiet(c.members, 30*time.Second)
	c.sameConfirmed(c.members)
	c.checkPeersEndpoint(c.members[0], 3)

	// Node 4 goes down; three of four validators still hold more than
	// 2/3 of the weight, so the others go on confirming.
	down := c.members[3]
	if err := down.r.stop(); err != nil {
		t.Fatal(err)
	}
	up := c.members[:3]
	more := gen.Take(300)
	c.post(more, 25, func(k int) *member { return up[k%3] })
	c.waitConfirmed(up, more, 60*time.Second)

	down.peers = nil
	for _, m := range up {
		down.peers = append(down.peers, m.key.String()+"@"+m.p2p)
	}
	c.start(down)
	c.waitConfirmed([]*member{down}, more, 60*time.Second)
	c.waitQuiet(c.members, 30*time.Second)
	c.sameConfirmed(c.members)
}

// TestClusterPartitionHeals: split 2|2, neither side holds more than 2/3
// of the weight, so both keep accepting but confirm nothing new; after
// healing both sides converge on the same transactions and confirmed set.
func TestClusterPartitionHeals(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	warm := c.generator().Take(100)
	c.post(warm, 50, func(int) *member { return c.members[0] })
	c.waitConfirmed(c.members, warm, 30*time.Second)

	a, b := c.members[:2], c.members[2:]
	for _, m := range a {
		m.gate.Block(b[0].key, b[1].key)
	}
	for _, m := range b {
		m.gate.Block(a[0].key, a[1].key)
	}
	sideA, sideB := c.generator().Take(200), c.generator().Take(200)
	c.post(sideA, 20, func(k int) *member { return a[k%2] })
	c.post(sideB, 20, func(k int) *member { return b[k%2] })
	// Each side attaches its own half (gossip within the side works)...
	for _, side := range []struct {
		ms  []*member
		txs []*dag.Transaction
	}{{a, sideA}, {b, sideB}} {
		for _, m := range side.ms {
			poll.Until(t, 20*time.Second, m.name+" attaches its side's transactions", func() bool {
				for _, tx := range side.txs {
					if _, ok := m.r.n.Ledger().Info(tx.ID()); !ok {
						return false
					}
				}
				return true
			})
		}
	}
	// ...and confirms none of it: many beacon intervals pass.
	time.Sleep(time.Second)
	for _, m := range c.members {
		for _, tx := range append(append([]*dag.Transaction{}, sideA...), sideB...) {
			if info, ok := m.r.n.Ledger().Info(tx.ID()); ok && info.Confirmed {
				t.Fatalf("%s confirmed %s during the partition", m.name, tx.ID())
			}
		}
	}

	for _, m := range c.members {
		m.gate.Unblock()
	}
	all := append(append([]*dag.Transaction{}, sideA...), sideB...)
	c.waitConfirmed(c.members, all, 60*time.Second)
	c.waitQuiet(c.members, 30*time.Second)
	c.sameConfirmed(c.members)
}

// TestClusterLateJoinerSyncs: a fifth, non-validator node that joins after
// 10,000 transactions receives all of them (by bulk sync) and confirms
// them from the validators' beacons.
func TestClusterLateJoinerSyncs(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 2000
	}
	c := newCluster(t, 4)
	keyFile := filepath.Join(c.dir, "joiner.key")
	joinerKey := newKey(t)
	if err := client.SaveKey(keyFile, joinerKey, false); err != nil {
		t.Fatal(err)
	}
	joinerPub := dagtest.PublicKey(joinerKey)
	c.startAll(joinerPub.String())
	txs := c.generator().Take(n)
	c.post(txs, 250, func(k int) *member { return c.members[k%4] })
	c.waitConfirmed(c.members, txs, 120*time.Second)
	c.waitQuiet(c.members, 30*time.Second)

	joiner := &member{name: "joiner", dataDir: filepath.Join(c.dir, "joiner"), keyFile: keyFile, key: joinerPub}
	for _, m := range c.members {
		joiner.peers = append(joiner.peers, m.key.String()+"@"+m.p2p)
	}
	began := time.Now()
	c.start(joiner)
	c.waitConfirmed([]*member{joiner}, txs, 120*time.Second)
	t.Logf("joiner synced and confirmed %d transactions in %v", n, time.Since(began).Round(time.Millisecond))
	everyone := append(append([]*member{}, c.members...), joiner)
	c.waitQuiet(everyone, 30*time.Second)
	c.sameConfirmed(everyone)
	if _, got := joiner.r.n.Network().Syncing(); got == 0 {
		t.Fatal("the joiner received nothing by bulk sync")
	}
}

// TestClusterSweepConfirmsAsItGoes: a burst of transactions that are all
// tips (each approves only the genesis root, as after a flood that
// overflowed the tip pool) is swept by the validators' beacons, each
// validator taking the oldest tips it sees, so the three end up sweeping
// different ones. A swept tip must be confirmed soon after, not only once
// every tip is gone: when half of the burst has been swept, at least a
// quarter must be confirmed already. Without beacons that link in the
// other validators' latest beacons, confirmation waited for the data to
// run out.
func TestClusterSweepConfirmsAsItGoes(t *testing.T) {
	const burst = 600
	c := newCluster(t, 3)
	c.startAll()
	root := c.members[0].r.n.Ledger().Root()
	txs := make([]*dag.Transaction, burst)
	at := time.Now().UnixNano()
	for i := range txs {
		is := dagtest.NewIssuer(fmt.Sprintf("sweep-%d", i), clusterRules)
		txs[i] = is.Issue(dag.KindData, root, root, at, []byte("reading"))
	}
	c.post(txs, 200, func(int) *member { return c.members[0] })

	l := c.members[0].r.n.Ledger()
	var atHalf dag.Stats
	poll.Until(t, 60*time.Second, "half of the burst swept", func() bool {
		st := l.Stats()
		if st.Transactions >= burst && st.Tips <= burst/2 {
			atHalf = st
			return true
		}
		return false
	})
	confirmed := burst - atHalf.UnconfirmedData
	t.Logf("%d tips left, %d of %d confirmed", atHalf.Tips, confirmed, burst)
	if confirmed < burst/4 {
		t.Fatalf("with %d tips left, %d of %d confirmed; want at least %d", atHalf.Tips, confirmed, burst, burst/4)
	}
	c.waitConfirmed(c.members, txs, 60*time.Second)
	c.waitQuiet(c.members, 30*time.Second)
	c.sameConfirmed(c.members)
}
