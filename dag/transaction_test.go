package dag_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

func sampleTx(t testing.TB, payload []byte) *dag.Transaction {
	t.Helper()
	is := dagtest.NewIssuer("sample", dagtestRules())
	first := is.Build(dag.KindData, dag.ID{1}, dag.ID{2}, 1_700_000_000_000_000_000, nil)
	tx := is.Build(dag.KindData, first.ID(), dag.ID{3}, 1_700_000_000_000_000_001, payload)
	tx.Nonce = 0x0102030405060708
	return tx
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		payload := make([]byte, rng.IntN(dag.DefaultMaxPayload+1))
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		tx := sampleTx(t, payload)
		tx.Nonce = rng.Uint64()
		raw := tx.Bytes()
		if len(raw) != tx.EncodedSize() {
			t.Fatalf("case %d: encoded %d bytes, EncodedSize says %d", i, len(raw), tx.EncodedSize())
		}
		got, err := dag.Decode(raw, dag.DefaultMaxPayload)
		if err != nil {
			t.Fatalf("case %d: decode: %v", i, err)
		}
		if diff := cmp.Diff(tx, got, cmpopts.IgnoreUnexported(dag.Transaction{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("case %d: round trip differs (-want +got):\n%s", i, diff)
		}
		if got.ID() != tx.ID() {
			t.Fatalf("case %d: id %s, want %s", i, got.ID(), tx.ID())
		}
		if !bytes.Equal(got.Bytes(), raw) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
		if !dag.VerifySignature(got) {
			t.Fatalf("case %d: signature does not verify after decode", i)
		}
	}
}

func TestNonceIsNotPartOfID(t *testing.T) {
	tx := sampleTx(t, []byte("reading"))
	raw := tx.Bytes()
	other := append([]byte(nil), raw...)
	other[len(other)-1] ^= 0xff
	a, err := dag.Decode(raw, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dag.Decode(other, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() != b.ID() || a.Nonce == b.Nonce {
		t.Fatalf("re-mined nonce changed the id or the nonce did not change")
	}
	// A gateway re-solving a decoded transaction's work gets its new nonce
	// encoded.
	a.Nonce = b.Nonce
	if !bytes.Equal(a.Bytes(), other) {
		t.Fatal("Bytes ignored a nonce set after Decode")
	}
}

func TestDecodeRejects(t *testing.T) {
	good := sampleTx(t, []byte("hello")).Bytes()
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	const offSeq, offPrev, offTrunk = 98, 106, 2
	cases := []struct {
		name string
		raw  []byte
		max  int
		want error
	}{
		{"empty", nil, dag.DefaultMaxPayload, dag.ErrMalformed},
		{"short", good[:dag.MinSize-1], dag.DefaultMaxPayload, dag.ErrMalformed},
		{"truncated payload", good[:len(good)-1], dag.DefaultMaxPayload, dag.ErrMalformed},
		{"bad version", mutate(func(b []byte) []byte { b[0] = 2; return b }), dag.DefaultMaxPayload, dag.ErrVersion},
		{"version zero", mutate(func(b []byte) []byte { b[0] = 0; return b }), dag.DefaultMaxPayload, dag.ErrVersion},
		{"bad kind", mutate(func(b []byte) []byte { b[1] = 99; return b }), dag.DefaultMaxPayload, dag.ErrKind},
		{"kind zero", mutate(func(b []byte) []byte { b[1] = 0; return b }), dag.DefaultMaxPayload, dag.ErrKind},
		{"oversize payload", good, 4, dag.ErrPayloadTooLarge},
		{"length beyond limit", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[146:], 1<<31); return b }), dag.DefaultMaxPayload, dag.ErrPayloadTooLarge},
		{"trailing bytes", append(append([]byte(nil), good...), 0), dag.DefaultMaxPayload, dag.ErrTrailingBytes},
		{"zero trunk", mutate(func(b []byte) []byte { clear(b[offTrunk : offTrunk+32]); return b }), dag.DefaultMaxPayload, dag.ErrMalformed},
		{"seq without prev", mutate(func(b []byte) []byte { clear(b[offPrev : offPrev+32]); return b }), dag.DefaultMaxPayload, dag.ErrMalformed},
		{"prev without seq", mutate(func(b []byte) []byte { clear(b[offSeq : offSeq+8]); return b }), dag.DefaultMaxPayload, dag.ErrMalformed},
		{"negative time", mutate(func(b []byte) []byte { b[138] = 0x80; return b }), dag.DefaultMaxPayload, dag.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx, err := dag.Decode(c.raw, c.max)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, %v; want error %v", tx, err, c.want)
			}
			if dag.Code(err) == "internal" || dag.Code(err) == "" {
				t.Fatalf("error %v has no stable code", err)
			}
		})
	}
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	raw := sampleTx(t, []byte("payload")).Bytes()
	tx, err := dag.Decode(raw, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	id := tx.ID()
	for i := range raw {
		raw[i] = 0xAA
	}
	if string(tx.Payload) != "payload" || !dag.VerifySignature(tx) || tx.ID() != id {
		t.Fatal("decoded transaction changed when the input buffer was overwritten")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tx := sampleTx(t, []byte{0, 1, 2, 250})
	tx.Nonce = 1<<63 + 5 // beyond float64 precision: must survive as a string
	js, err := tx.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dag.DecodeJSON(js)
	if err != nil {
		t.Fatalf("DecodeJSON(%s): %v", js, err)
	}
	if !bytes.Equal(raw, tx.Bytes()) {
		t.Fatalf("JSON round trip changed the encoding:\n%s", js)
	}
}

func TestParseID(t *testing.T) {
	id := dag.ID{0xde, 0xad}
	got, err := dag.ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("ParseID(%s) = %v, %v", id, got, err)
	}
	for _, bad := range []string{"", "zz", id.String()[:63], id.String() + "0", "g" + id.String()[1:]} {
		if _, err := dag.ParseID(bad); !errors.Is(err, dag.ErrMalformed) {
			t.Errorf("ParseID(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzDecode checks that the decoder never panics, that whatever it accepts
// re-encodes to exactly the input (one valid encoding per transaction), and
// that the JSON form carries it unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(sampleTx(f, nil).Bytes())
	f.Add(sampleTx(f, []byte("temperature=21.5")).Bytes())
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := dag.Decode(raw, dag.DefaultMaxPayload)
		if err != nil {
			if dag.Code(err) == "internal" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(tx.Encode(nil), raw) {
			t.Fatalf("accepted input does not re-encode to itself")
		}
		js, err := tx.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		back, err := dag.DecodeJSON(js)
		if err != nil {
			t.Fatalf("DecodeJSON of our own JSON: %v\n%s", err, js)
		}
		if !bytes.Equal(back, raw) {
			t.Fatalf("JSON round trip changed the bytes")
		}
	})
}

// TestKindTable: every known kind round-trips through its name, unknown
// kinds have none, and only validators' kinds carry weight.
func TestKindTable(t *testing.T) {
	known := 0
	for k := range 256 {
		kind := dag.Kind(k)
		spec := kind.Spec()
		if !kind.Known() {
			if spec != (dag.KindSpec{}) {
				t.Errorf("unknown kind %d has a spec %+v", k, spec)
			}
			if _, err := kind.MarshalText(); !errors.Is(err, dag.ErrKind) {
				t.Errorf("kind %d marshals: %v", k, err)
			}
			continue
		}
		known++
		var back dag.Kind
		if err := back.UnmarshalText([]byte(kind.String())); err != nil || back != kind {
			t.Errorf("kind %d (%s) does not round-trip: %v, %v", k, kind, back, err)
		}
		if spec.Weighs && !spec.ValidatorsOnly {
			t.Errorf("kind %s carries weight but anyone may issue it", kind)
		}
		if spec.Control && !spec.ValidatorsOnly && !spec.AuthoritiesOnly {
			t.Errorf("kind %s is a control kind anyone may issue", kind)
		}
		if spec.RateExempt && !spec.ValidatorsOnly && !spec.AuthoritiesOnly {
			t.Errorf("kind %s is exempt from the rate but anyone may issue it", kind)
		}
	}
	if known != 16 || dag.KindData.Spec().Name != "data" || !dag.KindBeacon.Spec().Weighs {
		t.Errorf("%d known kinds; data %+v, beacon %+v", known, dag.KindData.Spec(), dag.KindBeacon.Spec())
	}
}
