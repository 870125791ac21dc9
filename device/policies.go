package device

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device/policy"
)

// Scope is what a policy is attached to.
type Scope uint8

// The scopes, from the widest. Every policy in force at each scope that
// covers a device must admit its transaction (all apply); the rate rule
// comes from the most specific one that sets it.
const (
	ScopeNetwork Scope = iota
	ScopeClass
	ScopeDevice
)

func (s Scope) String() string {
	switch s {
	case ScopeClass:
		return "class"
	case ScopeDevice:
		return "device"
	}
	return "network"
}

// MarshalText encodes the scope's name.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes network, class or device.
func (s *Scope) UnmarshalText(text []byte) error {
	switch string(text) {
	case "network":
		*s = ScopeNetwork
	case "class":
		*s = ScopeClass
	case "device":
		*s = ScopeDevice
	default:
		return fmt.Errorf("device: scope %q is not network, class or device", text)
	}
	return nil
}

// PolicyPayload is the payload of a KindPolicy transaction: the scope,
// its target (a class or a device ID) and the policy source.
type PolicyPayload struct {
	Scope  Scope
	Class  string // ScopeClass
	Device dag.ID // ScopeDevice
	Source *policy.Source
}

// Encode is the canonical form: scope u8 | class length u8 and class
// (class scope) or device ID [32] (device scope) | the source's canonical
// form (policy.Source.Encode).
func (p *PolicyPayload) Encode() []byte {
	b := []byte{byte(p.Scope)}
	switch p.Scope {
	case ScopeClass:
		b = append(b, byte(len(p.Class)))
		b = append(b, p.Class...)
	case ScopeDevice:
		b = append(b, p.Device[:]...)
	}
	return append(b, p.Source.Encode()...)
}

// DecodePolicy parses a policy payload (the canonical form only).
func DecodePolicy(b []byte) (*PolicyPayload, error) {
	d := decoder{b: b}
	p := &PolicyPayload{Scope: Scope(d.byte())}
	switch p.Scope {
	case ScopeNetwork:
	case ScopeClass:
		p.Class = string(d.take(int(d.byte())))
		if d.err == nil && !dag.ValidClass(p.Class) {
			d.fail(fmt.Sprintf("class %q (1 to 64 of a-z 0-9 . _ -)", p.Class))
		}
	case ScopeDevice:
		copy(p.Device[:], d.take(dag.IDSize))
	default:
		d.fail("scope must be 0 (network), 1 (class) or 2 (device)")
	}
	if d.err != nil {
		return nil, d.err
	}
	src, err := policy.Decode(d.b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	p.Source = src
	return p, nil
}

// CommandPayload is the payload of a KindCommand transaction: the target
// device's ID, then the command's bytes.
func CommandPayload(target dag.ID, body []byte) []byte {
	return append(append([]byte(nil), target[:]...), body...)
}

// DecodeCommand splits a command payload.
func DecodeCommand(p []byte) (dag.ID, []byte, error) {
	if len(p) < dag.IDSize {
		return dag.ID{}, nil, fmt.Errorf("%w: a command starts with the target device's ID (32 bytes), got %d bytes", ErrPayload, len(p))
	}
	var id dag.ID
	copy(id[:], p)
	return id, p[dag.IDSize:], nil
}

// installed is one policy transaction the registry applied.
type installed struct {
	id      dag.ID
	named   int
	seq     uint64
	payload *PolicyPayload
	// prog is nil only if the policy passed Check on another node but
	// does not compile here (a different cel-go build): it then denies.
	prog *policy.Program
	err  error
}

func (p *installed) visible(past dag.PastView) bool { return past.Horizon(p.named) > p.seq }

func (p *installed) version() uint64 { return p.payload.Source.Version }

// policySet is the policies of one scope target, by version then ID.
type policySet []*installed

// inForce is the visible policy with the highest version (lowest ID on a
// tie): the scan from the end stops at the first visible one, usually the
// last.
func (s policySet) inForce(past dag.PastView) *installed {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].visible(past) {
			// Ties on version: the lowest visible ID of that version.
			best := s[i]
			for j := i - 1; j >= 0 && s[j].version() == best.version(); j-- {
				if s[j].visible(past) {
					best = s[j]
				}
			}
			return best
		}
	}
	return nil
}

// newest is the policy in force when everything attached is seen.
func (s policySet) newest() *installed {
	if len(s) == 0 {
		return nil
	}
	best := s[len(s)-1]
	for j := len(s) - 2; j >= 0 && s[j].version() == best.version(); j-- {
		best = s[j]
	}
	return best
}

func (s policySet) insert(p *installed) policySet {
	i, _ := slices.BinarySearchFunc(s, p, func(a, b *installed) int {
		if a.version() != b.version() {
			if a.version() < b.version() {
				return -1
			}
			return 1
		}
		return a.id.Compare(b.id)
	})
	return slices.Insert(s, i, p)
}

// scopesOf are the policy sets that cover d, widest first; nil entries
// are scopes without policies.
func (r *Registry) scopesOf(d *device) [3]policySet {
	return [3]policySet{r.netPolicies, r.classPolicies[d.class], d.policies}
}

// limits are the network's policy bounds.
func limitsOf(g dag.Genesis) policy.Limits {
	maxPayload := g.MaxPayload
	if maxPayload == 0 {
		maxPayload = dag.DefaultMaxPayload
	}
	return policy.Limits{MaxPayload: maxPayload, CostLimit: g.PolicyCostLimit}
}

func (r *Registry) checkPolicy(tx *dag.Transaction, past dag.PastView) error {
	p, err := DecodePolicy(tx.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v", dag.ErrMalformed, err)
	}
	a := r.authorityIndex(tx.Issuer)
	if a < 0 {
		return fmt.Errorf("%w: %s", dag.ErrNotAuthority, tx.Issuer)
	}
	auth := r.genesis.Authorities[a]
	var set policySet
	switch p.Scope {
	case ScopeNetwork:
		if !auth.MayActOn(dag.AllClasses) {
			return reject(CodeClassNotAllowed, "a network policy needs an authority of every class (%q)", dag.AllClasses)
		}
		set = r.netPolicies
	case ScopeClass:
		if !auth.MayActOn(p.Class) {
			return reject(CodeClassNotAllowed, "authority %s may not act on class %q", tx.Issuer, p.Class)
		}
		set = r.classPolicies[p.Class]
	case ScopeDevice:
		d := r.byID[p.Device]
		if d == nil || !d.registrationVisible(past) {
			return reject(CodeUnknownDevice, "no registration %s in this transaction's past", p.Device)
		}
		life, owner := d.stateAt(past)
		if life == Revoked {
			return reject(CodeRevoked, "%s is revoked", d.id)
		}
		if owner != a {
			return reject(CodeNotOwner, "%s is owned by %s", d.id, r.genesis.Authorities[owner].PublicKey)
		}
		set = d.policies
	}
	if cur := set.inForce(past); cur != nil && p.Source.Version <= cur.version() {
		return reject(CodePolicyOutdated, "version %d is not above version %d of policy %s in force at this scope", p.Source.Version, cur.version(), cur.id)
	}
	if _, err := policy.Compile(p.Source, r.limits); err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			return reject(pe.Code, "%s", pe.Message)
		}
		return fmt.Errorf("%w: %v", dag.ErrMalformed, err)
	}
	return nil
}

func (r *Registry) applyPolicy(tx *dag.Transaction) {
	p, err := DecodePolicy(tx.Payload)
	if err != nil {
		return // stored transactions passed Check
	}
	named, _ := r.genesis.Named(tx.Issuer)
	in := &installed{id: tx.ID(), named: named, seq: tx.Seq, payload: p}
	in.prog, in.err = policy.Compile(p.Source, r.limits)
	switch p.Scope {
	case ScopeNetwork:
		r.netPolicies = r.netPolicies.insert(in)
	case ScopeClass:
		class := r.intern(p.Class)
		r.classPolicies[class] = r.classPolicies[class].insert(in)
	case ScopeDevice:
		if d := r.byID[p.Device]; d != nil {
			h := d.own()
			h.policies = h.policies.insert(in)
		}
	}
	r.policyCount++
}

// judge evaluates the policies in force at each scope covering d, as of
// the transaction's past; all must admit it. body is what tx.payload
// reads (a command's bytes after its target), target the commanded
// device (zero for other kinds).
func (r *Registry) judge(tx *dag.Transaction, d *device, past dag.PastView, body []byte, target dag.ID) error {
	return r.evaluate(tx, d, past, body, target, func(s policySet) *installed { return s.inForce(past) })
}

// staleDenied reports whether a newer policy than the one that judged tx
// (at some scope covering d) is attached here and would deny it: a
// transaction built on parents older than a policy change is valid on
// every node, but this node's state rules it out (dag.Applied.RuleOut),
// as for a revocation its past does not show, so honest tip selection
// never approves it and it does not confirm.
func (r *Registry) staleDenied(tx *dag.Transaction, d *device, past dag.PastView, body []byte, target dag.ID) bool {
	stale := false
	err := r.evaluate(tx, d, past, body, target, func(s policySet) *installed {
		if newest := s.newest(); newest != nil && newest != s.inForce(past) {
			stale = true
			return newest
		}
		return nil
	})
	return stale && err != nil
}

// evaluate runs, for each scope covering d, the policy pick chooses; all
// must admit tx.
func (r *Registry) evaluate(tx *dag.Transaction, d *device, past dag.PastView, body []byte, target dag.ID, pick func(policySet) *installed) error {
	var progs [3]*installed
	n := 0
	for _, set := range r.scopesOf(d) {
		if p := pick(set); p != nil {
			if p.prog == nil {
				return reject(CodePolicyDenied, "policy %s does not compile on this node: %v", p.id, p.err)
			}
			progs[n] = p
			n++
		}
	}
	if n == 0 {
		return nil
	}
	// Only what some policy reads is computed: hex strings, the
	// attribute map and the chain walk cost more than most evaluations.
	need := func(name string) bool {
		for _, p := range progs[:n] {
			if p.prog.Uses(name) {
				return true
			}
		}
		return false
	}
	in := r.input(tx, d, past, body, target, need)
	for _, p := range progs[:n] {
		src := p.prog.Source()
		if p.prog.Uses("history.in_window") {
			in.History.InWindow = inWindow(tx, past, src.HistoryWindow())
		}
		v := p.prog.Eval(in)
		if v.Allow {
			continue
		}
		why := "it evaluated to false"
		if v.Err != nil {
			why = v.Err.Error()
		}
		return reject(CodePolicyDenied, "policy %s (%s %s v%d) denied the transaction: %s", p.id, p.payload.Scope, src.Name, src.Version, why)
	}
	return nil
}

// input builds what policies read of tx and d as of the transaction's
// past.
func (r *Registry) input(tx *dag.Transaction, d *device, past dag.PastView, body []byte, target dag.ID, need func(string) bool) *policy.Input {
	life, owner := d.stateAt(past)
	state := life.String()
	if life != Revoked && d.noticeVisible(past) {
		state = "quarantined"
	}
	var lastTime int64
	if tx.Seq > 0 && need("history.last_time") {
		if info, ok := past.Info(tx.Prev); ok {
			lastTime = info.Time
		}
	}
	dev := inputDevice{
		id: d.id, class: d.class, owner: r.genesis.Authorities[owner].PublicKey,
		state: state, attrs: d.attrs,
	}
	if tx.Kind != dag.KindCommand {
		// The key signing the device's chain at tx. A command's target's
		// key is not known from the command's past in O(1) (the target's
		// rotations are in its own chain): device.key is empty then.
		key := d.keyAt(tx.Seq)
		dev.key = &key
	}
	// The device's install reports are in its own chain, all in the past
	// of its next transaction. A command is not in its target's chain:
	// which of the target's reports it sees has no O(1) test, so for a
	// command the registration's attribute stands in, as it does for a
	// device that never reported.
	if tx.Kind != dag.KindCommand {
		if fw, ok := d.firmwareAt(tx.Seq); ok {
			dev.firmware = &fw
		}
	}
	// One Input serves every evaluation: they all run on the attaching
	// goroutine, one at a time, and nothing keeps it past Eval.
	return buildInput(&r.scratch, tx, body, target, dev, lastTime, need)
}

// inputDevice is what an Input reads of a device.
type inputDevice struct {
	id    dag.ID
	class string
	owner dag.PublicKey
	state string
	key   *dag.PublicKey
	attrs []Attribute
	// firmware is the release sequence number the device last reported
	// installing (ok), if any; the firmware attribute stands in otherwise.
	firmware *uint64
}

// buildInput is the one place an Input is made, for the registry and for
// offline tests (PolicyInput) alike, so both judge the same way. Fields
// no policy reads (need) are left zero: they cannot change a verdict.
// history.in_window is filled per policy, since each names its window.
func buildInput(in *policy.Input, tx *dag.Transaction, body []byte, target dag.ID, d inputDevice, lastTime int64, need func(string) bool) *policy.Input {
	*in = policy.Input{
		Tx:      policy.Tx{Kind: tx.Kind.String(), Seq: tx.Seq, Time: tx.Time, Payload: body},
		Device:  policy.Device{Class: d.class, State: d.state},
		History: policy.History{Count: tx.Seq, LastTime: lastTime},
	}
	if need("tx.issuer") {
		in.Tx.Issuer = tx.Issuer.String()
	}
	if tx.Kind == dag.KindCommand && need("tx.target") {
		in.Tx.Target = target.String()
	}
	if need("device.id") {
		in.Device.ID = d.id.String()
	}
	if need("device.owner") {
		in.Device.Owner = d.owner.String()
	}
	if need("device.key") && d.key != nil {
		in.Device.Key = d.key.String()
	}
	if need("device.attributes") {
		in.Device.Attributes = make(map[string]string, len(d.attrs))
		for _, a := range d.attrs {
			in.Device.Attributes[a.Key] = a.Value
		}
	}
	if need("device.firmware") {
		if d.firmware != nil {
			in.Device.Firmware = int64(*d.firmware)
		} else {
			for _, a := range d.attrs {
				if a.Key == FirmwareAttribute {
					in.Device.Firmware, _ = strconv.ParseInt(a.Value, 10, 64)
				}
			}
		}
	}
	return in
}

func all(string) bool { return true }

// FirmwareAttribute is the registration attribute device.firmware reads
// until firmware install reports exist.
const FirmwareAttribute = "firmware"

// PolicyInput builds the Input a node evaluates for tx, offline: the
// device as GET /v1/devices/{id} shows it (its state and firmware as of
// the transaction's past) and the chain aggregates (history.in_window as
// given; count is tx.Seq). A command's target is read from its payload,
// and the target is then the device judged (dev must be the target); as
// on a node, device.key is then empty and device.firmware the
// registration's attribute. `tangled policy test` uses it.
func PolicyInput(tx *dag.Transaction, dev Device, hist policy.History) (*policy.Input, error) {
	body, target := tx.Payload, dag.ID{}
	if tx.Kind == dag.KindCommand {
		var err error
		if target, body, err = DecodeCommand(tx.Payload); err != nil {
			return nil, err
		}
	}
	attrs := make([]Attribute, 0, len(dev.Attributes))
	for k, v := range dev.Attributes {
		attrs = append(attrs, Attribute{Key: k, Value: v})
	}
	SortAttributes(attrs)
	d := inputDevice{id: dev.ID, class: dev.Class, owner: dev.Owner, state: dev.State, attrs: attrs}
	if tx.Kind != dag.KindCommand {
		key := tx.Issuer // the key signing the chain at tx.Seq
		d.key = &key
		d.firmware = dev.Firmware // the newest ok install report's, as the node has it
	}
	in := buildInput(&policy.Input{}, tx, body, target, d, hist.LastTime, all)
	in.History.InWindow = hist.InWindow
	if hist.Count != 0 {
		in.History.Count = hist.Count
	}
	return in, nil
}

// keyAt is the key that signs the device's chain at seq.
func (d *device) keyAt(seq uint64) dag.PublicKey {
	key := d.key
	for _, rot := range d.rotations {
		if rot.seq < seq {
			key = rot.key
		}
	}
	return key
}

// inWindow counts the issuer chain's transactions issued within window
// before tx, walking back at most policy.MaxInWindow steps.
func inWindow(tx *dag.Transaction, past dag.PastView, window interface{ Nanoseconds() int64 }) int64 {
	since := tx.Time - window.Nanoseconds()
	var n int64
	prev, seq := tx.Prev, tx.Seq
	for seq > 0 && n < policy.MaxInWindow {
		info, ok := past.Info(prev)
		if !ok || info.Time <= since {
			break
		}
		n++
		prev, seq = info.Prev, info.Seq
	}
	return n
}

// RateRule implements dag.RateRuler: the free rate and growth of the most
// specific policy in force (as of tx's past) that sets one.
func (r *Registry) RateRule(tx *dag.Transaction, past dag.PastView) (dag.RateRule, bool) {
	if r.policyCount == 0 {
		return dag.RateRule{}, false
	}
	d := r.deviceOf(tx, past)
	if d == nil {
		return dag.RateRule{}, false
	}
	sets := r.scopesOf(d)
	for i := len(sets) - 1; i >= 0; i-- {
		if p := sets[i].inForce(past); p != nil && p.payload.Source.Rate != nil {
			return rateRule(p.payload.Source.Rate), true
		}
	}
	return dag.RateRule{}, false
}

// CurrentRateRule implements dag.RateRuler with the newest policies.
func (r *Registry) CurrentRateRule(issuer dag.PublicKey) (dag.RateRule, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.policyCount == 0 {
		return dag.RateRule{}, false
	}
	d := r.deviceByKeyLocked(issuer)
	if d == nil {
		return dag.RateRule{}, false
	}
	sets := r.scopesOf(d)
	for i := len(sets) - 1; i >= 0; i-- {
		if p := sets[i].newest(); p != nil && p.payload.Source.Rate != nil {
			return rateRule(p.payload.Source.Rate), true
		}
	}
	return dag.RateRule{}, false
}

func rateRule(r *policy.Rate) dag.RateRule {
	return dag.RateRule{Window: r.Window, Free: r.Count, BitsPerExcess: r.Growth}
}

// PolicyRef names a policy transaction.
type PolicyRef struct {
	Transaction dag.ID        `json:"transaction"`
	Scope       Scope         `json:"scope"`
	Class       string        `json:"class,omitempty"`
	Device      *dag.ID       `json:"device,omitempty"`
	Name        string        `json:"name"`
	Version     uint64        `json:"version"`
	Authority   dag.PublicKey `json:"authority"`
}

// PolicyInfo is a policy as GET /v1/policies shows it.
type PolicyInfo struct {
	PolicyRef
	// InForce: the newest at its scope (what a transaction that sees
	// everything attached here is judged by).
	InForce    bool   `json:"in_force"`
	Reads      string `json:"reads"`
	Expression string `json:"expression"`
	// Rate is the free rate ("1/10s growth 2"), NodeWork the node-work
	// allowance, when set.
	Rate     string `json:"rate,omitempty"`
	NodeWork string `json:"node_work,omitempty"`
	// EstimatedCost is the install-time bound in cel-go cost units.
	EstimatedCost uint64 `json:"estimated_cost"`
	// Source is the policy file (header and expression).
	Source string `json:"source"`
}

func (r *Registry) ref(p *installed) PolicyRef {
	out := PolicyRef{
		Transaction: p.id, Scope: p.payload.Scope, Name: p.payload.Source.Name,
		Version: p.version(), Authority: r.genesis.Authorities[p.named].PublicKey,
	}
	switch p.payload.Scope {
	case ScopeClass:
		out.Class = p.payload.Class
	case ScopeDevice:
		id := p.payload.Device
		out.Device = &id
	}
	return out
}

func (r *Registry) info(p *installed, inForce bool) PolicyInfo {
	src := p.payload.Source
	out := PolicyInfo{PolicyRef: r.ref(p), InForce: inForce, Reads: src.Reads.String(), Expression: src.Expr, Source: string(src.Format())}
	if src.Rate != nil {
		out.Rate = fmt.Sprintf("%d/%v growth %d", src.Rate.Count, src.Rate.Window, src.Rate.Growth)
	}
	if src.NodeWork != nil {
		out.NodeWork = fmt.Sprintf("%d/%v", src.NodeWork.Count, src.NodeWork.Window)
	}
	if p.prog != nil {
		_, out.EstimatedCost = p.prog.EstimatedCost()
	}
	return out
}

// PolicyQuery selects policies: by scope and target, all of them, or only
// those in force.
type PolicyQuery struct {
	Scope   *Scope
	Class   string
	Device  *dag.ID
	InForce bool
}

// Policies lists installed policies: network, then classes by name, then
// devices by ID; at each scope by version.
func (r *Registry) Policies(q PolicyQuery) []PolicyInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []PolicyInfo{}
	add := func(set policySet) {
		newest := set.newest()
		for _, p := range set {
			if (!q.InForce || p == newest) && r.matches(p, q) {
				out = append(out, r.info(p, p == newest))
			}
		}
	}
	add(r.netPolicies)
	for _, c := range slices.Sorted(maps.Keys(r.classPolicies)) {
		add(r.classPolicies[c])
	}
	var devs []*device
	for _, d := range r.devices {
		if len(d.policies) > 0 {
			devs = append(devs, d)
		}
	}
	slices.SortFunc(devs, func(a, b *device) int { return a.id.Compare(b.id) })
	for _, d := range devs {
		add(d.policies)
	}
	return out
}

func (r *Registry) matches(p *installed, q PolicyQuery) bool {
	switch {
	case q.Scope != nil && p.payload.Scope != *q.Scope:
		return false
	case q.Class != "" && p.payload.Class != q.Class:
		return false
	case q.Device != nil && p.payload.Device != *q.Device:
		return false
	}
	return true
}

// PoliciesFor lists the policies that judge the device's next transaction
// when its past holds everything attached here, widest scope first.
func (r *Registry) PoliciesFor(id dag.ID) ([]PolicyInfo, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.byID[id]
	if d == nil {
		return nil, false
	}
	out := []PolicyInfo{}
	for _, set := range r.scopesOf(d) {
		if p := set.newest(); p != nil {
			out = append(out, r.info(p, true))
		}
	}
	return out, true
}

// horizonView is a PastView over a stored horizon: enough for the policy
// sets' visibility test.
type horizonView []uint64

func (h horizonView) Info(dag.ID) (dag.Info, bool) { return dag.Info{}, false }
func (h horizonView) Tag(dag.ID) uint32            { return 0 }
func (h horizonView) Horizon(named int) uint64 {
	if named < len(h) {
		return h[named]
	}
	return 0
}

// JudgedBy lists the policies that judged a transaction of the device's
// chain whose horizon is horizon (dag.Ledger.HorizonOf), widest first:
// the ones in force in its past.
func (r *Registry) JudgedBy(id dag.ID, horizon []uint64) []PolicyRef {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.byID[id]
	if d == nil {
		return nil
	}
	out := []PolicyRef{}
	for _, set := range r.scopesOf(d) {
		if p := set.inForce(horizonView(horizon)); p != nil {
			out = append(out, r.ref(p))
		}
	}
	return out
}

// NodeWork is the node-work allowance of the newest policies covering the
// device key signs for: the most specific that sets one.
func (r *Registry) NodeWork(key dag.PublicKey) (policy.Rate, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.deviceByKeyLocked(key)
	if d == nil {
		return policy.Rate{}, false
	}
	sets := r.scopesOf(d)
	for i := len(sets) - 1; i >= 0; i-- {
		if p := sets[i].newest(); p != nil && p.payload.Source.NodeWork != nil {
			return *p.payload.Source.NodeWork, true
		}
	}
	return policy.Rate{}, false
}

// policyDigest hashes one policy set into buf.
func appendPolicies(buf []byte, set policySet) []byte {
	buf = append(buf, byte(len(set)>>8), byte(len(set)))
	for _, p := range set {
		buf = append(buf, p.id[:]...)
	}
	return buf
}
