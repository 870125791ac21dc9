package policies_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
	"github.com/tangled-ledger/tangled/pow"
)

// rules: cheap base work and no genesis rate rule, so the work a
// transaction needs beyond the base comes from its policy's rate header.
var rules = pow.Rules{BaseBits: 4}

// ledger is one real ledger with the device registry as its rule layer,
// on a genesis with two authorities: "maker" may act on every class (and
// set network policies), "fleet" on thermostats and locks.
type ledger struct {
	t        *testing.T
	l        *dag.Ledger
	registry *device.Registry
	auth     map[string]*dagtest.Issuer
	last     dag.ID
	clock    int64
}

func newLedger(t *testing.T) *ledger {
	t.Helper()
	net := dagtest.NewNetwork(1, rules)
	w := &ledger{t: t, auth: map[string]*dagtest.Issuer{}}
	for _, a := range []struct {
		name    string
		classes []string
	}{{"maker", []string{dag.AllClasses}}, {"fleet", []string{"thermostat", "lock"}}} {
		key := dagtest.Key("authority-" + a.name)
		w.auth[a.name] = &dagtest.Issuer{Key: key, Rules: rules}
		net.Genesis.Authorities = append(net.Genesis.Authorities, dag.Authority{Name: a.name, PublicKey: dagtest.PublicKey(key), Classes: a.classes})
	}
	net.Genesis.Permissioned = true
	w.registry = device.New(*net.Genesis)
	w.clock = dagtest.GenesisTime.UnixNano()
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, Rules: w.registry,
		// The ledger's clock is a day ahead of the issuing times, so
		// none is from the future.
		Now: func() time.Time { return time.Unix(0, w.clock).Add(24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	w.l, w.last = l, l.Root()
	return w
}

// at moves the issuing clock to d after the genesis (never back).
func (w *ledger) at(d time.Duration) {
	w.t.Helper()
	next := dagtest.GenesisTime.Add(d).UnixNano()
	if next < w.clock {
		w.t.Fatalf("the clock may not run back to %v", d)
	}
	w.clock = next
}

// submit issues is's next transaction approving the newest attached one
// (so it sees everything before it) with exactly bits of work (-1: the
// base work for its size), and returns "accepted" or the rejection code.
func (w *ledger) submit(is *dagtest.Issuer, kind dag.Kind, payload []byte, bits int) string {
	w.t.Helper()
	if bits < 0 {
		bits = rules.Required(len(payload), 0)
	}
	saved := *is
	tx := is.Build(kind, w.last, w.last, w.clock, payload)
	nonce, err := pow.Solve(context.Background(), tx.ID(), bits, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	tx.Nonce = nonce
	results, err := w.l.AttachVerified([]*dag.Transaction{tx}).Wait()
	if err != nil {
		w.t.Fatal(err)
	}
	if r := results[0]; r.Status != dag.StatusAttached {
		*is = saved // a refused transaction does not take its sequence number
		if r.Err == nil {
			return r.Status.String()
		}
		return dag.Code(r.Err)
	}
	w.last = tx.ID()
	return "accepted"
}

// must submits and fails the test unless the outcome is want.
func (w *ledger) must(what, want string, is *dagtest.Issuer, kind dag.Kind, payload []byte, bits int) {
	w.t.Helper()
	if got := w.submit(is, kind, payload, bits); got != want {
		w.t.Fatalf("%s: %s, want %s", what, got, want)
	}
}

// register has authority by register a device of class with attributes
// "k=v"; it returns the device's chain and ID.
func (w *ledger) register(by, label, class string, attrs ...string) (*dagtest.Issuer, dag.ID) {
	w.t.Helper()
	key := dagtest.Key("device-" + label)
	reg := device.Registration{Key: dagtest.PublicKey(key), Class: class}
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		reg.Attributes = append(reg.Attributes, device.Attribute{Key: k, Value: v})
	}
	w.must("register "+label, "accepted", w.auth[by], dag.KindRegister, reg.Encode(), -1)
	return &dagtest.Issuer{Key: key, Rules: rules}, w.last
}

// setPolicy has authority by attach src at a scope.
func (w *ledger) setPolicy(want, by string, p device.PolicyPayload) {
	w.t.Helper()
	w.must("policy "+p.Source.Name, want, w.auth[by], dag.KindPolicy, p.Encode(), -1)
}

// shipped parses an example file as `tangled authority policy set` does
// and checks that it compiles within the default cost limit.
func shipped(t *testing.T, file string) *policy.Source {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src, err := policy.ParseFile(text)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	prog, err := policy.Compile(src, policy.Limits{})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if _, hi := prog.EstimatedCost(); hi > policy.DefaultCostLimit {
		t.Fatalf("%s: estimated cost %d over the default limit", file, hi)
	}
	return src
}

const denied = device.CodePolicyDenied

// TestThermostat: at most one reading per 10 s, of up to 256 bytes; an
// honest thermostat pays only the base work, a second transaction within
// 10 s needs 8 more bits before the policy even looks at it (and is then
// denied); no commands either way; a rotation is allowed.
func TestThermostat(t *testing.T) {
	w := newLedger(t)
	src := shipped(t, "thermostat.cel")
	if src.Rate == nil || src.Rate.Count != 1 || src.Rate.Window != 10*time.Second || src.Rate.Growth != 8 {
		t.Fatalf("rate header: %+v", src.Rate)
	}
	th, thID := w.register("fleet", "th1", "thermostat")
	other, _ := w.register("fleet", "lock", "lock")
	w.setPolicy("accepted", "maker", device.PolicyPayload{Scope: device.ScopeClass, Class: "thermostat", Source: src})

	base := rules.Required(256, 0)
	w.at(time.Minute)
	w.must("first reading", "accepted", th, dag.KindData, []byte("21.5C"), base)
	w.at(time.Minute + time.Second)
	w.must("a reading 1 s later with the base work", "insufficient_work", th, dag.KindData, []byte("21.6C"), base)
	w.must("a reading 1 s later with 8 more bits", denied, th, dag.KindData, []byte("21.6C"), base+8)
	w.at(time.Minute + 10*time.Second)
	w.must("10 s later, 256 bytes, the base work", "accepted", th, dag.KindData, make([]byte, 256), base)
	w.at(time.Minute + 25*time.Second)
	w.must("257 bytes", denied, th, dag.KindData, make([]byte, 257), base)
	w.must("a command by the thermostat", denied, th, dag.KindCommand, device.CommandPayload(thID, []byte("x")), base)
	w.must("a command to the thermostat", denied, other, dag.KindCommand, device.CommandPayload(thID, []byte("set 19")), base)
	w.at(time.Minute + 40*time.Second)
	next := dagtest.Key("device-th1-next")
	w.must("a rotation", "accepted", th, dag.KindRotate, dag.RotatePayload(dagtest.PublicKey(next), nil), base)
	th.Key = next
	w.at(time.Minute + 50*time.Second)
	w.must("a reading under the new key 10 s after the rotation", "accepted", th, dag.KindData, []byte("21.4C"), base)
	// The lock's class has no policy: it posts as it likes.
	w.must("a lock reading", "accepted", other, dag.KindData, make([]byte, 1000), -1)
	w.must("another lock reading", "accepted", other, dag.KindData, make([]byte, 1000), -1)
}

// TestLock: a command to the lock is accepted only when its owner signed
// it and its issuing time is from 08:00 to 17:59 UTC; after a transfer the
// new owner commands it and the old one no longer can; the lock's own
// readings are free.
func TestLock(t *testing.T) {
	w := newLedger(t)
	src := shipped(t, "lock.cel")
	lock, lockID := w.register("fleet", "front-door", "lock")
	thermo, thermoID := w.register("fleet", "hall", "thermostat")
	w.setPolicy(device.CodeNotOwner, "maker", device.PolicyPayload{Scope: device.ScopeDevice, Device: lockID, Source: src})
	w.setPolicy("accepted", "fleet", device.PolicyPayload{Scope: device.ScopeDevice, Device: lockID, Source: src})
	open := device.CommandPayload(lockID, []byte("open"))

	// The genesis is at midnight UTC.
	for _, c := range []struct {
		at   time.Duration
		by   *dagtest.Issuer
		what string
		want string
	}{
		{7*time.Hour + 59*time.Minute, w.auth["fleet"], "the owner at 07:59", denied},
		{8 * time.Hour, w.auth["fleet"], "the owner at 08:00", "accepted"},
		{9 * time.Hour, w.auth["maker"], "another authority at 09:00", denied},
		{9 * time.Hour, thermo, "another device at 09:00", denied},
		{9 * time.Hour, lock, "the lock itself at 09:00", denied},
		{17*time.Hour + 59*time.Minute, w.auth["fleet"], "the owner at 17:59", "accepted"},
		{18 * time.Hour, w.auth["fleet"], "the owner at 18:00", denied},
		{23 * time.Hour, w.auth["fleet"], "the owner at 23:00", denied},
		{32 * time.Hour, w.auth["fleet"], "the owner at 08:00 the next day", "accepted"},
	} {
		w.at(c.at)
		w.must(c.what, c.want, c.by, dag.KindCommand, open, -1)
	}
	w.must("the lock's reading", "accepted", lock, dag.KindData, []byte("closed"), -1)
	w.must("the lock commanding the thermostat", "accepted", lock, dag.KindCommand, device.CommandPayload(thermoID, []byte("19C")), -1)

	// A transfer hands the lock over: the policy reads the owner as of
	// the command's past.
	w.must("transfer to maker", "accepted", w.auth["fleet"], dag.KindTransfer, device.TransferPayload(lockID, dagtest.PublicKey(w.auth["maker"].Key)), -1)
	w.at(33 * time.Hour)
	w.must("the former owner at 09:00", denied, w.auth["fleet"], dag.KindCommand, open, -1)
	w.must("the new owner at 09:00", "accepted", w.auth["maker"], dag.KindCommand, open, -1)
}

// TestFirmwareFloor: a class's devices whose firmware is below the floor
// (or unknown) are refused, data and commands to them alike; the others
// post; another class is not affected; a device that reports installing a
// release above the floor posts again; raising the floor is a new
// version, and an old version cannot be replayed over it.
func TestFirmwareFloor(t *testing.T) {
	w := newLedger(t)
	src := shipped(t, "firmware-floor.cel")
	old, oldID := w.register("maker", "cam-old", "camera", "firmware=3")
	cur, _ := w.register("maker", "cam-new", "camera", "firmware=5")
	unknown, _ := w.register("maker", "cam-unknown", "camera", "firmware=v5")
	thermo, _ := w.register("fleet", "hall", "thermostat", "firmware=1")
	w.setPolicy(device.CodeClassNotAllowed, "fleet", device.PolicyPayload{Scope: device.ScopeClass, Class: "camera", Source: src})
	w.setPolicy("accepted", "maker", device.PolicyPayload{Scope: device.ScopeClass, Class: "camera", Source: src})

	w.must("firmware 3 under floor 4", denied, old, dag.KindData, []byte("frame"), -1)
	w.must("firmware 5 under floor 4", "accepted", cur, dag.KindData, []byte("frame"), -1)
	w.must("firmware v5 (not a number)", denied, unknown, dag.KindData, []byte("frame"), -1)
	w.must("a command to firmware 3", denied, w.auth["maker"], dag.KindCommand, device.CommandPayload(oldID, []byte("reboot")), -1)
	w.must("another class at firmware 1", "accepted", thermo, dag.KindData, []byte("20C"), -1)

	// The outdated camera installs release 5 and reports it: it may post.
	image := []byte("camera firmware 5")
	rel := &device.Release{Class: "camera", Component: "main", Seq: 5, Digest: device.ImageDigest(image), Size: uint64(len(image))}
	w.must("release 5", "accepted", w.auth["maker"], dag.KindRelease, rel.Encode(), -1)
	w.must("the install report of firmware 5", "accepted", old, dag.KindInstall, device.InstallPayload(w.last, rel.Digest, device.InstallOK), -1)
	w.must("firmware 5 after its install report", "accepted", old, dag.KindData, []byte("frame"), -1)

	raised := *src
	raised.Version = 2
	raised.Expr = strings.Replace(src.Expr, "device.firmware >= 4", "device.firmware >= 6", 1)
	if raised.Expr == src.Expr {
		t.Fatal("the floor is not where the test expects it")
	}
	w.setPolicy("accepted", "maker", device.PolicyPayload{Scope: device.ScopeClass, Class: "camera", Source: &raised})
	w.must("firmware 5 under floor 6", denied, cur, dag.KindData, []byte("frame"), -1)
	w.setPolicy(device.CodePolicyOutdated, "maker", device.PolicyPayload{Scope: device.ScopeClass, Class: "camera", Source: src})
	w.must("firmware 5 after the replay was refused", denied, cur, dag.KindData, []byte("frame"), -1)
}
