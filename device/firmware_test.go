package device_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
)

// TestFirmwareShuffled: releases (some rollbacks), approvals (some by
// non-approvers, some twice) and install reports (some of unapproved or
// wrong releases) on stale parents, delivered to three more ledgers in
// shuffled orders, give the same accepted set, registry digest and
// firmware status at every confirmed-like point (a transaction's horizon).
func TestFirmwareShuffled(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	w := newWorldWith(t, []string{"maker:thermostat", "sec:thermostat", "audit:thermostat"}, true, func(g *dag.Genesis) {
		g.FirmwareApprovals = []dag.FirmwareApproval{{Class: "thermostat", Threshold: 2,
			Approvers: []dag.PublicKey{dagtest.PublicKey(dagtest.Key("authority-sec")), dagtest.PublicKey(dagtest.Key("authority-audit"))}}}
	})
	var offered []*dag.Transaction
	attached := []dag.ID{w.ledger.Root()}
	offer := func(is *dagtest.Issuer, kind dag.Kind, payload []byte) (dag.ID, bool) {
		pick := func() dag.ID { return attached[len(attached)-1-rng.IntN(min(len(attached), 5))] }
		saved := *is
		tx := is.Issue(kind, pick(), pick(), w.now(), payload)
		offered = append(offered, tx)
		res, err := w.ledger.AttachVerified([]*dag.Transaction{tx}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != dag.StatusAttached {
			*is = saved
			return dag.ID{}, false
		}
		attached = append(attached, tx.ID())
		return tx.ID(), true
	}
	var devs []*dagtest.Issuer
	for i := range 6 {
		reg := device.Registration{Key: devicePublicKey(fmt.Sprint("f", i)), Class: "thermostat"}
		offer(w.auth["maker"], dag.KindRegister, reg.Encode())
		devs = append(devs, &dagtest.Issuer{Key: dagtest.Key(fmt.Sprint("device-f", i))})
	}
	var releases []dag.ID
	digests := map[dag.ID][32]byte{}
	outcomes := map[string]int{}
	for step := range 600 {
		switch r := rng.IntN(10); {
		case step == 450:
			// sec retires its key: from here its approvals stop counting
			// in the pasts that hold the retirement, and it acts no more.
			if _, ok := offer(w.auth["sec"], dag.KindRetire, nil); !ok {
				t.Fatal("the retirement was refused")
			}
		case r < 2:
			image := []byte(fmt.Sprint("image ", step))
			rel := &device.Release{Class: "thermostat", Component: "main", Seq: uint64(1 + rng.IntN(step/10+2)),
				Digest: device.ImageDigest(image), Size: uint64(len(image))}
			if id, ok := offer(w.auth["maker"], dag.KindRelease, rel.Encode()); ok {
				releases = append(releases, id)
				digests[id] = rel.Digest
				outcomes["release"]++
			} else {
				outcomes["release refused"]++
			}
		case r < 5 && len(releases) > 0:
			by := []string{"sec", "audit", "maker"}[rng.IntN(3)]
			if _, ok := offer(w.auth[by], dag.KindApproval, device.ApprovalPayload(releases[rng.IntN(len(releases))])); ok {
				outcomes["approval"]++
			} else {
				outcomes["approval refused"]++
			}
		case len(releases) > 0:
			rel := releases[rng.IntN(len(releases))]
			digest, result := digests[rel], device.InstallOK
			if rng.IntN(4) == 0 {
				result = device.InstallFailed
			}
			if _, ok := offer(devs[rng.IntN(len(devs))], dag.KindInstall, device.InstallPayload(rel, digest, result)); ok {
				outcomes["install"]++
			} else {
				outcomes["install refused"]++
			}
		}
	}
	t.Logf("%v", outcomes)
	for _, k := range []string{"release", "release refused", "approval", "approval refused", "install", "install refused"} {
		if outcomes[k] < 10 {
			t.Fatalf("scenario too tame: %v", outcomes)
		}
	}
	want := w.registry.Digest()
	wantAttached := attachedSet(w.ledger, offered)
	points := attached[len(attached)-20:]
	status := func(l *dag.Ledger, reg *device.Registry) []string {
		var out []string
		for _, p := range points {
			h, ok := l.HorizonOf(p)
			if !ok {
				t.Fatalf("point %s not attached", p.Short())
			}
			st := reg.Firmware("thermostat", h)
			for _, r := range st.Releases {
				out = append(out, fmt.Sprintf("%s %s %d %v %d", p.Short(), r.ID.Short(), r.Seq, r.Active, len(r.Approvals)))
			}
		}
		return out
	}
	wantStatus := status(w.ledger, w.registry)
	for k := range 3 {
		order := slices.Clone(offered)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		reg := device.New(*w.net.Genesis)
		l, err := dag.Open(dag.Config{Genesis: w.net.Genesis, Rules: reg, Now: func() time.Time { return time.Unix(0, w.clock).Add(time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AttachVerified(order).Wait(); err != nil {
			t.Fatal(err)
		}
		if got := attachedSet(l, offered); !slices.Equal(got, wantAttached) {
			t.Fatalf("ledger %d attached %d, the source %d", k, len(got), len(wantAttached))
		}
		if got := reg.Digest(); got != want {
			t.Fatalf("ledger %d: digest %x, want %x", k, got, want)
		}
		if got := status(l, reg); !slices.Equal(got, wantStatus) {
			t.Fatalf("ledger %d: firmware status at the points differs", k)
		}
	}
}

// TestPolicyInputMatchesNode: the offline input (device.PolicyInput, what
// `tangled policy test` evaluates) of a device with attributes and an
// install report judges a transaction as the node did.
func TestPolicyInputMatchesNode(t *testing.T) {
	w := newWorld(t, []string{"a1:sensor"}, true)
	reg := device.Registration{Key: devicePublicKey("pk"), Class: "sensor", Attributes: []device.Attribute{{Key: "firmware", Value: "1"}, {Key: "site", Value: "north"}}}
	if out := w.issue("d", w.auth["a1"], dag.KindRegister, w.last, w.last, reg.Encode()); out != "accepted" {
		t.Fatal(out)
	}
	image := []byte("v7")
	rel := &device.Release{Class: "sensor", Component: "main", Seq: 7, Digest: device.ImageDigest(image), Size: 2}
	if out := w.issue("r7", w.auth["a1"], dag.KindRelease, w.last, w.last, rel.Encode()); out != "accepted" {
		t.Fatal(out)
	}
	is := w.chain("pk")
	if out := w.issue("i", is, dag.KindInstall, w.last, w.last, device.InstallPayload(w.txs["r7"], rel.Digest, device.InstallOK)); out != "accepted" {
		t.Fatal(out)
	}
	id := w.devices["d"]
	if id == (dag.ID{}) {
		id = w.txs["d"]
	}
	src, err := policy.ParseFile([]byte(fmt.Sprintf(`// name: all
// version: 1
// reads: tx, device, history
device.id == %q && device.class == "sensor" && device.owner == %q && device.state == "active" &&
  device.key == tx.issuer && device.firmware == 7 && device.attributes["site"] == "north" &&
  history.count == tx.seq && history.last_time < tx.time && tx.kind == "data"
`, id, dagtest.PublicKey(w.authKey["a1"]))))
	if err != nil {
		t.Fatal(err)
	}
	p := &device.PolicyPayload{Scope: device.ScopeDevice, Device: id, Source: src}
	if out := w.issue("p", w.auth["a1"], dag.KindPolicy, w.last, w.last, p.Encode()); out != "accepted" {
		t.Fatal(out, w.lastErr)
	}
	saved := *is
	tx := is.Issue(dag.KindData, w.last, w.last, w.now(), []byte("x"))
	*is = saved
	snap, _ := w.registry.Device(id)
	prevInfo, _ := w.ledger.Info(tx.Prev)
	in, err := device.PolicyInput(tx, snap, policy.History{LastTime: prevInfo.Time})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := policy.Compile(src, policy.Limits{MaxPayload: 4096})
	if err != nil {
		t.Fatal(err)
	}
	offline := prog.Eval(in)
	if out := w.submit("t", tx); out != "accepted" || !offline.Allow {
		t.Fatalf("node: %s %s; offline: %+v", out, w.lastErr, offline)
	}
}

func TestScopeText(t *testing.T) {
	for _, s := range []device.Scope{device.ScopeNetwork, device.ScopeClass, device.ScopeDevice} {
		text, _ := s.MarshalText()
		var back device.Scope
		if err := back.UnmarshalText(text); err != nil || back != s {
			t.Errorf("%s: %v %v", text, back, err)
		}
	}
	var s device.Scope
	if err := s.UnmarshalText([]byte("planet")); err == nil {
		t.Error("planet is a scope")
	}
}
