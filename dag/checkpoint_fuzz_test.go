package dag

import (
	"bytes"
	"testing"
)

// FuzzDecodeCheckpoint: a checkpoint decodes only from its canonical
// encoding, and never panics.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add((&checkpoint{arrivals: 9, confirmed: 4, conflicts: 1, unconfirmedData: 2, beacons: 3, newest: ID{7},
		tips: []ID{{1}, {2}}, issuers: []issuerEntry{{key: PublicKey{3}, head: ID{4}, first: ID{5}}},
		hasRules: true, rules: []byte("state")}).encode())
	f.Add((&checkpoint{}).encode())
	f.Add([]byte{checkpointVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		if again := c.encode(); !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, encodes as %x", b, again)
		}
	})
}
