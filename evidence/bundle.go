package evidence

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/merkle"
	"github.com/tangled-ledger/tangled/pow"
)

// Format is the version string of the bundle format this package writes
// and reads (docs/evidence.md describes it).
const Format = "tangled-evidence/1"

// Bundle kinds.
const (
	KindTransaction = "transaction"
	KindDevice      = "device"
)

// ErrBundle: a bundle is malformed, not canonical, or does not verify.
var ErrBundle = errors.New("evidence: bundle does not verify")

// Bundle is self-contained evidence: transactions, their positions in the
// log with inclusion proofs, and a checkpoint of the log that validators
// over the threshold cosigned. With the network's genesis, and nothing
// else, it verifies offline.
type Bundle struct {
	Format string `json:"format"`
	Kind   string `json:"kind"`
	// Genesis is the genesis ID in hex: the verifier's genesis file must
	// hash to it.
	Genesis string `json:"genesis"`
	// Checkpoint is the cosigned checkpoint, a signed note.
	Checkpoint string  `json:"checkpoint"`
	Entries    []Entry `json:"entries"`
	// Device is the device's ID in hex (device bundles).
	Device string `json:"device,omitempty"`
	// Equivocation holds two transactions of the device with one sequence
	// number (base64 canonical bytes), a proof of a cloned key by itself.
	Equivocation []string `json:"equivocation,omitempty"`
}

// Entry is one logged transaction.
type Entry struct {
	// Transaction is its canonical encoding, base64.
	Transaction string `json:"transaction"`
	LogIndex    uint64 `json:"log_index"`
	// InclusionProof is the RFC 6962 audit path to the checkpoint's root,
	// base64 hashes.
	InclusionProof []string `json:"inclusion_proof"`
}

// Encode is the bundle's canonical bytes: compact JSON and a newline.
// Verification accepts these bytes only, so no byte can change unnoticed.
func (b *Bundle) Encode() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(err) // strings, numbers and slices only: cannot fail
	}
	return append(out, '\n')
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

func hashes(p []merkle.Hash) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = b64(h[:])
	}
	return out
}

// EntryFor builds the entry of a logged transaction against the log of
// size leaves.
func (l *Log) EntryFor(id dag.ID, raw []byte, size uint64) (Entry, error) {
	index, err := l.IndexOf(id)
	if err != nil {
		return Entry{}, err
	}
	if index >= size {
		return Entry{}, fmt.Errorf("%w: %s is at %d, past the checkpoint's size %d", ErrNotLogged, id.Short(), index, size)
	}
	proof, err := l.InclusionProof(index, size)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Transaction: b64(raw), LogIndex: index, InclusionProof: hashes(proof)}, nil
}

// NewBundle starts a bundle of kind against the newest final checkpoint;
// ErrNotFinal before there is one.
func (l *Log) NewBundle(kind string) (*Bundle, Final, error) {
	f, note, ok := l.Latest()
	if !ok {
		return nil, Final{}, fmt.Errorf("%w: no checkpoint is final yet", ErrNotFinal)
	}
	id := l.genesis.ID()
	return &Bundle{Format: Format, Kind: kind, Genesis: hex.EncodeToString(id[:]), Checkpoint: string(note), Entries: []Entry{}}, f, nil
}

// ProvenEntry is what a verified entry shows.
type ProvenEntry struct {
	ID       dag.ID        `json:"id"`
	Kind     dag.Kind      `json:"kind"`
	Issuer   dag.PublicKey `json:"issuer"`
	Seq      uint64        `json:"seq"`
	Time     string        `json:"time"`
	LogIndex uint64        `json:"log_index"`
	tx       *dag.Transaction
}

// Proven is what a bundle proves, once verified.
type Proven struct {
	Kind string `json:"kind"`
	// Log and Size name the checkpoint (origin and size), Root its root,
	// Signers the validators whose cosignatures verified and Weight theirs.
	Log     string          `json:"log"`
	Size    uint64          `json:"size"`
	Root    string          `json:"root"`
	Signers []dag.PublicKey `json:"signers"`
	Weight  uint64          `json:"weight"`
	Total   uint64          `json:"total_weight"`
	Entries []ProvenEntry   `json:"entries"`
	Device  *ProvenDevice   `json:"device,omitempty"`
}

// ProvenDevice is what a device bundle proves about the device, as of the
// checkpoint: facts of the transactions it carries. It cannot prove that
// nothing else happened (a later action beyond the checkpoint, or one the
// node left out); a newer bundle shows more.
type ProvenDevice struct {
	ID    dag.ID        `json:"id"`
	Class string        `json:"class"`
	Owner dag.PublicKey `json:"owner"`
	// Keys are the device's keys in order: the registered one, then each
	// rotation's.
	Keys []dag.PublicKey `json:"keys"`
	// State is the lifecycle after the bundle's control actions: active,
	// suspended or revoked.
	State string `json:"state"`
	// Quarantined: the bundle carries two signed transactions of the
	// device with one sequence number.
	Quarantined bool `json:"quarantined"`
}

// Verify checks a bundle's bytes against the genesis alone: canonical
// form, the checkpoint's cosignatures over the threshold, every entry's
// signature, work and inclusion, and for a device bundle that its
// transactions are the device's. It returns what the bundle proves.
func Verify(g *dag.Genesis, data []byte) (*Proven, error) {
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: not a bundle: %v", ErrBundle, err)
	}
	if !bytes.Equal(b.Encode(), data) {
		return nil, fmt.Errorf("%w: not in canonical form (a bundle is verified byte for byte, as the node wrote it: was it edited or reformatted?)", ErrBundle)
	}
	if b.Format != Format {
		return nil, fmt.Errorf("%w: format %q, this verifier reads %q", ErrBundle, b.Format, Format)
	}
	gid := g.ID()
	if b.Genesis != hex.EncodeToString(gid[:]) {
		return nil, fmt.Errorf("%w: the bundle is of genesis %s, not of this one (%x)", ErrBundle, b.Genesis, gid[:])
	}
	f, err := OpenCheckpoint(g, []byte(b.Checkpoint))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBundle, err)
	}
	p := &Proven{Kind: b.Kind, Log: f.Origin, Size: f.Size, Root: hex.EncodeToString(f.Root[:]), Weight: f.Weight, Total: g.TotalWeight(), Entries: []ProvenEntry{}}
	for _, i := range f.Signers {
		p.Signers = append(p.Signers, g.Validators[i].PublicKey)
	}
	for i, e := range b.Entries {
		pe, err := verifyEntry(g, f, e)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBundle, i, err)
		}
		p.Entries = append(p.Entries, pe)
	}
	switch b.Kind {
	case KindTransaction:
		if len(b.Entries) != 1 || b.Device != "" || len(b.Equivocation) != 0 {
			return nil, fmt.Errorf("%w: a transaction bundle holds exactly one entry", ErrBundle)
		}
	case KindDevice:
		if p.Device, err = proveDevice(g, &b, p.Entries); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBundle, err)
		}
	default:
		return nil, fmt.Errorf("%w: unknown bundle kind %q", ErrBundle, b.Kind)
	}
	return p, nil
}

// decodeTx decodes and authenticates one transaction's bytes.
func decodeTx(g *dag.Genesis, s string) (*dag.Transaction, []byte, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, nil, fmt.Errorf("transaction is not base64: %v", err)
	}
	maxPayload := g.MaxPayload
	if maxPayload == 0 {
		maxPayload = dag.DefaultMaxPayload
	}
	tx, err := dag.Decode(raw, maxPayload)
	if err != nil {
		return nil, nil, err
	}
	if !dag.VerifySignature(tx) {
		return nil, nil, fmt.Errorf("transaction %s: signature does not verify", tx.ID().Short())
	}
	if !pow.Verify(tx.ID(), tx.Nonce, minWork(g, tx)) {
		return nil, nil, fmt.Errorf("transaction %s: its work is below the genesis minimum", tx.ID().Short())
	}
	return tx, raw, nil
}

// minWork is the least work any transaction of its kind and size needs
// (the rate part of the rule depends on the issuer's history, which a
// bundle does not carry).
func minWork(g *dag.Genesis, tx *dag.Transaction) int {
	return g.Difficulty.Required(len(tx.Payload), 0)
}

func verifyEntry(g *dag.Genesis, f Final, e Entry) (ProvenEntry, error) {
	tx, raw, err := decodeTx(g, e.Transaction)
	if err != nil {
		return ProvenEntry{}, err
	}
	proof := make([]merkle.Hash, len(e.InclusionProof))
	for i, s := range e.InclusionProof {
		h, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(h) != len(merkle.Hash{}) {
			return ProvenEntry{}, fmt.Errorf("proof hash %d is not 32 bytes of base64", i)
		}
		copy(proof[i][:], h)
	}
	if err := merkle.VerifyInclusion(merkle.LeafHash(raw), e.LogIndex, f.Size, proof, f.Root); err != nil {
		return ProvenEntry{}, fmt.Errorf("transaction %s at %d: %w", tx.ID().Short(), e.LogIndex, err)
	}
	return ProvenEntry{ID: tx.ID(), Kind: tx.Kind, Issuer: tx.Issuer, Seq: tx.Seq, Time: dag.FormatTime(tx.Time), LogIndex: e.LogIndex, tx: tx}, nil
}

// proveDevice derives a device's facts from its bundle's entries, in log
// order: the registration first, rotations signed by the key they
// replace, control actions of authorities naming the device.
func proveDevice(g *dag.Genesis, b *Bundle, entries []ProvenEntry) (*ProvenDevice, error) {
	if len(entries) == 0 || entries[0].Kind != dag.KindRegister {
		return nil, errors.New("a device bundle starts with the device's registration")
	}
	if !slices.IsSortedFunc(entries, func(a, b ProvenEntry) int { return int(a.LogIndex) - int(b.LogIndex) }) {
		return nil, errors.New("a device bundle's entries are in log order")
	}
	reg, err := device.DecodeRegistration(entries[0].tx.Payload)
	if err != nil {
		return nil, err
	}
	d := &ProvenDevice{ID: entries[0].ID, Class: reg.Class, Owner: entries[0].Issuer, Keys: []dag.PublicKey{reg.Key}, State: "active"}
	if b.Device != hex.EncodeToString(d.ID[:]) {
		return nil, fmt.Errorf("the bundle names device %s, its registration is %x", b.Device, d.ID[:])
	}
	if i, ok := g.Named(d.Owner); !ok || i >= len(g.Authorities) || !g.Authorities[i].MayActOn(reg.Class) {
		return nil, fmt.Errorf("the registration's issuer %s is not a genesis authority of class %q", d.Owner, reg.Class)
	}
	for _, e := range entries[1:] {
		tx := e.tx
		switch tx.Kind {
		case dag.KindRotate:
			key, _, ok := dag.ParseRotatePayload(tx.Payload)
			if !ok || tx.Issuer != d.Keys[len(d.Keys)-1] {
				return nil, fmt.Errorf("rotation %s is not signed by the device's key before it", tx.ID().Short())
			}
			d.Keys = append(d.Keys, key)
		case dag.KindSuspend, dag.KindResume, dag.KindRevoke:
			id, err := device.DecodeLifecycle(tx.Payload)
			if err != nil || id != d.ID || tx.Issuer != d.Owner {
				return nil, fmt.Errorf("control %s is not the device owner's action on it", tx.ID().Short())
			}
			d.State = map[dag.Kind]string{dag.KindSuspend: "suspended", dag.KindResume: "active", dag.KindRevoke: "revoked"}[tx.Kind]
		case dag.KindTransfer:
			id, to, err := device.DecodeTransfer(tx.Payload)
			if err != nil || id != d.ID || tx.Issuer != d.Owner {
				return nil, fmt.Errorf("transfer %s is not the device owner's action on it", tx.ID().Short())
			}
			d.Owner = to
		default:
			return nil, fmt.Errorf("entry %s (%s) is not a device's registration, rotation or control action", tx.ID().Short(), tx.Kind)
		}
	}
	switch len(b.Equivocation) {
	case 0:
	case 2:
		a, _, err := decodeTx(g, b.Equivocation[0])
		if err != nil {
			return nil, err
		}
		c, _, err := decodeTx(g, b.Equivocation[1])
		if err != nil {
			return nil, err
		}
		if a.Issuer != c.Issuer || a.Seq != c.Seq || a.ID() == c.ID() || !slices.Contains(d.Keys, a.Issuer) {
			return nil, fmt.Errorf("the equivocation is not two transactions of one device key with one sequence number (%s %d, %s %d, keys %v)", a.Issuer, a.Seq, c.Issuer, c.Seq, d.Keys)
		}
		d.Quarantined = true
	default:
		return nil, errors.New("an equivocation is two transactions")
	}
	return d, nil
}
