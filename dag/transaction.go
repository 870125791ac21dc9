package dag

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Version is the only transaction encoding version this node speaks.
const Version uint8 = 1

// Kind says what a transaction is for. Unknown kinds are rejected by the
// decoder, so adding one is a protocol change.
type Kind uint8

// The transaction kinds.
const (
	// KindData is a device reading or event.
	KindData Kind = 1
	// KindBeacon is a validator's beacon: its approvals carry the
	// validator's weight into the past cone.
	KindBeacon Kind = 2

	// The device layer's control kinds. Their payloads are the device
	// package's (device.Register and friends), except KindRotate's, which
	// the ledger reads too: it continues the issuer chain under a new key.

	// KindRegister binds a new device identity (its ID is the
	// registration's) to a public key, class, owner and attributes.
	KindRegister Kind = 3
	// KindSuspend, KindResume and KindRevoke change a device's lifecycle.
	KindSuspend Kind = 4
	KindResume  Kind = 5
	KindRevoke  Kind = 6
	// KindTransfer hands a device to another authority.
	KindTransfer Kind = 7
	// KindRotate is a device's key rotation, in the device's own chain and
	// signed by its current key; its payload is the new key, optionally
	// followed by the hash of the key after it (RotatePayload).
	KindRotate Kind = 8
	// KindQuarantine is a validator's notice that a device equivocated: its
	// trunk and branch are the two transactions with one sequence number.
	KindQuarantine Kind = 9
	// KindPolicy attaches an access policy (a CEL program, device/policy)
	// to the network, a device class or one device.
	KindPolicy Kind = 10
	// KindCommand is a command to a device: its payload starts with the
	// target device's ID. The target's policies judge it too, so a lock
	// can accept commands only from its owner.
	KindCommand Kind = 11
	// KindRelease is a manufacturer's firmware release manifest for a
	// device class (device.Release).
	KindRelease Kind = 12
	// KindApproval is an approver's co-signature of a release: the
	// release activates once a class's threshold of them is in the past.
	KindApproval Kind = 13
	// KindInstall is a device's install report (the release, the digest it
	// measured, ok or failed), in the device's own chain.
	KindInstall Kind = 14
	// KindRetire is an authority's retirement of its own key (a stolen or
	// lost manufacturer, fleet or approver key): from every past that holds
	// it, the key acts no more and its firmware approvals count for
	// nothing. Irreversible; its payload is empty.
	KindRetire Kind = 15
	// KindCheckpoint is a validator's cosignature of a checkpoint of the
	// audit log (the evidence package): the log size, its Merkle root and
	// an Ed25519 signature over the checkpoint's signed-note text, in the
	// validator's own chain. The ledger checks only its length; the
	// evidence layer checks the rest when it collects cosignatures.
	KindCheckpoint Kind = 16
)

// CheckpointPayloadSize is the length of a KindCheckpoint payload: size
// u64 big-endian | root [32] | note signature [64].
const CheckpointPayloadSize = 8 + 32 + 64

// KindSpec is what the ledger knows of a kind: one row of a table instead
// of kind-specific conditions spread over attach, the pipeline and the
// queries. The device layer's control kinds are to become rows of it.
type KindSpec struct {
	// Name is the kind's JSON and text name.
	Name string
	// ValidatorsOnly: only genesis validators may issue it (not_validator
	// otherwise), checked before the signature.
	ValidatorsOnly bool
	// RateExempt: the issuer-rate part of the difficulty does not apply
	// (validators issue beacons several times a second by design).
	RateExempt bool
	// Weighs: attaching it carries its issuer's approval weight into its
	// past cone. Only a validator has weight, so it implies
	// ValidatorsOnly.
	Weighs bool
	// Data: it counts as data waiting for confirmation (Stats), which
	// beacons do not.
	Data bool
	// AuthoritiesOnly: only genesis authorities may issue it
	// (not_authority otherwise), checked before the signature.
	AuthoritiesOnly bool
	// Control: a control transaction of a genesis authority or validator;
	// the ledger tracks, for every transaction, the newest control
	// transaction of each of them in its past (PastView.Horizon).
	Control bool
	// RotatesKey: the payload starts with the public key that signs the
	// issuer chain from the next transaction on.
	RotatesKey bool
	// PayloadSize, when non-zero, is the only payload length the kind
	// allows (malformed otherwise), checked before the signature.
	PayloadSize int
	// Audit: a checkpoint transaction of the audit log (package
	// evidence). Like control transactions it is not ruled out for
	// approving what a node rules out: the log's anchors approve what the
	// orderer has confirmed, which another node may have ruled out before
	// it was confirmed there too (RuledOut is a node's view), and an
	// anchor that honest validators refused to approve would stop the log.
	Audit bool
}

// KeepsApproval reports whether a transaction of the kind stays
// approvable when it approves a transaction this node rules out (see
// Info.RuledOut): control and audit transactions must be confirmed
// whatever one node's view.
func (s KindSpec) KeepsApproval() bool { return s.Control || s.Audit }

// kinds is the table, indexed by kind; an empty name is an unknown kind.
// Authorities' control transactions are exempt from the rate part of the
// difficulty: a fleet owner registers thousands of devices at once.
var kinds = [...]KindSpec{
	KindData:       {Name: "data", Data: true},
	KindBeacon:     {Name: "beacon", ValidatorsOnly: true, RateExempt: true, Weighs: true},
	KindRegister:   {Name: "register", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindSuspend:    {Name: "suspend", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindResume:     {Name: "resume", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindRevoke:     {Name: "revoke", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindTransfer:   {Name: "transfer", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindRotate:     {Name: "rotate", Data: true, RotatesKey: true},
	KindQuarantine: {Name: "quarantine", Data: true, ValidatorsOnly: true, Control: true, RateExempt: true},
	KindPolicy:     {Name: "policy", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindCommand:    {Name: "command", Data: true},
	KindRelease:    {Name: "release", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindApproval:   {Name: "approval", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindInstall:    {Name: "install", Data: true},
	KindRetire:     {Name: "retire", Data: true, AuthoritiesOnly: true, Control: true, RateExempt: true},
	KindCheckpoint: {Name: "checkpoint", ValidatorsOnly: true, RateExempt: true, PayloadSize: CheckpointPayloadSize, Audit: true},
}

// RotatePayload is the payload of a KindRotate transaction: the new key,
// and when nextHash is non-nil the BLAKE3-256 hash of the key the next
// rotation must name (a pre-committed rotation).
func RotatePayload(newKey PublicKey, nextHash *[32]byte) []byte {
	p := append([]byte(nil), newKey[:]...)
	if nextHash != nil {
		p = append(p, nextHash[:]...)
	}
	return p
}

// ParseRotatePayload splits a rotation payload; ok is false when it is
// neither 32 nor 64 bytes.
func ParseRotatePayload(p []byte) (newKey PublicKey, nextHash *[32]byte, ok bool) {
	if len(p) != PublicKeySize && len(p) != PublicKeySize+32 {
		return PublicKey{}, nil, false
	}
	copy(newKey[:], p)
	if len(p) > PublicKeySize {
		var h [32]byte
		copy(h[:], p[PublicKeySize:])
		nextHash = &h
	}
	return newKey, nextHash, true
}

// Spec returns k's row of the kind table; the zero KindSpec for an
// unknown kind.
func (k Kind) Spec() KindSpec {
	if int(k) < len(kinds) {
		return kinds[k]
	}
	return KindSpec{}
}

// Known reports whether k is a kind of this protocol version.
func (k Kind) Known() bool { return k.Spec().Name != "" }

func (k Kind) String() string {
	if name := k.Spec().Name; name != "" {
		return name
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText gives the kind's name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Known() {
		return nil, fmt.Errorf("%w: %d", ErrKind, k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses a kind's name.
func (k *Kind) UnmarshalText(text []byte) error {
	for kind, spec := range kinds {
		if spec.Name != "" && spec.Name == string(text) {
			*k = Kind(kind)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrKind, text)
}

// PublicKeySize and SignatureSize are Ed25519's sizes.
const (
	PublicKeySize = ed25519.PublicKeySize
	SignatureSize = ed25519.SignatureSize
)

// PublicKey is an issuer's Ed25519 public key.
type PublicKey [PublicKeySize]byte

// String returns the lower-case hex form.
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// MarshalText encodes the key as hex.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes 64 lower-case hex digits.
func (k *PublicKey) UnmarshalText(text []byte) error {
	return decodeHex(k[:], "public key", string(text))
}

// Wire layout, all integers big-endian:
//
//	version u8 | kind u8 | trunk [32] | branch [32] | issuer [32] | seq u64 |
//	prev [32] | time i64 (unix ns) | payload length u32 | payload |
//	signature [64] | nonce u64
//
// The essence is everything before the signature. The signature follows it
// directly so that the ID, BLAKE3(essence ‖ signature), is one hash over one
// contiguous slice; the nonce comes last because it is not part of the ID.
const (
	offKind     = 1
	offTrunk    = 2
	offBranch   = offTrunk + IDSize
	offIssuer   = offBranch + IDSize
	offSeq      = offIssuer + PublicKeySize
	offPrev     = offSeq + 8
	offTime     = offPrev + IDSize
	offPayLen   = offTime + 8
	headerSize  = offPayLen + 4
	trailerSize = SignatureSize + 8

	// MinSize is the encoded size of a transaction with an empty payload.
	MinSize = headerSize + trailerSize
	// MaxPayloadLimit is the protocol's hard cap on payloads; a network's
	// genesis chooses its own maximum at or below it.
	MaxPayloadLimit = 64 << 10
)

// Transaction is one signed entry of the ledger. The zero value is not
// valid; build one, then call Sign (and set Nonce after solving the work).
type Transaction struct {
	Kind   Kind
	Trunk  ID // first approved tip
	Branch ID // second approved tip (may equal Trunk)
	Issuer PublicKey
	// Seq numbers the issuer's transactions from 0; Prev is the ID of the
	// issuer's transaction Seq-1 (zero when Seq is 0). Prev is a reference,
	// not an approval.
	Seq       uint64
	Prev      ID
	Time      int64 // issuing time, unix nanoseconds
	Payload   []byte
	Signature [SignatureSize]byte
	Nonce     uint64

	id  ID     // cached by Sign and Decode
	raw []byte // the decoded bytes; set only by Decode, never modified
}

// ID returns the transaction's ID. It is cached by Sign and Decode; on a
// transaction built by hand it is computed from the current fields.
func (tx *Transaction) ID() ID {
	if tx.id.IsZero() {
		tx.id = hashID(tx.encode(nil)[:tx.EncodedSize()-8])
	}
	return tx.id
}

// IssuedAt returns the issuing time.
func (tx *Transaction) IssuedAt() time.Time { return time.Unix(0, tx.Time).UTC() }

// EncodedSize is the length of the canonical encoding.
func (tx *Transaction) EncodedSize() int { return MinSize + len(tx.Payload) }

// Essence returns the signed bytes: every field but signature and nonce.
// For a decoded transaction it aliases the decoded bytes; do not modify it.
func (tx *Transaction) Essence() []byte {
	if tx.raw != nil {
		return tx.raw[:headerSize+len(tx.Payload)]
	}
	return tx.encode(nil)[:headerSize+len(tx.Payload)]
}

// Encode appends the canonical encoding to dst.
func (tx *Transaction) Encode(dst []byte) []byte { return tx.encode(dst) }

// Bytes returns the canonical encoding. A transaction returned by Decode is
// immutable except for its Nonce: other fields must not be changed, and
// Bytes returns the decoded slice itself (unless the nonce changed), which
// must not be modified either.
func (tx *Transaction) Bytes() []byte {
	// The nonce is the one field a holder legitimately changes after
	// decoding (a gateway re-solving the work), so the cache checks it.
	if tx.raw != nil && binary.BigEndian.Uint64(tx.raw[len(tx.raw)-8:]) == tx.Nonce {
		return tx.raw
	}
	return tx.encode(make([]byte, 0, tx.EncodedSize()))
}

func (tx *Transaction) encode(dst []byte) []byte {
	dst = append(dst, Version, byte(tx.Kind))
	dst = append(dst, tx.Trunk[:]...)
	dst = append(dst, tx.Branch[:]...)
	dst = append(dst, tx.Issuer[:]...)
	dst = binary.BigEndian.AppendUint64(dst, tx.Seq)
	dst = append(dst, tx.Prev[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(tx.Time))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(tx.Payload)))
	dst = append(dst, tx.Payload...)
	dst = append(dst, tx.Signature[:]...)
	return binary.BigEndian.AppendUint64(dst, tx.Nonce)
}

// Sign sets Issuer to key's public key, signs the essence and caches the ID.
// Fields changed afterwards (other than Nonce) invalidate the signature.
func (tx *Transaction) Sign(key ed25519.PrivateKey) {
	copy(tx.Issuer[:], key.Public().(ed25519.PublicKey))
	essence := tx.Essence()
	copy(tx.Signature[:], ed25519.Sign(key, essence))
	tx.id = hashID(append(essence, tx.Signature[:]...))
}

// Decode parses the canonical encoding of one transaction and checks every
// rule that needs nothing but the bytes: version, kind, payload size against
// maxPayload, exact length, zero parents, and the seq/prev pairing. It does
// not check the signature or the work. The returned transaction keeps a
// copy of b, not b itself.
func Decode(b []byte, maxPayload int) (*Transaction, error) {
	return decode(b, maxPayload, true)
}

// decode is Decode; with copyInput false the transaction keeps b itself,
// for callers that own a fresh buffer (replay).
func decode(b []byte, maxPayload int, copyInput bool) (*Transaction, error) {
	if len(b) < MinSize {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrMalformed, len(b), MinSize)
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: %d", ErrVersion, b[0])
	}
	tx := &Transaction{Kind: Kind(b[offKind])}
	if !tx.Kind.Known() {
		return nil, fmt.Errorf("%w: %d", ErrKind, b[offKind])
	}
	payLen := binary.BigEndian.Uint32(b[offPayLen:])
	if maxPayload > MaxPayloadLimit || maxPayload < 0 {
		maxPayload = MaxPayloadLimit
	}
	if payLen > uint32(maxPayload) {
		return nil, fmt.Errorf("%w: %d bytes, maximum %d", ErrPayloadTooLarge, payLen, maxPayload)
	}
	size := MinSize + int(payLen)
	if len(b) < size {
		return nil, fmt.Errorf("%w: %d bytes, payload needs %d", ErrMalformed, len(b), size)
	}
	if len(b) > size {
		return nil, fmt.Errorf("%w: %d extra", ErrTrailingBytes, len(b)-size)
	}
	if copyInput {
		b = append([]byte(nil), b...)
	}
	tx.raw = b
	copy(tx.Trunk[:], b[offTrunk:])
	copy(tx.Branch[:], b[offBranch:])
	copy(tx.Issuer[:], b[offIssuer:])
	tx.Seq = binary.BigEndian.Uint64(b[offSeq:])
	copy(tx.Prev[:], b[offPrev:])
	tx.Time = int64(binary.BigEndian.Uint64(b[offTime:]))
	if payLen > 0 {
		tx.Payload = b[headerSize : headerSize+int(payLen) : headerSize+int(payLen)]
	}
	copy(tx.Signature[:], b[headerSize+int(payLen):])
	tx.Nonce = binary.BigEndian.Uint64(b[size-8:])
	if err := tx.checkShape(); err != nil {
		return nil, err
	}
	tx.id = hashID(b[:size-8])
	return tx, nil
}

// checkShape holds the field rules that need no context.
func (tx *Transaction) checkShape() error {
	switch {
	case tx.Trunk.IsZero() || tx.Branch.IsZero():
		return fmt.Errorf("%w: zero parent", ErrMalformed)
	case tx.Seq == 0 && !tx.Prev.IsZero():
		return fmt.Errorf("%w: first transaction of an issuer names a predecessor", ErrMalformed)
	case tx.Seq > 0 && tx.Prev.IsZero():
		return fmt.Errorf("%w: sequence %d without a predecessor", ErrMalformed, tx.Seq)
	case tx.Time < 0:
		return fmt.Errorf("%w: issuing time before 1970", ErrMalformed)
	case tx.Kind.Spec().RotatesKey:
		newKey, _, ok := ParseRotatePayload(tx.Payload)
		if !ok {
			return fmt.Errorf("%w: a rotation's payload is a new key (32 bytes), optionally followed by a 32-byte hash", ErrMalformed)
		}
		if newKey == tx.Issuer {
			return fmt.Errorf("%w: a rotation names the key that signs it", ErrMalformed)
		}
		if tx.Seq == 0 {
			return fmt.Errorf("%w: a rotation continues a chain, it cannot start one", ErrMalformed)
		}
	case tx.Kind == KindQuarantine && (tx.Trunk == tx.Branch || len(tx.Payload) != 0):
		return fmt.Errorf("%w: a quarantine notice approves two different transactions and carries no payload", ErrMalformed)
	}
	return nil
}
