package evidence_test

import (
	"errors"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/merkle"
)

// finalLog is a cosigned log with a final checkpoint (three of four
// validators signed its newest closed checkpoint).
func finalLog(t testing.TB) *cosigned {
	t.Helper()
	c := newCosigned(t)
	for v := range 3 {
		if _, err := c.log.AddClaim(c.claim(t, v, c.cp, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := c.log.Latest(); !ok {
		t.Fatal("no final checkpoint")
	}
	return c
}

func (c *cosigned) bundle(t testing.TB, index uint64) (*dag.Transaction, []byte) {
	t.Helper()
	id, err := c.log.At(index)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.ledger.Transaction(id)
	if err != nil {
		t.Fatal(err)
	}
	b, f, err := c.log.NewBundle(evidence.KindTransaction)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.log.EntryFor(id, tx.Bytes(), f.Size)
	if err != nil {
		t.Fatal(err)
	}
	b.Entries = append(b.Entries, e)
	return tx, b.Encode()
}

// TestBundleVerifiesOffline: a bundle for every logged position verifies
// against the genesis alone and says what it proves; it stays within 2
// KiB beyond the transaction's own bytes.
func TestBundleVerifiesOffline(t *testing.T) {
	c := finalLog(t)
	f, _, _ := c.log.Latest()
	for index := range f.Size {
		tx, raw := c.bundle(t, index)
		p, err := evidence.Verify(c.net.Genesis, raw)
		if err != nil {
			t.Fatalf("position %d: %v", index, err)
		}
		if len(p.Entries) != 1 || p.Entries[0].ID != tx.ID() || p.Entries[0].LogIndex != index || p.Size != f.Size || len(p.Signers) != 3 {
			t.Fatalf("position %d proves %+v", index, p)
		}
		// Base64 makes the transaction 4/3 of its size in the bundle.
		if extra := len(raw) - len(tx.Bytes())*4/3; extra > 2048 {
			t.Errorf("position %d: the bundle is %d bytes beyond its transaction", index, extra)
		}
	}
	// Beyond the checkpoint: not logged there.
	if c.log.Size() > f.Size {
		id, _ := c.log.At(f.Size)
		tx, _ := c.ledger.Transaction(id)
		if _, err := c.log.EntryFor(id, tx.Bytes(), f.Size); !errors.Is(err, evidence.ErrNotLogged) {
			t.Errorf("an entry past the checkpoint: %v", err)
		}
	}
	// Another network's genesis refuses it.
	other := *c.net.Genesis
	other.NetworkID = "another"
	_, raw := c.bundle(t, 0)
	if _, err := evidence.Verify(&other, raw); !errors.Is(err, evidence.ErrBundle) {
		t.Errorf("verified against another genesis: %v", err)
	}
}

// TestBundleBitFlips: flipping any single bit of a bundle makes it fail.
func TestBundleBitFlips(t *testing.T) {
	c := finalLog(t)
	_, raw := c.bundle(t, 3)
	if _, err := evidence.Verify(c.net.Genesis, raw); err != nil {
		t.Fatal(err)
	}
	flipped := make([]byte, len(raw))
	for i := range len(raw) * 8 {
		copy(flipped, raw)
		flipped[i/8] ^= 1 << (i % 8)
		if p, err := evidence.Verify(c.net.Genesis, flipped); err == nil {
			t.Fatalf("bit %d of byte %d (%q) flipped and the bundle still verifies: %+v", i%8, i/8, raw[i/8], p)
		}
	}
}

// TestConsistencyBetweenCheckpoints: the log at every closed checkpoint
// is a prefix of the log at every later one.
func TestConsistencyBetweenCheckpoints(t *testing.T) {
	c := newCosigned(t)
	var sizes []uint64
	for s := range c.closed {
		sizes = append(sizes, s)
	}
	for _, m := range sizes {
		for _, n := range sizes {
			if m > n {
				continue
			}
			proof, err := c.log.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			rm, _ := c.log.RootAt(m)
			rn, _ := c.log.RootAt(n)
			if rm != c.closed[m] || rn != c.closed[n] {
				t.Fatalf("roots at %d, %d are not the checkpoints'", m, n)
			}
			if err := merkle.VerifyConsistency(m, n, rm, rn, proof); err != nil {
				t.Errorf("%d → %d: %v", m, n, err)
			}
		}
	}
	if _, err := c.log.ConsistencyProof(1, c.log.Size()+1); !errors.Is(err, evidence.ErrRange) {
		t.Errorf("a proof beyond the log: %v", err)
	}
}

// FuzzVerify: no input panics the verifier, and only the real bundle's
// bytes verify.
func FuzzVerify(f *testing.F) {
	c := finalLog(f)
	_, raw := c.bundle(f, 1)
	f.Add(raw)
	f.Add([]byte(`{"format":"tangled-evidence/1"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := evidence.Verify(c.net.Genesis, data)
		if err == nil && string(data) != string(raw) {
			// Another valid bundle can only come from the log itself.
			if p.Size == 0 || len(p.Entries) != 1 {
				t.Fatalf("verified a bundle that proves nothing: %+v", p)
			}
		}
	})
}

func BenchmarkVerifyBundle(b *testing.B) {
	c := finalLog(b)
	tx, raw := c.bundle(b, 5)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := evidence.Verify(c.net.Genesis, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(raw)-len(tx.Bytes())*4/3), "beyond_tx_bytes")
}
