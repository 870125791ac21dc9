package device_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
)

// TestCheckpointScripts runs every scenario of testdata with the
// registry replaced, after each command, by one restored from its
// checkpoint: the ledger goes on with the restored registry as its rule
// layer, so the scripts' golden output (verdicts, rejection codes, device
// states, policies, firmware, digests) checks that a restored registry
// behaves as the one that applied the transactions. After each command
// the two also answer every query alike, are equal field by field, and
// the restored one's checkpoint is byte-identical.
func TestCheckpointScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &script{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out := s.run(t, d)
			if s.w != nil {
				s.w.swapRestored(t, d.Pos, s.w.knownDevices(), s.w.knownKeys())
			}
			return out
		})
	})
}

// swapRestored checkpoints w's registry, restores it into a fresh one,
// compares the two, and puts the restored one in the ledger's place.
func (w *world) swapRestored(t testing.TB, pos string, ids []dag.ID, keys []dag.PublicKey) {
	t.Helper()
	cp, err := w.registry.Checkpoint()
	if err != nil {
		t.Fatalf("%s: checkpoint: %v", pos, err)
	}
	restored := device.New(*w.net.Genesis)
	if err := restored.Restore(cp); err != nil {
		t.Fatalf("%s: restore: %v", pos, err)
	}
	compareRegistries(t, pos, w.registry, restored, w.ledger, ids, keys)
	again, err := restored.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, cp) {
		t.Fatalf("%s: the restored registry's checkpoint differs (%d bytes, the original %d)", pos, len(again), len(cp))
	}
	// TakeEquivocations empties its queue: ask the original and a second
	// restored copy, and leave the restored one that goes on untouched.
	second := device.New(*w.net.Genesis)
	if err := second.Restore(cp); err != nil {
		t.Fatal(err)
	}
	for _, v := range w.net.Genesis.Validators {
		if d := cmp.Diff(w.registry.TakeEquivocations(v.PublicKey), second.TakeEquivocations(v.PublicKey)); d != "" {
			t.Fatalf("%s: TakeEquivocations differ (-original +restored):\n%s", pos, d)
		}
	}
	w.registry = restored
	w.layer.r.Store(restored)
}

// knownDevices is every transaction the script named (devices among
// them) and every device registered.
func (w *world) knownDevices() []dag.ID {
	var ids []dag.ID
	for _, id := range w.devices {
		ids = append(ids, id)
	}
	for _, id := range w.txs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, dag.ID.Compare)
	return slices.Compact(ids)
}

// knownKeys is every device and authority key the script used.
func (w *world) knownKeys() []dag.PublicKey {
	var keys []dag.PublicKey
	for label := range w.chains {
		keys = append(keys, devicePublicKey(label))
	}
	for _, label := range []string{"k1", "k2", "k3", "k4", "thief"} {
		keys = append(keys, devicePublicKey(label))
	}
	for _, a := range w.net.Genesis.Authorities {
		keys = append(keys, a.PublicKey)
	}
	return keys
}

// compareRegistries asks a and b every query the package offers, about
// the devices ids and keys and what those lead to (their keys, classes,
// releases), and compares the answers; then compares their state field
// by field (device.StateDiff).
func compareRegistries(t testing.TB, pos string, a, b *device.Registry, l *dag.Ledger, ids []dag.ID, keys []dag.PublicKey) {
	t.Helper()
	same := func(what string, x, y any) {
		t.Helper()
		if d := cmp.Diff(x, y); d != "" {
			t.Fatalf("%s: %s differs after restore (-original +restored):\n%s", pos, what, d)
		}
	}
	same("Digest", a.Digest(), b.Digest())
	same("Len", a.Len(), b.Len())
	same("Authorities", a.Authorities(), b.Authorities())
	same("Permissioned", a.Permissioned(), b.Permissioned())
	// Horizons: nothing, the newest transaction's, and everything.
	horizons := [][]uint64{nil, slices.Repeat([]uint64{^uint64(0)}, 64)}
	for _, tip := range l.Tips(nil) {
		if h, ok := l.HorizonOf(tip); ok {
			horizons = append(horizons, h)
		}
	}
	classes := map[string]bool{}
	for _, auth := range a.Authorities() {
		for _, c := range auth.Classes {
			classes[c] = true
		}
	}
	keys = slices.Clone(keys)
	for _, id := range ids {
		da, okA := a.Device(id)
		db, okB := b.Device(id)
		same("Device "+id.Short(), []any{da, okA}, []any{db, okB})
		if okA {
			classes[da.Class] = true
			for _, k := range da.Keys {
				keys = append(keys, k.Key)
			}
		}
		pa, okA := a.PoliciesFor(id)
		pb, okB := b.PoliciesFor(id)
		same("PoliciesFor "+id.Short(), []any{pa, okA}, []any{pb, okB})
		for i, h := range horizons {
			same(fmt.Sprintf("JudgedBy %s at horizon %d", id.Short(), i), a.JudgedBy(id, h), b.JudgedBy(id, h))
		}
		for _, q := range []device.HistoryQuery{{}, {FromSeq: 1, Limit: 2}} {
			ia, na, okA := a.History(id, q, l)
			ib, nb, okB := b.History(id, q, l)
			same("History "+id.Short(), []any{ia, na, okA}, []any{ib, nb, okB})
		}
	}
	for _, k := range keys {
		da, okA := a.DeviceByKey(k)
		db, okB := b.DeviceByKey(k)
		same("DeviceByKey "+k.String()[:8], []any{da, okA}, []any{db, okB})
		ra, okA := a.CurrentRateRule(k)
		rb, okB := b.CurrentRateRule(k)
		same("CurrentRateRule", []any{ra, okA}, []any{rb, okB})
		wa, okA := a.NodeWork(k)
		wb, okB := b.NodeWork(k)
		same("NodeWork", []any{wa, okA}, []any{wb, okB})
		ca, okA := a.LatestControl(k)
		cb, okB := b.LatestControl(k)
		same("LatestControl", []any{ca, okA}, []any{cb, okB})
	}
	scope := func(s device.Scope) *device.Scope { return &s }
	for _, q := range []device.PolicyQuery{{}, {InForce: true}, {Scope: scope(device.ScopeNetwork)}, {Scope: scope(device.ScopeClass)}, {Scope: scope(device.ScopeDevice)}} {
		same(fmt.Sprintf("Policies %+v", q), a.Policies(q), b.Policies(q))
	}
	for i, h := range horizons {
		same(fmt.Sprintf("ActiveLines at horizon %d", i), a.ActiveLines(h), b.ActiveLines(h))
	}
	for c := range classes {
		for i, h := range horizons {
			fa, fb := a.Firmware(c, h), b.Firmware(c, h)
			same(fmt.Sprintf("Firmware %s at horizon %d", c, i), fa, fb)
			for _, rel := range fa.Releases {
				sa, okA := a.ImageSize(rel.Digest)
				sb, okB := b.ImageSize(rel.Digest)
				same("ImageSize", []any{sa, okA}, []any{sb, okB})
			}
		}
	}
	if d := device.StateDiff(a, b); d != "" {
		t.Fatalf("%s: the restored registry's state differs (-original +restored):\n%s", pos, d)
	}
}

// openLedger is a ledger on g with rules, its clock an hour past the
// genesis time as in the shuffle test.
func openLedger(t testing.TB, g *dag.Genesis, rules dag.RuleLayer) *dag.Ledger {
	t.Helper()
	l, err := dag.Open(dag.Config{Genesis: g, Rules: rules,
		Now: func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCheckpointThenContinue: a random scenario (registrations, data on
// stale parents, lifecycle actions, transfers, rotations, clones and
// quarantine notices) is delivered to two ledgers in the same order.
// Ledger A keeps the registry that applied its first half. Ledger B's
// rule layer is swapped after the first half for a registry restored
// from A's checkpoint, the way a node that loads its checkpoint at open
// goes on (the ledger keeps its own state; only the rule layer's comes
// from the checkpoint; B's tags are A's, attach order being the same).
// The second half must get the same verdict, codes, conflicts and rule-
// outs on both, and the registries the same state and checkpoint.
func TestCheckpointThenContinue(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 14))
			src := newWorld(t, []string{"a1:sensor", "a2:sensor"}, seed%2 == 0)
			txs := randomScenario(t, src, rng, 300)
			g := src.net.Genesis
			ra := device.New(*g)
			la := openLedger(t, g, ra)
			replayed := device.New(*g)
			sw := &layerSwitch{}
			sw.r.Store(replayed)
			lb := openLedger(t, g, sw)
			half := len(txs) / 2
			attach := func(l *dag.Ledger, tx *dag.Transaction) dag.Result {
				res, err := l.AttachVerified([]*dag.Transaction{tx}).Wait()
				if err != nil {
					t.Fatal(err)
				}
				return res[0]
			}
			for _, tx := range txs[:half] {
				attach(la, tx)
				attach(lb, tx)
			}
			cp, err := ra.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			// The same transactions in the same order: the same state, so
			// the same bytes.
			if cpb, _ := replayed.Checkpoint(); !bytes.Equal(cp, cpb) {
				t.Fatal("two registries that applied the same transactions in one order have different checkpoints")
			}
			rb := device.New(*g)
			if err := rb.Restore(cp); err != nil {
				t.Fatal(err)
			}
			sw.r.Store(rb)
			var ids []dag.ID
			var keys []dag.PublicKey
			for _, tx := range txs {
				ids = append(ids, tx.ID())
				keys = append(keys, tx.Issuer)
			}
			compareRegistries(t, "after the first half", ra, rb, la, ids, keys)
			differ := 0
			for i, tx := range txs[half:] {
				a, b := attach(la, tx), attach(lb, tx)
				if a.Status != b.Status || dag.Code(a.Err) != dag.Code(b.Err) || a.Conflicting != b.Conflicting {
					t.Fatalf("transaction %d of the second half (%s): %v %q conflicting=%v with the original registry, %v %q conflicting=%v with the restored one",
						i, tx.Kind, a.Status, dag.Code(a.Err), a.Conflicting, b.Status, dag.Code(b.Err), b.Conflicting)
				}
				if a.Status != dag.StatusAttached {
					differ++
				}
			}
			for _, tx := range txs {
				ia, okA := la.Info(tx.ID())
				ib, okB := lb.Info(tx.ID())
				if okA != okB || ia.RuledOut != ib.RuledOut || ia.Conflicting != ib.Conflicting {
					t.Fatalf("%s: attached %v ruled out %v conflicting %v with the original, %v %v %v with the restored registry",
						tx.ID().Short(), okA, ia.RuledOut, ia.Conflicting, okB, ib.RuledOut, ib.Conflicting)
				}
			}
			compareRegistries(t, "after the second half", ra, rb, la, ids, keys)
			ca, _ := ra.Checkpoint()
			cb, _ := rb.Checkpoint()
			if !bytes.Equal(ca, cb) {
				t.Fatal("the checkpoints differ after the second half")
			}
			t.Logf("%d transactions, %d in the second half, %d of them not attached; %d devices; checkpoint %d bytes at half, %d at the end",
				len(txs), len(txs)-half, differ, ra.Len(), len(cp), len(ca))
		})
	}
}

// scriptCheckpoints runs every scenario of testdata and testdata/checkpoint
// (their golden output checked as in TestScripts) and returns each one's genesis and final
// checkpoint, by file name.
func scriptCheckpoints(t testing.TB) (names []string, geneses []dag.Genesis, cps [][]byte) {
	paths, err := filepath.Glob("testdata/*.txt")
	more, _ := filepath.Glob("testdata/checkpoint/*.txt")
	paths = append(paths, more...)
	if err != nil || len(more) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range paths {
		s := &script{}
		datadriven.RunTestAny(t, path, s.run)
		if s.w == nil {
			continue
		}
		cp, err := s.w.registry.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(path))
		geneses = append(geneses, *s.w.net.Genesis)
		cps = append(cps, cp)
	}
	return names, geneses, cps
}

// TestRestoreErrors: every malformed checkpoint is refused with a
// *CheckpointError wrapping ErrCheckpoint, without a panic, and leaves
// the registry it was given to as it was (here: holding another state).
func TestRestoreErrors(t *testing.T) {
	names, geneses, cps := scriptCheckpoints(t)
	check := func(t *testing.T, g dag.Genesis, prior, b []byte, what string) {
		t.Helper()
		r := device.New(g)
		if err := r.Restore(prior); err != nil {
			t.Fatal(err)
		}
		err := r.Restore(b)
		var ce *device.CheckpointError
		if !errors.Is(err, device.ErrCheckpoint) || !errors.As(err, &ce) {
			t.Fatalf("%s: Restore returned %v, want a *CheckpointError", what, err)
		}
		if after, _ := r.Checkpoint(); !bytes.Equal(after, prior) {
			t.Fatalf("%s: a refused Restore changed the registry", what)
		}
	}
	for i, cp := range cps {
		t.Run(names[i], func(t *testing.T) {
			g := geneses[i]
			empty, _ := device.New(g).Checkpoint()
			prior := cp // a refused restore of a mutated cp must leave cp's state
			for n := range len(cp) {
				check(t, g, prior, cp[:n], fmt.Sprintf("truncated to %d of %d bytes", n, len(cp)))
			}
			flip := func(at int) []byte {
				b := slices.Clone(cp)
				b[at] ^= 0x01
				return b
			}
			cases := []struct {
				name string
				b    []byte
			}{
				{"empty", nil},
				{"version 2", flip(0)},
				{"version 0", append([]byte{0}, cp[1:]...)},
				{"another genesis", flip(1 + 5)},
				{"a trailing byte", append(slices.Clone(cp), 0)},
				{"trailing bytes", append(slices.Clone(cp), cp...)},
				// After the version and genesis ID: the release count.
				{"a count beyond the input", append(slices.Clone(cp[:33]), 0xff, 0xff, 0xff, 0xff, 0x0f)},
				{"a non-minimal varint", append(slices.Clone(cp[:33]), 0x80, 0x00)},
				{"an overlong varint", append(slices.Clone(cp[:33]), bytes.Repeat([]byte{0xff}, 11)...)},
			}
			// An empty registry's checkpoint is version | genesis | eight
			// zero counts (releases, devices, network policies, class
			// policies, policy count, rotated keys, retirements,
			// equivocations); these edit its tail.
			head := empty[:33]
			zeros := func(n int) []byte { return make([]byte, n) }
			key := bytes.Repeat([]byte{7}, 32)
			cases = append(cases, []struct {
				name string
				b    []byte
			}{
				{"a rotated key of tag 1 of no devices", slices.Concat(head, zeros(5), []byte{1}, key, []byte{1}, zeros(2))},
				{"a rotated key of tag 0", slices.Concat(head, zeros(5), []byte{1}, key, []byte{0}, zeros(2))},
				{"an equivocation of an unknown device", slices.Concat(head, zeros(7), []byte{1, 3}, zeros(64))},
				{"a retirement of a genesis index out of range", slices.Concat(head, zeros(6), []byte{1, 99}, zeros(33), zeros(1))},
				{"an empty registry with a trailing byte", slices.Concat(head, zeros(4), []byte{1}, zeros(3), []byte{0})},
			}...)
			for _, c := range cases {
				check(t, g, prior, c.b, c.name)
			}
			if !bytes.Equal(empty, slices.Concat(head, zeros(8))) {
				t.Fatalf("an empty registry's checkpoint is %x", empty)
			}
			// References: an install report of a release the checkpoint
			// does not hold (its ID's last occurrence, in the installs).
			r := device.New(g)
			if err := r.Restore(cp); err != nil {
				t.Fatal(err)
			}
			for _, class := range []string{"sensor", "meter", "cam", "gateway"} {
				for _, rel := range r.Firmware(class, nil).Releases {
					first, last := bytes.Index(cp, rel.ID[:]), bytes.LastIndex(cp, rel.ID[:])
					if last > first {
						check(t, g, prior, flip(last+3), "an install of an unknown release")
					}
				}
			}
		})
	}
}

// TestCheckpointOfEmptyRegistry: a registry with nothing applied
// restores to one, and a checkpoint restores only under its genesis.
func TestCheckpointOfEmptyRegistry(t *testing.T) {
	w := newWorld(t, []string{"a1:sensor"}, true)
	cp, err := w.registry.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if cp[0] != 1 || len(cp) != 1+32+8 {
		t.Fatalf("checkpoint %x: want version 1, the genesis ID, eight zero counts", cp)
	}
	r := device.New(*w.net.Genesis)
	if err := r.Restore(cp); err != nil {
		t.Fatal(err)
	}
	other := newWorld(t, []string{"a2:sensor"}, true)
	if err := device.New(*other.net.Genesis).Restore(cp); !errors.Is(err, device.ErrCheckpoint) {
		t.Fatalf("restore under another genesis: %v", err)
	}
}

// checkpointFleet is a permissioned network's transactions for n devices
// with some history: a class policy, a release, one registration and
// one data transaction per device, a rotation every 10th, a suspension
// every 20th, an install report every 5th, a device-scope policy every
// 50th. Built once per process (the benchmark's -count runs share it).
var checkpointFleet = sync.OnceValues(func() (*dag.Genesis, []*dag.Transaction) {
	const n = 10_000
	net, owner := benchNetwork(true, benchRules)
	at := dagtest.GenesisTime.UnixNano()
	next := func() int64 { at += 1000; return at }
	var txs []*dag.Transaction
	last := net.Genesis.ID()
	byOwner := func(kind dag.Kind, payload []byte) *dag.Transaction {
		tx := owner.Issue(kind, last, last, next(), payload)
		txs = append(txs, tx)
		last = tx.ID()
		return tx
	}
	src := func(name, expr string) *policy.Source {
		s, err := policy.ParseFile([]byte("// name: " + name + "\n// version: 1\n// reads: tx\n" + expr + "\n"))
		if err != nil {
			panic(err)
		}
		return s
	}
	byOwner(dag.KindPolicy, (&device.PolicyPayload{Scope: device.ScopeClass, Class: "sensor", Source: src("sensors", "tx.size <= 512")}).Encode())
	image := []byte("firmware 1")
	rel := byOwner(dag.KindRelease, (&device.Release{Class: "sensor", Component: "main", Seq: 1, Digest: device.ImageDigest(image), Size: uint64(len(image)), URIs: []string{"https://updates.example/1"}}).Encode())
	devs := make([]*dagtest.Issuer, n)
	regs := make([]dag.ID, n)
	for i := range devs {
		devs[i] = &dagtest.Issuer{Key: dagtest.Key(fmt.Sprintf("fleet-device-%d", i)), Rules: benchRules}
		reg := device.Registration{Key: dagtest.PublicKey(devs[i].Key), Class: "sensor",
			Attributes: []device.Attribute{{Key: "serial", Value: fmt.Sprintf("SN-%06d", i)}}}
		regs[i] = byOwner(dag.KindRegister, reg.Encode()).ID()
	}
	for i, is := range devs {
		tx := is.Issue(dag.KindData, regs[i], last, next(), []byte("reading 21.5C"))
		txs = append(txs, tx)
		if i%10 == 0 {
			txs = append(txs, is.Rotate(dagtest.Key(fmt.Sprintf("fleet-device-%d-rotated", i)), nil, tx.ID(), tx.ID(), next()))
		}
		if i%5 == 0 {
			txs = append(txs, is.Issue(dag.KindInstall, rel.ID(), txs[len(txs)-1].ID(), next(), device.InstallPayload(rel.ID(), device.ImageDigest(image), device.InstallOK)))
		}
	}
	for i := range devs {
		if i%20 == 0 {
			byOwner(dag.KindSuspend, device.LifecyclePayload(regs[i]))
		}
		if i%50 == 0 {
			byOwner(dag.KindPolicy, (&device.PolicyPayload{Scope: device.ScopeDevice, Device: regs[i], Source: src("one", "tx.size <= 256")}).Encode())
		}
	}
	return net.Genesis, txs
})

// replayFleet attaches the fleet's transactions to a new ledger with a
// new registry: a node's restart without a checkpoint.
func replayFleet(tb testing.TB, g *dag.Genesis, txs []*dag.Transaction) *device.Registry {
	reg := device.New(*g)
	l := openLedger(tb, g, reg)
	for chunk := range slices.Chunk(txs, 1024) {
		res, err := l.AttachVerified(chunk).Wait()
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range res {
			if r.Status != dag.StatusAttached {
				tb.Fatalf("fleet transaction %s: %v %v", r.ID.Short(), r.Status, r.Err)
			}
		}
	}
	return reg
}

// BenchmarkRegistryCheckpoint: a registry of 10,000 devices with some
// history (checkpointFleet): Checkpoint, Restore, and for comparison the
// replay a checkpoint saves (the same transactions attached to a new
// ledger and registry, ledger work included).
func BenchmarkRegistryCheckpoint(b *testing.B) {
	g, txs := checkpointFleet()
	reg := replayFleet(b, g, txs)
	if reg.Len() != 10_000 {
		b.Fatalf("%d devices", reg.Len())
	}
	cp, err := reg.Checkpoint()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("checkpoint", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reg.Checkpoint(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(cp))/float64(reg.Len()), "bytes/device")
		b.ReportMetric(float64(len(cp)), "bytes")
	})
	b.Run("restore", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := device.New(*g).Restore(cp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replay", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			replayFleet(b, g, txs)
		}
		b.ReportMetric(float64(len(txs)), "txs")
	})
}

// TestCheckpointFleet: the benchmark's registry round-trips too (its
// checkpoint and digest; the field-by-field comparison of the script
// tests takes seconds at this size).
func TestCheckpointFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 devices")
	}
	g, txs := checkpointFleet()
	reg := replayFleet(t, g, txs)
	cp, err := reg.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	restored := device.New(*g)
	if err := restored.Restore(cp); err != nil {
		t.Fatal(err)
	}
	again, _ := restored.Checkpoint()
	if !bytes.Equal(again, cp) || reg.Digest() != restored.Digest() {
		t.Fatal("the restored fleet's checkpoint or digest differs")
	}
	for i, tx := range txs {
		if tx.Kind != dag.KindData || i%97 != 0 {
			continue
		}
		a, okA := reg.DeviceByKey(tx.Issuer)
		b, okB := restored.DeviceByKey(tx.Issuer)
		if d := cmp.Diff([]any{a, okA}, []any{b, okB}); d != "" {
			t.Fatalf("DeviceByKey differs:\n%s", d)
		}
	}
}
