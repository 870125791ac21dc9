package device

import (
	"fmt"
	"reflect"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device/policy"
)

// StateDiff compares two registries field by field, unexported ones
// included (the lock and the scratch input are not state; a compiled
// program is compared by its source and cost estimate, an error by its
// message), and checks in b the sharing that a deep comparison cannot
// see: each index points into devices and releaseByID, not at copies.
// Empty means equal. For checkpoint_test.go.
func StateDiff(a, b *Registry) string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	b.mu.RLock()
	defer b.mu.RUnlock()
	opts := cmp.Options{
		cmp.Exporter(func(reflect.Type) bool { return true }),
		cmpopts.IgnoreFields(Registry{}, "mu", "scratch"),
		cmp.Comparer(func(x, y *policy.Program) bool {
			if x == nil || y == nil {
				return x == y
			}
			xmin, xmax := x.EstimatedCost()
			ymin, ymax := y.EstimatedCost()
			return string(x.Source().Encode()) == string(y.Source().Encode()) && xmin == ymin && xmax == ymax
		}),
		cmp.Comparer(func(x, y error) bool {
			if x == nil || y == nil {
				return x == y
			}
			return x.Error() == y.Error()
		}),
	}
	if d := cmp.Diff(a, b, opts); d != "" {
		return d
	}
	return sharing(b)
}

func sharing(r *Registry) string {
	for i, d := range r.devices {
		switch {
		case d.tag != uint32(i+1):
			return fmt.Sprintf("device %d has tag %d", i, d.tag)
		case r.byID[d.id] != d:
			return fmt.Sprintf("byID[%s] is not device %d", d.id, i)
		case d.history == nil:
			return fmt.Sprintf("device %d has no history pointer", i)
		}
		for _, in := range d.installs {
			if r.releaseByID[in.release.id] != in.release {
				return fmt.Sprintf("device %d's install names a copy of release %s", i, in.release.id)
			}
		}
	}
	inDevices := func(d *device) bool { return d.tag > 0 && int(d.tag) <= len(r.devices) && r.devices[d.tag-1] == d }
	for k, d := range r.byKey {
		if !inDevices(d) {
			return fmt.Sprintf("byKey[%s] is a copy", k)
		}
	}
	for k, ds := range r.moreByKey {
		for _, d := range ds {
			if !inDevices(d) {
				return fmt.Sprintf("moreByKey[%s] holds a copy", k)
			}
		}
	}
	for k, d := range r.rotatedTo {
		if !inDevices(d) {
			return fmt.Sprintf("rotatedTo[%s] is a copy", k)
		}
	}
	n := 0
	for _, line := range r.releases {
		for _, rel := range line {
			n++
			if r.releaseByID[rel.id] != rel {
				return fmt.Sprintf("release %s in its line is a copy", rel.id)
			}
		}
	}
	if n != len(r.releaseByID) {
		return fmt.Sprintf("%d releases in lines, %d by ID", n, len(r.releaseByID))
	}
	return ""
}

// DeviceIDs is every device's ID and every key it was registered with or
// rotated to, for the fuzz test's queries.
func DeviceIDs(r *Registry) ([]dag.ID, []dag.PublicKey) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ids []dag.ID
	var keys []dag.PublicKey
	for _, d := range r.devices {
		ids = append(ids, d.id)
		keys = append(keys, d.key)
		for _, rot := range d.rotations {
			keys = append(keys, rot.key)
		}
	}
	for k := range r.rotatedTo {
		keys = append(keys, k)
	}
	return ids, keys
}
