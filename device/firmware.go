package device

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/tangled-ledger/tangled/dag"
)

// Release is the payload of a KindRelease transaction: a firmware
// manifest with the SUIT fields (RFC 9124) that apply. The vendor is the
// issuing authority.
type Release struct {
	Class     string
	Component string
	// Seq is the release's sequence number, above every earlier release
	// of the class and component (anti-rollback).
	Seq    uint64
	Digest [32]byte // SHA-256 of the image
	Size   uint64
	URIs   []string
	// Precursor is the digest of the image a differential update applies
	// to; Requires the sequence number that must be installed first (0:
	// none).
	Precursor *[32]byte
	Requires  uint64
	// Expires is the ledger time (unix ns of the confirmed point a device
	// checks against, never its own clock) after which the release is not
	// to be installed; 0 for never.
	Expires  int64
	Security bool
}

// Limits of a release manifest.
const (
	MaxURIs      = 4
	MaxURILength = 1024
)

// ImageDigest is what a release names and a device measures: SHA-256.
func ImageDigest(image []byte) [32]byte { return sha256.Sum256(image) }

// Validate checks what DecodeRelease enforces.
func (r *Release) Validate() error {
	switch {
	case !dag.ValidClass(r.Class):
		return fmt.Errorf("%w: class %q", ErrPayload, r.Class)
	case !dag.ValidClass(r.Component):
		return fmt.Errorf("%w: component %q (1 to 64 of a-z 0-9 . _ -)", ErrPayload, r.Component)
	case r.Seq == 0:
		return fmt.Errorf("%w: a release's sequence number is at least 1", ErrPayload)
	case r.Size == 0:
		return fmt.Errorf("%w: an image has at least one byte", ErrPayload)
	case len(r.URIs) > MaxURIs:
		return fmt.Errorf("%w: %d URIs, at most %d", ErrPayload, len(r.URIs), MaxURIs)
	case r.Requires >= r.Seq:
		return fmt.Errorf("%w: release %d requires %d, not an earlier one", ErrPayload, r.Seq, r.Requires)
	case r.Expires < 0:
		return fmt.Errorf("%w: negative expiry", ErrPayload)
	}
	for _, u := range r.URIs {
		if len(u) == 0 || len(u) > MaxURILength || !utf8.ValidString(u) {
			return fmt.Errorf("%w: a URI is UTF-8 of 1 to %d bytes", ErrPayload, MaxURILength)
		}
	}
	return nil
}

// Encode is the canonical form:
//
//	class length u8 | class | component length u8 | component | seq u64 |
//	digest [32] | size u64 | URI count u8 | (length u16 | URI)* |
//	has-precursor u8 | [precursor digest 32] | requires u64 | expires u64 |
//	flags u8 (bit 0: security)
func (r *Release) Encode() []byte {
	b := []byte{byte(len(r.Class))}
	b = append(b, r.Class...)
	b = append(b, byte(len(r.Component)))
	b = append(b, r.Component...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, r.Digest[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Size)
	b = append(b, byte(len(r.URIs)))
	for _, u := range r.URIs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(u)))
		b = append(b, u...)
	}
	if r.Precursor != nil {
		b = append(b, 1)
		b = append(b, r.Precursor[:]...)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, r.Requires)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	var flags byte
	if r.Security {
		flags |= 1
	}
	return append(b, flags)
}

// DecodeRelease parses the canonical form only and validates it.
func DecodeRelease(p []byte) (*Release, error) {
	d := decoder{b: p}
	r := &Release{}
	r.Class = string(d.take(int(d.byte())))
	r.Component = string(d.take(int(d.byte())))
	r.Seq = d.u64()
	copy(r.Digest[:], d.take(32))
	r.Size = d.u64()
	n := int(d.byte())
	for range n {
		if d.err != nil {
			break
		}
		l := d.take(2)
		if l == nil {
			break
		}
		r.URIs = append(r.URIs, string(d.take(int(binary.BigEndian.Uint16(l)))))
	}
	switch d.byte() {
	case 0:
	case 1:
		var h [32]byte
		copy(h[:], d.take(32))
		r.Precursor = &h
	default:
		d.fail("precursor flag must be 0 or 1")
	}
	r.Requires = d.u64()
	r.Expires = int64(d.u64())
	switch flags := d.byte(); {
	case flags&^1 != 0:
		d.fail("unknown release flags")
	default:
		r.Security = flags&1 == 1
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// ApprovalPayload is the payload of a KindApproval: the release's ID.
func ApprovalPayload(release dag.ID) []byte { return append([]byte(nil), release[:]...) }

// InstallResult is what an install report says.
type InstallResult uint8

// The results.
const (
	InstallOK InstallResult = iota
	InstallFailed
)

func (r InstallResult) String() string {
	if r == InstallFailed {
		return "failed"
	}
	return "ok"
}

// InstallPayload is the payload of a KindInstall: the release, the
// digest the device measured over what it installed, and the result.
func InstallPayload(release dag.ID, measured [32]byte, result InstallResult) []byte {
	b := append(append([]byte(nil), release[:]...), measured[:]...)
	return append(b, byte(result))
}

// DecodeInstall parses an install report.
func DecodeInstall(p []byte) (release dag.ID, measured [32]byte, result InstallResult, err error) {
	if len(p) != dag.IDSize+32+1 || p[len(p)-1] > byte(InstallFailed) {
		return release, measured, 0, fmt.Errorf("%w: an install report is the release ID, the measured digest (32 bytes) and a result byte 0 (ok) or 1 (failed)", ErrPayload)
	}
	copy(release[:], p)
	copy(measured[:], p[dag.IDSize:])
	return release, measured, InstallResult(p[len(p)-1]), nil
}

// release is one release transaction the registry applied.
type release struct {
	id        dag.ID
	named     int
	seq       uint64 // of the issuer's chain: visibility
	manifest  *Release
	approvals []action // approvers' control transactions, in causal order
}

func (r *release) visible(past dag.PastView) bool { return past.Horizon(r.named) > r.seq }

// approvedIn counts the distinct approvers whose approval is visible and
// whose key is not retired in past.
func (r *Registry) approvedIn(rel *release, past dag.PastView) int {
	seen := map[int]bool{}
	for i := range rel.approvals {
		a := &rel.approvals[i]
		if a.visible(past) && !r.retiredIn(a.named, past) {
			seen[a.named] = true
		}
	}
	return len(seen)
}

// releaseLine is the releases of one class and component, by sequence
// number then ID.
type releaseLine []*release

// install is one install report of a device.
type install struct {
	id      dag.ID
	seq     uint64 // in the device's chain
	release *release
	result  InstallResult
}

func lineKey(class, component string) string { return class + "/" + component }

// newestVisible is the highest-numbered release of the line in the past.
func (l releaseLine) newestVisible(past dag.PastView) *release {
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].visible(past) {
			return l[i]
		}
	}
	return nil
}

func (r *Registry) checkRelease(tx *dag.Transaction, past dag.PastView) error {
	rel, err := DecodeRelease(tx.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v", dag.ErrMalformed, err)
	}
	a := r.authorityIndex(tx.Issuer)
	if a < 0 || !r.genesis.Authorities[a].MayActOn(rel.Class) {
		return reject(CodeClassNotAllowed, "authority %s may not release firmware for class %q", tx.Issuer, rel.Class)
	}
	// Against the active release, not the newest one: a release that
	// never gathered its approvals (one signed with a stolen key and a
	// huge number, TUF's fast-forward attack) must not freeze the line.
	if cur := r.activeIn(r.releases[lineKey(rel.Class, rel.Component)], past); cur != nil && rel.Seq <= cur.manifest.Seq {
		return reject(CodeFirmwareRollback, "release %d of %s/%s is not above release %d (%s)", rel.Seq, rel.Class, rel.Component, cur.manifest.Seq, cur.id)
	}
	return nil
}

func (r *Registry) checkApproval(tx *dag.Transaction, past dag.PastView) error {
	id, err := DecodeLifecycle(tx.Payload)
	if err != nil {
		return fmt.Errorf("%w: an approval payload is the release ID (32 bytes)", dag.ErrMalformed)
	}
	rel := r.releaseByID[id]
	if rel == nil || !rel.visible(past) {
		return reject(CodeUnknownRelease, "no release %s in this transaction's past", id)
	}
	rule, ok := r.genesis.ApprovalRule(rel.manifest.Class)
	if !ok || !slices.Contains(rule.Approvers, tx.Issuer) {
		return reject(CodeNotApprover, "%s is not an approver of class %q", tx.Issuer, rel.manifest.Class)
	}
	named, _ := r.genesis.Named(tx.Issuer)
	for i := range rel.approvals {
		if rel.approvals[i].named == named && rel.approvals[i].visible(past) {
			return reject(CodeAlreadyApproved, "%s approved release %s already", tx.Issuer, id)
		}
	}
	return nil
}

// checkInstall judges an install report of device d: the release must be
// in its past and for its class, and an ok report must name the
// release's digest.
func (r *Registry) checkInstall(tx *dag.Transaction, d *device, past dag.PastView) error {
	id, measured, result, err := DecodeInstall(tx.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v", dag.ErrMalformed, err)
	}
	rel := r.releaseByID[id]
	if rel == nil || !rel.visible(past) {
		return reject(CodeUnknownRelease, "no release %s in this transaction's past", id)
	}
	if rel.manifest.Class != d.class {
		return reject(CodeWrongTarget, "release %s is for class %q, the device is a %q", id, rel.manifest.Class, d.class)
	}
	if result == InstallOK && !bytes.Equal(measured[:], rel.manifest.Digest[:]) {
		return reject(CodeDigestMismatch, "the installed image's digest is not the release's")
	}
	if have, _ := d.firmwareAt(tx.Seq); result == InstallOK && rel.manifest.Requires > have {
		return reject(CodeReleaseRequires, "release %s requires release %d installed first; the device reported %d", id, rel.manifest.Requires, have)
	}
	if result == InstallOK {
		// A device installs only what its class's approvers released; an
		// ok report of anything else would let it claim a version it may
		// not run (and pass a policy's security floor). A failed report
		// stays allowed: it is evidence.
		if rule, ok := r.genesis.ApprovalRule(d.class); ok {
			if have := r.approvedIn(rel, past); have < rule.Threshold {
				return reject(CodeReleaseNotActive, "release %s has %d of the %d approvals its class needs in this transaction's past", id, have, rule.Threshold)
			}
		}
	}
	return nil
}

func (r *Registry) applyRelease(tx *dag.Transaction) {
	m, err := DecodeRelease(tx.Payload)
	if err != nil {
		return
	}
	named, _ := r.genesis.Named(tx.Issuer)
	rel := &release{id: tx.ID(), named: named, seq: tx.Seq, manifest: m}
	key := lineKey(m.Class, m.Component)
	line := r.releases[key]
	i, _ := slices.BinarySearchFunc(line, rel, func(a, b *release) int {
		if a.manifest.Seq != b.manifest.Seq {
			if a.manifest.Seq < b.manifest.Seq {
				return -1
			}
			return 1
		}
		return a.id.Compare(b.id)
	})
	r.releases[key] = slices.Insert(line, i, rel)
	r.releaseByID[rel.id] = rel
}

func (r *Registry) applyApproval(tx *dag.Transaction) {
	id, err := DecodeLifecycle(tx.Payload)
	if err != nil {
		return
	}
	if rel := r.releaseByID[id]; rel != nil {
		named, _ := r.genesis.Named(tx.Issuer)
		rel.approvals = append(rel.approvals, action{id: tx.ID(), kind: tx.Kind, named: named, seq: tx.Seq})
	}
}

func (r *Registry) applyInstall(tx *dag.Transaction, d *device) {
	id, _, result, err := DecodeInstall(tx.Payload)
	if err != nil {
		return
	}
	if rel := r.releaseByID[id]; rel != nil {
		h := d.own()
		h.installs = append(h.installs, install{id: tx.ID(), seq: tx.Seq, release: rel, result: result})
	}
}

// firmwareAt is the sequence number of the newest release the device
// reported installing successfully before chain position seq; false if
// none.
func (d *device) firmwareAt(seq uint64) (uint64, bool) {
	best, ok := uint64(0), false
	for _, in := range d.installs {
		if in.seq < seq && in.result == InstallOK && (!ok || in.seq > best) {
			best, ok = in.release.manifest.Seq, true
		}
	}
	return best, ok
}

// activeIn is the newest release of the line whose approvals meet the
// class's threshold in the past (every visible release, without a rule).
func (r *Registry) activeIn(line releaseLine, past dag.PastView) *release {
	for i := len(line) - 1; i >= 0; i-- {
		rel := line[i]
		if !rel.visible(past) {
			continue
		}
		rule, ok := r.genesis.ApprovalRule(rel.manifest.Class)
		if !ok || r.approvedIn(rel, past) >= rule.Threshold {
			return rel
		}
	}
	return nil
}

func appendReleases(buf []byte, line releaseLine) []byte {
	for _, rel := range line {
		buf = append(buf, rel.id[:]...)
		approvals := make([]dag.ID, len(rel.approvals))
		for i, a := range rel.approvals {
			approvals[i] = a.id
		}
		slices.SortFunc(approvals, dag.ID.Compare)
		for _, id := range approvals {
			buf = append(buf, id[:]...)
		}
	}
	return buf
}

// ReleaseInfo is a release as the firmware status shows it.
type ReleaseInfo struct {
	ID        dag.ID        `json:"id"`
	Authority dag.PublicKey `json:"authority"`
	Class     string        `json:"class"`
	Component string        `json:"component"`
	Seq       uint64        `json:"seq"`
	Digest    Hash          `json:"digest"`
	Size      uint64        `json:"size"`
	URIs      []string      `json:"uris"`
	Precursor *Hash         `json:"precursor,omitempty"`
	Requires  uint64        `json:"requires,omitempty"`
	Expires   int64         `json:"expires,omitempty"`
	Security  bool          `json:"security"`
	// Approvals are the approvers' transactions; Threshold how many
	// distinct approvers the class needs (0: none).
	Approvals []dag.ID `json:"approvals"`
	Threshold int      `json:"threshold"`
	// Active: the newest release of its line with enough approvals, as of
	// the horizon the status was taken at.
	Active bool `json:"active"`
}

// FirmwareStatus is a class's releases and rollout.
type FirmwareStatus struct {
	Class    string        `json:"class"`
	Releases []ReleaseInfo `json:"releases"`
	// Installed and Failed count, per release sequence number, the
	// class's devices whose newest install report says so.
	Installed map[uint64]int `json:"installed"`
	Failed    map[uint64]int `json:"failed"`
}

// Firmware is the class's firmware status; horizon (dag.Ledger.HorizonOf
// a confirmed point) decides which release is active there, so every node
// that confirmed that point reports the same one; nil means everything
// attached here.
func (r *Registry) Firmware(class string, horizon []uint64) FirmwareStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var past dag.PastView = allAttached{}
	if horizon != nil {
		past = horizonView(horizon)
	}
	out := FirmwareStatus{Class: class, Releases: []ReleaseInfo{}, Installed: map[uint64]int{}, Failed: map[uint64]int{}}
	var keys []string
	for k := range r.releases {
		if len(r.releases[k]) > 0 && r.releases[k][0].manifest.Class == class {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	rule, _ := r.genesis.ApprovalRule(class)
	for _, k := range keys {
		line := r.releases[k]
		active := r.activeIn(line, past)
		for _, rel := range line {
			if !rel.visible(past) {
				continue
			}
			m := rel.manifest
			info := ReleaseInfo{
				ID: rel.id, Authority: r.genesis.Authorities[rel.named].PublicKey, Class: m.Class, Component: m.Component,
				Seq: m.Seq, Digest: Hash(m.Digest), Size: m.Size, URIs: append([]string{}, m.URIs...), Precursor: hashPtr(m.Precursor),
				Requires: m.Requires, Expires: m.Expires, Security: m.Security, Approvals: []dag.ID{},
				Threshold: rule.Threshold, Active: rel == active,
			}
			for i := range rel.approvals {
				if a := &rel.approvals[i]; a.visible(past) && !r.retiredIn(a.named, past) {
					info.Approvals = append(info.Approvals, a.id)
				}
			}
			slices.SortFunc(info.Approvals, dag.ID.Compare)
			out.Releases = append(out.Releases, info)
		}
	}
	for _, d := range r.devices {
		if d.class != class || len(d.installs) == 0 {
			continue
		}
		last := d.installs[len(d.installs)-1]
		if last.result == InstallOK {
			out.Installed[last.release.manifest.Seq]++
		} else {
			out.Failed[last.release.manifest.Seq]++
		}
	}
	return out
}

// allAttached is a PastView in which everything attached is visible.
type allAttached struct{}

func (allAttached) Info(dag.ID) (dag.Info, bool) { return dag.Info{}, false }
func (allAttached) Tag(dag.ID) uint32            { return 0 }
func (allAttached) Horizon(int) uint64           { return ^uint64(0) }

// ImageSize is the size a release attached here signed for the image with
// digest (the lowest-ID release's, should two name it); false when none
// does. A node hosts only such images, at that size.
func (r *Registry) ImageSize(digest [32]byte) (uint64, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *release
	for _, rel := range r.releaseByID {
		if rel.manifest.Digest == digest && (best == nil || rel.id.Compare(best.id) < 0) {
			best = rel
		}
	}
	if best == nil {
		return 0, false
	}
	return best.manifest.Size, true
}
