package device

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device/policy"
)

// A checkpoint (issue 14, item 5) is the registry's whole state in one
// canonical byte string, so that a node restarts from it instead of
// replaying its log through Apply: Restore of Checkpoint gives a registry
// that answers every query and judges every later transaction as the one
// that replayed, and whose Checkpoint is byte-identical.
//
// Format, version 1 (uv: unsigned varint, minimal; sv: signed zigzag
// varint; id, key, hash: 32 bytes; bytes: uv length then the bytes; a
// list: uv count then its items):
//
//	version u8 (1) | genesis ID id
//	releases: list of release, by line key (class "/" component), then
//	    manifest sequence number, then ID:
//	    id | named uv | seq uv | manifest bytes (Release.Encode) |
//	    approvals list of action
//	devices: list of device, in tag order (tag = position + 1):
//	    id | registration bytes (Registration.Encode: key, next-key
//	    commitment, class, attributes) | regNamed uv | regSeq uv |
//	    flags u8 (bit 0: started) | first id | head id | headSeq uv |
//	    count uv | actions list of action | notices list of action |
//	    rotations list of (id | seq uv | key | has-next u8 [hash]) |
//	    forks list of (seq uv | ids list of id) |
//	    policies list of policy | installs list of
//	    (id | seq uv | release id | result u8)
//	network policies: list of policy
//	class policies: list of (class bytes | list of policy), by class
//	policyCount uv
//	rotatedTo: list of (key | device tag uv), by key
//	retired: list of (named uv | id | seq uv), by named
//	unnoticed: list of (device tag uv | a id | b id), in queue order
//
// where action is id | kind u8 | named uv | seq uv | to sv | life u8 |
// owner sv, and policy is id | named uv | seq uv | payload bytes
// (PolicyPayload.Encode).
//
// What is rebuilt rather than stored, being exactly derivable: byID and
// releaseByID (the devices' and releases' IDs), byKey and moreByKey
// (each registration key's devices in tag order: the first in byKey, the
// rest in moreByKey, as applyRegister files them), classes (the device
// classes and class-policy scopes, the only names intern sees), the
// compiled policy programs and their compile errors (policy.Compile of
// the stored source under the genesis limits, as applyPolicy does), and
// the devices' shared empty history. rotatedTo is stored: when two
// devices rotate to one key the last applied wins, which is attach order.
// The genesis, the permissioned flag and the limits come from New; the
// checkpoint names the genesis by ID and Restore refuses another.
const checkpointVersion = 1

// ErrCheckpoint is wrapped by every error of Restore.
var ErrCheckpoint = errors.New("device: malformed checkpoint")

// CheckpointError is a checkpoint Restore refused: what is wrong and at
// which byte.
type CheckpointError struct {
	Offset int
	Reason string
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("%v: %s (at byte %d)", ErrCheckpoint, e.Reason, e.Offset)
}

// Unwrap returns ErrCheckpoint.
func (e *CheckpointError) Unwrap() error { return ErrCheckpoint }

// Checkpoint encodes the registry's state (the format above). The ledger
// calls it with its write lock held, so no Apply runs meanwhile.
func (r *Registry) Checkpoint() ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	w := &cpWriter{b: make([]byte, 0, 64+len(r.devices)*160)}
	w.b = append(w.b, checkpointVersion)
	gid := r.genesis.ID()
	w.id(gid)

	// Releases, by line key then their order in the line.
	n := 0
	for _, line := range r.releases {
		n += len(line)
	}
	w.uv(uint64(n))
	for _, k := range slices.Sorted(maps.Keys(r.releases)) {
		for _, rel := range r.releases[k] {
			w.id(rel.id)
			w.uv(uint64(rel.named))
			w.uv(rel.seq)
			w.bytes(rel.manifest.Encode())
			w.actions(rel.approvals)
		}
	}

	w.uv(uint64(len(r.devices)))
	for _, d := range r.devices {
		w.id(d.id)
		reg := Registration{Key: d.key, NextKeyHash: d.next, Class: d.class, Attributes: d.attrs}
		w.bytes(reg.Encode())
		w.uv(uint64(d.regNamed))
		w.uv(d.regSeq)
		var flags byte
		if d.started {
			flags |= 1
		}
		w.b = append(w.b, flags)
		w.id(d.first)
		w.id(d.head)
		w.uv(d.headSeq)
		w.uv(d.count)
		w.actions(d.actions)
		w.actions(d.notices)
		w.uv(uint64(len(d.rotations)))
		for _, rot := range d.rotations {
			w.id(rot.id)
			w.uv(rot.seq)
			w.b = append(w.b, rot.key[:]...)
			w.hashPtr(rot.next)
		}
		w.uv(uint64(len(d.forks)))
		for _, f := range d.forks {
			w.uv(f.seq)
			w.uv(uint64(len(f.ids)))
			for _, id := range f.ids {
				w.id(id)
			}
		}
		w.policies(d.policies)
		w.uv(uint64(len(d.installs)))
		for _, in := range d.installs {
			w.id(in.id)
			w.uv(in.seq)
			w.id(in.release.id)
			w.b = append(w.b, byte(in.result))
		}
	}

	w.policies(r.netPolicies)
	w.uv(uint64(len(r.classPolicies)))
	for _, c := range slices.Sorted(maps.Keys(r.classPolicies)) {
		w.bytes([]byte(c))
		w.policies(r.classPolicies[c])
	}
	w.uv(uint64(r.policyCount))

	keys := slices.SortedFunc(maps.Keys(r.rotatedTo), func(a, b dag.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	w.uv(uint64(len(keys)))
	for _, k := range keys {
		w.b = append(w.b, k[:]...)
		w.uv(uint64(r.rotatedTo[k].tag))
	}

	w.uv(uint64(len(r.retired)))
	for _, named := range slices.Sorted(maps.Keys(r.retired)) {
		ret := r.retired[named]
		w.uv(uint64(named))
		w.id(ret.id)
		w.uv(ret.seq)
	}

	w.uv(uint64(len(r.unnoticed)))
	for _, e := range r.unnoticed {
		d := r.byID[e.Device]
		if d == nil {
			return nil, fmt.Errorf("device: checkpoint: an equivocation names unknown device %s", e.Device)
		}
		w.uv(uint64(d.tag))
		w.id(e.A)
		w.id(e.B)
	}
	return w.b, nil
}

type cpWriter struct{ b []byte }

func (w *cpWriter) uv(v uint64)  { w.b = binary.AppendUvarint(w.b, v) }
func (w *cpWriter) sv(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *cpWriter) id(id dag.ID) { w.b = append(w.b, id[:]...) }

func (w *cpWriter) bytes(p []byte) {
	w.uv(uint64(len(p)))
	w.b = append(w.b, p...)
}

func (w *cpWriter) hashPtr(h *[32]byte) {
	if h == nil {
		w.b = append(w.b, 0)
		return
	}
	w.b = append(w.b, 1)
	w.b = append(w.b, h[:]...)
}

func (w *cpWriter) actions(as []action) {
	w.uv(uint64(len(as)))
	for _, a := range as {
		w.id(a.id)
		w.b = append(w.b, byte(a.kind))
		w.uv(uint64(a.named))
		w.uv(a.seq)
		w.sv(int64(a.to))
		w.b = append(w.b, byte(a.life))
		w.sv(int64(a.owner))
	}
}

func (w *cpWriter) policies(s policySet) {
	w.uv(uint64(len(s)))
	for _, p := range s {
		w.id(p.id)
		w.uv(uint64(p.named))
		w.uv(p.seq)
		w.bytes(p.payload.Encode())
	}
}

// Restore replaces the registry's state with the checkpoint's. The
// registry must come from New with the genesis the checkpoint was taken
// under. A malformed checkpoint (truncated, trailing bytes, another
// version or genesis, counts beyond its length, references to unknown
// devices or releases, an order or index no registry holds) returns a
// *CheckpointError, which wraps ErrCheckpoint, and leaves the registry as
// it was: everything is decoded into new structures, swapped in at the
// end.
func (r *Registry) Restore(b []byte) error {
	s, err := r.decodeCheckpoint(b)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.devices, r.byID, r.byKey, r.moreByKey, r.rotatedTo = s.devices, s.byID, s.byKey, s.moreByKey, s.rotatedTo
	r.classes, r.netPolicies, r.classPolicies, r.policyCount = s.classes, s.netPolicies, s.classPolicies, s.policyCount
	r.releases, r.releaseByID, r.retired, r.unnoticed = s.releases, s.releaseByID, s.retired, s.unnoticed
	return nil
}

// restored is the state Restore decodes before swapping it in.
type restored struct {
	devices       []*device
	byID          map[dag.ID]*device
	byKey         map[dag.PublicKey]*device
	moreByKey     map[dag.PublicKey][]*device
	rotatedTo     map[dag.PublicKey]*device
	classes       map[string]string
	netPolicies   policySet
	classPolicies map[string]policySet
	policyCount   int
	releases      map[string]releaseLine
	releaseByID   map[dag.ID]*release
	retired       map[int]retirement
	unnoticed     []Equivocation
}

// cpReader reads a checkpoint front to back; the first failure sticks.
type cpReader struct {
	b   []byte
	off int
	err error
	// named and authorities bound the genesis indexes a checkpoint may name.
	named, authorities int
}

func (d *cpReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &CheckpointError{Offset: d.off, Reason: fmt.Sprintf(format, args...)}
	}
}

func (d *cpReader) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("truncated: %d bytes wanted, %d left", n, len(d.b)-d.off)
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *cpReader) u8() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *cpReader) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	switch {
	case n == 0:
		d.fail("truncated varint")
		return 0
	case n < 0 || n != uvarintLen(v):
		d.fail("malformed or non-minimal varint")
		return 0
	}
	d.off += n
	return v
}

func uvarintLen(v uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], v)
}

func (d *cpReader) sv() int64 {
	u := d.uv()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.AppendVarint
}

// count reads a list's length: each item takes at least min bytes, so a
// count the rest of the input cannot hold is refused before anything is
// allocated.
func (d *cpReader) count(min int) int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)-d.off)/uint64(min) {
		d.fail("a count of %d items does not fit the %d bytes left", n, len(d.b)-d.off)
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// index reads a genesis index below limit.
func (d *cpReader) index(limit int, what string) int {
	v := d.uv()
	if d.err == nil && v >= uint64(limit) {
		d.fail("%s index %d out of range (%d)", what, v, limit)
	}
	if d.err != nil {
		return 0
	}
	return int(v)
}

func (d *cpReader) id() (id dag.ID) {
	copy(id[:], d.take(dag.IDSize))
	return id
}

func (d *cpReader) key() (k dag.PublicKey) {
	copy(k[:], d.take(dag.PublicKeySize))
	return k
}

func (d *cpReader) bytes() []byte {
	return d.take(d.count(1))
}

func (d *cpReader) hashPtr() *[32]byte {
	switch d.u8() {
	case 0:
		return nil
	case 1:
		var h [32]byte
		copy(h[:], d.take(32))
		return &h
	}
	d.fail("a presence flag is 0 or 1")
	return nil
}

// minAction is the fewest bytes an encoded action takes.
const minAction = dag.IDSize + 6

// actions reads a list of actions; devActions are a device's lifecycle
// actions (authority issuers, a valid state), the rest notices and
// approvals (any genesis issuer).
func (d *cpReader) actions(devActions bool) []action {
	n := d.count(minAction)
	if n == 0 {
		return nil
	}
	out := make([]action, 0, n)
	for range n {
		a := action{id: d.id(), kind: dag.Kind(d.u8())}
		limit := d.named
		if devActions {
			limit = d.authorities
		}
		a.named = d.index(limit, "issuer")
		a.seq = d.uv()
		to, life, owner := d.sv(), Lifecycle(d.u8()), d.sv()
		if d.err != nil {
			return nil
		}
		if devActions {
			switch {
			case a.kind != dag.KindSuspend && a.kind != dag.KindResume && a.kind != dag.KindRevoke && a.kind != dag.KindTransfer:
				d.fail("a device action of kind %s", a.kind)
			case a.kind == dag.KindTransfer && (to < 0 || to >= int64(d.authorities)):
				d.fail("a transfer to authority %d", to)
			case a.kind != dag.KindTransfer && to != -1:
				d.fail("a %s with a receiver", a.kind)
			case life > Revoked:
				d.fail("lifecycle %d", life)
			case owner < 0 || owner >= int64(d.authorities):
				d.fail("owner %d out of range", owner)
			}
		} else if to != 0 || life != 0 || owner != 0 {
			d.fail("a notice or approval with a receiver, state or owner")
		}
		a.to, a.life, a.owner = int(to), life, int(owner)
		out = append(out, a)
	}
	return out
}

// minPolicy is the fewest bytes an encoded policy takes.
const minPolicy = dag.IDSize + 3

// policies reads a policy set of one scope target (want: its scope, and
// its class or device) and compiles each as applyPolicy does.
func (d *cpReader) policies(lim policy.Limits, scope Scope, class string, dev dag.ID) policySet {
	n := d.count(minPolicy)
	if n == 0 {
		return nil
	}
	set := make(policySet, 0, n)
	for range n {
		in := &installed{id: d.id(), named: d.index(d.authorities, "policy issuer"), seq: d.uv()}
		raw := d.bytes()
		if d.err != nil {
			return nil
		}
		p, err := DecodePolicy(raw)
		switch {
		case err != nil:
			d.fail("policy %s: %v", in.id, err)
		case p.Scope != scope || p.Scope == ScopeClass && p.Class != class || p.Scope == ScopeDevice && p.Device != dev:
			d.fail("policy %s is filed under another scope", in.id)
		case len(set) > 0 && !policyLess(set[len(set)-1], &installed{id: in.id, payload: p}):
			d.fail("policy %s is out of order", in.id)
		}
		if d.err != nil {
			return nil
		}
		in.payload = p
		in.prog, in.err = policy.Compile(p.Source, lim)
		set = append(set, in)
	}
	return set
}

// policyLess is a policy set's order: version, then ID.
func policyLess(a, b *installed) bool {
	if a.version() != b.version() {
		return a.version() < b.version()
	}
	return a.id.Compare(b.id) < 0
}

func (r *Registry) decodeCheckpoint(b []byte) (*restored, error) {
	d := &cpReader{b: b, named: len(r.genesis.Authorities) + len(r.genesis.Validators), authorities: r.authorities}
	if v := d.u8(); d.err == nil && v != checkpointVersion {
		d.fail("version %d, not %d", v, checkpointVersion)
	}
	if gid := d.id(); d.err == nil && gid != r.genesis.ID() {
		d.fail("taken under genesis %s, not this registry's %s", gid, r.genesis.ID())
	}
	s := &restored{
		byID:          make(map[dag.ID]*device),
		byKey:         make(map[dag.PublicKey]*device),
		moreByKey:     make(map[dag.PublicKey][]*device),
		rotatedTo:     make(map[dag.PublicKey]*device),
		classes:       make(map[string]string),
		classPolicies: make(map[string]policySet),
		releases:      make(map[string]releaseLine),
		releaseByID:   make(map[dag.ID]*release),
		retired:       make(map[int]retirement),
	}
	intern := func(c string) string {
		if v, ok := s.classes[c]; ok {
			return v
		}
		s.classes[c] = c
		return c
	}

	var prev *release
	prevKey := ""
	for range d.count(dag.IDSize + 3) {
		rel := &release{id: d.id(), named: d.index(d.authorities, "release issuer"), seq: d.uv()}
		raw := d.bytes()
		if d.err != nil {
			break
		}
		m, err := DecodeRelease(raw)
		if err != nil {
			d.fail("release %s: %v", rel.id, err)
			break
		}
		rel.manifest = m
		key := lineKey(m.Class, m.Component)
		if prev != nil && (key < prevKey || key == prevKey && !releaseLess(prev, rel)) {
			d.fail("release %s is out of order", rel.id)
		}
		if s.releaseByID[rel.id] != nil {
			d.fail("release %s twice", rel.id)
		}
		rel.approvals = d.actions(false)
		if d.err != nil {
			break
		}
		s.releases[key] = append(s.releases[key], rel)
		s.releaseByID[rel.id] = rel
		prev, prevKey = rel, key
	}

	const minDevice = 3*dag.IDSize + 40
	nDevices := d.count(minDevice)
	if nDevices > 0 {
		s.devices = make([]*device, 0, nDevices)
	}
	for range nDevices {
		dv := d.device(s, r.limits, intern)
		if d.err != nil {
			break
		}
		s.devices = append(s.devices, dv)
	}

	s.netPolicies = d.policies(r.limits, ScopeNetwork, "", dag.ID{})
	prevClass := ""
	for i := range d.count(2) {
		class := string(d.bytes())
		if d.err == nil && i > 0 && class <= prevClass {
			d.fail("class %q is out of order", class)
		}
		set := d.policies(r.limits, ScopeClass, class, dag.ID{})
		if d.err == nil && len(set) == 0 {
			d.fail("class %q without policies", class)
		}
		if d.err != nil {
			break
		}
		s.classPolicies[intern(class)] = set
		prevClass = class
	}
	stored := len(s.netPolicies)
	for _, set := range s.classPolicies {
		stored += len(set)
	}
	for _, dv := range s.devices {
		stored += len(dv.policies)
	}
	if pc := d.uv(); d.err == nil && (pc < uint64(stored) || pc > uint64(len(b))) {
		d.fail("policy count %d with %d policies", pc, stored)
	} else {
		s.policyCount = int(pc)
	}

	deviceAt := func(what string) *device {
		tag := d.uv()
		if d.err == nil && (tag == 0 || tag > uint64(len(s.devices))) {
			d.fail("%s names tag %d of %d devices", what, tag, len(s.devices))
		}
		if d.err != nil {
			return nil
		}
		return s.devices[tag-1]
	}
	var prevKey32 *dag.PublicKey
	for range d.count(dag.PublicKeySize + 1) {
		k := d.key()
		if d.err == nil && prevKey32 != nil && bytes.Compare(prevKey32[:], k[:]) >= 0 {
			d.fail("rotated key %s is out of order", k)
		}
		dv := deviceAt("a rotated key")
		if d.err != nil {
			break
		}
		s.rotatedTo[k] = dv
		prevKey32 = &k
	}

	prevNamed := -1
	for range d.count(dag.IDSize + 2) {
		named := d.index(d.named, "retired issuer")
		ret := retirement{id: d.id(), seq: d.uv()}
		if d.err == nil && named <= prevNamed {
			d.fail("retirement of %d is out of order", named)
		}
		if d.err != nil {
			break
		}
		s.retired[named] = ret
		prevNamed = named
	}

	for range d.count(2*dag.IDSize + 1) {
		dv := deviceAt("an equivocation")
		a, bID := d.id(), d.id()
		if d.err != nil {
			break
		}
		s.unnoticed = append(s.unnoticed, Equivocation{Device: dv.id, A: a, B: bID})
	}

	if d.err == nil && d.off != len(b) {
		d.fail("%d trailing bytes", len(b)-d.off)
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

func releaseLess(a, b *release) bool {
	if a.manifest.Seq != b.manifest.Seq {
		return a.manifest.Seq < b.manifest.Seq
	}
	return a.id.Compare(b.id) < 0
}

// device reads one device, the next tag's, into s.
func (d *cpReader) device(s *restored, lim policy.Limits, intern func(string) string) *device {
	dv := &device{id: d.id(), tag: uint32(len(s.devices) + 1), history: noHistory}
	raw := d.bytes()
	if d.err != nil {
		return nil
	}
	reg, err := DecodeRegistration(raw)
	if err != nil {
		d.fail("device %s: %v", dv.id, err)
		return nil
	}
	if s.byID[dv.id] != nil {
		d.fail("device %s twice", dv.id)
		return nil
	}
	dv.key, dv.next, dv.class, dv.attrs = reg.Key, reg.NextKeyHash, intern(reg.Class), reg.Attributes
	dv.regNamed = d.index(d.authorities, "registering authority")
	dv.regSeq = d.uv()
	switch flags := d.u8(); {
	case flags&^1 != 0:
		d.fail("unknown device flags %#x", flags)
	default:
		dv.started = flags&1 == 1
	}
	dv.first, dv.head = d.id(), d.id()
	dv.headSeq, dv.count = d.uv(), d.uv()
	h := &history{}
	h.actions = d.actions(true)
	h.notices = d.actions(false)
	if n := d.count(dag.IDSize + dag.PublicKeySize + 2); n > 0 {
		h.rotations = make([]rotation, 0, n)
		for range n {
			rot := rotation{id: d.id(), seq: d.uv(), key: d.key(), next: d.hashPtr()}
			if d.err == nil && len(h.rotations) > 0 {
				if o := h.rotations[len(h.rotations)-1]; o.seq > rot.seq || o.seq == rot.seq && o.id.Compare(rot.id) >= 0 {
					d.fail("rotation %s is out of order", rot.id)
				}
			}
			if d.err != nil {
				return nil
			}
			h.rotations = append(h.rotations, rot)
		}
	}
	if n := d.count(2 + 2*dag.IDSize); n > 0 {
		h.forks = make([]fork, 0, n)
		for range n {
			f := fork{seq: d.uv()}
			m := d.count(dag.IDSize)
			if d.err == nil && m < 2 {
				d.fail("a fork of %d transactions", m)
			}
			if d.err == nil && len(h.forks) > 0 && h.forks[len(h.forks)-1].seq >= f.seq {
				d.fail("fork at %d is out of order", f.seq)
			}
			if d.err != nil {
				return nil
			}
			f.ids = make([]dag.ID, 0, m)
			for range m {
				id := d.id()
				if d.err == nil && len(f.ids) > 0 && f.ids[len(f.ids)-1].Compare(id) >= 0 {
					d.fail("fork transaction %s is out of order", id)
				}
				f.ids = append(f.ids, id)
			}
			h.forks = append(h.forks, f)
		}
	}
	h.policies = d.policies(lim, ScopeDevice, "", dv.id)
	if n := d.count(2*dag.IDSize + 2); n > 0 {
		h.installs = make([]install, 0, n)
		for range n {
			in := install{id: d.id(), seq: d.uv()}
			relID := d.id()
			res := d.u8()
			if d.err != nil {
				return nil
			}
			in.release = s.releaseByID[relID]
			switch {
			case in.release == nil:
				d.fail("an install report of unknown release %s", relID)
			case res > byte(InstallFailed):
				d.fail("install result %d", res)
			}
			in.result = InstallResult(res)
			h.installs = append(h.installs, in)
		}
	}
	if d.err != nil {
		return nil
	}
	if len(h.actions)+len(h.notices)+len(h.rotations)+len(h.forks)+len(h.policies)+len(h.installs) > 0 {
		dv.history = h
	}
	s.byID[dv.id] = dv
	if s.byKey[dv.key] == nil {
		s.byKey[dv.key] = dv
	} else {
		s.moreByKey[dv.key] = append(s.moreByKey[dv.key], dv)
	}
	return dv
}
