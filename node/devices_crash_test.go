package node_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/node"
)

// TestCrashKeepsRegistry: a node killed with SIGKILL right after it
// acknowledged a registration, a revocation and a rotation enforces all
// three after its restart: the registry is rebuilt from the log.
func TestCrashKeepsRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	testNetwork(t, dir)
	path := filepath.Join(dir, node.GenesisFile)
	g, err := dag.LoadGenesis(path)
	if err != nil {
		t.Fatal(err)
	}
	authKey := dagtest.Key("crash-authority")
	g.Authorities = []dag.Authority{{Name: "fleet", PublicKey: dagtest.PublicKey(authKey), Classes: []string{"sensor"}}}
	g.Permissioned = true
	data, _ := json.Marshal(g)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kept, revoked, rotated, rotatedTo := newKey(t), newKey(t), newKey(t), newKey(t)

	cmd, addr := startCrashChild(t, dir)
	c, err := client.New("http://"+addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth := client.NewDevice(c, authKey) // the authority's chain, sent like any
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
	if _, err := client.NewDevice(c, rotated).Send(ctx, dag.KindData, []byte("first")); err != nil {
		t.Fatal(err)
	}
	rot := client.NewDevice(c, rotated)
	if _, err := rot.Rotate(ctx, rotatedTo, nil); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := auth.Send(ctx, dag.KindRevoke, device.LifecyclePayload(ids[1])); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	c.CloseIdleConnections()

	cmd, addr = startCrashChild(t, dir)
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	if c, err = client.New("http://"+addr, client.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NewDevice(c, kept).Send(ctx, dag.KindData, []byte("still here")); err != nil {
		t.Fatalf("registered device after the crash: %v", err)
	}
	if _, err := client.NewDevice(c, revoked).Send(ctx, dag.KindData, []byte("revoked")); apiCode(err) != device.CodeRevoked {
		t.Fatalf("revoked device after the crash: %v, want %s", err, device.CodeRevoked)
	}
	if _, err := client.NewDevice(c, rotatedTo).Send(ctx, dag.KindData, []byte("new key")); err != nil {
		t.Fatalf("rotated key after the crash: %v", err)
	}
	if _, err := client.NewDevice(c, newKey(t)).Send(ctx, dag.KindData, nil); apiCode(err) != device.CodeUnregistered {
		t.Fatalf("unregistered key after the crash: %v", err)
	}
}

func pub(key interface{ Public() crypto.PublicKey }) dag.PublicKey {
	var p dag.PublicKey
	copy(p[:], key.Public().(ed25519.PublicKey))
	return p
}
