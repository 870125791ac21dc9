package dag

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord: an archived record decodes only from its canonical
// encoding, and never panics.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(record{arrival: 7, confIndex: 3, weight: 2, validators: 3, oldestRoot: -5, youngestRoot: 9, cw: 1,
		tag: 4, flags: flagConfirmed | flagConflicting, next: ID{1}, horizon: []uint64{1, 0, 2},
		approvers: []ID{{2}, {3}}}.encode())
	f.Add(record{approvers: []ID{}}.encode())
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if again := r.encode(); !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, encodes as %x", b, again)
		}
	})
}
