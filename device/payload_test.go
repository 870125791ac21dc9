package device_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
)

func TestRegistrationRoundTrip(t *testing.T) {
	h := device.KeyHash(dag.PublicKey{9})
	for _, reg := range []device.Registration{
		{Key: dag.PublicKey{1}, Class: "sensor"},
		{Key: dag.PublicKey{2}, NextKeyHash: &h, Class: "meter.v2", Attributes: []device.Attribute{{Key: "serial", Value: "SN-1"}, {Key: "site", Value: "Zürich"}}},
	} {
		got, err := device.DecodeRegistration(reg.Encode())
		if err != nil {
			t.Fatalf("%+v: %v", reg, err)
		}
		if !bytes.Equal(got.Encode(), reg.Encode()) {
			t.Fatalf("round trip changed %+v into %+v", reg, got)
		}
	}
}

func TestRegistrationRejects(t *testing.T) {
	good := (&device.Registration{Key: dag.PublicKey{1}, Class: "sensor", Attributes: []device.Attribute{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}}).Encode()
	unsorted := (&device.Registration{Key: dag.PublicKey{1}, Class: "sensor", Attributes: []device.Attribute{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}}}).Encode()
	dup := (&device.Registration{Key: dag.PublicKey{1}, Class: "sensor", Attributes: []device.Attribute{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}}).Encode()
	badClass := (&device.Registration{Key: dag.PublicKey{1}, Class: "Sensor"}).Encode()
	badUTF8 := (&device.Registration{Key: dag.PublicKey{1}, Class: "s", Attributes: []device.Attribute{{Key: "a", Value: "\xff"}}}).Encode()
	flag := append([]byte(nil), good...)
	flag[32] = 2
	for name, p := range map[string][]byte{
		"empty": nil, "truncated": good[:len(good)-1], "trailing": append(append([]byte(nil), good...), 0),
		"unsorted": unsorted, "duplicate key": dup, "class case": badClass, "invalid utf-8": badUTF8, "flag 2": flag,
	} {
		if _, err := device.DecodeRegistration(p); !errors.Is(err, device.ErrPayload) {
			t.Errorf("%s: %v, want ErrPayload", name, err)
		}
	}
	if _, err := device.DecodeLifecycle(make([]byte, 31)); !errors.Is(err, device.ErrPayload) {
		t.Errorf("short lifecycle: %v", err)
	}
	if _, _, err := device.DecodeTransfer(make([]byte, 65)); !errors.Is(err, device.ErrPayload) {
		t.Errorf("long transfer: %v", err)
	}
}

// FuzzDecodeRegistration: the decoder never panics, and whatever it
// accepts is the canonical encoding of what it returns.
func FuzzDecodeRegistration(f *testing.F) {
	h := device.KeyHash(dag.PublicKey{3})
	f.Add((&device.Registration{Key: dag.PublicKey{1}, Class: "sensor"}).Encode())
	f.Add((&device.Registration{Key: dag.PublicKey{2}, NextKeyHash: &h, Class: "m", Attributes: []device.Attribute{{Key: "k", Value: "v"}}}).Encode())
	f.Fuzz(func(t *testing.T, p []byte) {
		reg, err := device.DecodeRegistration(p)
		if err != nil {
			if !errors.Is(err, device.ErrPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(reg.Encode(), p) {
			t.Fatalf("accepted a non-canonical encoding %x (canonical %x)", p, reg.Encode())
		}
		if err := reg.Validate(); err != nil {
			t.Fatalf("accepted an invalid registration: %v", err)
		}
	})
}

// FuzzControlPayload offers control transactions with arbitrary payloads
// to a registry with one registered device: nothing panics, and a
// rejected transaction leaves the registry's digest as it was.
func FuzzControlPayload(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), make([]byte, 32))
	f.Add(uint8(4), make([]byte, 64))
	src, _ := policy.ParseFile([]byte("// name: p\n// version: 1\n// reads: tx, device\ntx.size < 8 && device.class == \"sensor\"\n"))
	f.Add(uint8(6), (&device.PolicyPayload{Scope: device.ScopeClass, Class: "sensor", Source: src}).Encode())
	f.Add(uint8(7), device.CommandPayload(dag.ID{1}, []byte("open")))
	f.Fuzz(func(t *testing.T, k uint8, payload []byte) {
		w := newWorld(t, []string{"a1:sensor", "a2:sensor"}, true)
		if out := w.issue("d1", w.auth["a1"], dag.KindRegister, w.last, w.last, (&device.Registration{Key: devicePublicKey("k1"), Class: "sensor"}).Encode()); out != "accepted" {
			t.Fatal(out)
		}
		w.issue("t0", w.chain("k1"), dag.KindData, w.last, w.last, nil)
		before := w.registry.Digest()
		kinds := []dag.Kind{dag.KindRegister, dag.KindSuspend, dag.KindResume, dag.KindRevoke, dag.KindTransfer, dag.KindRotate, dag.KindPolicy, dag.KindCommand, dag.KindRelease, dag.KindApproval, dag.KindInstall}
		kind := kinds[int(k)%len(kinds)]
		is := w.auth["a1"]
		if kind == dag.KindRotate || kind == dag.KindInstall || kind == dag.KindCommand && k%2 == 0 {
			is = w.chain("k1")
		}
		tx := is.Build(kind, w.last, w.last, w.now(), payload)
		if _, err := dag.Decode(tx.Bytes(), dag.MaxPayloadLimit); err != nil {
			return // the decoder refuses it before any rule sees it
		}
		if out := w.submit("", tx); out != "accepted" && w.registry.Digest() != before {
			t.Fatalf("%s %x: %s, and the registry changed", kind, payload, out)
		}
	})
}

func FuzzDecodePolicy(f *testing.F) {
	src, _ := policy.ParseFile([]byte("// name: p\n// version: 2\n// reads: tx\n// rate: 1/10s growth 2\ntx.size < 8\n"))
	for _, p := range []*device.PolicyPayload{
		{Scope: device.ScopeNetwork, Source: src},
		{Scope: device.ScopeClass, Class: "sensor", Source: src},
		{Scope: device.ScopeDevice, Device: dag.ID{7}, Source: src},
	} {
		f.Add(p.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := device.DecodePolicy(b)
		if err != nil {
			if !errors.Is(err, device.ErrPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Fatalf("accepted a non-canonical encoding %x (canonical %x)", b, p.Encode())
		}
	})
}

func FuzzDecodeRelease(f *testing.F) {
	h := device.ImageDigest([]byte("old"))
	for _, r := range []*device.Release{
		{Class: "sensor", Component: "main", Seq: 3, Digest: device.ImageDigest([]byte("x")), Size: 1, URIs: []string{"https://a/b"}, Security: true},
		{Class: "m", Component: "boot", Seq: 9, Size: 7, Precursor: &h, Requires: 8, Expires: 5},
	} {
		f.Add(r.Encode())
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := device.DecodeRelease(p)
		if err != nil {
			if !errors.Is(err, device.ErrPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(r.Encode(), p) {
			t.Fatalf("accepted a non-canonical encoding %x", p)
		}
	})
}
