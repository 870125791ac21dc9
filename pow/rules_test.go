package pow

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultRules(t *testing.T) {
	want := Rules{
		BaseBits:           12,
		PayloadBytesPerBit: 512,
		RateWindow:         10 * time.Second,
		FreePerWindow:      10,
		BitsPerExcess:      1,
		MaxBits:            32,
	}
	got := DefaultRules()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DefaultRules() mismatch (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("DefaultRules().Validate() = %v", err)
	}
}

func TestRulesValidate(t *testing.T) {
	modify := func(f func(*Rules)) Rules {
		r := DefaultRules()
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		rules Rules
		ok    bool
	}{
		{"default", DefaultRules(), true},
		{"zero value: no work at all", Rules{}, true},
		{"max_bits 0 means MaxBits", Rules{BaseBits: MaxBits}, true},
		{"max_bits at MaxBits", modify(func(r *Rules) { r.MaxBits = MaxBits }), true},
		{"base_bits at the cap", modify(func(r *Rules) { r.BaseBits = r.MaxBits }), true},
		{"no rate rule, no window", modify(func(r *Rules) { r.BitsPerExcess, r.RateWindow = 0, 0 }), true},
		{"no payload rule", modify(func(r *Rules) { r.PayloadBytesPerBit = 0 }), true},
		{"huge values", Rules{PayloadBytesPerBit: math.MaxInt, RateWindow: math.MaxInt64, FreePerWindow: math.MaxInt, BitsPerExcess: math.MaxInt}, true},

		{"negative base_bits", modify(func(r *Rules) { r.BaseBits = -1 }), false},
		{"negative payload_bytes_per_bit", modify(func(r *Rules) { r.PayloadBytesPerBit = -1 }), false},
		{"negative rate_window", modify(func(r *Rules) { r.RateWindow = -time.Second }), false},
		{"negative free_per_window", modify(func(r *Rules) { r.FreePerWindow = -1 }), false},
		{"negative bits_per_excess", modify(func(r *Rules) { r.BitsPerExcess = -1 }), false},
		{"negative max_bits", modify(func(r *Rules) { r.MaxBits = -1 }), false},
		{"max_bits above MaxBits", modify(func(r *Rules) { r.MaxBits = MaxBits + 1 }), false},
		{"base_bits above max_bits", modify(func(r *Rules) { r.BaseBits = r.MaxBits + 1 }), false},
		{"base_bits above MaxBits", Rules{BaseBits: MaxBits + 1}, false},
		{"rate rule without a window", modify(func(r *Rules) { r.RateWindow = 0 }), false},
	}
	for _, tt := range tests {
		err := tt.rules.Validate()
		if tt.ok && err != nil {
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrRules) {
			t.Errorf("%s: Validate() = %v, want ErrRules", tt.name, err)
		}
	}
}

func TestRulesRequired(t *testing.T) {
	def := DefaultRules()
	tests := []struct {
		name       string
		rules      Rules
		payloadLen int
		recent     int
		want       int
	}{
		{"base", def, 0, 0, 12},
		{"payload below one step", def, 511, 0, 12},
		{"payload one step", def, 512, 0, 13},
		{"payload rounds down", def, 1535, 0, 14},
		{"last free transaction", def, 0, 9, 12},
		{"first paying transaction", def, 0, 10, 13},
		{"second paying transaction", def, 0, 11, 14},
		{"payload and rate add up", def, 1024, 12, 12 + 2 + 3},
		{"payload reaches the cap", def, 512 * 20, 0, 32},
		{"payload beyond the cap", def, 512 * 21, 0, 32},
		{"rate reaches the cap", def, 0, 10 + 19, 32},
		{"rate beyond the cap", def, 0, 10 + 20, 32},
		{"together beyond the cap", def, 512 * 10, 20, 32},
		{"huge payload", def, math.MaxInt, 0, 32},
		{"huge rate", def, 0, math.MaxInt, 32},
		{"huge both", def, math.MaxInt, math.MaxInt, 32},
		{"negative payload", def, math.MinInt, 0, 12},
		{"negative recent", def, 0, math.MinInt, 12},

		{"zero rules", Rules{}, math.MaxInt, math.MaxInt, 0},
		{"payload rule off", Rules{BaseBits: 5}, 1 << 20, 0, 5},
		{"max_bits 0 caps at MaxBits", Rules{PayloadBytesPerBit: 1}, math.MaxInt, 0, MaxBits},
		{"no free transactions", Rules{BitsPerExcess: 2, RateWindow: time.Second}, 0, 0, 2},
		{"several bits per excess", Rules{BaseBits: 4, FreePerWindow: 1, BitsPerExcess: 3, RateWindow: time.Second}, 0, 3, 4 + 3*3},
		{"excess step crosses the cap", Rules{FreePerWindow: 1, BitsPerExcess: 5, RateWindow: time.Second, MaxBits: 12}, 0, 3, 12},
		{"huge bits_per_excess", Rules{BitsPerExcess: math.MaxInt, RateWindow: time.Second}, 0, 0, MaxBits},
		{"huge free_per_window", Rules{FreePerWindow: math.MaxInt, BitsPerExcess: 1, RateWindow: time.Second}, 0, math.MaxInt, 1},
		{"huge recent, no free", Rules{BitsPerExcess: 1, RateWindow: time.Second}, 0, math.MaxInt, MaxBits},

		// Invalid rules still yield a difficulty in [0, MaxBits].
		{"invalid: base above cap", Rules{BaseBits: 40, MaxBits: 32}, 0, 0, 32},
		{"invalid: max_bits above MaxBits", Rules{BaseBits: 100, MaxBits: 100}, 0, 0, MaxBits},
		{"invalid: negative fields", Rules{BaseBits: -5, PayloadBytesPerBit: -1, FreePerWindow: -3, BitsPerExcess: -1, MaxBits: -1}, 100, 100, 0},
	}
	for _, tt := range tests {
		if got := tt.rules.Required(tt.payloadLen, tt.recent); got != tt.want {
			t.Errorf("%s: %+v.Required(%d, %d) = %d, want %d", tt.name, tt.rules, tt.payloadLen, tt.recent, got, tt.want)
		}
	}
}

func TestRulesMaxCounted(t *testing.T) {
	second := time.Second
	tests := []struct {
		name  string
		rules Rules
		want  int
	}{
		{"default", DefaultRules(), 10 + 20},
		{"zero rules", Rules{}, 0},
		{"no rate rule", Rules{FreePerWindow: 7}, 7},
		{"rounds up", Rules{BaseBits: 10, MaxBits: 20, FreePerWindow: 2, BitsPerExcess: 3, RateWindow: second}, 2 + 4},
		{"divides exactly", Rules{BaseBits: 10, MaxBits: 22, FreePerWindow: 2, BitsPerExcess: 3, RateWindow: second}, 2 + 4},
		{"max_bits 0 means MaxBits", Rules{BitsPerExcess: 1, RateWindow: second}, MaxBits},
		{"base at the cap", Rules{BaseBits: 8, MaxBits: 8, FreePerWindow: 3, BitsPerExcess: 1, RateWindow: second}, 3},
		{"huge bits_per_excess", Rules{FreePerWindow: 4, BitsPerExcess: math.MaxInt, RateWindow: second}, 4 + 1},
		{"huge free_per_window saturates", Rules{FreePerWindow: math.MaxInt, BitsPerExcess: 1, RateWindow: second}, math.MaxInt},
		{"invalid: negative fields", Rules{FreePerWindow: -1, BitsPerExcess: -1}, 0},
	}
	for _, tt := range tests {
		if got := tt.rules.MaxCounted(); got != tt.want {
			t.Errorf("%s: MaxCounted() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestRulesMaxCountedBound checks the promise a chain walk relies on:
// counting beyond MaxCounted never changes Required.
func TestRulesMaxCountedBound(t *testing.T) {
	for base := 0; base <= 8; base += 4 {
		for free := range 4 {
			for perExcess := range 6 {
				for _, maxBits := range []int{0, 8, 9, 20} {
					r := Rules{
						BaseBits:           base,
						PayloadBytesPerBit: 100,
						RateWindow:         time.Second,
						FreePerWindow:      free,
						BitsPerExcess:      perExcess,
						MaxBits:            maxBits,
					}
					if r.Validate() != nil {
						continue
					}
					m := r.MaxCounted()
					for _, payloadLen := range []int{0, 250, 1000} {
						want := r.Required(payloadLen, m)
						for _, recent := range []int{m + 1, m + 2, 2*m + 10, math.MaxInt} {
							if got := r.Required(payloadLen, recent); got != want {
								t.Fatalf("%+v: Required(%d, %d) = %d, but Required(%d, MaxCounted() = %d) = %d",
									r, payloadLen, recent, got, payloadLen, m, want)
							}
						}
						prev := r.Required(payloadLen, 0)
						for recent := 1; recent <= m; recent++ {
							got := r.Required(payloadLen, recent)
							if got < prev {
								t.Fatalf("%+v: Required(%d, %d) = %d < Required(%d, %d) = %d",
									r, payloadLen, recent, got, payloadLen, recent-1, prev)
							}
							prev = got
						}
					}
				}
			}
		}
	}
}

func TestRulesJSON(t *testing.T) {
	const want = `{"base_bits":12,"payload_bytes_per_bit":512,"free_per_window":10,"bits_per_excess":1,"max_bits":32,"rate_window":"10s"}`
	got, err := json.Marshal(DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("json.Marshal(DefaultRules()) = %s, want %s", got, want)
	}
}

func TestRulesJSONRoundTrip(t *testing.T) {
	for _, r := range []Rules{
		DefaultRules(),
		{},
		{RateWindow: time.Nanosecond, BitsPerExcess: 1},
		{RateWindow: time.Hour + 2*time.Minute + 3*time.Second + 4, BitsPerExcess: 1},
		{RateWindow: math.MaxInt64, BitsPerExcess: 1},
		{BaseBits: MaxBits, PayloadBytesPerBit: math.MaxInt, FreePerWindow: math.MaxInt},
	} {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", r, err)
		}
		var back Rules
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("json.Unmarshal(%s): %v", data, err)
		}
		if diff := cmp.Diff(r, back); diff != "" {
			t.Errorf("round trip through %s (-want +got):\n%s", data, diff)
		}
	}
}

func TestRulesUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Rules
		wantErr error // nil: must decode; errAny: any error
	}{
		{"spaced and reordered", `{ "max_bits": 20, "rate_window": "1m30s", "bits_per_excess": 2, "base_bits": 8 }`,
			Rules{BaseBits: 8, MaxBits: 20, RateWindow: 90 * time.Second, BitsPerExcess: 2}, nil},
		{"missing fields are zero", `{"base_bits": 3}`, Rules{BaseBits: 3}, nil},
		{"null window is zero", `{"rate_window": null}`, Rules{}, nil},
		{"empty object", `{}`, Rules{}, nil},

		{"unknown field", `{"base_bit": 12}`, Rules{}, errAny},
		{"window in nanoseconds", `{"rate_window": 10000000000}`, Rules{}, errAny},
		{"window without unit", `{"rate_window": "10"}`, Rules{}, ErrRules},
		{"empty window", `{"rate_window": ""}`, Rules{}, ErrRules},
		{"negative window", `{"rate_window": "-1s", "bits_per_excess": 1}`, Rules{}, ErrRules},
		{"fractional bits", `{"base_bits": 1.5}`, Rules{}, errAny},
		{"invalid rules", `{"base_bits": 40, "max_bits": 32}`, Rules{}, ErrRules},
		{"not an object", `[12]`, Rules{}, errAny},
	}
	for _, tt := range tests {
		// A failed decode must leave the destination as it was.
		got := Rules{BaseBits: 99}
		if tt.wantErr == nil {
			got = Rules{}
		}
		before := got
		err := json.Unmarshal([]byte(tt.in), &got)
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%s: json.Unmarshal(%s) = %v", tt.name, tt.in, err)
		case tt.wantErr == nil:
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: json.Unmarshal(%s) mismatch (-want +got):\n%s", tt.name, tt.in, diff)
			}
		case err == nil:
			t.Errorf("%s: json.Unmarshal(%s) = nil error, decoded %+v", tt.name, tt.in, got)
		case tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
			t.Errorf("%s: json.Unmarshal(%s) = %v, want %v", tt.name, tt.in, err, tt.wantErr)
		case got != before:
			t.Errorf("%s: failed json.Unmarshal(%s) changed the destination to %+v", tt.name, tt.in, got)
		}
	}
}

var errAny = errors.New("any error")

func TestRulesUnmarshalNull(t *testing.T) {
	got := DefaultRules()
	if err := json.Unmarshal([]byte(`null`), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultRules(), got); diff != "" {
		t.Errorf("null changed the rules (-want +got):\n%s", diff)
	}
}

// FuzzRulesJSON checks that whatever decodes is valid and survives a round
// trip unchanged.
func FuzzRulesJSON(f *testing.F) {
	f.Add(`{"base_bits":12,"payload_bytes_per_bit":512,"free_per_window":10,"bits_per_excess":1,"max_bits":32,"rate_window":"10s"}`)
	f.Add(`{"rate_window":"1h2m3.000000004s","bits_per_excess":64}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, in string) {
		var r Rules
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded invalid rules %+v: %v", r, err)
		}
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Rules
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("re-decoding %s: %v", data, err)
		}
		if diff := cmp.Diff(r, back); diff != "" {
			t.Fatalf("round trip through %s (-want +got):\n%s", data, diff)
		}
	})
}
