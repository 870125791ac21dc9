package node_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
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
