package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
)

// TestCLIFirmwareStatus: a release published by the authority (through
// the client: the CLI's publish is still to come) and confirmed shows as
// active in `firmware status`; a class with none shows no releases; a
// missing class is a usage error.
func TestCLIFirmwareStatus(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "genesis", "new", "--out", dir, "--network-id", "cli-firmware", "--authorities", "1", "--classes", "sensor"); err != nil {
		t.Fatal(err)
	}
	url := startNode(t, dir)
	cl, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := client.LoadKey(filepath.Join(dir, node.AuthorityKeyFile(1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	image := []byte("sensor firmware 1")
	rel := &device.Release{Class: "sensor", Component: "main", Seq: 1, Digest: device.ImageDigest(image), Size: uint64(len(image))}
	id, err := client.NewDevice(cl, key).Send(ctx, dag.KindRelease, rel.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.WaitConfirmed(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The status is as of the newest confirmed transaction, whose past
	// holds the release once a later confirmation builds on it.
	var fw client.Firmware
	poll.Until(t, 20*time.Second, "the confirmed release in firmware status", func() bool {
		out, err := run(t, "firmware", "status", "--node", url, "sensor")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &fw); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return len(fw.Releases) > 0
	})
	if len(fw.Releases) != 1 || fw.Releases[0].ID != id || !fw.Releases[0].Active {
		t.Fatalf("status %+v, want release %s active", fw, id.Short())
	}
	out, err := run(t, "firmware", "status", "--node", url, "meter")
	if err != nil || json.Unmarshal([]byte(out), &fw) != nil || len(fw.Releases) != 0 {
		t.Fatalf("meter: %s, %v", out, err)
	}
	if _, err := run(t, "firmware", "status", "--node", url); exitCode(err) != 2 {
		t.Fatalf("no class: %v", err)
	}
}
