package node_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
)

// TestEvidenceEndToEnd: a development node's reading gets a bundle that
// verifies against the genesis file alone, within seconds of its
// confirmation; after a restart the bundle is still served, and the
// checkpoint after it is consistent with the one before.
func TestEvidenceEndToEnd(t *testing.T) {
	for _, rule := range []string{node.BeaconSweep, node.BeaconRounds} {
		t.Run("rule="+rule, func(t *testing.T) { evidenceEndToEnd(t, rule) })
	}
}

func evidenceEndToEnd(t *testing.T, rule string) {
	dir := t.TempDir()
	r := start(t, node.Config{DataDir: dir, BeaconRule: rule})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g, err := dag.LoadGenesis(filepath.Join(dir, node.GenesisFile))
	if err != nil {
		t.Fatal(err)
	}
	devKey := newKey(t)
	dev := client.NewDevice(r.c, devKey)
	id, err := dev.Send(ctx, dag.KindData, []byte("temperature=21.5"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.WaitConfirmed(ctx, id); err != nil {
		t.Fatal(err)
	}
	raw, p, err := r.c.WaitEvidence(ctx, g, id)
	if err != nil {
		cp, _ := r.c.LogCheckpoint(context.Background())
		t.Fatalf("evidence: %v (log %+v)", err, cp)
	}
	if p.Entries[0].ID != id || len(p.Signers) != 1 {
		t.Fatalf("proves %+v", p)
	}
	before, err := evidence.OpenCheckpoint(g, []byte(mustCheckpoint(t, r.c).Checkpoint.Note))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	r2 := start(t, node.Config{DataDir: dir, BeaconRule: rule})
	raw2, _, err := r2.c.TransactionEvidence(ctx, g, id)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if len(raw2) == 0 || len(raw) == 0 {
		t.Fatal("empty bundle")
	}
	second, err := client.NewDevice(r2.c, devKey).Send(ctx, dag.KindData, []byte("temperature=21.7"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r2.c.WaitEvidence(ctx, g, second); err != nil {
		t.Fatalf("a reading after the restart: %v", err)
	}
	after, err := evidence.OpenCheckpoint(g, []byte(mustCheckpoint(t, r2.c).Checkpoint.Note))
	if err != nil {
		t.Fatal(err)
	}
	if after.Size <= before.Size {
		t.Fatalf("checkpoint %d after %d", after.Size, before.Size)
	}
	if err := r2.c.CheckConsistency(ctx, before.Checkpoint, after.Checkpoint); err != nil {
		t.Fatal(err)
	}
}

func mustCheckpoint(t *testing.T, c *client.Client) *client.LogCheckpoint {
	t.Helper()
	cp, err := c.LogCheckpoint(context.Background())
	if err != nil || cp.Checkpoint == nil {
		t.Fatalf("checkpoint: %+v, %v", cp, err)
	}
	return cp
}

// TestClusterCheckpointsIdentical: four validators, data posted to each
// in turn, so every node receives most transactions by gossip in its own
// order: every node ends with the same log, the same final checkpoint
// note (byte for byte, signed by all four) and the same bundle bytes for
// a transaction, and a node's log at each of the others' checkpoint sizes
// has their root.
func TestClusterCheckpointsIdentical(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	txs := c.generator().Take(600)
	c.post(txs, 40, func(k int) *member { return c.members[k%4] })
	c.waitConfirmed(c.members, txs, 60*time.Second)
	g := c.g
	var notes []string
	poll.Until(t, 60*time.Second, "the same final checkpoint, signed by all four, on every node", func() bool {
		notes = notes[:0]
		for _, m := range c.members {
			f, note, ok := m.r.n.AuditLog().Latest()
			if !ok || len(f.Signers) != 4 || f.Size < uint64(len(txs)) {
				return false
			}
			notes = append(notes, string(note))
		}
		for _, n := range notes[1:] {
			if n != notes[0] {
				return false
			}
		}
		return true
	})
	f, err := evidence.OpenCheckpoint(g, []byte(notes[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.members {
		root, err := m.r.n.AuditLog().RootAt(f.Size)
		if err != nil || root != f.Root {
			t.Fatalf("%s: root at %d is %s (%v), the checkpoint's %s", m.name, f.Size, root, err, f.Root)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var first []byte
	for _, m := range c.members {
		raw, p, err := m.r.c.TransactionEvidence(ctx, g, txs[7].ID())
		if err != nil || p.Size != f.Size {
			t.Fatalf("%s: evidence %v, %+v", m.name, err, p)
		}
		if first == nil {
			first = raw
		} else if string(raw) != string(first) {
			t.Fatalf("%s served other bundle bytes for the same transaction and checkpoint", m.name)
		}
	}
	for _, m := range c.members {
		if ms, err := m.r.n.AuditLog().Misbehaviours(); err != nil || len(ms) != 0 {
			t.Fatalf("%s found misbehaviour among honest validators: %+v, %v", m.name, ms, err)
		}
	}
}

// TestDeviceEvidence: a registered device that rotates its key and is
// then cloned (two transactions with one sequence number): its bundle
// verifies against the genesis alone and proves the registration, both
// keys in order and the quarantine by the twins it carries; the
// suspension of another device shows in its bundle's state.
func TestDeviceEvidence(t *testing.T) {
	dir := t.TempDir()
	fleet := newKey(t)
	genesis, key := authorityNetwork(t, dir, publicKey(fleet))
	r := start(t, node.Config{DataDir: dir, GenesisFile: genesis, KeyFile: key})
	g, err := dag.LoadGenesis(genesis)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	devKey, nextKey := newKey(t), newKey(t)
	id := register(t, ctx, r.c, fleet, publicKey(devKey))
	if _, err := r.c.WaitConfirmed(ctx, id); err != nil {
		t.Fatal(err)
	}
	dev := client.NewDevice(r.c, devKey)
	if _, err := dev.Send(ctx, dag.KindData, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Rotate(ctx, nextKey, nil); err != nil {
		t.Fatal(err)
	}
	a := client.NewDevice(r.c, nextKey)
	ta, err := a.Prepare(ctx, dag.KindData, []byte("genuine"))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := client.NewDevice(r.c, nextKey).Prepare(ctx, dag.KindData, []byte("clone"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range []*dag.Transaction{ta, tb} {
		if _, err := r.c.Post(ctx, tx); err != nil && !errors.Is(err, client.ErrConflicting) {
			t.Fatal(err)
		}
	}
	var p *evidence.Proven
	poll.Until(t, 30*time.Second, "a device bundle with the rotation and the quarantine", func() bool {
		_, proven, err := r.c.DeviceEvidence(ctx, g, id.String())
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.Code == api.CodeEvidencePending {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		p = proven
		return len(p.Device.Keys) == 2 && p.Device.Quarantined
	})
	if d := p.Device; d.ID != id || d.Class != "sensor" || d.Owner != publicKey(fleet) || d.Keys[0] != publicKey(devKey) || d.Keys[1] != publicKey(nextKey) || d.State != "active" {
		t.Fatalf("proves %+v", d)
	}

	other := register(t, ctx, r.c, fleet, publicKey(newKey(t)))
	if _, err := r.c.WaitConfirmed(ctx, other); err != nil {
		t.Fatal(err)
	}
	suspend, err := control(ctx, r.c, fleet, dag.KindSuspend, other, device.LifecyclePayload(other))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Post(ctx, suspend); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the suspension in the other device's bundle", func() bool {
		_, proven, err := r.c.DeviceEvidence(ctx, g, other.String())
		if err != nil {
			return false
		}
		return proven.Device.State == "suspended" && len(proven.Entries) == 2
	})
}

// TestAuditLogWaitsForTheOrderer: with the orderer (the first validator)
// down, the other three keep confirming but the log does not grow; once
// it is back, every node's log takes in what was confirmed meanwhile and
// a final checkpoint covers it.
func TestAuditLogWaitsForTheOrderer(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	orderer, rest := c.members[0], c.members[1:]
	if orderer.key != c.g.Validators[0].PublicKey {
		t.Fatal("the first member is not the first validator")
	}
	if err := orderer.r.stop(); err != nil {
		t.Fatal(err)
	}
	txs := c.generator().Take(200)
	c.post(txs, 50, func(k int) *member { return rest[k%3] })
	c.waitConfirmed(rest, txs, 60*time.Second)
	for _, m := range rest {
		if _, err := m.r.n.AuditLog().IndexOf(txs[len(txs)-1].ID()); err == nil {
			t.Fatalf("%s logged a transaction confirmed while the orderer was down", m.name)
		}
	}
	c.start(orderer)
	c.waitMesh(c.members)
	for _, m := range c.members {
		poll.Until(t, 60*time.Second, m.name+" has every transaction under a final checkpoint", func() bool {
			log := m.r.n.AuditLog()
			f, _, ok := log.Latest()
			if !ok {
				return false
			}
			for _, tx := range txs {
				if i, err := log.IndexOf(tx.ID()); err != nil || i >= f.Size {
					return false
				}
			}
			return true
		})
	}
}
