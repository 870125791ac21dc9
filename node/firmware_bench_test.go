package node_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/node"
)

// benchFirmwareNode is a real single-validator node at the default beacon
// interval, with the firmware network of the attack tests (two approvals
// per sensor release).
func benchFirmwareNode(b *testing.B) *fwNet {
	b.Helper()
	dir := b.TempDir()
	keys := fwGenesis(b, dir, 1)
	r := start(b, node.Config{
		DataDir: filepath.Join(dir, "node"), GenesisFile: filepath.Join(dir, node.GenesisFile),
		KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)), BeaconInterval: node.DefaultBeaconInterval,
	})
	f := &fwNet{n: r.n, c: r.c, base: "http://" + r.n.HTTPAddr(), makerKey: keys[0]}
	f.maker = client.NewAuthority(f.c, keys[0])
	f.security, f.audit = client.NewAuthority(f.c, keys[2]), client.NewAuthority(f.c, keys[3])
	return f
}

// BenchmarkReleaseConfirmation measures, through a real node at the
// default beacon interval, from posting a release's second approval to
// its confirmation (event stream), after which the status shows the
// release active (checked untimed): what a fleet waits between the
// approvers' sign-off and devices being offered the release.
func BenchmarkReleaseConfirmation(b *testing.B) {
	f := benchFirmwareNode(b)
	ctx := b.Context()
	seq := uint64(0)
	for b.Loop() {
		b.StopTimer()
		seq++
		img := []byte(fmt.Sprintf("release %d", seq))
		id, err := f.maker.Publish(ctx, &client.Release{Class: "sensor", Component: "main", Seq: seq, Digest: device.ImageDigest(img), Size: uint64(len(img))})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.security.Approve(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		last, err := f.audit.Approve(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.c.WaitConfirmed(ctx, last); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if fw, err := f.c.Firmware(ctx, "sensor"); err != nil || activeOfStatus(fw) != id {
			b.Fatalf("release %d not active once its second approval is confirmed (%v)", seq, err)
		}
		b.StartTimer()
	}
}

func activeOfStatus(fw *client.Firmware) (id [32]byte) {
	for _, r := range fw.Releases {
		if r.Active && r.Component == "main" {
			id = r.ID
		}
	}
	return id
}

// BenchmarkImageServing measures a node serving a hosted 16 MiB image
// over HTTP on loopback (the digest checked on every read, as served),
// one request at a time.
func BenchmarkImageServing(b *testing.B) {
	f := benchFirmwareNode(b)
	ctx := b.Context()
	img := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	if _, err := f.maker.Publish(ctx, &client.Release{Class: "sensor", Component: "main", Seq: 1, Digest: device.ImageDigest(img), Size: uint64(len(img))}); err != nil {
		b.Fatal(err)
	}
	if err := f.c.UploadImage(ctx, img); err != nil {
		b.Fatal(err)
	}
	url := fmt.Sprintf("%s/v1/firmware/images/%x", f.base, device.ImageDigest(img))
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != int64(len(img)) {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
}
