package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
)

// fwNet is a real node of a network with four authorities: maker
// (vendor of class sensor), other (another vendor: class meter), and two
// approvers of sensor releases (security, audit). Sensor releases need 2
// of the 3 approvers maker, security and audit (firmware_approvals), so
// no single key activates one. A registered sensor device reports
// installs.
type fwNet struct {
	t                             *testing.T
	n                             *node.Node
	c                             *client.Client
	base                          string
	maker, other, security, audit *client.Authority
	makerKey, otherKey, deviceKey ed25519.PrivateKey
	securityKey, auditKey         ed25519.PrivateKey
	genesis                       *dag.Genesis
	sensorID                      dag.ID
}

// fwGenesis writes a genesis with those four authorities into dir and
// returns their keys (maker, other, security, audit).
func fwGenesis(t testing.TB, dir string, validators int) [4]ed25519.PrivateKey {
	t.Helper()
	if _, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "firmware", Validators: validators, Authorities: 4, Classes: []string{"sensor"}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, node.GenesisFile)
	g, err := dag.LoadGenesis(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys [4]ed25519.PrivateKey
	for i := range keys {
		if keys[i], err = client.LoadKey(filepath.Join(dir, node.AuthorityKeyFile(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	g.Authorities[1].Classes = []string{"meter"}
	g.FirmwareApprovals = []dag.FirmwareApproval{{
		Class: "sensor", Threshold: 2,
		Approvers: []dag.PublicKey{g.Authorities[0].PublicKey, g.Authorities[2].PublicKey, g.Authorities[3].PublicKey},
	}}
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dag.LoadGenesis(path); err != nil {
		t.Fatal(err)
	}
	return keys
}

func newFwNet(t *testing.T) *fwNet {
	t.Helper()
	dir := t.TempDir()
	keys := fwGenesis(t, dir, 1)
	r := start(t, node.Config{
		DataDir: filepath.Join(dir, "node"), GenesisFile: filepath.Join(dir, node.GenesisFile),
		KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)), FirmwareImageMax: 1 << 20,
	})
	f := &fwNet{t: t, n: r.n, c: r.c, base: "http://" + r.n.HTTPAddr(),
		makerKey: keys[0], otherKey: keys[1], securityKey: keys[2], auditKey: keys[3], deviceKey: newKey(t)}
	g, err := dag.LoadGenesis(filepath.Join(dir, node.GenesisFile))
	if err != nil {
		t.Fatal(err)
	}
	f.genesis = g
	f.maker, f.other = client.NewAuthority(f.c, keys[0]), client.NewAuthority(f.c, keys[1])
	f.security, f.audit = client.NewAuthority(f.c, keys[2]), client.NewAuthority(f.c, keys[3])
	id, err := f.maker.Register(t.Context(), client.Registration{Key: publicKey(f.deviceKey), Class: "sensor"})
	if err != nil {
		t.Fatal(err)
	}
	f.sensorID = id
	f.seen(id)
	return f
}

// seen waits until every tip of the node has the control transaction id
// in its past, so the next transaction's past holds it.
func (f *fwNet) seen(id dag.ID) {
	f.t.Helper()
	poll.Until(f.t, 20*time.Second, "every tip sees "+id.Short(), func() bool {
		l := f.n.Ledger()
		tips := l.Tips(nil)
		for _, tip := range tips {
			if !l.Sees(tip, id) {
				return false
			}
		}
		return len(tips) > 0
	})
}

// image is a deterministic image of n bytes for version v.
func image(v uint64, n int) []byte {
	unit := []byte(fmt.Sprintf("sensor firmware v%d|", v))
	return bytes.Repeat(unit, n/len(unit)+1)[:n]
}

// release publishes a sensor release of img, uploads the image and
// returns the release's ID.
func (f *fwNet) release(rel client.Release, img []byte) dag.ID {
	f.t.Helper()
	if rel.Class == "" {
		rel.Class = "sensor"
	}
	if rel.Component == "" {
		rel.Component = "main"
	}
	rel.Digest, rel.Size = device.ImageDigest(img), uint64(len(img))
	id, err := f.maker.Publish(f.t.Context(), &rel)
	if err != nil {
		f.t.Fatalf("publishing %d: %v", rel.Seq, err)
	}
	if err := f.c.UploadImage(f.t.Context(), img); err != nil {
		f.t.Fatalf("uploading %d: %v", rel.Seq, err)
	}
	return id
}

// approveBy has the authorities co-sign the release.
func (f *fwNet) approveBy(id dag.ID, approvers ...*client.Authority) {
	f.t.Helper()
	for _, a := range approvers {
		if _, err := a.Approve(f.t.Context(), id); err != nil {
			f.t.Fatalf("approving %s: %v", id.Short(), err)
		}
	}
}

// active waits until the node's confirmed status shows release id active.
func (f *fwNet) active(id dag.ID) {
	f.t.Helper()
	poll.Until(f.t, 20*time.Second, "release "+id.Short()+" active as of the confirmed frontier", func() bool {
		fw, err := f.c.Firmware(f.t.Context(), "sensor")
		if err != nil {
			f.t.Fatal(err)
		}
		for _, r := range fw.Releases {
			if r.ID == id {
				return r.Active
			}
		}
		if testing.Verbose() {
			f.t.Logf("as of %s: %+v", fw.AsOf.Short(), fw.Releases)
		}
		return false
	})
}

// published makes a release active: published, uploaded, approved by
// security and audit, confirmed.
func (f *fwNet) published(seq uint64, img []byte) dag.ID {
	f.t.Helper()
	id := f.release(client.Release{Seq: seq}, img)
	f.approveBy(id, f.security, f.audit)
	f.active(id)
	return id
}

// fetch runs the device's download and check into a fresh directory and
// returns the file's path (which exists only on success).
func (f *fwNet) fetch(opts client.FetchOptions) (string, *device.ReleaseInfo, error) {
	f.t.Helper()
	out := filepath.Join(f.t.TempDir(), "image.bin")
	rel, err := f.c.FetchFirmware(f.t.Context(), "sensor", out, opts)
	return out, rel, err
}

func firmwareCode(err error) string {
	var fe *client.FirmwareError
	if errors.As(err, &fe) {
		return fe.Code
	}
	return apiCode(err)
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists after a refused update (%v)", path, err)
	}
}

// mirror serves body for every path, like a compromised download server.
func mirror(t *testing.T, body []byte) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s.URL + "/image.bin"
}

// TestFirmwareAttackArbitrarySoftware (TUF: arbitrary software): a key
// that is no authority cannot publish, and bytes no release names cannot
// be uploaded: the node stores and serves only images a release signed.
func TestFirmwareAttackArbitrarySoftware(t *testing.T) {
	f := newFwNet(t)
	evil := []byte("arbitrary software")
	rel := &device.Release{Class: "sensor", Component: "main", Seq: 9, Digest: device.ImageDigest(evil), Size: uint64(len(evil))}
	if _, err := client.NewDevice(f.c, newKey(t)).Send(t.Context(), dag.KindRelease, rel.Encode()); apiCode(err) != "not_authority" {
		t.Fatalf("release by a stranger: %v, want not_authority", err)
	}
	if err := f.c.UploadImage(t.Context(), evil); apiCode(err) != device.CodeUnknownRelease {
		t.Fatalf("upload of an image no release names: %v, want unknown_release", err)
	}
	resp, err := http.Get(fmt.Sprintf("%s/v1/firmware/images/%x", f.base, device.ImageDigest(evil)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of the refused image: %s", resp.Status)
	}
	if _, _, err := f.fetch(client.FetchOptions{}); firmwareCode(err) != client.CodeNoActiveRelease {
		t.Fatalf("fetch with no release: %v", err)
	}
}

// TestFirmwareAttackWrongTarget (Uptane: wrong software / other vendor):
// another vendor's key may not publish for the class (class_not_allowed),
// and a sensor cannot report installing a meter release (wrong_target).
func TestFirmwareAttackWrongTarget(t *testing.T) {
	f := newFwNet(t)
	img := image(1, 100)
	rel := &client.Release{Class: "sensor", Component: "main", Seq: 1, Digest: device.ImageDigest(img), Size: uint64(len(img))}
	if _, err := f.other.Publish(t.Context(), rel); apiCode(err) != device.CodeClassNotAllowed {
		t.Fatalf("other vendor's sensor release: %v, want class_not_allowed", err)
	}
	meter := &client.Release{Class: "meter", Component: "main", Seq: 1, Digest: device.ImageDigest(img), Size: uint64(len(img))}
	meterID, err := f.other.Publish(t.Context(), meter)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.NewDevice(f.c, f.deviceKey).ReportInstall(t.Context(), meterID, meter.Digest, device.InstallOK); apiCode(err) != device.CodeWrongTarget {
		t.Fatalf("a sensor reporting a meter release: %v, want wrong_target", err)
	}
}

// TestFirmwareAttackRollback (TUF: rollback): the ledger refuses a
// release not above the active one, and a device refuses an active
// release not above what it runs.
func TestFirmwareAttackRollback(t *testing.T) {
	f := newFwNet(t)
	f.published(3, image(3, 200))
	img := image(2, 200)
	old := &device.Release{Class: "sensor", Component: "main", Seq: 2, Digest: device.ImageDigest(img), Size: uint64(len(img))}
	if _, err := client.NewDevice(f.c, f.makerKey).Send(t.Context(), dag.KindRelease, old.Encode()); apiCode(err) != device.CodeFirmwareRollback {
		t.Fatalf("release 2 after 3: %v, want firmware_rollback", err)
	}
	out, _, err := f.fetch(client.FetchOptions{Installed: 3})
	if firmwareCode(err) != client.CodeRollback {
		t.Fatalf("a device on 3 offered 3: %v, want firmware_rollback", err)
	}
	mustNotExist(t, out)
	if _, rel, err := f.fetch(client.FetchOptions{Installed: 2}); err != nil || rel.Seq != 3 {
		t.Fatalf("a device on 2: %+v, %v", rel, err)
	}
}

// TestFirmwareAttackFastForward (TUF: fast-forward): a stolen maker key
// signs a release with a huge number; without its approvals it is not
// active, and it does not stop the next real release.
func TestFirmwareAttackFastForward(t *testing.T) {
	f := newFwNet(t)
	f.release(client.Release{Seq: 1 << 60}, image(99, 100))
	real := f.published(2, image(2, 100))
	_, rel, err := f.fetch(client.FetchOptions{Installed: 1})
	if err != nil || rel.ID != real {
		t.Fatalf("fetch: %+v, %v; want release 2", rel, err)
	}
}

// TestFirmwareAttackMixAndMatch (TUF: mix and match): release 2's
// manifest with release 1's image is refused by the device (the bytes
// are not the digest) and by the ledger (an install report of release 2
// with release 1's digest is digest_mismatch).
func TestFirmwareAttackMixAndMatch(t *testing.T) {
	f := newFwNet(t)
	img1, img2 := image(1, 300), image(2, 300)
	f.published(1, img1)
	second := f.release(client.Release{Seq: 2}, img2)
	f.approveBy(second, f.security, f.audit)
	f.active(second)
	// The node has release 2's image; a mirror serves release 1's.
	c := f.noNodeImages(t)
	out := filepath.Join(t.TempDir(), "image.bin")
	_, err := c.FetchFirmware(t.Context(), "sensor", out, client.FetchOptions{Installed: 1, Sources: []string{mirror(t, img1)}})
	if firmwareCode(err) != client.CodeDigestMismatch {
		t.Fatalf("release 2 with release 1's bytes: %v, want digest_mismatch", err)
	}
	mustNotExist(t, out)
	if _, err := client.NewDevice(f.c, f.deviceKey).ReportInstall(t.Context(), second, device.ImageDigest(img1), device.InstallOK); apiCode(err) != device.CodeDigestMismatch {
		t.Fatalf("report of release 2 with release 1's digest: %v", err)
	}
}

// noNodeImages returns a client whose requests for the node's hosted
// images fail, so a fetch goes to the other sources: a device whose
// only path to an image is a mirror.
func (f *fwNet) noNodeImages(t *testing.T) *client.Client {
	t.Helper()
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasPrefix(r.URL.Path, "/v1/firmware/images/") && strings.HasPrefix(f.base, r.URL.Scheme+"://"+r.URL.Host) {
			return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	c, err := client.New(f.base, client.Options{HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestFirmwareAttackEndlessData (TUF: endless data): an upload longer
// than the signed size is image_too_large and stores nothing; a mirror
// that sends more is dropped after size+1 bytes and leaves no image; an
// image over the node's cap is refused.
func TestFirmwareAttackEndlessData(t *testing.T) {
	f := newFwNet(t)
	img := image(1, 1000)
	rel := &client.Release{Class: "sensor", Component: "main", Seq: 1, Digest: device.ImageDigest(img), Size: uint64(len(img))}
	id, err := f.maker.Publish(t.Context(), rel)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{append(append([]byte{}, img...), "more"...), img[:999]} {
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/v1/firmware/images/%x", f.base, rel.Digest), bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		want := map[bool]string{true: "image_too_large", false: "image_size_mismatch"}[len(body) > len(img)]
		if e.Code != want {
			t.Fatalf("upload of %d bytes for %d: %s %q, want %s", len(body), len(img), resp.Status, e.Code, want)
		}
	}
	f.approveBy(id, f.security, f.audit)
	f.active(id)
	c := f.noNodeImages(t)
	out := filepath.Join(t.TempDir(), "image.bin")
	endless := append(append([]byte{}, img...), bytes.Repeat([]byte("x"), 1<<20)...)
	if _, err := c.FetchFirmware(t.Context(), "sensor", out, client.FetchOptions{Sources: []string{mirror(t, endless)}}); firmwareCode(err) != client.CodeImageTooLarge {
		t.Fatalf("endless mirror: %v, want image_too_large", err)
	}
	mustNotExist(t, out)
	big := bytes.Repeat([]byte("b"), 2<<20) // over the test node's 1 MiB cap
	bigRel := &client.Release{Class: "sensor", Component: "big", Seq: 1, Digest: device.ImageDigest(big), Size: uint64(len(big))}
	if _, err := f.maker.Publish(t.Context(), bigRel); err != nil {
		t.Fatal(err)
	}
	if err := f.c.UploadImage(t.Context(), big); apiCode(err) != "image_too_large" {
		t.Fatalf("upload over the cap: %v", err)
	}
}

// TestFirmwareAttackExtraneousDependencies (TUF/Uptane: extraneous
// dependencies): a release that requires a version the device lacks is
// refused by the device and by the ledger (release_requires).
func TestFirmwareAttackExtraneousDependencies(t *testing.T) {
	f := newFwNet(t)
	id := f.release(client.Release{Seq: 5, Requires: 4}, image(5, 100))
	f.approveBy(id, f.security, f.audit)
	f.active(id)
	out, _, err := f.fetch(client.FetchOptions{Installed: 2})
	if firmwareCode(err) != client.CodeReleaseRequires {
		t.Fatalf("fetch on 2 of a release requiring 4: %v", err)
	}
	mustNotExist(t, out)
	if _, err := client.NewDevice(f.c, f.deviceKey).ReportInstall(t.Context(), id, device.ImageDigest(image(5, 100)), device.InstallOK); apiCode(err) != device.CodeReleaseRequires {
		t.Fatalf("report without release 4: %v, want release_requires", err)
	}
}

// TestFirmwareAttackMaliciousMirror (TUF: malicious mirrors): a URI
// serving other bytes is dropped and the next source that serves the
// signed bytes is used; with only the bad mirror nothing is written.
func TestFirmwareAttackMaliciousMirror(t *testing.T) {
	f := newFwNet(t)
	img := image(1, 5000)
	good := mirror(t, img)
	bad := mirror(t, bytes.ToUpper(img))
	id, err := f.maker.Publish(t.Context(), &client.Release{Class: "sensor", Component: "main", Seq: 1,
		Digest: device.ImageDigest(img), Size: uint64(len(img)), URIs: []string{bad, good}})
	if err != nil {
		t.Fatal(err)
	}
	f.approveBy(id, f.security, f.audit)
	f.active(id)
	// The node has no copy (never uploaded): node 404, bad mirror, good.
	out, rel, err := f.fetch(client.FetchOptions{})
	if err != nil || rel.ID != id {
		t.Fatalf("fetch past a bad mirror: %v", err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, img) {
		t.Fatal("the written image is not the release's")
	}
	// Release 2 names only the bad mirror and was never uploaded:
	// nothing is written.
	img2 := image(2, 5000)
	id2, err := f.maker.Publish(t.Context(), &client.Release{Class: "sensor", Component: "main", Seq: 2,
		Digest: device.ImageDigest(img2), Size: uint64(len(img2)), URIs: []string{bad}})
	if err != nil {
		t.Fatal(err)
	}
	f.approveBy(id2, f.security, f.audit)
	f.active(id2)
	out, _, err = f.fetch(client.FetchOptions{Installed: 1})
	if firmwareCode(err) != client.CodeDigestMismatch {
		t.Fatalf("only a bad mirror: %v, want digest_mismatch", err)
	}
	mustNotExist(t, out)
}

// TestFirmwareAttackFewerThanKApprovers (TUF/Uptane: compromised keys
// under the threshold): one approver key (the maker's own) is not enough;
// it cannot approve twice, and a key that is no approver cannot approve.
func TestFirmwareAttackFewerThanKApprovers(t *testing.T) {
	f := newFwNet(t)
	good := f.published(1, image(1, 100))
	evil := f.release(client.Release{Seq: 2}, image(66, 100))
	f.approveBy(evil, f.maker)
	if _, err := f.maker.Approve(t.Context(), evil); apiCode(err) != device.CodeAlreadyApproved {
		t.Fatalf("second approval by one key: %v", err)
	}
	if _, err := f.other.Approve(t.Context(), evil); apiCode(err) != device.CodeNotApprover {
		t.Fatalf("approval by a non-approver: %v", err)
	}
	// Once a later release is active (so the approval above is
	// confirmed), the under-approved one still is not; neither is the
	// superseded release 1.
	f.published(3, image(3, 100))
	fw, err := f.c.Firmware(t.Context(), "sensor")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fw.Releases {
		if r.ID == evil && r.Active || r.ID == good && r.Active {
			t.Fatalf("release %d active with %d approvals", r.Seq, len(r.Approvals))
		}
	}
	if _, err := client.NewDevice(f.c, f.deviceKey).ReportInstall(t.Context(), evil, device.ImageDigest(image(66, 100)), device.InstallOK); apiCode(err) != device.CodeReleaseNotActive {
		t.Fatalf("ok report of the under-approved release: %v, want release_not_active", err)
	}
}

// TestFirmwareAttackRevokedKey (Uptane: key revocation): a revoked
// device's key can no longer report installs; an approver key the
// genesis rule does not name (the way a rotated-out approver is removed)
// approves nothing.
func TestFirmwareAttackRevokedKey(t *testing.T) {
	f := newFwNet(t)
	id := f.published(1, image(1, 100))
	rev, err := f.maker.Revoke(t.Context(), f.sensorID)
	if err != nil {
		t.Fatal(err)
	}
	f.seen(rev)
	// Refused outright when its past holds the revocation; otherwise
	// (parents older than the revocation) valid but ruled out here, so
	// honest tip selection never approves it and it is never confirmed.
	rid, err := client.NewDevice(f.c, f.deviceKey).ReportInstall(t.Context(), id, device.ImageDigest(image(1, 100)), device.InstallOK)
	if info, _ := f.n.Ledger().Info(rid); apiCode(err) != device.CodeRevoked && !(err == nil && info.RuledOut) {
		t.Fatalf("report by a revoked device: %v, %+v; want revoked or ruled out", err, info)
	}
	second := f.release(client.Release{Seq: 2}, image(2, 100))
	if _, err := f.other.Approve(t.Context(), second); apiCode(err) != device.CodeNotApprover {
		t.Fatalf("approval by a key outside the rule: %v", err)
	}
}

// TestFirmwareAttackIncompatibleImage (Uptane: incompatible image): an
// image for another component of the class is not offered for this one,
// and a class's device never takes another class's release.
func TestFirmwareAttackIncompatibleImage(t *testing.T) {
	f := newFwNet(t)
	boot := f.release(client.Release{Seq: 1, Component: "bootloader"}, image(1, 100))
	f.approveBy(boot, f.security, f.audit)
	f.active(boot)
	if _, _, err := f.fetch(client.FetchOptions{Component: "main"}); firmwareCode(err) != client.CodeNoActiveRelease {
		t.Fatalf("main offered a bootloader image: %v", err)
	}
	out := filepath.Join(t.TempDir(), "x")
	if _, err := f.c.FetchFirmware(t.Context(), "meter", out, client.FetchOptions{Component: "bootloader"}); firmwareCode(err) != client.CodeNoActiveRelease {
		t.Fatalf("a meter offered a sensor image: %v", err)
	}
	if _, rel, err := f.fetch(client.FetchOptions{Component: "bootloader"}); err != nil || rel.ID != boot {
		t.Fatalf("bootloader: %v", err)
	}
}

// TestFirmwareAttackWrongPrecursor (SUIT: precursor): a differential
// image applies only to the image it names.
func TestFirmwareAttackWrongPrecursor(t *testing.T) {
	f := newFwNet(t)
	base, other := device.ImageDigest(image(1, 100)), device.ImageDigest(image(7, 100))
	id := f.release(client.Release{Seq: 2, Precursor: &base}, image(2, 50))
	f.approveBy(id, f.security, f.audit)
	f.active(id)
	for _, cur := range []*[32]byte{nil, &other} {
		out, _, err := f.fetch(client.FetchOptions{Installed: 1, Current: cur})
		if firmwareCode(err) != client.CodeWrongPrecursor {
			t.Fatalf("current %v: %v, want wrong_precursor", cur, err)
		}
		mustNotExist(t, out)
	}
	if _, _, err := f.fetch(client.FetchOptions{Installed: 1, Current: &base}); err != nil {
		t.Fatalf("the right precursor: %v", err)
	}
}

// TestFirmwareAttackPartialDownload (Uptane: partial bundle): a source
// that stops half-way leaves only FILE.part, never FILE; the next fetch
// resumes with a range request from the node and verifies the whole.
func TestFirmwareAttackPartialDownload(t *testing.T) {
	f := newFwNet(t)
	img := image(1, 100_000)
	f.published(1, img)
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(img)))
		_, _ = w.Write(img[:len(img)/2])
		// The handler returns with the body short: the client sees an
		// unexpected EOF.
	}))
	t.Cleanup(cut.Close)
	c := f.noNodeImages(t)
	out := filepath.Join(t.TempDir(), "image.bin")
	if _, err := c.FetchFirmware(t.Context(), "sensor", out, client.FetchOptions{Sources: []string{cut.URL}}); err == nil {
		t.Fatal("a cut-off download succeeded")
	}
	mustNotExist(t, out)
	st, err := os.Stat(out + ".part")
	if err != nil || st.Size() != int64(len(img)/2) {
		t.Fatalf("part file: %v, %v", st, err)
	}
	if _, err := f.c.FetchFirmware(t.Context(), "sensor", out, client.FetchOptions{}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, img) {
		t.Fatal("the resumed image is not the release's")
	}
	mustNotExist(t, out+".part")
}

// TestFirmwareAttackExpiredRelease (Uptane: expired metadata, judged in
// ledger time): a release whose expiry is before the confirmed point
// the status is taken at is refused.
func TestFirmwareAttackExpiredRelease(t *testing.T) {
	f := newFwNet(t)
	expires := time.Now().UnixNano()
	id := f.release(client.Release{Seq: 1, Expires: expires}, image(1, 100))
	f.approveBy(id, f.security, f.audit)
	f.active(id)
	out, _, err := f.fetch(client.FetchOptions{})
	if firmwareCode(err) != client.CodeReleaseExpired {
		t.Fatalf("expired release: %v, want release_expired", err)
	}
	mustNotExist(t, out)
}

// TestFirmwareAttackWrongClock (Uptane: a device's wrong clock): devices
// whose clocks are years off reach the same verdicts, since expiry is
// judged against the ledger's confirmed point, never the device's time.
func TestFirmwareAttackWrongClock(t *testing.T) {
	f := newFwNet(t)
	fresh := f.release(client.Release{Seq: 1, Expires: time.Now().Add(24 * time.Hour).UnixNano()}, image(1, 100))
	f.approveBy(fresh, f.security, f.audit)
	f.active(fresh)
	for _, skew := range []time.Duration{-20 * 365 * 24 * time.Hour, 0, 20 * 365 * 24 * time.Hour} {
		c, err := client.New(f.base, client.Options{Now: func() time.Time { return time.Now().Add(skew) }})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "image.bin")
		if rel, err := c.FetchFirmware(t.Context(), "sensor", out, client.FetchOptions{}); err != nil || rel.ID != fresh {
			t.Fatalf("clock %v off: %v", skew, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stale := f.release(client.Release{Seq: 2, Expires: time.Now().UnixNano()}, image(2, 100))
	f.approveBy(stale, f.security, f.audit)
	f.active(stale)
	for _, skew := range []time.Duration{-20 * 365 * 24 * time.Hour, 20 * 365 * 24 * time.Hour} {
		c, _ := client.New(f.base, client.Options{Now: func() time.Time { return time.Now().Add(skew) }})
		out := filepath.Join(t.TempDir(), "image.bin")
		if _, err := c.FetchFirmware(ctx, "sensor", out, client.FetchOptions{Installed: 1}); firmwareCode(err) != client.CodeReleaseExpired {
			t.Fatalf("clock %v off, expired release: %v", skew, err)
		}
	}
}

// TestFirmwareAttackIndefiniteFreeze (TUF: indefinite freeze; Uptane's
// time source): a node (or a man in the middle) that keeps serving an
// old status is caught without a clock. The device posts a fresh anchor
// and accepts only beacons of a validator quorum that saw it, all
// committing to the release the status names: a replayed proof is for
// another anchor, a status without a proof or with an old release next
// to a current proof is not_fresh.
func TestFirmwareAttackIndefiniteFreeze(t *testing.T) {
	f := newFwNet(t)
	first := f.published(1, image(1, 100))
	fresh := &client.Freshness{Key: f.deviceKey, Genesis: f.genesis}
	if _, rel, err := f.fetch(client.FetchOptions{Freshness: fresh}); err != nil || rel.ID != first {
		t.Fatalf("fresh fetch: %v", err)
	}
	// A proxy records the status it relays, then replays it.
	var frozen []byte
	var mode atomic.Value // "record", "replay", "strip", "stale"
	mode.Store("record")
	target, _ := url.Parse(f.base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/v1/firmware/sensor" || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		switch mode.Load() {
		case "record":
			frozen = body
		case "replay":
			body = frozen
		case "strip", "stale":
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				return err
			}
			if mode.Load() == "strip" {
				delete(m, "freshness")
			} else {
				var old map[string]any
				_ = json.Unmarshal(frozen, &old)
				m["releases"] = old["releases"]
			}
			body, _ = json.Marshal(m)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	via, err := client.New(front.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.bin")
	if _, err := via.FetchFirmware(t.Context(), "sensor", out, client.FetchOptions{Freshness: fresh}); err != nil {
		t.Fatalf("through the recording proxy: %v", err)
	}
	f.published(2, image(2, 100))
	for _, m := range []string{"replay", "strip", "stale"} {
		mode.Store(m)
		out := filepath.Join(t.TempDir(), "image.bin")
		if _, err := via.FetchFirmware(t.Context(), "sensor", out, client.FetchOptions{Freshness: fresh}); firmwareCode(err) != client.CodeNotFresh {
			t.Fatalf("%s: %v, want not_fresh", m, err)
		}
		mustNotExist(t, out)
	}
	mode.Store("pass")
	if _, rel, err := f.fetch(client.FetchOptions{Freshness: fresh, Installed: 1}); err != nil || rel.Seq != 2 {
		t.Fatalf("fresh fetch of release 2: %+v, %v", rel, err)
	}
}

// TestFirmwareAttackRetiredApproverKey (TUF/Uptane: revocation of a
// compromised approver or authority key): the audit key approved release
// 1 and is then retired by its owner. As of the confirmed frontier the
// release has one counted approval of two and is no longer active, and
// the retired key can neither approve nor publish (key_retired).
func TestFirmwareAttackRetiredApproverKey(t *testing.T) {
	f := newFwNet(t)
	id := f.published(1, image(1, 100))
	ret, err := f.audit.Retire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.seen(ret)
	poll.Until(t, 20*time.Second, "release 1 inactive once the retirement is confirmed", func() bool {
		fw, err := f.c.Firmware(t.Context(), "sensor")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range fw.Releases {
			if r.ID == id {
				return !r.Active && len(r.Approvals) == 1
			}
		}
		return false
	})
	second := f.release(client.Release{Seq: 2}, image(2, 100))
	if _, err := f.audit.Approve(t.Context(), second); apiCode(err) != device.CodeKeyRetired {
		t.Fatalf("approval by a retired key: %v, want %s", err, device.CodeKeyRetired)
	}
	if _, err := f.audit.Retire(t.Context()); apiCode(err) != device.CodeKeyRetired {
		t.Fatalf("a second retirement: %v, want %s", err, device.CodeKeyRetired)
	}
}
