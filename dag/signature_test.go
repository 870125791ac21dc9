package dag_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

func signedBatch(tb testing.TB, n int) []*dag.Transaction {
	tb.Helper()
	is := dagtest.NewIssuer("batch", dagtestRules())
	txs := make([]*dag.Transaction, n)
	for i := range txs {
		txs[i] = is.Build(dag.KindData, dag.ID{1}, dag.ID{2}, int64(i+1), []byte(fmt.Sprintf("reading %d", i)))
	}
	return txs
}

// corrupt returns a copy of tx with one signature bit flipped.
func corrupt(tb testing.TB, tx *dag.Transaction, bit int) *dag.Transaction {
	raw := append([]byte(nil), tx.Bytes()...)
	raw[len(raw)-8-dag.SignatureSize+bit/8] ^= 1 << (bit % 8)
	bad, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil {
		tb.Fatal(err)
	}
	return bad
}

// TestBatchAgreesWithSingle is the one-rule check: for every mix of good
// and bad signatures and every batch size, batch verdicts equal the single
// verifier's.
func TestBatchAgreesWithSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := signedBatch(t, 300)
	// Keys that do not decompress, small-order keys and a cache small
	// enough to rotate generations all go through the same rule.
	for i, key := range [][]byte{make([]byte, 32), bytesOf(0xff, 32), {1}} {
		raw := append([]byte(nil), base[i].Bytes()...)
		copy(raw[66:98], append(key, make([]byte, 32)...)[:32])
		if weird, err := dag.Decode(raw, dag.MaxPayloadLimit); err == nil {
			base[i] = weird
		}
	}
	verifier := dag.NewVerifier(1)
	for _, size := range []int{1, 2, 3, 4, 5, 64, 128, 300} {
		for _, bad := range []int{0, 1, 3} {
			txs := append([]*dag.Transaction(nil), base[:size]...)
			for range min(bad, size) {
				i := rng.IntN(size)
				txs[i] = corrupt(t, txs[i], rng.IntN(8*dag.SignatureSize))
			}
			ok := make([]bool, size)
			dag.VerifySignatures(txs, ok)
			cached := make([]bool, size)
			verifier.VerifyBatch(txs, cached)
			for i, tx := range txs {
				want := dag.VerifySignature(tx)
				if ok[i] != want || cached[i] != want || verifier.Verify(tx) != want {
					t.Fatalf("size %d bad %d entry %d: batch %v, cached batch %v, single %v", size, bad, i, ok[i], cached[i], want)
				}
			}
		}
	}
}

func TestSignatureRejectsWrongKey(t *testing.T) {
	tx := signedBatch(t, 1)[0]
	raw := append([]byte(nil), tx.Bytes()...)
	other := dagtest.PublicKey(dagtest.Key("someone else"))
	copy(raw[66:98], other[:])
	forged, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil {
		t.Fatal(err)
	}
	if dag.VerifySignature(forged) {
		t.Fatal("signature verified under another issuer's key")
	}
}

// BenchmarkVerifySingle is one core verifying one signature at a time.
func BenchmarkVerifySingle(b *testing.B) {
	txs := signedBatch(b, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if !dag.VerifySignature(txs[i%len(txs)]) {
			b.Fatal("bad signature")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sig/s")
}

// BenchmarkVerifyBatch is the raw batch-verification rate on all cores: the
// ceiling the ingest pipeline is measured against.
func BenchmarkVerifyBatch(b *testing.B) { benchVerifyBatch(b, dag.VerifySignatures) }

// BenchmarkVerifyBatchCached is BenchmarkVerifyBatch with the pipeline's
// expanded-key cache warm (every signer seen before).
func BenchmarkVerifyBatchCached(b *testing.B) {
	benchVerifyBatch(b, dag.NewVerifier(dag.DefaultKeyCacheBytes).VerifyBatch)
}

func benchVerifyBatch(b *testing.B, verify func([]*dag.Transaction, []bool)) {
	const size = dag.DefaultBatchSize
	txs := signedBatch(b, size)
	workers := runtime.GOMAXPROCS(0)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + workers - 1) / workers
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := make([]bool, size)
			for done := 0; done < per; done += size {
				verify(txs, ok)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*workers)/b.Elapsed().Seconds(), "sig/s")
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
