package device

import (
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/zeebo/blake3"

	"github.com/tangled-ledger/tangled/dag"
)

// ErrPayload is wrapped by every payload decoding error.
var ErrPayload = errors.New("device: malformed control payload")

// KeyHash is the commitment a registration or rotation makes to the next
// key: BLAKE3-256 of the public key's 32 bytes.
func KeyHash(key dag.PublicKey) [32]byte { return blake3.Sum256(key[:]) }

// Attribute is one key/value of a device's registration (a serial number,
// a site). Keys follow the class alphabet (dag.ValidClass); values are
// UTF-8, at most MaxAttrValue bytes.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Limits of a registration's attributes.
const (
	MaxAttributes = 32
	MaxAttrValue  = 255
)

// Registration is the payload of a KindRegister transaction: the device's
// first key, an optional commitment to its next key, its class and
// attributes. The owner is the registering authority (the issuer).
type Registration struct {
	Key         dag.PublicKey
	NextKeyHash *[32]byte
	Class       string
	Attributes  []Attribute // sorted by key, keys unique
}

// Encode is the canonical form:
//
//	key [32] | has-next u8 (0 or 1) | next-key hash [32] if has-next |
//	class length u8 | class | attribute count u8 |
//	(key length u8 | key | value length u8 | value)*
//
// with attributes in ascending key order.
func (r *Registration) Encode() []byte {
	b := append([]byte(nil), r.Key[:]...)
	if r.NextKeyHash != nil {
		b = append(b, 1)
		b = append(b, r.NextKeyHash[:]...)
	} else {
		b = append(b, 0)
	}
	b = append(b, byte(len(r.Class)))
	b = append(b, r.Class...)
	b = append(b, byte(len(r.Attributes)))
	for _, a := range r.Attributes {
		b = append(b, byte(len(a.Key)))
		b = append(b, a.Key...)
		b = append(b, byte(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}

// Validate checks the rules Decode enforces, for a registration built by
// hand; it sorts nothing, so callers sort attributes first (SortAttributes).
func (r *Registration) Validate() error {
	if !dag.ValidClass(r.Class) {
		return fmt.Errorf("%w: class %q (1 to 64 of a-z 0-9 . _ -)", ErrPayload, r.Class)
	}
	if len(r.Attributes) > MaxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d", ErrPayload, len(r.Attributes), MaxAttributes)
	}
	for i, a := range r.Attributes {
		if !dag.ValidClass(a.Key) {
			return fmt.Errorf("%w: attribute key %q (1 to 64 of a-z 0-9 . _ -)", ErrPayload, a.Key)
		}
		if len(a.Value) > MaxAttrValue || !utf8.ValidString(a.Value) {
			return fmt.Errorf("%w: attribute %q: value must be UTF-8 of at most %d bytes", ErrPayload, a.Key, MaxAttrValue)
		}
		if i > 0 && r.Attributes[i-1].Key >= a.Key {
			return fmt.Errorf("%w: attribute keys must be unique and in ascending order (%q after %q)", ErrPayload, a.Key, r.Attributes[i-1].Key)
		}
	}
	return nil
}

// SortAttributes puts attributes in their canonical order.
func SortAttributes(attrs []Attribute) {
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
}

// DecodeRegistration parses the canonical form and nothing else: trailing
// bytes, a has-next flag other than 0 or 1, unsorted or repeated keys are
// malformed.
func DecodeRegistration(p []byte) (*Registration, error) {
	d := decoder{b: p}
	r := &Registration{}
	copy(r.Key[:], d.take(dag.PublicKeySize))
	switch d.byte() {
	case 0:
	case 1:
		var h [32]byte
		copy(h[:], d.take(32))
		r.NextKeyHash = &h
	default:
		d.fail("next-key flag must be 0 or 1")
	}
	r.Class = string(d.take(int(d.byte())))
	n := int(d.byte())
	for range n {
		if d.err != nil {
			break
		}
		k := string(d.take(int(d.byte())))
		v := string(d.take(int(d.byte())))
		r.Attributes = append(r.Attributes, Attribute{Key: k, Value: v})
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// LifecyclePayload is the payload of suspend, resume and revoke: the
// device's ID.
func LifecyclePayload(device dag.ID) []byte { return append([]byte(nil), device[:]...) }

// DecodeLifecycle parses a suspend, resume or revoke payload.
func DecodeLifecycle(p []byte) (dag.ID, error) {
	if len(p) != dag.IDSize {
		return dag.ID{}, fmt.Errorf("%w: a lifecycle payload is the device ID (32 bytes), got %d", ErrPayload, len(p))
	}
	var id dag.ID
	copy(id[:], p)
	return id, nil
}

// TransferPayload is the payload of a transfer: the device's ID and the
// public key of the authority that receives it.
func TransferPayload(device dag.ID, to dag.PublicKey) []byte {
	return append(append([]byte(nil), device[:]...), to[:]...)
}

// DecodeTransfer parses a transfer payload.
func DecodeTransfer(p []byte) (dag.ID, dag.PublicKey, error) {
	if len(p) != dag.IDSize+dag.PublicKeySize {
		return dag.ID{}, dag.PublicKey{}, fmt.Errorf("%w: a transfer payload is the device ID and the receiving authority's key (64 bytes), got %d", ErrPayload, len(p))
	}
	var id dag.ID
	var to dag.PublicKey
	copy(id[:], p)
	copy(to[:], p[dag.IDSize:])
	return id, to, nil
}

// decoder reads a payload front to back; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrPayload, msg)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	v := d.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}
