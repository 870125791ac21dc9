package dag

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The JSON form is the API's spelling of the canonical encoding. It is
// strict so that it is a bijection: every accepted JSON text names exactly
// one transaction, and MarshalJSON of that transaction gives back the same
// field values (key order and whitespace are the only freedom). The rules,
// each answered ErrMalformed with the field named:
//
//   - the text is valid UTF-8 and one object with nothing after it;
//   - every field but "id" is required; unknown keys, repeated keys and
//     null values are refused;
//   - hex is lower-case with the exact number of digits;
//   - "seq" and "version" are JSON integers, "nonce" a decimal string
//     without sign or leading zeros;
//   - "time" is RFC 3339 in UTC with "Z" and a fraction without trailing
//     zeros (the form MarshalJSON writes), within signed 64-bit unix
//     nanoseconds from 1970;
//   - "payload" is standard, padded, canonical base64.

// The JSON field names.
const (
	jsonID        = "id"
	jsonVersion   = "version"
	jsonKind      = "kind"
	jsonTrunk     = "trunk"
	jsonBranch    = "branch"
	jsonIssuer    = "issuer"
	jsonSeq       = "seq"
	jsonPrev      = "prev"
	jsonTime      = "time"
	jsonPayload   = "payload"
	jsonSignature = "signature"
	jsonNonce     = "nonce"
)

// jsonRequired lists the required fields in the order MarshalJSON writes
// them; a missing one is reported in this order.
var jsonRequired = []string{
	jsonVersion, jsonKind, jsonTrunk, jsonBranch, jsonIssuer, jsonSeq,
	jsonPrev, jsonTime, jsonPayload, jsonSignature, jsonNonce,
}

// minJSONTime and maxJSONTime bound the issuing times the JSON form can
// express: the canonical encoding holds unix nanoseconds in a signed 64-bit
// integer and refuses negative ones.
var (
	minJSONTime = time.Unix(0, 0).UTC()
	maxJSONTime = time.Unix(0, math.MaxInt64).UTC()
)

// jsonTransaction is the output side of the JSON form. The nonce is a
// decimal string because JSON numbers lose uint64 precision in many
// clients.
type jsonTransaction struct {
	ID        ID        `json:"id"`
	Version   uint8     `json:"version"`
	Kind      Kind      `json:"kind"`
	Trunk     ID        `json:"trunk"`
	Branch    ID        `json:"branch"`
	Issuer    PublicKey `json:"issuer"`
	Seq       uint64    `json:"seq"`
	Prev      ID        `json:"prev"`
	Time      string    `json:"time"`
	Payload   string    `json:"payload"`
	Signature string    `json:"signature"`
	Nonce     string    `json:"nonce"`
}

// MarshalJSON gives the API's JSON form, including the ID.
func (tx *Transaction) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonTransaction{
		ID:        tx.ID(),
		Version:   Version,
		Kind:      tx.Kind,
		Trunk:     tx.Trunk,
		Branch:    tx.Branch,
		Issuer:    tx.Issuer,
		Seq:       tx.Seq,
		Prev:      tx.Prev,
		Time:      FormatTime(tx.Time),
		Payload:   base64.StdEncoding.EncodeToString(tx.Payload),
		Signature: hex.EncodeToString(tx.Signature[:]),
		Nonce:     strconv.FormatUint(tx.Nonce, 10),
	})
}

// FormatTime writes unix nanoseconds in the JSON form's time format.
func FormatTime(unixNano int64) string {
	return time.Unix(0, unixNano).UTC().Format(time.RFC3339Nano)
}

// ParseTime reads the JSON form's time format strictly (see the rules
// above) and returns unix nanoseconds.
func ParseTime(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%w: time %q is not RFC 3339 (%s)", ErrMalformed, s, timeRange())
	}
	if t.Before(minJSONTime) || t.After(maxJSONTime) {
		return 0, fmt.Errorf("%w: time %q is out of range: %s", ErrMalformed, s, timeRange())
	}
	ns := t.UnixNano()
	if FormatTime(ns) != s {
		return 0, fmt.Errorf("%w: time %q is not canonical: write UTC with \"Z\" and no trailing zeros in the fraction, as %q", ErrMalformed, s, FormatTime(ns))
	}
	return ns, nil
}

func timeRange() string {
	return "from " + minJSONTime.Format(time.RFC3339Nano) + " to " + maxJSONTime.Format(time.RFC3339Nano)
}

// DecodeJSON parses the JSON form and returns the canonical binary
// encoding, which the caller then passes to Decode so that JSON and binary
// submissions go through one set of rules. An "id" field, if present, must
// match the transaction.
func DecodeJSON(data []byte) ([]byte, error) {
	var (
		tx   Transaction
		id   *ID
		seen = make(map[string]bool, len(jsonRequired)+1)
		err  error
	)
	err = walkObject(data, func(key string, value jsonValue) error {
		if seen[key] {
			return fmt.Errorf("%w: json: key %q appears twice", ErrMalformed, key)
		}
		seen[key] = true
		switch key {
		case jsonID:
			id = new(ID)
			return hexField(id[:], key, value)
		case jsonVersion:
			if value.kind != jsonNumber {
				return fmt.Errorf("%w: json: field %q must be a number", ErrMalformed, key)
			}
			// Any other integer is a version this node does not know,
			// however large; a fraction or exponent is not an integer.
			if !isInteger(value.text) {
				return fmt.Errorf("%w: json: field %q must be an integer, got %s", ErrMalformed, key, value.text)
			}
			if value.text != strconv.Itoa(int(Version)) {
				return fmt.Errorf("%w: %s", ErrVersion, value.text)
			}
		case jsonKind:
			s, err := stringField(key, value)
			if err != nil {
				return err
			}
			return tx.Kind.UnmarshalText([]byte(s))
		case jsonTrunk:
			return hexField(tx.Trunk[:], key, value)
		case jsonBranch:
			return hexField(tx.Branch[:], key, value)
		case jsonIssuer:
			return hexField(tx.Issuer[:], key, value)
		case jsonPrev:
			return hexField(tx.Prev[:], key, value)
		case jsonSignature:
			return hexField(tx.Signature[:], key, value)
		case jsonSeq:
			tx.Seq, err = uintField(key, value, math.MaxUint64)
			return err
		case jsonTime:
			s, err := stringField(key, value)
			if err != nil {
				return err
			}
			tx.Time, err = ParseTime(s)
			return err
		case jsonPayload:
			s, err := stringField(key, value)
			if err != nil {
				return err
			}
			if len(s) > base64.StdEncoding.EncodedLen(MaxPayloadLimit) {
				return fmt.Errorf("%w: %d base64 characters, more than %d bytes", ErrPayloadTooLarge, len(s), MaxPayloadLimit)
			}
			// Strict still skips line breaks; the canonical form has none.
			p, err := base64.StdEncoding.Strict().DecodeString(s)
			if err == nil && strings.ContainsAny(s, "\r\n") {
				err = errors.New("line break")
			}
			if err != nil {
				return fmt.Errorf("%w: payload is not canonical padded standard base64: %v", ErrMalformed, err)
			}
			if len(p) > MaxPayloadLimit {
				return fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(p))
			}
			if len(p) > 0 {
				tx.Payload = p
			}
		case jsonNonce:
			s, err := stringField(key, value)
			if err != nil {
				return err
			}
			tx.Nonce, err = parseDecimal(key, s)
			return err
		default:
			return fmt.Errorf("%w: json: unknown field %q", ErrMalformed, key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, key := range jsonRequired {
		if !seen[key] {
			return nil, fmt.Errorf("%w: json: missing field %q", ErrMalformed, key)
		}
	}
	raw := tx.Bytes()
	if id != nil && *id != hashID(raw[:len(raw)-8]) {
		return nil, fmt.Errorf("%w: id does not match the transaction", ErrMalformed)
	}
	return raw, nil
}

// jsonValue is one member's value: a string or a number literal.
type jsonValue struct {
	kind jsonValueKind
	text string
}

// walkObject checks that data is one flat JSON object in valid UTF-8 with
// nothing after it and calls field for each member in order. Values must
// be strings or numbers; null, booleans, arrays and objects are
// malformed.
func walkObject(data []byte, field func(key string, value jsonValue) error) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: json: not valid UTF-8", ErrMalformed)
	}
	s := jsonScanner{data: data}
	if c := s.next(); c != '{' {
		if c == 0 {
			return s.errorf("unexpected end of input")
		}
		return fmt.Errorf("%w: json: a transaction is an object", ErrMalformed)
	}
	s.pos++
	if s.next() == '}' {
		s.pos++
	} else {
		for {
			key, err := s.str()
			if err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			kind, text, err := s.value()
			if err != nil {
				return err
			}
			switch kind {
			case jsonNull:
				return fmt.Errorf("%w: json: field %q is null", ErrMalformed, key)
			case jsonOther:
				return fmt.Errorf("%w: json: field %q must be a string or a number", ErrMalformed, key)
			}
			if err := field(key, jsonValue{kind, text}); err != nil {
				return err
			}
			if s.next() == ',' {
				s.pos++
				continue
			}
			if err := s.expect('}'); err != nil {
				return err
			}
			break
		}
	}
	if s.next() != 0 {
		return fmt.Errorf("%w: json: data after the object", ErrMalformed)
	}
	return nil
}

func stringField(key string, value jsonValue) (string, error) {
	if value.kind != jsonString {
		return "", fmt.Errorf("%w: json: field %q must be a string", ErrMalformed, key)
	}
	return value.text, nil
}

// uintField reads a JSON integer: no sign, fraction or exponent.
func uintField(key string, value jsonValue, limit uint64) (uint64, error) {
	if value.kind != jsonNumber {
		return 0, fmt.Errorf("%w: json: field %q must be a number", ErrMalformed, key)
	}
	v, err := strconv.ParseUint(value.text, 10, 64)
	if err != nil || v > limit {
		return 0, fmt.Errorf("%w: json: field %q must be an integer from 0 to %d, got %s", ErrMalformed, key, limit, value.text)
	}
	return v, nil
}

// isInteger reports whether a JSON number literal has no fraction or
// exponent (it may be too large for any Go integer type).
func isInteger(n string) bool {
	return n != "" && !strings.ContainsAny(n, ".eE")
}

// parseDecimal reads an unsigned decimal without sign or leading zeros, so
// that every value has one spelling.
func parseDecimal(key, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: %s %q must be a decimal from 0 to %d without sign or leading zeros", ErrMalformed, key, s, uint64(math.MaxUint64))
	}
	return v, nil
}

// hexField decodes a lower-case hex string of exactly len(dst) bytes.
func hexField(dst []byte, key string, value jsonValue) error {
	s, err := stringField(key, value)
	if err != nil {
		return err
	}
	return decodeHex(dst, key, s)
}

// decodeHex decodes exactly len(dst) bytes of lower-case hex. Upper-case
// digits are refused so that every value has one spelling in the API.
func decodeHex(dst []byte, what, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: %s must be %d lower-case hex digits, got %d characters", ErrMalformed, what, 2*len(dst), len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %s must be lower-case hex digits; %q at offset %d is not", ErrMalformed, what, c, i)
		}
	}
	_, _ = hex.Decode(dst, []byte(s))
	return nil
}
