package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
)

// deviceCluster is a cluster whose genesis names one authority and is
// permissioned: only registered, active devices write.
type deviceCluster struct {
	*cluster
	authority *dagtest.Issuer
	mu        sync.Mutex // guards authority's chain
}

func newDeviceCluster(t *testing.T, validators int) *deviceCluster {
	t.Helper()
	c := newCluster(t, validators)
	key := dagtest.Key("fleet-owner")
	c.g.Authorities = []dag.Authority{{Name: "fleet", PublicKey: dagtest.PublicKey(key), Classes: []string{"sensor"}}}
	c.g.Permissioned = true
	data, err := json.MarshalIndent(c.g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.genesis, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return &deviceCluster{cluster: c, authority: &dagtest.Issuer{Key: key, Rules: clusterRules}}
}

// control posts the authority's next control transaction to m: its trunk
// is see (what the action must have in its past: the device's newest
// control transaction), its branch a tip of m.
func (c *deviceCluster) control(m *member, kind dag.Kind, see dag.ID, payload []byte) (dag.ID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tips, err := m.r.c.Tips(ctx, nil, len(payload))
	if err != nil {
		return dag.ID{}, err
	}
	if see.IsZero() {
		see = tips.Trunk
	}
	saved := *c.authority
	tx := c.authority.Issue(kind, see, tips.Branch, time.Now().UnixNano(), payload)
	if _, err := m.r.c.Post(ctx, tx); err != nil {
		*c.authority = saved
		return dag.ID{}, err
	}
	return tx.ID(), nil
}

func (c *deviceCluster) register(m *member, key ed25519.PrivateKey) dag.ID {
	c.t.Helper()
	var pub dag.PublicKey
	copy(pub[:], key.Public().(ed25519.PublicKey))
	reg := device.Registration{Key: pub, Class: "sensor", Attributes: []device.Attribute{{Key: "site", Value: "north"}}}
	id, err := c.control(m, dag.KindRegister, dag.ID{}, reg.Encode())
	if err != nil {
		c.t.Fatalf("register: %v", err)
	}
	return id
}

// waitDevice waits until every member's registry shows the device in state.
func (c *deviceCluster) waitDevice(id dag.ID, state string) {
	c.t.Helper()
	for _, m := range c.members {
		poll.Until(c.t, 30*time.Second, fmt.Sprintf("%s: device %s %s", m.name, id.Short(), state), func() bool {
			d, ok := m.r.n.Registry().Device(id)
			return ok && d.State == state
		})
	}
}

// sameRegistry checks that every member's registry has one digest, and
// returns the device as the first member shows it.
func (c *deviceCluster) sameRegistry(id dag.ID) device.Device {
	c.t.Helper()
	want := c.members[0].r.n.Registry().Digest()
	first, _ := c.members[0].r.n.Registry().Device(id)
	for _, m := range c.members[1:] {
		if got := m.r.n.Registry().Digest(); got != want {
			d, _ := m.r.n.Registry().Device(id)
			c.t.Fatalf("%s: registry digest %x, %s's %x; device differs: %s", m.name, got, c.members[0].name, want, cmp.Diff(first, d))
		}
	}
	return first
}

func apiCode(err error) string {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return ""
}

// TestClusterDeviceLifecycle: through four real nodes, a registration
// posted to one is enforced on all (an unregistered key is refused
// everywhere, the registered device writes everywhere); a revocation
// posted to a third node while the device keeps posting to two others
// ends in one registry state, one accepted set and one confirmed set on
// all four, and then the device is refused everywhere; a restart keeps
// the registry.
func TestClusterDeviceLifecycle(t *testing.T) {
	c := newDeviceCluster(t, 4)
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	stranger := client.NewDevice(c.members[0].r.c, newKey(t))
	if _, err := stranger.Send(ctx, dag.KindData, []byte("hello")); apiCode(err) != device.CodeUnregistered {
		t.Fatalf("unregistered key: %v, want %s", err, device.CodeUnregistered)
	}

	key := newKey(t)
	id := c.register(c.members[0], key)
	c.waitDevice(id, "active")
	var sent []dag.ID
	for i, m := range c.members {
		dev := client.NewDevice(m.r.c, key)
		txID, err := dev.Send(ctx, dag.KindData, fmt.Appendf(nil, "reading %d", i))
		if err != nil {
			t.Fatalf("registered device on %s: %v", m.name, err)
		}
		sent = append(sent, txID)
		// The next node must know the chain head before it extends it.
		for _, o := range c.members {
			poll.Until(t, 20*time.Second, o.name+" has the reading", func() bool { return o.r.n.Ledger().Known(txID) })
		}
	}
	for _, m := range c.members {
		if _, err := client.NewDevice(m.r.c, newKey(t)).Send(ctx, dag.KindData, nil); apiCode(err) != device.CodeUnregistered {
			t.Fatalf("%s accepted an unregistered key: %v", m.name, err)
		}
	}

	// The device posts to nodes 1 and 2 in turn while node 3 revokes it.
	// It waits for the next node to know its previous transaction, as a
	// device that switches gateways does (otherwise it would sign two
	// transactions with one sequence number: a clone).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var accepted []dag.ID
	var acceptedMu sync.Mutex
	count := func() int { acceptedMu.Lock(); defer acceptedMu.Unlock(); return len(accepted) }
	wg.Add(1)
	go func() {
		defer wg.Done()
		prev := sent[len(sent)-1]
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := c.members[i%2]
			for !m.r.n.Ledger().Known(prev) {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
			txID, err := client.NewDevice(m.r.c, key).Send(ctx, dag.KindData, fmt.Appendf(nil, "reading %d via %s", i, m.name))
			switch {
			case err == nil:
				acceptedMu.Lock()
				accepted = append(accepted, txID)
				acceptedMu.Unlock()
				prev = txID
			case apiCode(err) == device.CodeRevoked:
				return
			default:
				t.Errorf("device via %s: %v", m.name, err)
				return
			}
		}
	}()
	poll.Until(t, 20*time.Second, "device posts", func() bool { return count() >= 4 })
	revocation, err := c.control(c.members[2], dag.KindRevoke, id, device.LifecyclePayload(id))
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	c.waitDevice(id, "revoked")
	for _, m := range c.members {
		poll.Until(t, 30*time.Second, m.name+" confirms the revocation", func() bool {
			info, ok := m.r.n.Ledger().Info(revocation)
			return ok && info.Confirmed
		})
	}
	close(stop)
	wg.Wait()
	c.waitSettled(60*time.Second, append(append([]dag.ID{revocation}, sent...), accepted...))
	d := c.sameRegistry(id)
	c.sameConfirmed(c.members)
	if d.State != "revoked" || len(d.Control) != 1 || d.Control[0].Transaction != revocation {
		t.Fatalf("device after revocation: %+v", d)
	}
	// Everything any node accepted is attached on all four.
	for _, txID := range accepted {
		for _, m := range c.members {
			if !m.r.n.Ledger().Known(txID) {
				t.Fatalf("%s lacks %s, accepted elsewhere", m.name, txID.Short())
			}
		}
	}
	t.Logf("device posted %d transactions around the revocation", len(accepted))
	for _, m := range c.members {
		if _, err := client.NewDevice(m.r.c, key).Send(ctx, dag.KindData, []byte("after")); apiCode(err) != device.CodeRevoked {
			t.Fatalf("%s after the revocation: %v, want %s", m.name, err, device.CodeRevoked)
		}
	}

	// A restart rebuilds the registry from the log.
	m := c.members[1]
	before := m.r.n.Registry().Digest()
	if err := m.r.stop(); err != nil {
		t.Fatal(err)
	}
	c.start(m)
	if got := m.r.n.Registry().Digest(); got != before {
		t.Fatalf("registry digest after restart %x, before %x", got, before)
	}
}

// TestClusterCloneQuarantined: a device whose key signs two different
// transactions with one sequence number, posted to two nodes at once, is
// quarantined on all four with the same proof; the validators' notices
// make its next transaction invalid everywhere. A rotation with a
// committed next key refuses any other key.
func TestClusterCloneQuarantined(t *testing.T) {
	c := newDeviceCluster(t, 4)
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Rotation first, on a second device: committed to next, so a thief
	// holding the current key cannot rotate to a key of its own.
	current, next, thief := newKey(t), newKey(t), newKey(t)
	var curPub, nextPub dag.PublicKey
	copy(curPub[:], current.Public().(ed25519.PublicKey))
	copy(nextPub[:], next.Public().(ed25519.PublicKey))
	h := device.KeyHash(nextPub)
	reg := device.Registration{Key: curPub, NextKeyHash: &h, Class: "sensor"}
	rotID, err := c.control(c.members[0], dag.KindRegister, dag.ID{}, reg.Encode())
	if err != nil {
		t.Fatal(err)
	}
	c.waitDevice(rotID, "active")
	var thiefPub dag.PublicKey
	copy(thiefPub[:], thief.Public().(ed25519.PublicKey))
	rotDev := client.NewDevice(c.members[1].r.c, current)
	if _, err := rotDev.Send(ctx, dag.KindData, []byte("before rotating")); err != nil {
		t.Fatal(err)
	}
	if _, err := rotDev.Rotate(ctx, thief, nil); apiCode(err) != device.CodeKeyNotCommitted {
		t.Fatalf("rotation to an uncommitted key: %v, want %s", err, device.CodeKeyNotCommitted)
	}
	rotDev = client.NewDevice(c.members[1].r.c, current)
	if _, err := rotDev.Rotate(ctx, next, nil); err != nil {
		t.Fatalf("rotation to the committed key: %v", err)
	}
	poll.Until(t, 20*time.Second, "node 4 sees the rotation", func() bool {
		d, _ := c.members[3].r.n.Registry().Device(rotID)
		return d.Key == nextPub
	})
	if _, err := client.NewDevice(c.members[3].r.c, next).Send(ctx, dag.KindData, []byte("new key")); err != nil {
		t.Fatalf("data under the rotated key on another node: %v", err)
	}

	// The clone: one key, two nodes, one sequence number.
	key := newKey(t)
	id := c.register(c.members[0], key)
	c.waitDevice(id, "active")
	first, err := client.NewDevice(c.members[0].r.c, key).Send(ctx, dag.KindData, []byte("genuine 0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.members {
		poll.Until(t, 20*time.Second, m.name+" has the first reading", func() bool { return m.r.n.Ledger().Known(first) })
	}
	a := client.NewDevice(c.members[0].r.c, key)
	b := client.NewDevice(c.members[3].r.c, key)
	ta, err := a.Prepare(ctx, dag.KindData, []byte("genuine 1"))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Prepare(ctx, dag.KindData, []byte("clone 1"))
	if err != nil {
		t.Fatal(err)
	}
	if ta.Seq != tb.Seq {
		t.Fatalf("twins with sequence numbers %d and %d", ta.Seq, tb.Seq)
	}
	var wg sync.WaitGroup
	for _, p := range []struct {
		m  *member
		tx *dag.Transaction
	}{{c.members[0], ta}, {c.members[3], tb}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.m.r.c.Post(ctx, p.tx); err != nil && !errors.Is(err, client.ErrConflicting) {
				t.Errorf("post to %s: %v", p.m.name, err)
			}
		}()
	}
	wg.Wait()
	c.waitDevice(id, "quarantined")
	// Every validator notices; the notices reach everyone.
	for _, m := range c.members {
		poll.Until(t, 30*time.Second, m.name+" holds four notices", func() bool {
			d, _ := m.r.n.Registry().Device(id)
			return d.Quarantine != nil && len(d.Quarantine.Notices) == len(c.members)
		})
	}
	c.waitQuiet(c.members, 60*time.Second)
	d := c.sameRegistry(id)
	twins := []dag.ID{ta.ID(), tb.ID()}
	if twins[1].Compare(twins[0]) < 0 {
		twins[0], twins[1] = twins[1], twins[0]
	}
	if d.Quarantine == nil || !cmp.Equal(d.Quarantine.Transactions, twins) {
		t.Fatalf("quarantine proof %+v, want the twins %v", d.Quarantine, twins)
	}
	for _, m := range c.members {
		// The client refuses to extend a conflicting chain itself; sign
		// by hand to see the node's verdict.
		if _, err := m.r.c.Post(ctx, nextByHand(t, ctx, m.r.c, key)); apiCode(err) != device.CodeQuarantined {
			t.Fatalf("%s after the quarantine: %v, want %s", m.name, err, device.CodeQuarantined)
		}
		for _, twin := range twins {
			if info, _ := m.r.n.Ledger().Info(twin); !info.Conflicting {
				t.Fatalf("%s: twin %s not conflicting", m.name, twin.Short())
			}
		}
	}
}

// nextByHand signs key's next transaction on the chain head the node
// reports, with the parents it offers, without the client's own checks.
func nextByHand(t *testing.T, ctx context.Context, c *client.Client, key ed25519.PrivateKey) *dag.Transaction {
	t.Helper()
	var pub dag.PublicKey
	copy(pub[:], key.Public().(ed25519.PublicKey))
	tips, err := c.Tips(ctx, &pub, 5)
	if err != nil || tips.Issuer == nil {
		t.Fatalf("tips: %v %+v", err, tips)
	}
	tx := &dag.Transaction{Kind: dag.KindData, Trunk: tips.Trunk, Branch: tips.Branch,
		Seq: tips.Issuer.NextSeq, Prev: tips.Issuer.Prev, Time: time.Now().UnixNano(), Payload: []byte("after")}
	tx.Sign(key)
	if err := c.Solve(ctx, tx, tips.Difficulty); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitSettled is waitQuiet that, when it times out, says which data is
// left unconfirmed where and why.
func (c *deviceCluster) waitSettled(within time.Duration, watch []dag.ID) {
	c.t.Helper()
	tb := &dumpOnFatal{TB: c.t, dump: func() { c.dump(watch) }}
	poll.Until(tb, within, "the cluster to settle", func() bool {
		first := c.members[0].r.n.Ledger().Stats()
		for _, m := range c.members {
			st := m.r.n.Ledger().Stats()
			if st.UnconfirmedData != 0 || st.Transactions != first.Transactions {
				return false
			}
		}
		return true
	})
	c.waitQuiet(c.members, within)
}

// dump logs each member's counters and tips, and which of watch are
// unconfirmed, with their approvers.
func (c *deviceCluster) dump(watch []dag.ID) {
	for _, m := range c.members {
		l := m.r.n.Ledger()
		c.t.Logf("%s: %+v", m.name, l.Stats())
		for _, id := range watch {
			info, ok := l.Info(id)
			if !ok || info.Confirmed {
				continue
			}
			c.t.Logf("  unconfirmed %s %s seq %d ruled out %v tip %v", id.Short(), info.Kind, info.Seq, info.RuledOut, l.IsTip(id))
			for _, a := range l.Approvers(id, nil) {
				ai, _ := l.Info(a)
				c.t.Logf("    approver %s %s ruled out %v confirmed %v", a.Short(), ai.Kind, ai.RuledOut, ai.Confirmed)
			}
		}
		for _, id := range l.Tips(nil) {
			info, _ := l.Info(id)
			c.t.Logf("  tip %s %s seq %d ruled out %v", id.Short(), info.Kind, info.Seq, info.RuledOut)
		}
	}
}

// dumpOnFatal runs dump before failing, so a timeout says what was left.
type dumpOnFatal struct {
	testing.TB
	dump func()
}

func (d *dumpOnFatal) Fatalf(format string, args ...any) {
	d.dump()
	d.TB.Fatalf(format, args...)
}
