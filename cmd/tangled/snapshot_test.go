package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
)

// TestSnapshotCommands: `snapshot create` of a node that stopped cleanly,
// `snapshot restore` into a new data directory (refused a second time),
// and a node on that directory starts from the snapshot's checkpoint with
// the stopped node's ledger.
func TestSnapshotCommands(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "genesis", "new", "--out", dir, "--validators", "1", "--network-id", "snapshot-test"); err != nil {
		t.Fatal(err)
	}
	genesis := filepath.Join(dir, node.GenesisFile)
	cfg := node.Config{
		DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0", P2PAddr: "",
		GenesisFile: genesis, KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
		BeaconInterval: 20 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	key := filepath.Join(dir, "device.key")
	if _, err := run(t, "device", "keygen", "--out", key); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "device", "send", "--node", "http://"+n.HTTPAddr(), "--key", key, "--data", "t=1", "--wait", "--timeout", "20s"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := n.Ledger().Stats()

	snap := filepath.Join(dir, "node.snapshot")
	out, err := run(t, "snapshot", "create", "--data-dir", cfg.DataDir, "--genesis", genesis, "--out", snap)
	g, err2 := dag.LoadGenesis(genesis)
	if err2 != nil {
		t.Fatal(err2)
	}
	if err != nil || !strings.Contains(out, "network "+g.ID().Short()) {
		t.Fatalf("snapshot create: %q, %v", out, err)
	}
	restored := filepath.Join(dir, "new")
	if out, err := run(t, "snapshot", "restore", "--data-dir", restored, "--genesis", genesis, "--in", snap); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("snapshot restore: %q, %v", out, err)
	}
	if _, err := run(t, "snapshot", "restore", "--data-dir", restored, "--genesis", genesis, "--in", snap); err == nil || !strings.Contains(err.Error(), "already holds a store") {
		t.Fatalf("a second restore into the same directory: %v", err)
	}
	cfg.DataDir = restored
	cfg.KeyFile = ""
	n, err = node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, fromCheckpoint := n.Ledger().Stats(), n.Ledger().Restored()
	stopped, stop := context.WithCancel(context.Background())
	stop() // Run returns at once and closes the store
	if err := n.Run(stopped); err != nil {
		t.Fatal(err)
	}
	if !fromCheckpoint || got.Transactions != want.Transactions || got.Confirmed != want.Confirmed {
		t.Fatalf("restored node: from a checkpoint %v, %+v; the stopped node %+v", fromCheckpoint, got, want)
	}
}
