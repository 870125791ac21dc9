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
	(*Verifier)(nil).verifyBatch(txs, ok, entropy)
}

// Verifier verifies signatures like VerifySignature and VerifySignatures,
// and caches the expanded form of recent issuers' public keys: devices post
// again and again, and expanding a key (decompressing the point and
// building its table) is a quarter of a batch verification's cost. A nil
// *Verifier verifies without a cache.
type Verifier struct {
	limit int
	mu    sync.Mutex
	// Two generations bound the cache without bookkeeping per entry: when
	// cur is full it becomes old, and a key found in old is promoted.
	cur, old map[PublicKey]*voi.ExpandedPublicKey
}

// expandedKeyBytes is the size of one cached key (curve25519-voi's figure).
const expandedKeyBytes = 1505

// NewVerifier returns a verifier whose key cache holds about cacheBytes
// (at least two generations of 16 keys).
func NewVerifier(cacheBytes int) *Verifier {
	return &Verifier{
		limit: max(cacheBytes/expandedKeyBytes/2, 16),
		cur:   make(map[PublicKey]*voi.ExpandedPublicKey),
	}
}

// key returns the expanded key, or nil when the key does not decompress
// (such a signature is invalid under every rule, and the unexpanded path
// reports it so).
func (v *Verifier) key(pk PublicKey) *voi.ExpandedPublicKey {
	v.mu.Lock()
	ek, ok := v.cur[pk]
	if !ok {
		if ek, ok = v.old[pk]; ok {
			v.put(pk, ek)
		}
	}
	v.mu.Unlock()
	if ok {
		return ek
	}
	ek, err := voi.NewExpandedPublicKey(pk[:])
	if err != nil {
		return nil
	}
	v.mu.Lock()
	v.put(pk, ek)
	v.mu.Unlock()
	return ek
}

func (v *Verifier) put(pk PublicKey, ek *voi.ExpandedPublicKey) {
	if len(v.cur) >= v.limit {
		v.old, v.cur = v.cur, make(map[PublicKey]*voi.ExpandedPublicKey, v.limit)
	}
	v.cur[pk] = ek
}

// Verify checks one signature.
func (v *Verifier) Verify(tx *Transaction) bool {
	if v == nil {
		return VerifySignature(tx)
	}
	ek := v.key(tx.Issuer)
	if ek == nil {
		return VerifySignature(tx)
	}
	return voi.VerifyExpandedWithOptions(ek, tx.Essence(), tx.Signature[:], verifyOptions)
}

// VerifyBatch writes each signature's verdict into ok.
func (v *Verifier) VerifyBatch(txs []*Transaction, ok []bool) {
	v.verifyBatch(txs, ok, rand.Reader)
}

func (v *Verifier) verifyBatch(txs []*Transaction, ok []bool, entropy io.Reader) {
	if len(txs) < minBatch {
		for i, tx := range txs {
			ok[i] = v.Verify(tx)
		}
		return
	}
	bv := batchPool.Get().(*voi.BatchVerifier)
	defer func() { batchPool.Put(bv.Reset()) }()
	for _, tx := range txs {
		var ek *voi.ExpandedPublicKey
		if v != nil {
			ek = v.key(tx.Issuer)
		}
		if ek != nil {
			bv.AddExpandedWithOptions(ek, tx.Essence(), tx.Signature[:], verifyOptions)
		} else {
			bv.AddWithOptions(tx.Issuer[:], tx.Essence(), tx.Signature[:], verifyOptions)
		}
	}
	if bv.VerifyBatchOnly(entropy) {
		for i := range ok {
			ok[i] = true
		}
		return
	}
	for i, tx := range txs {
		ok[i] = v.Verify(tx)
	}
}
