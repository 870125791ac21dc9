package device_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/pow"
)

// proofFixture is a genesis of v validators and one authority, an anchor,
// a release and a proof whose beacons each reach the anchor through a
// path of pathLen transactions.
type proofFixture struct {
	g      *dag.Genesis
	anchor dag.ID
	rel    dag.ID
	proof  *device.FreshnessProof
}

func newProofFixture(tb testing.TB, validators, pathLen int) *proofFixture {
	tb.Helper()
	rules := pow.Rules{}
	maker := dagtest.NewIssuer("maker", rules)
	g := &dag.Genesis{NetworkID: "proof", MaxPayload: dag.DefaultMaxPayload, Threshold: dag.DefaultThreshold,
		Authorities: []dag.Authority{{Name: "maker", PublicKey: dagtest.PublicKey(maker.Key), Classes: []string{"sensor"}}}}
	var vals []*dagtest.Issuer
	for i := range validators {
		v := dagtest.NewIssuer(fmt.Sprintf("validator-%d", i), rules)
		vals = append(vals, v)
		g.Validators = append(g.Validators, dag.Validator{Name: fmt.Sprint(i), PublicKey: dagtest.PublicKey(v.Key), Weight: 1})
	}
	root := dag.ID{7}
	img := []byte("image")
	m := &device.Release{Class: "sensor", Component: "main", Seq: 3, Digest: device.ImageDigest(img), Size: uint64(len(img))}
	release := maker.Issue(dag.KindRelease, root, root, 1, m.Encode())
	dev := dagtest.NewIssuer("device", rules)
	anchor := dev.Issue(dag.KindData, release.ID(), root, 2, []byte("nonce"))
	f := &proofFixture{g: g, anchor: anchor.ID(), rel: release.ID()}
	lines := []device.ActiveLine{{Line: "sensor/main", Release: release.ID()}}
	f.proof = &device.FreshnessProof{Anchor: anchor.ID(), Lines: lines, Releases: [][]byte{release.Bytes()}}
	commitment := device.CommitLines(lines)
	for i, v := range vals {
		// A path of data transactions above the anchor, then the beacon.
		below := anchor.ID()
		var path [][]byte
		filler := dagtest.NewIssuer(fmt.Sprintf("filler-%d", i), rules)
		for j := range pathLen {
			tx := filler.Issue(dag.KindData, below, below, int64(3+j), []byte("x"))
			path = append([][]byte{tx.Bytes()}, path...)
			below = tx.ID()
		}
		b := v.Issue(dag.KindBeacon, below, root, int64(10+i), commitment)
		f.proof.Beacons = append(f.proof.Beacons, device.ProofBeacon{Beacon: b.Bytes(), Path: path})
	}
	return f
}

// TestVerifyFreshness: a complete proof verifies and names the release;
// each way of breaking it is refused.
func TestVerifyFreshness(t *testing.T) {
	f := newProofFixture(t, 4, 3)
	st, err := device.VerifyFreshness(f.g, "sensor", f.anchor, f.proof)
	if err != nil {
		t.Fatal(err)
	}
	if st.Active["main"].ID != f.rel || st.Weight != 4 || st.Active["main"].Manifest.Seq != 3 {
		t.Fatalf("state %+v", st)
	}
	cases := []struct {
		name   string
		anchor dag.ID
		edit   func(p *device.FreshnessProof)
		want   string
	}{
		{"other anchor", dag.ID{9}, func(*device.FreshnessProof) {}, "for anchor"},
		{"two thirds only", f.anchor, func(p *device.FreshnessProof) { p.Beacons = p.Beacons[:2] }, "not above the threshold"},
		{"a validator twice", f.anchor, func(p *device.FreshnessProof) { p.Beacons[1] = p.Beacons[0] }, "two beacons"},
		{"a broken path", f.anchor, func(p *device.FreshnessProof) { p.Beacons[0].Path = p.Beacons[0].Path[1:] }, "not a parent"},
		{"a short path", f.anchor, func(p *device.FreshnessProof) {
			p.Beacons[0].Path = p.Beacons[0].Path[:len(p.Beacons[0].Path)-1]
		}, "does not reach the anchor"},
		{"a forged signature", f.anchor, func(p *device.FreshnessProof) {
			// Another issuing time under the old signature.
			tx, err := dag.Decode(p.Beacons[0].Beacon, dag.DefaultMaxPayload)
			if err != nil {
				panic(err)
			}
			forged := &dag.Transaction{Kind: tx.Kind, Trunk: tx.Trunk, Branch: tx.Branch, Issuer: tx.Issuer, Seq: tx.Seq, Prev: tx.Prev,
				Time: tx.Time + 1, Payload: tx.Payload, Signature: tx.Signature, Nonce: tx.Nonce}
			p.Beacons[0].Beacon = forged.Bytes()
		}, "signature"},
		{"another state", f.anchor, func(p *device.FreshnessProof) { p.Lines[0].Release = dag.ID{1} }, "another state"},
		{"release missing", f.anchor, func(p *device.FreshnessProof) { p.Releases = nil }, "missing"},
		{"no proof", f.anchor, nil, "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p *device.FreshnessProof
			if tc.edit != nil {
				p = cloneProof(t, f.proof)
				tc.edit(p)
			}
			if _, err := device.VerifyFreshness(f.g, "sensor", tc.anchor, p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func cloneProof(t testing.TB, p *device.FreshnessProof) *device.FreshnessProof {
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out device.FreshnessProof
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// FuzzVerifyFreshness: any JSON is refused or verified without a panic.
func FuzzVerifyFreshness(f *testing.F) {
	fx := newProofFixture(f, 4, 2)
	seed, _ := json.Marshal(fx.proof)
	f.Add(seed)
	f.Add([]byte(`{"anchor":"00","lines":[],"beacons":[{"beacon":"AA==","path":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p device.FreshnessProof
		if json.Unmarshal(data, &p) != nil {
			return
		}
		_, _ = device.VerifyFreshness(fx.g, "sensor", fx.anchor, &p)
	})
}

// BenchmarkVerifyFreshness measures a device's check of a proof of four
// validators' beacons, each three links above the anchor, on one core,
// and reports the proof's size (JSON, as served).
func BenchmarkVerifyFreshness(b *testing.B) {
	for _, v := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("validators=%d", v), func(b *testing.B) {
			fx := newProofFixture(b, v, 3)
			data, _ := json.Marshal(fx.proof)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := device.VerifyFreshness(fx.g, "sensor", fx.anchor, fx.proof); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "proof-bytes")
		})
	}
}
