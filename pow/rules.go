package pow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrRules is wrapped by every error that reports invalid difficulty rules.
var ErrRules = errors.New("pow: invalid rules")

// Rules are a network's difficulty rules, fixed in its genesis file. The
// difficulty a transaction needs grows linearly in bits, so its work grows
// exponentially, with its payload size and with how many transactions its
// issuer sent shortly before it: an honest low-rate device pays the base
// cost, a flooding one pays exponentially more.
//
// In JSON, RateWindow is a Go duration string such as "10s" or "1m30s"
// (time.ParseDuration); other fields are integers. Decoding rejects unknown
// fields and invalid rules, so a genesis file with a misspelt or nonsensical
// rule fails to load rather than silently meaning something else. A missing
// field is zero.
type Rules struct {
	// BaseBits is the difficulty every transaction needs.
	BaseBits int `json:"base_bits"`
	// PayloadBytesPerBit adds one bit per this many payload bytes, rounded
	// down. Zero disables the payload rule.
	PayloadBytesPerBit int `json:"payload_bytes_per_bit"`
	// RateWindow is how far back, from a transaction's issuing time, the
	// issuer's earlier transactions count towards its rate.
	RateWindow time.Duration `json:"rate_window"`
	// FreePerWindow is how many transactions an issuer may send within one
	// RateWindow without extra bits.
	FreePerWindow int `json:"free_per_window"`
	// BitsPerExcess adds this many bits for each transaction in the window
	// beyond FreePerWindow, the new transaction included. Zero disables
	// the rate rule.
	BitsPerExcess int `json:"bits_per_excess"`
	// MaxBits caps the total; zero means the package's MaxBits.
	MaxBits int `json:"max_bits"`
}

// The default rules. A server core does about 6.7 M work hashes a second
// (BenchmarkDigest); the devices that solve are often far slower.
const (
	// 2^12 hashes: under a millisecond on a server core, well under a
	// second on a microcontroller.
	defaultBaseBits = 12
	// A typical sensor reading fits in 512 bytes and pays nothing extra;
	// a 4 KiB payload pays 8 more bits (256 times the work).
	defaultPayloadBytesPerBit = 512
	// Ten free transactions in ten seconds: one a second, the fastest an
	// honest device needs, while the long window absorbs the burst of a
	// device that reconnects with a few readings queued.
	defaultRateWindow    = 10 * time.Second
	defaultFreePerWindow = 10
	// Every transaction beyond the free ones doubles the work.
	defaultBitsPerExcess = 1
	// 2^32 hashes is about ten minutes on a server core: a flooding
	// issuer is throttled to a trickle, yet the work stays finite.
	defaultMaxBits = 32
)

// DefaultRules returns the rules a development network uses.
func DefaultRules() Rules {
	return Rules{
		BaseBits:           defaultBaseBits,
		PayloadBytesPerBit: defaultPayloadBytesPerBit,
		RateWindow:         defaultRateWindow,
		FreePerWindow:      defaultFreePerWindow,
		BitsPerExcess:      defaultBitsPerExcess,
		MaxBits:            defaultMaxBits,
	}
}

// Validate returns an error wrapping ErrRules when r is not usable: a
// negative field, MaxBits above the package's MaxBits, BaseBits above the
// cap, or a rate rule without a window.
func (r Rules) Validate() error {
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"base_bits", int64(r.BaseBits)},
		{"payload_bytes_per_bit", int64(r.PayloadBytesPerBit)},
		{"rate_window", int64(r.RateWindow)},
		{"free_per_window", int64(r.FreePerWindow)},
		{"bits_per_excess", int64(r.BitsPerExcess)},
		{"max_bits", int64(r.MaxBits)},
	} {
		if f.value < 0 {
			return fmt.Errorf("%w: %s is negative", ErrRules, f.name)
		}
	}
	if r.MaxBits > MaxBits {
		return fmt.Errorf("%w: max_bits %d exceeds %d", ErrRules, r.MaxBits, MaxBits)
	}
	if r.BaseBits > r.ceiling() {
		return fmt.Errorf("%w: base_bits %d exceeds the cap of %d", ErrRules, r.BaseBits, r.ceiling())
	}
	if r.BitsPerExcess > 0 && r.RateWindow == 0 {
		return fmt.Errorf("%w: bits_per_excess %d needs a positive rate_window", ErrRules, r.BitsPerExcess)
	}
	return nil
}

// ceiling is the effective cap on Required. It is clamped to [1, MaxBits] so
// that Required stays in range even for rules that fail Validate.
func (r Rules) ceiling() int {
	if r.MaxBits <= 0 || r.MaxBits > MaxBits {
		return MaxBits
	}
	return r.MaxBits
}

// Required returns the difficulty in bits of a transaction with a payload of
// payloadLen bytes whose issuer already issued recent transactions within
// RateWindow before it:
//
//	min(cap, BaseBits + payloadLen/PayloadBytesPerBit + BitsPerExcess·max(0, recent+1−FreePerWindow))
//
// So with FreePerWindow 10, the first ten transactions in a window pay no
// rate bits and the eleventh pays BitsPerExcess. Negative arguments count as
// zero, and the sum saturates at the cap instead of overflowing.
func (r Rules) Required(payloadLen, recent int) int {
	ceiling := r.ceiling()
	need := max(r.BaseBits, 0)
	if need >= ceiling {
		return ceiling
	}
	room := ceiling - need

	if r.PayloadBytesPerBit > 0 && payloadLen > 0 {
		extra := payloadLen / r.PayloadBytesPerBit
		if extra >= room {
			return ceiling
		}
		need += extra
		room -= extra
	}

	free := max(r.FreePerWindow, 0)
	if r.BitsPerExcess > 0 && recent >= free {
		// The transaction itself is the (recent+1)-th in its window, so it
		// is beyond the free ones by over+1. Comparing before multiplying
		// keeps (over+1)·BitsPerExcess from overflowing.
		over := recent - free
		if over >= room/r.BitsPerExcess {
			return ceiling
		}
		need += (over + 1) * r.BitsPerExcess
	}
	return need
}

// MaxCounted returns how many of an issuer's recent transactions a caller
// needs to count: Required(p, n) equals Required(p, MaxCounted()) for every
// n >= MaxCounted(), so a walk back along the issuer's chain can stop there.
// It is FreePerWindow + ⌈(cap−BaseBits)/BitsPerExcess⌉, or FreePerWindow
// when BitsPerExcess is zero, saturating at math.MaxInt.
func (r Rules) MaxCounted() int {
	free := max(r.FreePerWindow, 0)
	if r.BitsPerExcess <= 0 {
		return free
	}
	room := max(r.ceiling()-max(r.BaseBits, 0), 0)
	steps := 0
	if room > 0 {
		// ⌈room/BitsPerExcess⌉, written so that a huge BitsPerExcess
		// cannot overflow.
		steps = (room-1)/r.BitsPerExcess + 1
	}
	if free > math.MaxInt-steps {
		return math.MaxInt
	}
	return free + steps
}

// rulesJSON is Rules as it appears in JSON. The outer RateWindow shadows the
// embedded one, so the field tags on Rules stay the single source of the
// other names.
type rulesJSON struct {
	rulesFields
	RateWindow *string `json:"rate_window"`
}

// rulesFields is Rules without its JSON methods, so that encoding it does
// not recurse.
type rulesFields Rules

// MarshalJSON encodes r with RateWindow as a duration string.
func (r Rules) MarshalJSON() ([]byte, error) {
	window := r.RateWindow.String()
	return json.Marshal(rulesJSON{rulesFields: rulesFields(r), RateWindow: &window})
}

// UnmarshalJSON decodes rules in the form MarshalJSON writes. It rejects
// unknown fields, a rate_window that is not a duration string, and rules
// that fail Validate.
func (r *Rules) UnmarshalJSON(data []byte) error {
	// By the encoding/json convention, null leaves the value alone.
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	var w rulesJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("pow: decoding rules: %w", err)
	}
	rules := Rules(w.rulesFields)
	if w.RateWindow != nil {
		d, err := time.ParseDuration(*w.RateWindow)
		if err != nil {
			return fmt.Errorf("%w: rate_window: %w", ErrRules, err)
		}
		rules.RateWindow = d
	}
	if err := rules.Validate(); err != nil {
		return err
	}
	*r = rules
	return nil
}
