package dag

import (
	"crypto/rand"
	"io"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// One signature rule everywhere: ZIP-215 (cofactored, non-canonical points
// accepted), for single and batch verification alike. Mixing in
// crypto/ed25519.Verify (cofactorless) would let a crafted signature pass a
// batch on one node and fail alone on another, and honest nodes would
// disagree about validity.
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// VerifySignature checks tx's signature over its essence under ZIP-215.
func VerifySignature(tx *Transaction) bool {
	return voi.VerifyWithOptions(tx.Issuer[:], tx.Essence(), tx.Signature[:], verifyOptions)
}

// minBatch is the smallest batch worth the batch equation: below it the
// fixed cost of the multiscalar multiplication outweighs the saving.
const minBatch = 4

var batchPool = sync.Pool{New: func() any { return voi.NewBatchVerifier() }}

// VerifySignatures checks many signatures at once and writes each verdict
// into ok (len(ok) must equal len(txs)). The verdicts are exactly those of
// VerifySignature; batching only changes the cost. A batch with a bad entry
// costs a failed batch pass plus a check per entry, which is why the
// pipeline checks the cheap proof-of-work first.
func VerifySignatures(txs []*Transaction, ok []bool) {
	verifySignatures(txs, ok, rand.Reader)
}

func verifySignatures(txs []*Transaction, ok []bool, entropy io.Reader) {
	if len(txs) < minBatch {
		for i, tx := range txs {
			ok[i] = VerifySignature(tx)
		}
		return
	}
	bv := batchPool.Get().(*voi.BatchVerifier)
	defer func() { batchPool.Put(bv.Reset()) }()
	for _, tx := range txs {
		bv.AddWithOptions(tx.Issuer[:], tx.Essence(), tx.Signature[:], verifyOptions)
	}
	if bv.VerifyBatchOnly(entropy) {
		for i := range ok {
			ok[i] = true
		}
		return
	}
	for i, tx := range txs {
		ok[i] = VerifySignature(tx)
	}
}
