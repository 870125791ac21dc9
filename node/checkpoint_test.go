package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/storage"
)

// TestCleanRestartFromCheckpoint: a node with devices that shuts down
// cleanly starts again from its checkpoint, without replaying its log, and
// is the node that a replay gives: the same ledger counters, the same
// registry (Digest), the same firmware horizon and the same verdicts on
// registered, revoked, rotated and unknown devices. A second restart,
// after a start that saved no new checkpoint (killed, as here by opening
// the store without Run), replays and agrees too.
func TestCleanRestartFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	genesisPath, keyPath, authKey := fleetNetwork(t, dir)
	cfg := node.Config{DataDir: filepath.Join(dir, "data"), GenesisFile: genesisPath, KeyFile: keyPath,
		LedgerMemory: 64 << 10} // a small budget: most of the history is archived
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	r := start(t, cfg)
	f := newFleet(t, ctx, r.c, authKey)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	want := stateOf(r.n)

	// A copy of the data directory without the checkpoint replays.
	replayCfg := cfg
	replayCfg.DataDir = filepath.Join(dir, "replay")
	if err := os.CopyFS(replayCfg.DataDir, os.DirFS(cfg.DataDir)); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(filepath.Join(replayCfg.DataDir, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DropCheckpoint(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		cfg      node.Config
		restored bool
	}{{"restored", cfg, true}, {"replayed", replayCfg, false}} {
		r := start(t, tc.cfg)
		if r.n.Ledger().Restored() != tc.restored {
			t.Fatalf("%s node: loaded a checkpoint %v, want %v", tc.name, r.n.Ledger().Restored(), tc.restored)
		}
		if got := stateOf(r.n); got != want {
			t.Fatalf("%s node %+v, before the shutdown %+v", tc.name, got, want)
		}
		f.checkVerdicts(t, ctx, r.c)
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// fleetNetwork writes a one-validator network with one authority of
// sensors to dir.
func fleetNetwork(t *testing.T, dir string) (genesisPath, keyPath string, authKey ed25519.PrivateKey) {
	t.Helper()
	genesisPath, keyPath = testNetwork(t, dir)
	g, err := dag.LoadGenesis(genesisPath)
	if err != nil {
		t.Fatal(err)
	}
	authKey = dagtest.Key("checkpoint-authority")
	g.Authorities = []dag.Authority{{Name: "fleet", PublicKey: dagtest.PublicKey(authKey), Classes: []string{"sensor"}}}
	g.Permissioned = true
	data, _ := json.Marshal(g)
	if err := os.WriteFile(genesisPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return genesisPath, keyPath, authKey
}

// fleet is three registered sensors with some history: one sending, one
// revoked and one whose key rotated.
type fleet struct {
	kept, revoked, rotatedTo ed25519.PrivateKey
	last                     dag.ID // the newest transaction, confirmed
}

func newFleet(t *testing.T, ctx context.Context, c *client.Client, authKey ed25519.PrivateKey) fleet {
	t.Helper()
	kept, revoked, rotated, rotatedTo := newKey(t), newKey(t), newKey(t), newKey(t)
	auth := client.NewDevice(c, authKey)
	var ids []dag.ID
	for _, key := range []dag.PublicKey{pub(kept), pub(revoked), pub(rotated)} {
		id, err := auth.Send(ctx, dag.KindRegister, (&device.Registration{Key: key, Class: "sensor"}).Encode())
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		ids = append(ids, id)
	}
	if _, err := c.WaitConfirmed(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	sensor := client.NewDevice(c, kept)
	var last dag.ID
	var err error
	for i := range 300 {
		if last, err = sensor.Send(ctx, dag.KindData, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	rot := client.NewDevice(c, rotated)
	if _, err := rot.Send(ctx, dag.KindData, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := rot.Rotate(ctx, rotatedTo, nil); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	revocation, err := auth.Send(ctx, dag.KindRevoke, device.LifecyclePayload(ids[1]))
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	for _, id := range []dag.ID{last, revocation} {
		if _, err := c.WaitConfirmed(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	return fleet{kept: kept, revoked: revoked, rotatedTo: rotatedTo, last: revocation}
}

// checkVerdicts: the registered device is accepted, the revoked one and an
// unregistered key are refused, and the rotated device's new key works.
func (f fleet) checkVerdicts(t *testing.T, ctx context.Context, c *client.Client) {
	t.Helper()
	if _, err := client.NewDevice(c, f.kept).Send(ctx, dag.KindData, []byte("still here")); err != nil {
		t.Fatalf("registered device: %v", err)
	}
	if _, err := client.NewDevice(c, f.revoked).Send(ctx, dag.KindData, []byte("revoked")); apiCode(err) != device.CodeRevoked {
		t.Fatalf("revoked device: %v, want %s", err, device.CodeRevoked)
	}
	if _, err := client.NewDevice(c, f.rotatedTo).Send(ctx, dag.KindData, []byte("new key")); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if _, err := client.NewDevice(c, newKey(t)).Send(ctx, dag.KindData, nil); apiCode(err) != device.CodeUnregistered {
		t.Fatalf("unregistered key: %v", err)
	}
}

// nodeState is what a restored node must agree on with the node it was
// saved from: the ledger's counters and the registry.
type nodeState struct {
	Transactions uint64
	Confirmed    int
	Issuers      int
	Conflicting  int
	Registry     [32]byte
}

func stateOf(n *node.Node) nodeState {
	st := n.Ledger().Stats()
	return nodeState{st.Transactions, st.Confirmed, st.Issuers, st.Conflicting, n.Registry().Digest()}
}
