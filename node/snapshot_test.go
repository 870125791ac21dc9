package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/storage"
)

// TestStartFromSnapshot: a validator with devices prunes its history and
// stops; its snapshot, restored into a new data directory with another
// key, starts a node from the checkpoint (no replay) that agrees with the
// validator on the ledger's counters and the registry, judges devices as
// it does, and receives and confirms the validator's new traffic over
// QUIC. Every refusal leaves the target as it was.
func TestStartFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	genesisPath, keyPath, authKey := fleetNetwork(t, dir)
	joinerKey := newKey(t)
	joinerKeyPath := filepath.Join(dir, "joiner.key")
	if err := client.SaveKey(joinerKeyPath, joinerKey, false); err != nil {
		t.Fatal(err)
	}
	netCfg := network.Config{HeartbeatInterval: 200 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}
	valCfg := node.Config{DataDir: filepath.Join(dir, "validator"), GenesisFile: genesisPath, KeyFile: keyPath,
		LedgerMemory: 64 << 10, PruneAfter: time.Nanosecond, PruneInterval: 100 * time.Millisecond,
		P2PAddr: "127.0.0.1:0", AllowPeers: []string{dagtest.PublicKey(joinerKey).String()}, Network: netCfg}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r := start(t, valCfg)
	valCfg.P2PAddr = r.n.P2PAddr() // the same address after the restart, for the joiner
	valPriv, err := client.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	valKey := pub(valPriv)
	f := newFleet(t, ctx, r.c, authKey)
	poll.Until(t, 30*time.Second, "the validator to prune", func() bool { return r.n.PruneStats().Pruned > 100 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	want := stateOf(r.n)

	snap := filepath.Join(dir, "validator.snapshot")
	info, err := node.CreateSnapshot(valCfg, snap)
	if err != nil {
		t.Fatal(err)
	}
	if info.Head < want.Transactions || info.Bytes == 0 {
		t.Fatalf("snapshot %+v of a ledger with %d transactions", info, want.Transactions)
	}
	joinCfg := node.Config{DataDir: filepath.Join(dir, "joiner"), GenesisFile: genesisPath, KeyFile: joinerKeyPath,
		P2PAddr: "127.0.0.1:0", Peers: []string{valKey.String() + "@" + valCfg.P2PAddr}, Network: netCfg}
	refusals(t, dir, snap, valCfg, joinCfg)

	if _, err := node.RestoreSnapshot(joinCfg, snap); err != nil {
		t.Fatal(err)
	}
	if _, err := node.RestoreSnapshot(joinCfg, snap); !errors.Is(err, node.ErrSnapshot) {
		t.Fatalf("restore over a restored store: %v, want ErrSnapshot", err)
	}
	// The joiner starts while the validator is down: what it holds is the
	// snapshot alone.
	joiner := start(t, joinCfg)
	if !joiner.n.Ledger().Restored() {
		t.Fatal("the joiner replayed its log instead of loading the snapshot's checkpoint")
	}
	if got := stateOf(joiner.n); got != want {
		t.Fatalf("joiner %+v, the validator at its snapshot %+v", got, want)
	}
	f.checkVerdicts(t, ctx, joiner.c)

	r = start(t, valCfg)
	if _, err := node.CreateSnapshot(valCfg, filepath.Join(dir, "running.snapshot")); !errors.Is(err, node.ErrSnapshot) {
		t.Fatalf("snapshot of a running node: %v, want ErrSnapshot", err)
	}
	// New traffic from a device registered now: the fleet's devices sent
	// to the joiner while the validator was down, and the same key on
	// both nodes at once is a clone (their next sequence numbers fork).
	fresh := newKey(t)
	reg, err := client.NewDevice(r.c, authKey).Send(ctx, dag.KindRegister, (&device.Registration{Key: pub(fresh), Class: "sensor"}).Encode())
	if err != nil {
		t.Fatalf("register after the restart: %v", err)
	}
	if _, err := r.c.WaitConfirmed(ctx, reg); err != nil {
		t.Fatal(err)
	}
	sensor := client.NewDevice(r.c, fresh)
	var more []dag.ID
	for i := range 30 {
		id, err := sensor.Send(ctx, dag.KindData, []byte{'n', byte(i)})
		if err != nil {
			t.Fatalf("send %d after the restart: %v", i, err)
		}
		more = append(more, id)
	}
	poll.Until(t, 30*time.Second, "the joiner to confirm the validator's new traffic", func() bool {
		for _, id := range more {
			if info, ok := joiner.n.Ledger().Info(id); !ok || !info.Confirmed {
				return false
			}
		}
		return true
	})
}

// refusals tries what RestoreSnapshot and CreateSnapshot must refuse, each
// leaving the target without a store.
func refusals(t *testing.T, dir, snap string, valCfg, joinCfg node.Config) {
	t.Helper()
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 1
	otherNet := filepath.Join(dir, "other")
	otherGenesis, _ := testNetwork(t, otherNet)
	noCheckpoint := filepath.Join(dir, "fresh")
	s, err := storage.Open(filepath.Join(noCheckpoint, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	withGenesis := joinCfg
	withGenesis.GenesisFile = otherGenesis
	noGenesis := joinCfg
	noGenesis.GenesisFile = ""
	for _, tc := range []struct {
		name string
		cfg  node.Config
		path string
	}{
		{"damaged", joinCfg, variant("flipped.snapshot", flipped)},
		{"truncated", joinCfg, variant("short.snapshot", data[:len(data)-100])},
		{"not a snapshot", joinCfg, variant("junk.snapshot", []byte("tangled? no"))},
		{"empty", joinCfg, variant("empty.snapshot", nil)},
		{"missing", joinCfg, filepath.Join(dir, "missing.snapshot")},
		{"another network", withGenesis, snap},
		{"no genesis", noGenesis, snap},
		{"into a store", valCfg, snap},
	} {
		if _, err := node.RestoreSnapshot(tc.cfg, tc.path); !errors.Is(err, node.ErrSnapshot) {
			t.Errorf("restore %s: %v, want ErrSnapshot", tc.name, err)
		}
		if tc.cfg.DataDir == joinCfg.DataDir {
			if _, err := os.Stat(filepath.Join(joinCfg.DataDir, "db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("restore %s left a store behind: %v", tc.name, err)
			}
		}
	}
	freshCfg := valCfg
	freshCfg.DataDir = noCheckpoint
	if _, err := node.CreateSnapshot(freshCfg, filepath.Join(dir, "fresh.snapshot")); !errors.Is(err, node.ErrSnapshot) {
		t.Errorf("snapshot of a store without a checkpoint: %v, want ErrSnapshot", err)
	}
	if _, err := node.CreateSnapshot(freshCfg, filepath.Join(dir, "fresh.snapshot")); err == nil {
		t.Error("a refused snapshot left a file behind")
	}
}
