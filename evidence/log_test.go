package evidence_test

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/merkle"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// testNet is a four-validator network and a stream of its transactions
// whose issuing times span several checkpoint intervals: data from
// devices, and every tenth transaction a beacon from each validator on
// the two newest transactions, plus an anchor of the orderer (validator
// 0: a checkpoint transaction on its previous anchor and a data
// transaction), which the other validators' beacons approve as a node's
// tip selection would.
func testNet(t testing.TB, count int) (*dagtest.Network, []*dag.Transaction) {
	t.Helper()
	net, txs, _ := testNetWithLoner(t, count, -1)
	return net, txs
}

// testNetWithLoner is testNet where, in round loner (none if negative),
// the orderer also issues a beacon on a device transaction that nothing
// else approves: neither is ever confirmed (as a beacon of the orderer
// that approved a transaction later ruled out is not). It returns the
// beacon too.
func testNetWithLoner(t testing.TB, count, loner int) (*dagtest.Network, []*dag.Transaction, *dag.Transaction) {
	t.Helper()
	net := dagtest.NewNetwork(4, pow.Rules{})
	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 7, BeaconEvery: -1, Step: 20 * 1e6})
	var beacons []*dagtest.Issuer
	for _, key := range net.Validators {
		beacons = append(beacons, &dagtest.Issuer{Key: key})
	}
	empty := evidence.Checkpoint{Origin: evidence.Origin(net.Genesis), Root: merkle.Hash(sha256.Sum256(nil))}
	payload := evidence.CheckpointPayload(empty, evidence.SignCheckpoint(net.Validators[0], empty))
	anchor := net.Genesis.ID()
	var out []*dag.Transaction
	var lone *dag.Transaction
	for round := 0; len(out) < count; round++ {
		data := gen.Take(10)
		out = append(out, data...)
		a, b := data[len(data)-1], data[len(data)-2]
		at := a.Time + 1
		for i, is := range beacons {
			trunk, branch := a.ID(), b.ID()
			if i > 0 {
				branch = anchor
			}
			out = append(out, is.Issue(dag.KindBeacon, trunk, branch, at, nil))
		}
		if round == loner {
			device := dagtest.NewIssuer("loner", pow.Rules{})
			d := device.Issue(dag.KindData, a.ID(), b.ID(), at, []byte("alone"))
			lone = beacons[0].Issue(dag.KindBeacon, d.ID(), a.ID(), at, nil)
			out = append(out, d, lone)
		}
		next := beacons[0].Issue(dag.KindCheckpoint, anchor, b.ID(), at+1, payload)
		anchor = next.ID()
		out = append(out, next)
	}
	return net, out, lone
}

// logged is a ledger with a log that advances whenever an orderer's
// transaction is confirmed.
type logged struct {
	ledger *dag.Ledger
	log    *evidence.Log
	store  *evidence.MemoryStore

	mu     sync.Mutex
	newest *dag.Info // the orderer's newest confirmed transaction
	closed map[uint64]merkle.Hash
}

func newLogged(t testing.TB, g *dag.Genesis) *logged {
	t.Helper()
	ledger, err := dag.Open(dag.Config{Genesis: g, Store: storage.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	store := evidence.NewMemoryStore()
	log, err := evidence.Open(g, store)
	if err != nil {
		t.Fatal(err)
	}
	l := &logged{ledger: ledger, log: log, store: store, closed: map[uint64]merkle.Hash{}}
	ledger.Subscribe(func(e dag.Event) {
		if e.Kind != dag.EventConfirmed || e.Info.Issuer != log.Orderer() {
			return
		}
		l.mu.Lock()
		if l.newest == nil || e.Info.Seq > l.newest.Seq {
			info := e.Info
			l.newest = &info
		}
		l.mu.Unlock()
	})
	return l
}

// deliver attaches txs and advances the log as far as confirmed.
func (l *logged) deliver(t testing.TB, txs []*dag.Transaction) {
	t.Helper()
	if _, err := l.ledger.AttachVerified(txs).Wait(); err != nil {
		t.Fatal(err)
	}
	l.advance(t)
}

func (l *logged) advance(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	newest := l.newest
	l.mu.Unlock()
	if newest == nil {
		return
	}
	closed, err := l.log.Advance(l.ledger, newest.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range closed {
		l.closed[c.Size] = c.Root
	}
}

// TestShuffledDeliverySameLog: the same transactions delivered to four
// ledgers in different orders and chunkings (so each confirms, and
// advances its log, at different moments) give byte-identical logs and
// the same checkpoints.
func TestShuffledDeliverySameLog(t *testing.T) {
	net, txs := testNet(t, 1500)
	rng := rand.New(rand.NewPCG(1, 2))
	var logs []*logged
	for i := range 4 {
		l := newLogged(t, net.Genesis)
		order := slices.Clone(txs)
		if i > 0 {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		chunk := []int{len(order), 1, 37, 250}[i]
		for len(order) > 0 {
			n := min(chunk, len(order))
			l.deliver(t, order[:n])
			order = order[n:]
		}
		logs = append(logs, l)
	}
	ref := logs[0]
	if ref.log.Size() < 900 || len(ref.closed) < 5 {
		t.Fatalf("the reference log has %d transactions and %d checkpoints: too few to compare", ref.log.Size(), len(ref.closed))
	}
	refRoot, _ := ref.log.RootAt(ref.log.Size())
	for i, l := range logs[1:] {
		if l.log.Size() != ref.log.Size() {
			t.Fatalf("ledger %d logged %d, the reference %d", i+1, l.log.Size(), ref.log.Size())
		}
		root, err := l.log.RootAt(l.log.Size())
		if err != nil || root != refRoot {
			t.Errorf("ledger %d: root %s, reference %s (%v)", i+1, root, refRoot, err)
		}
		for size, root := range ref.closed {
			if got, ok := l.closed[size]; ok && got != root {
				t.Errorf("ledger %d: checkpoint %d root %s, reference %s", i+1, size, got, root)
			}
			if r, _ := l.log.RootAt(size); r != root {
				t.Errorf("ledger %d: root at checkpoint size %d differs", i+1, size)
			}
		}
		if !maps(l.closed, ref.closed) {
			t.Errorf("ledger %d closed checkpoints at other sizes: %d vs %d", i+1, len(l.closed), len(ref.closed))
		}
	}
}

func maps(a, b map[uint64]merkle.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLogPassesAnUnconfirmedOrdererTransaction: an orderer's transaction
// that is never confirmed (a beacon on a transaction nobody else
// approves) is not an anchor, so the log goes on past it and takes in
// every confirmed transaction of later rounds. When every transaction of
// the orderer's chain was an anchor, such a beacon stopped the log for
// good.
func TestLogPassesAnUnconfirmedOrdererTransaction(t *testing.T) {
	net, txs, lone := testNetWithLoner(t, 600, 5)
	l := newLogged(t, net.Genesis)
	l.deliver(t, txs)
	if info, _ := l.ledger.Info(lone.ID()); info.Confirmed {
		t.Fatal("fixture: the lone beacon is confirmed")
	}
	_, seq, ok := l.log.Anchor()
	if !ok || seq <= lone.Seq {
		t.Fatalf("the log's anchor is at %d (%v), the lone beacon at %d: the log stopped", seq, ok, lone.Seq)
	}
	// Every confirmed anchor and what it approves is logged, after the
	// lone beacon's round too.
	anchors := 0
	for _, tx := range txs {
		info, _ := l.ledger.Info(tx.ID())
		if !evidence.IsAnchor(info) || info.Issuer != l.log.Orderer() || !info.Confirmed {
			continue
		}
		anchors++
		for _, id := range []dag.ID{tx.ID(), tx.Branch} {
			if _, err := l.log.IndexOf(id); err != nil {
				t.Errorf("anchor %d: %s is confirmed but not logged: %v", tx.Seq, id.Short(), err)
			}
		}
	}
	if anchors < 30 {
		t.Fatalf("only %d anchors confirmed", anchors)
	}
}

// TestLogIsCanonicalOrder: every logged transaction is confirmed, logged
// once, and comes after its parents.
func TestLogIsCanonicalOrder(t *testing.T) {
	net, txs := testNet(t, 800)
	l := newLogged(t, net.Genesis)
	l.deliver(t, txs)
	pos := map[dag.ID]uint64{}
	for i := range l.log.Size() {
		id, err := l.log.At(i)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := pos[id]; dup {
			t.Fatalf("%s logged twice", id.Short())
		}
		pos[id] = i
		if got, err := l.log.IndexOf(id); err != nil || got != i {
			t.Fatalf("IndexOf(%s) = %d, %v; want %d", id.Short(), got, err, i)
		}
	}
	root := l.ledger.Root()
	for id, i := range pos {
		info, _ := l.ledger.Info(id)
		if !info.Confirmed {
			t.Errorf("%s is logged but not confirmed", id.Short())
		}
		for _, ref := range []dag.ID{info.Trunk, info.Branch} {
			if ref.IsZero() || ref == root {
				continue
			}
			if j, ok := pos[ref]; !ok || j >= i {
				t.Errorf("%s at %d names %s at %d (logged %v)", id.Short(), i, ref.Short(), j, ok)
			}
		}
	}
	if _, err := l.log.IndexOf(dag.ID{1}); !errors.Is(err, evidence.ErrNotLogged) {
		t.Errorf("IndexOf an unknown ID: %v", err)
	}
}
