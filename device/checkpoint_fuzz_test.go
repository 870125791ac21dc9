package device_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// noChain is a ChainReader that knows nothing.
type noChain struct{}

func (noChain) Info(dag.ID) (dag.Info, bool)    { return dag.Info{}, false }
func (noChain) Successor(dag.ID) (dag.ID, bool) { return dag.ID{}, false }

// FuzzRestore: Restore never panics; what it refuses wraps ErrCheckpoint
// and leaves the registry empty; what it accepts is canonical (its
// checkpoint is the input, byte for byte) and answers every query without
// a panic. Seeds: each testdata script's final checkpoint; which picks
// the script's genesis.
func FuzzRestore(f *testing.F) {
	_, geneses, cps := scriptCheckpoints(f)
	for i, cp := range cps {
		f.Add(uint8(i), cp)
	}
	empty := make([][]byte, len(geneses))
	for i, g := range geneses {
		empty[i], _ = device.New(g).Checkpoint()
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		i := int(which) % len(geneses)
		g := geneses[i]
		r := device.New(g)
		if err := r.Restore(b); err != nil {
			var ce *device.CheckpointError
			if !errors.Is(err, device.ErrCheckpoint) || !errors.As(err, &ce) {
				t.Fatalf("Restore returned %v, not a *CheckpointError", err)
			}
			if cp, _ := r.Checkpoint(); !bytes.Equal(cp, empty[i]) {
				t.Fatal("a refused Restore changed the registry")
			}
			return
		}
		cp, err := r.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cp, b) {
			t.Fatalf("Restore accepted a checkpoint that encodes back differently (%d bytes, %d again)", len(b), len(cp))
		}
		ids, keys := device.DeviceIDs(r)
		all := slices.Repeat([]uint64{^uint64(0)}, len(g.Authorities)+len(g.Validators))
		r.Digest()
		r.Authorities()
		r.Policies(device.PolicyQuery{})
		r.ActiveLines(all)
		classes := map[string]bool{}
		for _, id := range ids {
			d, _ := r.Device(id)
			classes[d.Class] = true
			r.PoliciesFor(id)
			r.JudgedBy(id, all)
			r.History(id, device.HistoryQuery{}, noChain{})
		}
		for _, k := range keys {
			r.DeviceByKey(k)
			r.CurrentRateRule(k)
			r.NodeWork(k)
			r.LatestControl(k)
		}
		for c := range classes {
			for _, rel := range r.Firmware(c, nil).Releases {
				r.ImageSize(rel.Digest)
			}
			r.Firmware(c, all)
		}
		for _, v := range g.Validators {
			r.TakeEquivocations(v.PublicKey)
		}
	})
}
