package dag

import (
	"bytes"
	"encoding/hex"

	"github.com/zeebo/blake3"
)

// IDSize is the size of a transaction ID: a BLAKE3-256 digest.
const IDSize = 32

// ID names a transaction: BLAKE3-256(essence ‖ signature). The nonce is not
// part of it, so re-mining the work never yields a second ID.
type ID [IDSize]byte

// ZeroID is the "no transaction" value (for example the predecessor of an
// issuer's first transaction).
var ZeroID ID

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ZeroID }

// String returns the lower-case hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for logs.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// Compare orders IDs bytewise; it is the tie-breaker of every canonical order.
func (id ID) Compare(other ID) int { return bytes.Compare(id[:], other[:]) }

// MarshalText encodes the ID as hex (JSON strings, map keys).
func (id ID) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(IDSize))
	hex.Encode(out, id[:])
	return out, nil
}

// UnmarshalText decodes 64 lower-case hex digits.
func (id *ID) UnmarshalText(text []byte) error {
	parsed, err := ParseID(string(text))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// ParseID parses the 64-digit lower-case hex form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	err := decodeHex(id[:], "id", s)
	return id, err
}

// hashID computes BLAKE3-256 over essence ‖ signature, which the wire layout
// keeps contiguous so the ID costs one hash and no copy.
func hashID(essenceAndSignature []byte) ID {
	return blake3.Sum256(essenceAndSignature)
}
