package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/pow"
)

// TestClusterFirmware: four validators, a sensor release that needs two
// approvers. Published through one node, approved through two others,
// it activates on every node at the same confirmed point: the point P
// that approves both approvals has the release active in its past on
// every node, the release alone (no approvals) has it inactive, and
// every node's status and freshness proof name it. A rollback release
// is refused by all four; the image uploaded to one node is served by
// every other, fetched from a peer on demand.
func TestClusterFirmware(t *testing.T) {
	c := &deviceCluster{cluster: newCluster(t, 4)}
	makerKey, secKey, auditKey := dagtest.Key("maker"), dagtest.Key("security"), dagtest.Key("audit")
	c.g.Authorities = []dag.Authority{
		{Name: "maker", PublicKey: dagtest.PublicKey(makerKey), Classes: []string{"sensor"}},
		{Name: "security", PublicKey: dagtest.PublicKey(secKey), Classes: []string{"sensor"}},
		{Name: "audit", PublicKey: dagtest.PublicKey(auditKey), Classes: []string{"sensor"}},
	}
	c.g.FirmwareApprovals = []dag.FirmwareApproval{{Class: "sensor", Threshold: 2,
		Approvers: []dag.PublicKey{dagtest.PublicKey(secKey), dagtest.PublicKey(auditKey)}}}
	data, err := json.MarshalIndent(c.g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.genesis, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.startAll()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	m := c.members
	maker := client.NewAuthority(m[0].r.c, makerKey)

	img := image(1, 64<<10)
	rel := &client.Release{Class: "sensor", Component: "main", Seq: 1, Digest: device.ImageDigest(img), Size: uint64(len(img))}
	relID, err := maker.Publish(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if err := m[0].r.c.UploadImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	c.knownEverywhere(relID)
	a1, err := client.NewAuthority(m[1].r.c, secKey).Approve(ctx, relID)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := client.NewAuthority(m[2].r.c, auditKey).Approve(ctx, relID)
	if err != nil {
		t.Fatal(err)
	}
	c.knownEverywhere(a1)
	c.knownEverywhere(a2)
	// P approves both approvals: the confirmed point of activation.
	p := clusterTx(t, ctx, m[3].r.c, newKey(t), a1, a2)
	if res, err := m[3].r.c.Post(ctx, p); err != nil || res.Status != client.StatusAttached {
		t.Fatalf("P: %+v, %v", res, err)
	}
	c.waitConfirmed(m, []*dag.Transaction{p}, 30*time.Second)

	activeAt := func(mm *member, at dag.ID) bool {
		h, ok := mm.r.n.Ledger().HorizonOf(at)
		if !ok {
			t.Fatalf("%s lacks %s", mm.name, at.Short())
		}
		st := mm.r.n.Registry().Firmware("sensor", h)
		return len(st.Releases) == 1 && st.Releases[0].ID == relID && st.Releases[0].Active
	}
	var statuses []device.FirmwareStatus
	for _, mm := range m {
		if !activeAt(mm, p.ID()) || activeAt(mm, relID) {
			t.Fatalf("%s: active at P %v, at the release %v; want true, false", mm.name, activeAt(mm, p.ID()), activeAt(mm, relID))
		}
		poll.Until(t, 20*time.Second, mm.name+" reports the release active", func() bool {
			fw, err := mm.r.c.Firmware(ctx, "sensor")
			return err == nil && len(fw.Releases) == 1 && fw.Releases[0].Active
		})
		fw, _ := mm.r.c.Firmware(ctx, "sensor")
		statuses = append(statuses, fw.FirmwareStatus)
	}
	for i := 1; i < len(statuses); i++ {
		if diff := cmp.Diff(statuses[0], statuses[i]); diff != "" {
			t.Errorf("%s's status differs from %s's:\n%s", m[i].name, m[0].name, diff)
		}
	}

	// The device's view through each node: a verified freshness proof of
	// four validators' beacons, and the image (served by nodes 1-3 after
	// fetching it from a peer).
	devKey := newKey(t)
	for _, mm := range m {
		out := filepath.Join(t.TempDir(), "image.bin")
		got, err := mm.r.c.FetchFirmware(ctx, "sensor", out, client.FetchOptions{Freshness: &client.Freshness{Key: devKey, Genesis: c.g}})
		if err != nil || got.ID != relID {
			t.Fatalf("%s: fetch: %+v, %v", mm.name, got, err)
		}
		if b, _ := os.ReadFile(out); len(b) != len(img) {
			t.Fatalf("%s: %d bytes", mm.name, len(b))
		}
	}

	// A rollback: the same release number again, with the active one in
	// its past; every node refuses the same bytes.
	again := &device.Release{Class: "sensor", Component: "main", Seq: 1, Digest: device.ImageDigest([]byte("old")), Size: 3}
	rb, err := control(ctx, m[0].r.c, makerKey, dag.KindRelease, p.ID(), again.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range m {
		if _, err := mm.r.c.Post(ctx, rb); apiCode(err) != device.CodeFirmwareRollback {
			t.Errorf("%s: rollback: %v, want firmware_rollback", mm.name, err)
		}
	}
}

// clusterTx is a data transaction of key approving trunk and branch.
func clusterTx(t *testing.T, ctx context.Context, c *client.Client, key ed25519.PrivateKey, trunk, branch dag.ID) *dag.Transaction {
	t.Helper()
	pub := publicKey(key)
	tips, err := c.Tips(ctx, &pub, 1)
	if err != nil {
		t.Fatal(err)
	}
	tx := &dag.Transaction{Kind: dag.KindData, Trunk: trunk, Branch: branch, Seq: tips.Issuer.NextSeq, Prev: tips.Issuer.Prev,
		Time: time.Now().UnixNano(), Payload: []byte("P")}
	tx.Sign(key)
	if tx.Nonce, err = pow.Solve(ctx, tx.ID(), tips.Difficulty, 1); err != nil {
		t.Fatal(err)
	}
	return tx
}

// knownEverywhere waits until every member has attached id.
func (c *deviceCluster) knownEverywhere(id dag.ID) {
	c.t.Helper()
	for _, m := range c.members {
		poll.Until(c.t, 20*time.Second, fmt.Sprintf("%s has %s", m.name, id.Short()), func() bool {
			_, ok := m.r.n.Ledger().Info(id)
			return ok
		})
	}
}
