package device

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device/policy"
)

// Lifecycle is a device's administrative state.
type Lifecycle uint8

// The lifecycle states.
const (
	Active Lifecycle = iota
	Suspended
	Revoked
)

func (s Lifecycle) String() string {
	switch s {
	case Suspended:
		return "suspended"
	case Revoked:
		return "revoked"
	}
	return "active"
}

// action is one control transaction on a device (a lifecycle change, a
// transfer, or a validator's quarantine notice), with the state it leaves.
type action struct {
	id    dag.ID
	kind  dag.Kind
	named int // issuer's index (dag.Genesis.Named)
	seq   uint64
	to    int // transfer: receiving authority
	life  Lifecycle
	owner int
}

// visible reports whether the action is in the past the view judges.
func (a *action) visible(past dag.PastView) bool { return past.Horizon(a.named) > a.seq }

// rotation is a key rotation in the device's chain.
type rotation struct {
	id   dag.ID
	seq  uint64
	key  dag.PublicKey
	next *[32]byte
}

// fork is a set of device transactions with one sequence number.
type fork struct {
	seq uint64
	ids []dag.ID // ascending
}

// history is a device's control history, key rotations and forks.
type history struct {
	actions   []action // lifecycle and transfers, in causal order
	notices   []action // validators' quarantine notices
	rotations []rotation
	forks     []fork
	policies  policySet // device-scope policies
	installs  []install // install reports, in chain order
}

// noHistory is every device's history until it has one; never written.
var noHistory = &history{}

// own gives d a history of its own before it is written to.
func (d *device) own() *history {
	if d.history == noHistory {
		d.history = &history{}
	}
	return d.history
}

// device is one registered device. Its identity is its registration's ID.
type device struct {
	id       dag.ID
	tag      uint32
	key      dag.PublicKey // the registered (first) key
	next     *[32]byte
	class    string
	attrs    []Attribute
	regNamed int // registering authority
	regSeq   uint64
	// history holds what most devices never have; it points at the shared
	// noHistory until the first entry (own), saving 88 bytes a device.
	*history

	first   dag.ID // the chain's sequence-0 transaction, once seen
	started bool
	head    dag.ID // the chain transaction with the highest sequence
	headSeq uint64
	count   uint64 // chain transactions attached
}

func (d *device) registrationVisible(past dag.PastView) bool {
	return past.Horizon(d.regNamed) > d.regSeq
}

// stateAt is the lifecycle and owner as of the past the view judges: the
// newest visible action's result. The visible actions are a prefix of
// d.actions (each valid action has its predecessor in its past), so the
// scan from the end stops at the first visible one.
func (d *device) stateAt(past dag.PastView) (Lifecycle, int) {
	for i := len(d.actions) - 1; i >= 0; i-- {
		if d.actions[i].visible(past) {
			return d.actions[i].life, d.actions[i].owner
		}
	}
	return Active, d.regNamed
}

// current is the state with everything attached.
func (d *device) current() (Lifecycle, int) {
	if n := len(d.actions); n > 0 {
		return d.actions[n-1].life, d.actions[n-1].owner
	}
	return Active, d.regNamed
}

func (d *device) noticeVisible(past dag.PastView) bool {
	for i := range d.notices {
		if d.notices[i].visible(past) {
			return true
		}
	}
	return false
}

// commitmentBefore is the next-key commitment in force for a rotation at
// seq: the newest earlier rotation's, or the registration's.
func (d *device) commitmentBefore(seq uint64) *[32]byte {
	for i := len(d.rotations) - 1; i >= 0; i-- {
		if d.rotations[i].seq < seq {
			return d.rotations[i].next
		}
	}
	return d.next
}

// currentKey is the key that signs the device's chain now.
func (d *device) currentKey() dag.PublicKey {
	if n := len(d.rotations); n > 0 {
		return d.rotations[n-1].key
	}
	return d.key
}

// Registry is the device layer's state and rules: it implements
// dag.RuleLayer. Every verdict is judged from the transaction's past (its
// chain and the horizons of authorities' and validators' control
// transactions), and every piece of state is built so that the same set
// of transactions gives the same registry in any attach order (Digest).
// Check and Apply run on the ledger's attaching goroutine; the queries
// may be called from any goroutine.
type Registry struct {
	genesis      dag.Genesis
	permissioned bool
	authorities  int

	mu      sync.RWMutex
	devices []*device // by tag-1
	byID    map[dag.ID]*device
	// byKey finds the device a key was registered for; moreByKey the rare
	// further registrations of one key (concurrent, or after a revocation).
	byKey     map[dag.PublicKey]*device
	moreByKey map[dag.PublicKey][]*device
	// rotatedTo finds a device by a key it rotated to (lookups only).
	rotatedTo map[dag.PublicKey]*device
	classes   map[string]string // interned class names
	// Policies of the network and of each class (device-scope ones live
	// in the device's history); policyCount counts all, so a network
	// without any skips the rate lookup.
	netPolicies   policySet
	classPolicies map[string]policySet
	policyCount   int
	limits        policy.Limits
	scratch       policy.Input // the attaching goroutine's evaluation input
	// Firmware releases by class and component (lineKey), and by ID.
	releases    map[string]releaseLine
	releaseByID map[dag.ID]*release
	// retired holds each authority's key retirement by named index.
	retired map[int]retirement
	// unnoticed are equivocations of devices waiting for a validator's
	// quarantine notice (TakeEquivocations).
	unnoticed []Equivocation
}

// Equivocation is two transactions of one device with one sequence number.
type Equivocation struct {
	Device dag.ID
	A, B   dag.ID
}

// New returns an empty registry for the network g describes.
func New(g dag.Genesis) *Registry {
	return &Registry{
		genesis:       g,
		permissioned:  g.Permissioned,
		authorities:   len(g.Authorities),
		byID:          make(map[dag.ID]*device),
		byKey:         make(map[dag.PublicKey]*device),
		moreByKey:     make(map[dag.PublicKey][]*device),
		rotatedTo:     make(map[dag.PublicKey]*device),
		classes:       make(map[string]string),
		classPolicies: make(map[string]policySet),
		limits:        limitsOf(g),
		releases:      make(map[string]releaseLine),
		releaseByID:   make(map[dag.ID]*release),
		retired:       make(map[int]retirement),
	}
}

// intern returns the registry's copy of a class name.
func (r *Registry) intern(class string) string {
	if c, ok := r.classes[class]; ok {
		return c
	}
	r.classes[class] = class
	return class
}

var (
	_ dag.RuleLayer = (*Registry)(nil)
	_ dag.RateRuler = (*Registry)(nil)
)

// authorityIndex is the issuer's authority index, or -1.
func (r *Registry) authorityIndex(key dag.PublicKey) int {
	if i, ok := r.genesis.Named(key); ok && i < r.authorities {
		return i
	}
	return -1
}

// deviceOf finds the device whose chain tx extends: for a first
// transaction, the registration of its key in its past (the lowest ID if
// several are); otherwise the device of its predecessor. Nil for a chain
// of no device.
func (r *Registry) deviceOf(tx *dag.Transaction, past dag.PastView) *device {
	if tx.Seq > 0 {
		if tag := past.Tag(tx.Prev); tag > 0 && int(tag) <= len(r.devices) {
			return r.devices[tag-1]
		}
		return nil
	}
	var found *device
	r.registrationsOf(tx.Issuer, func(d *device) {
		if d.registrationVisible(past) && (found == nil || d.id.Compare(found.id) < 0) {
			found = d
		}
	})
	return found
}

// Check implements dag.RuleLayer.
func (r *Registry) Check(tx *dag.Transaction, past dag.PastView) error {
	if len(r.retired) > 0 {
		if err := r.checkNotRetired(tx, past); err != nil {
			return err
		}
	}
	switch tx.Kind {
	case dag.KindRetire:
		return r.checkRetire(tx)
	case dag.KindData, dag.KindRotate, dag.KindInstall:
		return r.checkDevice(tx, past)
	case dag.KindRegister:
		return r.checkRegister(tx, past)
	case dag.KindSuspend, dag.KindResume, dag.KindRevoke, dag.KindTransfer:
		return r.checkLifecycle(tx, past)
	case dag.KindQuarantine:
		return r.checkNotice(tx, past)
	case dag.KindPolicy:
		return r.checkPolicy(tx, past)
	case dag.KindCommand:
		return r.checkCommand(tx, past)
	case dag.KindRelease:
		return r.checkRelease(tx, past)
	case dag.KindApproval:
		return r.checkApproval(tx, past)
	case dag.KindBeacon:
		return r.checkBeacon(tx, past)
	}
	return nil
}

func (r *Registry) checkDevice(tx *dag.Transaction, past dag.PastView) error {
	d := r.deviceOf(tx, past)
	if d == nil {
		if r.permissioned || tx.Kind == dag.KindInstall {
			return reject(CodeUnregistered, "no registration of key %s is in this transaction's past", tx.Issuer)
		}
		return nil
	}
	if err := r.checkState(tx, d, past); err != nil {
		return err
	}
	if tx.Kind == dag.KindInstall {
		if err := r.checkInstall(tx, d, past); err != nil {
			return err
		}
	}
	return r.judge(tx, d, past, tx.Payload, dag.ID{})
}

// checkCommand judges a command: its issuer like any device transaction
// (an authority may command too), then the target's policies, which see
// the command as tx.target == device.id.
func (r *Registry) checkCommand(tx *dag.Transaction, past dag.PastView) error {
	target, body, err := DecodeCommand(tx.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v", dag.ErrMalformed, err)
	}
	if d := r.deviceOf(tx, past); d != nil {
		if err := r.checkState(tx, d, past); err != nil {
			return err
		}
		if err := r.judge(tx, d, past, body, target); err != nil {
			return err
		}
	} else if r.permissioned && r.authorityIndex(tx.Issuer) < 0 {
		return reject(CodeUnregistered, "no registration of key %s is in this transaction's past", tx.Issuer)
	}
	t := r.byID[target]
	if t == nil || !t.registrationVisible(past) {
		return reject(CodeUnknownDevice, "no registration %s in this transaction's past", target)
	}
	if life, _ := t.stateAt(past); life == Revoked {
		return reject(CodeRevoked, "%s is revoked", target)
	}
	return r.judge(tx, t, past, body, target)
}

// checkState refuses a transaction of a device that its past shows
// revoked, suspended or quarantined, and a rotation to an uncommitted key.
func (r *Registry) checkState(tx *dag.Transaction, d *device, past dag.PastView) error {
	switch life, _ := d.stateAt(past); life {
	case Revoked:
		return reject(CodeRevoked, "%s is revoked", d.id)
	case Suspended:
		return reject(CodeSuspended, "%s is suspended", d.id)
	}
	if d.noticeVisible(past) {
		return reject(CodeQuarantined, "%s is quarantined: it signed two transactions with one sequence number", d.id)
	}
	if tx.Kind == dag.KindRotate {
		newKey, _, _ := dag.ParseRotatePayload(tx.Payload)
		if c := d.commitmentBefore(tx.Seq); c != nil && *c != KeyHash(newKey) {
			return reject(CodeKeyNotCommitted, "device %s committed to another next key", d.id)
		}
	}
	return nil
}

func (r *Registry) checkRegister(tx *dag.Transaction, past dag.PastView) error {
	reg, err := DecodeRegistration(tx.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v", dag.ErrMalformed, err)
	}
	a := r.authorityIndex(tx.Issuer)
	if a < 0 {
		return fmt.Errorf("%w: %s", dag.ErrNotAuthority, tx.Issuer)
	}
	if !r.genesis.Authorities[a].MayActOn(reg.Class) {
		return reject(CodeClassNotAllowed, "authority %s may not register class %q", tx.Issuer, reg.Class)
	}
	if _, named := r.genesis.Named(reg.Key); named {
		return reject(CodeDeviceExists, "key %s is a genesis authority's or validator's", reg.Key)
	}
	var live *device
	r.registrationsOf(reg.Key, func(d *device) {
		if life, _ := d.stateAt(past); d.registrationVisible(past) && life != Revoked {
			live = d
		}
	})
	if live != nil {
		return reject(CodeDeviceExists, "key %s is registered already (device %s)", reg.Key, live.id)
	}
	return nil
}

// registrationsOf calls fn for every device registered with key.
func (r *Registry) registrationsOf(key dag.PublicKey, fn func(*device)) {
	if d := r.byKey[key]; d != nil {
		fn(d)
		for _, d := range r.moreByKey[key] {
			fn(d)
		}
	}
}

func (r *Registry) checkLifecycle(tx *dag.Transaction, past dag.PastView) error {
	id, to, err := r.decodeAction(tx)
	if err != nil {
		return fmt.Errorf("%w: %v", dag.ErrMalformed, err)
	}
	d := r.byID[id]
	if d == nil || !d.registrationVisible(past) {
		return reject(CodeUnknownDevice, "no registration %s in this transaction's past", id)
	}
	life, owner := d.stateAt(past)
	if life == Revoked {
		return reject(CodeRevoked, "%s is revoked", id)
	}
	if a := r.authorityIndex(tx.Issuer); a != owner {
		return reject(CodeNotOwner, "%s is owned by %s", id, r.genesis.Authorities[owner].PublicKey)
	}
	switch tx.Kind {
	case dag.KindSuspend:
		if life != Active {
			return reject(CodeInvalidTransition, "%s is %s, not active", id, life)
		}
	case dag.KindResume:
		if life != Suspended {
			return reject(CodeInvalidTransition, "%s is %s, not suspended", id, life)
		}
	case dag.KindTransfer:
		switch {
		case to < 0:
			return reject(CodeInvalidTransition, "the receiver of device %s is not a genesis authority", id)
		case to == owner:
			return reject(CodeInvalidTransition, "%s is owned by its receiver already", id)
		case !r.genesis.Authorities[to].MayActOn(d.class):
			return reject(CodeClassNotAllowed, "the receiver may not hold class %q", d.class)
		}
	}
	return nil
}

// decodeAction parses a lifecycle or transfer payload; to is the receiving
// authority's index (-1 when the key is no authority's, or for other
// kinds).
func (r *Registry) decodeAction(tx *dag.Transaction) (id dag.ID, to int, err error) {
	if tx.Kind != dag.KindTransfer {
		id, err := DecodeLifecycle(tx.Payload)
		return id, -1, err
	}
	id, key, err := DecodeTransfer(tx.Payload)
	return id, r.authorityIndex(key), err
}

func (r *Registry) checkNotice(tx *dag.Transaction, past dag.PastView) error {
	ta, tb := past.Tag(tx.Trunk), past.Tag(tx.Branch)
	a, okA := past.Info(tx.Trunk)
	b, okB := past.Info(tx.Branch)
	if ta == 0 || ta != tb || !okA || !okB || a.Seq != b.Seq || a.Prev != b.Prev {
		return reject(CodeBadQuarantine, "a quarantine notice approves two transactions of one device with one sequence number")
	}
	return nil
}

// Apply implements dag.RuleLayer.
func (r *Registry) Apply(tx *dag.Transaction, view dag.ApplyView) dag.Applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch tx.Kind {
	case dag.KindData, dag.KindRotate, dag.KindCommand, dag.KindInstall:
		d := r.deviceOf(tx, view)
		if d == nil {
			// An authority's command: its target's newer policies.
			if tx.Kind == dag.KindCommand && r.policyCount > 0 {
				return dag.Applied{RuleOut: r.ruledOutByNewerPolicy(tx, nil, view)}
			}
			return dag.Applied{}
		}
		d.count++
		if tx.Kind == dag.KindInstall {
			r.applyInstall(tx, d)
		}
		if tx.Seq == 0 && (!d.started || tx.ID().Compare(d.first) < 0) {
			d.first = tx.ID()
		}
		if !d.started || tx.Seq > d.headSeq {
			d.head, d.headSeq, d.started = tx.ID(), tx.Seq, true
		}
		if tx.Kind == dag.KindRotate {
			key, next, _ := dag.ParseRotatePayload(tx.Payload)
			rot := rotation{id: tx.ID(), seq: tx.Seq, key: key, next: next}
			i := sort.Search(len(d.rotations), func(i int) bool {
				o := d.rotations[i]
				return o.seq > rot.seq || o.seq == rot.seq && o.id.Compare(rot.id) > 0
			})
			h := d.own()
			h.rotations = slices.Insert(h.rotations, i, rot)
			r.rotatedTo[key] = d
		}
		life, _ := d.current()
		out := dag.Applied{Tag: d.tag, RuleOut: life != Active || len(d.forks) > 0}
		if !out.RuleOut && r.policyCount > 0 {
			out.RuleOut = r.ruledOutByNewerPolicy(tx, d, view)
		}
		return out
	case dag.KindRegister:
		r.applyRegister(tx)
	case dag.KindSuspend, dag.KindResume, dag.KindRevoke, dag.KindTransfer:
		r.applyLifecycle(tx, view)
	case dag.KindPolicy:
		r.applyPolicy(tx)
	case dag.KindRelease:
		r.applyRelease(tx)
	case dag.KindApproval:
		r.applyApproval(tx)
	case dag.KindRetire:
		r.applyRetire(tx)
	case dag.KindQuarantine:
		if tag := view.Tag(tx.Trunk); tag > 0 && int(tag) <= len(r.devices) {
			d := r.devices[tag-1]
			named, _ := r.genesis.Named(tx.Issuer)
			h := d.own()
			h.notices = append(h.notices, action{id: tx.ID(), kind: tx.Kind, named: named, seq: tx.Seq})
		}
	}
	return dag.Applied{}
}

// ruledOutByNewerPolicy: d's transaction (or a command d sends, for its
// target too) would be denied by a policy newer than its past shows. d is
// nil for a command of no device's chain (an authority's): only its
// target is judged.
func (r *Registry) ruledOutByNewerPolicy(tx *dag.Transaction, d *device, past dag.PastView) bool {
	body, target := tx.Payload, dag.ID{}
	if tx.Kind == dag.KindCommand {
		var err error
		if target, body, err = DecodeCommand(tx.Payload); err != nil {
			return false
		}
		if t := r.byID[target]; t != nil && r.staleDenied(tx, t, past, body, target) {
			return true
		}
	}
	return d != nil && r.staleDenied(tx, d, past, body, target)
}

func (r *Registry) applyRegister(tx *dag.Transaction) {
	reg, err := DecodeRegistration(tx.Payload)
	if err != nil {
		return // stored transactions passed Check; nothing else reaches here
	}
	class := r.intern(reg.Class)
	named, _ := r.genesis.Named(tx.Issuer)
	d := &device{
		id: tx.ID(), tag: uint32(len(r.devices) + 1), key: reg.Key, next: reg.NextKeyHash,
		class: class, attrs: reg.Attributes, regNamed: named, regSeq: tx.Seq, history: noHistory,
	}
	r.devices = append(r.devices, d)
	r.byID[d.id] = d
	if r.byKey[reg.Key] == nil {
		r.byKey[reg.Key] = d
	} else {
		r.moreByKey[reg.Key] = append(r.moreByKey[reg.Key], d)
	}
}

func (r *Registry) applyLifecycle(tx *dag.Transaction, view dag.ApplyView) {
	id, to, err := r.decodeAction(tx)
	if err != nil {
		return
	}
	d := r.byID[id]
	if d == nil {
		return
	}
	// The action's own past decides the state it changes (the action is
	// not in d.actions yet, so the newest visible one is its predecessor).
	life, owner := d.stateAt(view)
	switch tx.Kind {
	case dag.KindSuspend:
		life = Suspended
	case dag.KindResume:
		life = Active
	case dag.KindRevoke:
		life = Revoked
	case dag.KindTransfer:
		owner = to
	}
	named, _ := r.genesis.Named(tx.Issuer)
	h := d.own()
	h.actions = append(h.actions, action{id: tx.ID(), kind: tx.Kind, named: named, seq: tx.Seq, to: to, life: life, owner: owner})
	if life != Active && d.started {
		// This node's state rules out the device's unconfirmed chain (none
		// of it sees the action, or it would not be attached): honest tip
		// selection stops approving it at once, whatever order this node
		// received it in.
		for id := d.head; ; {
			info, ok := view.Info(id)
			if !ok || info.Confirmed {
				break
			}
			view.RuleOut(id)
			if info.Seq == 0 {
				break
			}
			id = info.Prev
		}
	}
}

// Equivocation implements dag.RuleLayer: it records the fork, which
// quarantines the device, and queues it for a validator's notice.
func (r *Registry) Equivocation(a, b dag.ID, past dag.PastView) {
	r.mu.Lock()
	defer r.mu.Unlock()
	info, ok := past.Info(a)
	if !ok {
		return
	}
	tags := []uint32{past.Tag(a)}
	if tb := past.Tag(b); tb != tags[0] {
		tags = append(tags, tb) // twins bound to two devices: both are quarantined
	}
	for _, tag := range tags {
		if tag == 0 || int(tag) > len(r.devices) {
			continue
		}
		d := r.devices[tag-1]
		h := d.own()
		i := slices.IndexFunc(h.forks, func(f fork) bool { return f.seq == info.Seq })
		if i < 0 {
			i = sort.Search(len(h.forks), func(i int) bool { return h.forks[i].seq > info.Seq })
			h.forks = slices.Insert(h.forks, i, fork{seq: info.Seq})
		}
		f := &h.forks[i]
		for _, id := range []dag.ID{a, b} {
			if j, found := slices.BinarySearchFunc(f.ids, id, dag.ID.Compare); !found {
				f.ids = slices.Insert(f.ids, j, id)
			}
		}
		r.unnoticed = append(r.unnoticed, Equivocation{Device: d.id, A: a, B: b})
	}
}

// TakeEquivocations returns the equivocations recorded since the last
// call whose device has no quarantine notice of validator yet, for that
// validator's node to issue one (approving A and B). One per device.
func (r *Registry) TakeEquivocations(validator dag.PublicKey) []Equivocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	named, _ := r.genesis.Named(validator)
	var out []Equivocation
	seen := map[dag.ID]bool{}
	for _, e := range r.unnoticed {
		d := r.byID[e.Device]
		if seen[e.Device] || d == nil || slices.ContainsFunc(d.notices, func(a action) bool { return a.named == named }) {
			continue
		}
		seen[e.Device] = true
		out = append(out, e)
	}
	r.unnoticed = nil
	return out
}

// Digest is a hash of the whole registry in canonical form: devices by
// ID, each with its registration, control history, key history, forks,
// notices and chain head. Two ledgers holding the same transactions
// have the same digest, whatever order they attached them in, and so do
// they after one of them pruned old data and restarted: the number of
// chain transactions attached (Device.Transactions) is left out, since a
// restart replays only what pruning kept.
func (r *Registry) Digest() [32]byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ds := slices.Clone(r.devices)
	slices.SortFunc(ds, func(a, b *device) int { return a.id.Compare(b.id) })
	h := blake3.New()
	var buf []byte
	u64 := func(v uint64) { buf = binary.BigEndian.AppendUint64(buf, v) }
	for _, d := range ds {
		buf = buf[:0]
		buf = append(buf, d.id[:]...)
		buf = append(buf, d.key[:]...)
		if d.next != nil {
			buf = append(buf, d.next[:]...)
		}
		buf = append(buf, d.class...)
		for _, a := range d.attrs {
			buf = append(buf, a.Key...)
			buf = append(buf, 0)
			buf = append(buf, a.Value...)
			buf = append(buf, 0)
		}
		u64(uint64(d.regNamed))
		u64(uint64(len(d.actions)))
		for _, a := range d.actions {
			buf = append(buf, a.id[:]...)
			buf = append(buf, byte(a.life))
			u64(uint64(a.owner))
		}
		u64(uint64(len(d.rotations)))
		for _, rot := range d.rotations {
			buf = append(buf, rot.id[:]...)
		}
		u64(uint64(len(d.forks)))
		for _, f := range d.forks {
			u64(f.seq)
			for _, id := range f.ids {
				buf = append(buf, id[:]...)
			}
		}
		notices := make([]dag.ID, len(d.notices))
		for i, n := range d.notices {
			notices[i] = n.id
		}
		slices.SortFunc(notices, dag.ID.Compare)
		u64(uint64(len(notices)))
		for _, id := range notices {
			buf = append(buf, id[:]...)
		}
		buf = append(buf, d.first[:]...)
		u64(d.headSeq)
		buf = appendPolicies(buf, d.policies)
		for _, in := range d.installs {
			buf = append(buf, in.id[:]...)
		}
		h.Write(buf)
	}
	buf = appendPolicies(buf[:0], r.netPolicies)
	for _, c := range slices.Sorted(maps.Keys(r.classPolicies)) {
		buf = append(buf, c...)
		buf = append(buf, 0)
		buf = appendPolicies(buf, r.classPolicies[c])
	}
	for _, k := range slices.Sorted(maps.Keys(r.releases)) {
		buf = append(buf, k...)
		buf = append(buf, 0)
		buf = appendReleases(buf, r.releases[k])
	}
	for _, named := range slices.Sorted(maps.Keys(r.retired)) {
		buf = binary.BigEndian.AppendUint64(buf, uint64(named))
		id := r.retired[named].id
		buf = append(buf, id[:]...)
	}
	h.Write(buf)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Len is the number of registered devices.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.devices)
}
