package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/merkle"
)

// Errors of checkpoints and cosignatures.
var (
	// ErrCheckpoint: a checkpoint text, note or cosignature payload is
	// malformed or does not verify.
	ErrCheckpoint = errors.New("evidence: bad checkpoint")
	// ErrNotFinal: a checkpoint lacks the cosignatures of more than the
	// confirmation threshold of validator weight.
	ErrNotFinal = errors.New("evidence: checkpoint not final")
)

// Origin names a network's log in its checkpoints: "tangled/" and the
// genesis ID in hex. A checkpoint of one network never verifies as one
// of another.
func Origin(g *dag.Genesis) string { return "tangled/" + hex.EncodeToString(idBytes(g.ID())) }

func idBytes(id dag.ID) []byte { return id[:] }

// Checkpoint is a statement about the log: its first Size leaves have
// this Root.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   merkle.Hash
}

// Text is the checkpoint's body in the C2SP tlog-checkpoint form, the text
// that validators sign: origin, decimal size and base64 root, one per line.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// ParseCheckpointText parses Text's form and nothing else (no extension
// lines, canonical decimal and base64).
func ParseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, fmt.Errorf("%w: a checkpoint text is three lines (origin, size, root), each ending in a newline", ErrCheckpoint)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: size %q is not a canonical decimal", ErrCheckpoint, lines[1])
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(raw) != len(merkle.Hash{}) {
		return Checkpoint{}, fmt.Errorf("%w: root %q is not 32 bytes of base64", ErrCheckpoint, lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: size}
	copy(c.Root[:], raw)
	if c.Text() != text {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint text is not canonical", ErrCheckpoint)
	}
	return c, nil
}

// KeyName is a validator key's name in signed notes: "v-" and the first
// eight bytes of the key in hex. The note's key hash covers the whole key.
func KeyName(key dag.PublicKey) string { return "v-" + hex.EncodeToString(key[:8]) }

// keyHash is the signed-note key hash of an Ed25519 key (algorithm 1).
func keyHash(name string, key dag.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write([]byte{1})
	h.Write(key[:])
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// signer signs notes with a validator's node key.
type signer struct {
	key  ed25519.PrivateKey
	name string
	hash uint32
}

// NewSigner returns a note signer for a validator's key.
func NewSigner(key ed25519.PrivateKey) note.Signer {
	var pub dag.PublicKey
	copy(pub[:], key.Public().(ed25519.PublicKey))
	name := KeyName(pub)
	return &signer{key: key, name: name, hash: keyHash(name, pub)}
}

func (s *signer) Name() string    { return s.name }
func (s *signer) KeyHash() uint32 { return s.hash }
func (s *signer) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(s.key, msg), nil
}

// Cosignature is one validator's signature of a checkpoint's text.
type Cosignature struct {
	Validator int // index in the genesis validator list
	Signature [ed25519.SignatureSize]byte
}

// CheckpointPayload is the payload of a checkpoint transaction: size |
// root | the signature of the checkpoint's text (dag.CheckpointPayloadSize
// bytes).
func CheckpointPayload(c Checkpoint, sig []byte) []byte {
	p := binary.BigEndian.AppendUint64(make([]byte, 0, dag.CheckpointPayloadSize), c.Size)
	p = append(p, c.Root[:]...)
	return append(p, sig...)
}

// ParseCheckpointPayload splits a checkpoint transaction's payload.
func ParseCheckpointPayload(p []byte) (size uint64, root merkle.Hash, sig [ed25519.SignatureSize]byte, err error) {
	if len(p) != dag.CheckpointPayloadSize {
		return 0, root, sig, fmt.Errorf("%w: a checkpoint payload is %d bytes, not %d", ErrCheckpoint, dag.CheckpointPayloadSize, len(p))
	}
	size = binary.BigEndian.Uint64(p)
	copy(root[:], p[8:40])
	copy(sig[:], p[40:])
	return size, root, sig, nil
}

// SignCheckpoint is a validator's signature of c's text.
func SignCheckpoint(key ed25519.PrivateKey, c Checkpoint) []byte {
	return ed25519.Sign(key, []byte(c.Text()))
}

// VerifyCosignature checks a validator's signature of c's text.
func VerifyCosignature(key dag.PublicKey, c Checkpoint, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(key[:], []byte(c.Text()), sig)
}

// Verifiers are the genesis validators as signed-note verifiers.
func Verifiers(g *dag.Genesis) (note.Verifiers, error) {
	list := make([]note.Verifier, 0, len(g.Validators))
	for _, v := range g.Validators {
		vkey, err := note.NewEd25519VerifierKey(KeyName(v.PublicKey), ed25519.PublicKey(v.PublicKey[:]))
		if err != nil {
			return nil, fmt.Errorf("%w: validator %s: %v", ErrCheckpoint, v.PublicKey, err)
		}
		ver, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("%w: validator %s: %v", ErrCheckpoint, v.PublicKey, err)
		}
		list = append(list, ver)
	}
	return note.VerifierList(list...), nil
}

// SignedNote is c's text signed by the cosignatures, in the signed-note
// format (text, blank line, one "— name base64(keyhash‖signature)" line
// each), cosignatures in validator order.
func SignedNote(g *dag.Genesis, c Checkpoint, sigs []Cosignature) []byte {
	var b bytes.Buffer
	b.WriteString(c.Text())
	b.WriteString("\n")
	for _, s := range sigs {
		key := g.Validators[s.Validator].PublicKey
		name := KeyName(key)
		raw := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(s.Signature)), keyHash(name, key))
		raw = append(raw, s.Signature[:]...)
		fmt.Fprintf(&b, "\u2014 %s %s\n", name, base64.StdEncoding.EncodeToString(raw))
	}
	return b.Bytes()
}

// Final is a checkpoint with cosignatures of more than the threshold.
type Final struct {
	Checkpoint
	// Signers are the validators (genesis indices, ascending) whose
	// signatures verified, and Weight their total weight.
	Signers []int
	Weight  uint64
}

// OpenCheckpoint verifies a signed checkpoint note against the genesis:
// its origin is the genesis's, each signature is a distinct genesis
// validator's and verifies, their weight exceeds the confirmation
// threshold, and the note is exactly what SignedNote writes for them (so
// no byte of it can change unnoticed).
func OpenCheckpoint(g *dag.Genesis, signed []byte) (Final, error) {
	verifiers, err := Verifiers(g)
	if err != nil {
		return Final{}, err
	}
	n, err := note.Open(signed, verifiers)
	if err != nil {
		return Final{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	if len(n.UnverifiedSigs) > 0 {
		return Final{}, fmt.Errorf("%w: the note carries %d signatures of keys that are not the genesis validators'", ErrCheckpoint, len(n.UnverifiedSigs))
	}
	c, err := ParseCheckpointText(n.Text)
	if err != nil {
		return Final{}, err
	}
	if want := Origin(g); c.Origin != want {
		return Final{}, fmt.Errorf("%w: origin %q is not this network's (%q)", ErrCheckpoint, c.Origin, want)
	}
	byHash := map[uint32]int{}
	for i, v := range g.Validators {
		byHash[keyHash(KeyName(v.PublicKey), v.PublicKey)] = i
	}
	f := Final{Checkpoint: c}
	var sigs []Cosignature
	for _, s := range n.Sigs {
		i, ok := byHash[s.Hash]
		if !ok || (len(f.Signers) > 0 && i <= f.Signers[len(f.Signers)-1]) {
			return Final{}, fmt.Errorf("%w: signatures must be distinct validators' in genesis order", ErrCheckpoint)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(s.Base64)
		if err != nil || len(raw) != 4+ed25519.SignatureSize {
			return Final{}, fmt.Errorf("%w: signature of %s is not canonical base64", ErrCheckpoint, s.Name)
		}
		cs := Cosignature{Validator: i}
		copy(cs.Signature[:], raw[4:])
		sigs = append(sigs, cs)
		f.Signers = append(f.Signers, i)
		f.Weight += g.Validators[i].Weight
	}
	if !bytes.Equal(SignedNote(g, c, sigs), signed) {
		return Final{}, fmt.Errorf("%w: the note is not in canonical form", ErrCheckpoint)
	}
	if !ExceedsThreshold(g, f.Weight) {
		return Final{}, fmt.Errorf("%w: signed by weight %d of %d, which does not exceed the threshold %d/%d", ErrNotFinal, f.Weight, g.TotalWeight(), threshold(g).Numerator, threshold(g).Denominator)
	}
	return f, nil
}

func threshold(g *dag.Genesis) dag.Threshold {
	if g.Threshold.Denominator == 0 {
		return dag.DefaultThreshold
	}
	return g.Threshold
}

// ExceedsThreshold applies the genesis confirmation rule to weight.
func ExceedsThreshold(g *dag.Genesis, weight uint64) bool {
	t := threshold(g)
	return weight*t.Denominator > g.TotalWeight()*t.Numerator
}
