package device

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/tangled-ledger/tangled/dag"
)

// Freshness without a clock (issue 12, item 4; see
// docs/design/2026-12-02-firmware.md). Every validator beacon commits to
// the active release of every release line in its own past (the
// beacon's payload, checked by every node like any rule: a wrong
// commitment is rejected). A device posts a transaction of its own (the
// anchor, a nonce only it knows when it was made), waits for it to be
// confirmed and asks for a FreshnessProof: beacons of validators whose
// weight exceeds the confirmation threshold, each with a chain of
// parent or predecessor links down to the anchor, all committing to the
// same state. Since the honest validators among them saw that state
// after the anchor, no release newer than the committed one was
// confirmed before them (it would need the approval of a quorum, which
// intersects this one in an honest validator), and the state is at most
// one round trip of the device's own old.

// CodeBadCommitment: a beacon's payload is not the firmware state of its
// past.
const CodeBadCommitment = "beacon_commitment"

// ActiveLine is one release line (class/component) and its active
// release, as a beacon commits to it.
type ActiveLine struct {
	Line    string `json:"line"`
	Release dag.ID `json:"release"`
}

// Limits of a proof.
const (
	// MaxProofLines bounds the lines a commitment covers.
	MaxProofLines = 4096
	// MaxProofPath bounds the links from a beacon down to the anchor.
	MaxProofPath = 64
)

// CommitLines is the beacon payload for lines (sorted by line, at most
// one entry each): SHA-256 over line length u8 | line | release ID per
// line; nil for none, so beacons of a network without releases stay
// empty.
func CommitLines(lines []ActiveLine) []byte {
	if len(lines) == 0 {
		return nil
	}
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte{byte(len(l.Line))})
		h.Write([]byte(l.Line))
		h.Write(l.Release[:])
	}
	return h.Sum(nil)
}

// activeLinesIn is the active release of every line in past, by line.
func (r *Registry) activeLinesIn(past dag.PastView) []ActiveLine {
	var out []ActiveLine
	for key, line := range r.releases {
		if rel := r.activeIn(line, past); rel != nil {
			out = append(out, ActiveLine{Line: key, Release: rel.id})
		}
	}
	slices.SortFunc(out, func(a, b ActiveLine) int { return cmp.Compare(a.Line, b.Line) })
	return out
}

// ActiveLines is the state a beacon whose past has horizon (the
// elementwise maximum of its parents' and predecessor's
// dag.Ledger.HorizonOf) commits to.
func (r *Registry) ActiveLines(horizon []uint64) []ActiveLine {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.activeLinesIn(horizonView(horizon))
}

func (r *Registry) checkBeacon(tx *dag.Transaction, past dag.PastView) error {
	if want := CommitLines(r.activeLinesIn(past)); !bytes.Equal(tx.Payload, want) {
		return reject(CodeBadCommitment, "a beacon's payload is the SHA-256 of the active releases in its past (%d bytes expected)", len(want))
	}
	return nil
}

// ProofBeacon is one validator's beacon in a FreshnessProof and the
// transactions linking it to the anchor: Path[0] is a parent (trunk or
// branch) or the predecessor of the beacon, each next one of the one
// before, and the anchor is one of the last one's (Path empty: of the
// beacon's).
type ProofBeacon struct {
	Beacon []byte   `json:"beacon"`
	Path   [][]byte `json:"path"`
}

// FreshnessProof is what GET /v1/firmware/{class}?anchor=ID adds to the
// status: the committed state, the class's active releases (their
// transactions), and the beacons.
type FreshnessProof struct {
	Anchor   dag.ID        `json:"anchor"`
	Lines    []ActiveLine  `json:"lines"`
	Releases [][]byte      `json:"releases"`
	Beacons  []ProofBeacon `json:"beacons"`
}

// FreshState is what a verified proof says.
type FreshState struct {
	// Active maps each line of the class asked for to its active
	// release's ID and manifest.
	Active map[string]VerifiedRelease
	// Time is the median issuing time of the beacons: the ledger time the
	// state is as of (validators' clocks, not the device's).
	Time int64
	// Weight is the beacons' validator weight.
	Weight uint64
}

// VerifiedRelease is a release whose transaction the proof carried.
type VerifiedRelease struct {
	ID       dag.ID
	Manifest *Release
}

// VerifyFreshness checks a proof against the genesis alone (validators,
// weights, threshold, authorities) and the anchor the device posted:
// distinct validators of weight above the threshold, each beacon signed,
// linked by hashes down to the anchor, and committing to p.Lines; the
// releases of class in p.Lines present, signed by an authority of the
// class. It needs no clock.
func VerifyFreshness(g *dag.Genesis, class string, anchor dag.ID, p *FreshnessProof) (*FreshState, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: freshness proof: %s", ErrPayload, fmt.Sprintf(format, args...))
	}
	if p == nil {
		return nil, bad("none")
	}
	if p.Anchor != anchor {
		return nil, bad("for anchor %s, not %s", p.Anchor.Short(), anchor.Short())
	}
	if len(p.Lines) > MaxProofLines {
		return nil, bad("%d lines", len(p.Lines))
	}
	for i := 1; i < len(p.Lines); i++ {
		if p.Lines[i-1].Line >= p.Lines[i].Line {
			return nil, bad("lines not sorted")
		}
	}
	commitment := CommitLines(p.Lines)
	maxPayload := g.MaxPayload
	if maxPayload == 0 {
		maxPayload = dag.DefaultMaxPayload
	}
	var total, weight uint64
	for _, v := range g.Validators {
		total += v.Weight
	}
	seen := map[dag.PublicKey]bool{}
	var times []int64
	for i, pb := range p.Beacons {
		b, err := dag.Decode(pb.Beacon, maxPayload)
		if err != nil {
			return nil, bad("beacon %d: %v", i, err)
		}
		v := slices.IndexFunc(g.Validators, func(v dag.Validator) bool { return v.PublicKey == b.Issuer })
		switch {
		case b.Kind != dag.KindBeacon:
			return nil, bad("beacon %d is a %s", i, b.Kind)
		case v < 0:
			return nil, bad("beacon %d is by %s, no validator", i, b.Issuer)
		case seen[b.Issuer]:
			return nil, bad("two beacons of validator %s", b.Issuer)
		case !bytes.Equal(b.Payload, commitment):
			return nil, bad("beacon %d commits to another state", i)
		case !dag.VerifySignature(b):
			return nil, bad("beacon %d: bad signature", i)
		case len(pb.Path) > MaxProofPath:
			return nil, bad("beacon %d: a path of %d links", i, len(pb.Path))
		}
		seen[b.Issuer] = true
		cur := b
		for j, raw := range pb.Path {
			next, err := dag.Decode(raw, maxPayload)
			if err != nil {
				return nil, bad("beacon %d, link %d: %v", i, j, err)
			}
			if !links(cur, next.ID()) {
				return nil, bad("beacon %d, link %d is not a parent or predecessor of the one before", i, j)
			}
			cur = next
		}
		if !links(cur, anchor) {
			return nil, bad("beacon %d's path does not reach the anchor", i)
		}
		weight += g.Validators[v].Weight
		times = append(times, b.Time)
	}
	t := g.Threshold
	if t == (dag.Threshold{}) {
		t = dag.DefaultThreshold
	}
	if weight*t.Denominator <= total*t.Numerator {
		return nil, bad("beacons of weight %d of %d, not above the threshold %d/%d", weight, total, t.Numerator, t.Denominator)
	}
	st := &FreshState{Active: map[string]VerifiedRelease{}, Weight: weight}
	slices.Sort(times)
	st.Time = times[len(times)/2]
	byID := map[dag.ID]*dag.Transaction{}
	for i, raw := range p.Releases {
		tx, err := dag.Decode(raw, maxPayload)
		if err != nil {
			return nil, bad("release %d: %v", i, err)
		}
		byID[tx.ID()] = tx
	}
	prefix := class + "/"
	for _, l := range p.Lines {
		if len(l.Line) <= len(prefix) || l.Line[:len(prefix)] != prefix {
			continue
		}
		tx := byID[l.Release]
		if tx == nil {
			return nil, bad("release %s of line %s missing", l.Release.Short(), l.Line)
		}
		m, err := DecodeRelease(tx.Payload)
		if err != nil || tx.Kind != dag.KindRelease || lineKey(m.Class, m.Component) != l.Line {
			return nil, bad("release %s is not a release of line %s", l.Release.Short(), l.Line)
		}
		a := slices.IndexFunc(g.Authorities, func(a dag.Authority) bool { return a.PublicKey == tx.Issuer })
		if a < 0 || !g.Authorities[a].MayActOn(m.Class) || !dag.VerifySignature(tx) {
			return nil, bad("release %s is not signed by an authority of class %s", l.Release.Short(), m.Class)
		}
		st.Active[m.Component] = VerifiedRelease{ID: l.Release, Manifest: m}
	}
	return st, nil
}

// links reports whether id is tx's trunk, branch or predecessor.
func links(tx *dag.Transaction, id dag.ID) bool {
	return tx.Trunk == id || tx.Branch == id || (tx.Seq > 0 && tx.Prev == id)
}
