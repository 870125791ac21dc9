package merkle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// Hash is a SHA-256 tree hash.
type Hash [32]byte

// String is the hash in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes the hash as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 64 hex digits.
func (h *Hash) UnmarshalText(text []byte) error {
	if len(text) != 2*len(h) {
		return fmt.Errorf("merkle: a hash is %d hex digits, got %d", 2*len(h), len(text))
	}
	_, err := hex.Decode(h[:], text)
	return err
}

// EmptyRoot is the root of the empty tree: SHA-256 of nothing.
var EmptyRoot = Hash(sha256.Sum256(nil))

// LeafHash is SHA-256(0x00 ‖ data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash is SHA-256(0x01 ‖ left ‖ right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*len(Hash{})]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+len(left):], right[:])
	return sha256.Sum256(buf[:])
}

// Errors of proofs that do not verify and of requests for proofs that do
// not exist.
var (
	ErrProof = errors.New("merkle: proof does not verify")
	ErrRange = errors.New("merkle: index or size out of range")
)

// NodeStore keeps the hashes of complete, aligned subtrees.
type NodeStore interface {
	// Node returns the hash at level and index; false if it is not stored.
	Node(level uint8, index uint64) (Hash, bool)
	// SetNode stores it.
	SetNode(level uint8, index uint64, h Hash) error
}

// MemStore is a NodeStore in memory: 64 bytes a leaf.
type MemStore struct{ levels [][]Hash }

// Node implements NodeStore.
func (m *MemStore) Node(level uint8, index uint64) (Hash, bool) {
	if int(level) >= len(m.levels) || index >= uint64(len(m.levels[level])) {
		return Hash{}, false
	}
	return m.levels[level][index], true
}

// SetNode implements NodeStore; nodes of a level arrive in index order.
func (m *MemStore) SetNode(level uint8, index uint64, h Hash) error {
	for int(level) >= len(m.levels) {
		m.levels = append(m.levels, nil)
	}
	l := m.levels[level]
	switch {
	case index < uint64(len(l)):
		l[index] = h
	case index == uint64(len(l)):
		m.levels[level] = append(l, h)
	default:
		return fmt.Errorf("merkle: node %d of level %d stored before node %d", index, level, len(l))
	}
	return nil
}

// Tree is an append-only Merkle tree over a NodeStore. It is not safe for
// concurrent use; callers serialise appends and reads.
type Tree struct {
	store NodeStore
	size  uint64
}

// New returns a tree of size leaves whose nodes are in store (0 and an
// empty store for a new tree; the stored size for a reopened one).
func New(store NodeStore, size uint64) *Tree { return &Tree{store: store, size: size} }

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.size }

// Append adds a leaf hash, storing every subtree it completes.
func (t *Tree) Append(leaf Hash) error {
	index := t.size
	h := leaf
	if err := t.store.SetNode(0, index, h); err != nil {
		return err
	}
	// The new leaf completes one subtree per trailing one bit of its index.
	for level := uint8(0); index&1 == 1; level++ {
		left, ok := t.store.Node(level, index-1)
		if !ok {
			return fmt.Errorf("merkle: store lacks node %d of level %d", index-1, level)
		}
		h = NodeHash(left, h)
		index >>= 1
		if err := t.store.SetNode(level+1, index, h); err != nil {
			return err
		}
	}
	t.size++
	return nil
}

// Root is the root of the whole tree.
func (t *Tree) Root() (Hash, error) { return t.RootAt(t.size) }

// RootAt is the root of the tree of the first size leaves.
func (t *Tree) RootAt(size uint64) (Hash, error) {
	if size > t.size {
		return Hash{}, fmt.Errorf("%w: size %d of a tree of %d", ErrRange, size, t.size)
	}
	if size == 0 {
		return EmptyRoot, nil
	}
	return t.hashRange(0, size)
}

// hashRange is the tree hash of leaves [lo, hi): a stored node when the
// range is a complete, aligned subtree, else the split at the largest
// power of two below its length (lo is always a multiple of it in the
// ranges RFC 6962's recursion visits).
func (t *Tree) hashRange(lo, hi uint64) (Hash, error) {
	n := hi - lo
	if n&(n-1) == 0 && lo%n == 0 {
		level := uint8(bits.TrailingZeros64(n))
		h, ok := t.store.Node(level, lo>>level)
		if !ok {
			return Hash{}, fmt.Errorf("merkle: store lacks node %d of level %d", lo>>level, level)
		}
		return h, nil
	}
	k := splitPoint(n)
	left, err := t.hashRange(lo, lo+k)
	if err != nil {
		return Hash{}, err
	}
	right, err := t.hashRange(lo+k, hi)
	if err != nil {
		return Hash{}, err
	}
	return NodeHash(left, right), nil
}

// splitPoint is the largest power of two smaller than n (n ≥ 2).
func splitPoint(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// InclusionProof is the audit path of leaf index in the tree of size
// leaves (RFC 6962 PATH), leaf-side first.
func (t *Tree) InclusionProof(index, size uint64) ([]Hash, error) {
	if size > t.size || index >= size {
		return nil, fmt.Errorf("%w: leaf %d of size %d (tree of %d)", ErrRange, index, size, t.size)
	}
	var proof []Hash
	if err := t.path(index, 0, size, &proof); err != nil {
		return nil, err
	}
	return proof, nil
}

// path appends PATH(m, D[lo:hi]) for the leaf lo+m, deepest sibling first.
func (t *Tree) path(m, lo, hi uint64, proof *[]Hash) error {
	n := hi - lo
	if n <= 1 {
		return nil
	}
	k := splitPoint(n)
	var sibling Hash
	var err error
	if m < k {
		if err = t.path(m, lo, lo+k, proof); err != nil {
			return err
		}
		sibling, err = t.hashRange(lo+k, hi)
	} else {
		if err = t.path(m-k, lo+k, hi, proof); err != nil {
			return err
		}
		sibling, err = t.hashRange(lo, lo+k)
	}
	if err != nil {
		return err
	}
	*proof = append(*proof, sibling)
	return nil
}

// ConsistencyProof proves that the tree of size m is a prefix of the tree
// of size n (RFC 6962 PROOF), 0 < m ≤ n ≤ Size.
func (t *Tree) ConsistencyProof(m, n uint64) ([]Hash, error) {
	if m == 0 || m > n || n > t.size {
		return nil, fmt.Errorf("%w: from %d to %d (tree of %d)", ErrRange, m, n, t.size)
	}
	var proof []Hash
	if err := t.subproof(m, 0, n, true, &proof); err != nil {
		return nil, err
	}
	return proof, nil
}

func (t *Tree) subproof(m, lo, hi uint64, whole bool, proof *[]Hash) error {
	n := hi - lo
	if m == n {
		if !whole {
			h, err := t.hashRange(lo, hi)
			if err != nil {
				return err
			}
			*proof = append(*proof, h)
		}
		return nil
	}
	k := splitPoint(n)
	var h Hash
	var err error
	if m <= k {
		if err = t.subproof(m, lo, lo+k, whole, proof); err != nil {
			return err
		}
		h, err = t.hashRange(lo+k, hi)
	} else {
		if err = t.subproof(m-k, lo+k, hi, false, proof); err != nil {
			return err
		}
		h, err = t.hashRange(lo, lo+k)
	}
	if err != nil {
		return err
	}
	*proof = append(*proof, h)
	return nil
}

// VerifyInclusion checks that leaf is leaf index of the tree of size
// leaves whose root is root (RFC 9162 section 2.1.3.2).
func VerifyInclusion(leaf Hash, index, size uint64, proof []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: leaf %d of a tree of %d", ErrProof, index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: the path is longer than the tree is deep", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: the path is shorter than the tree is deep", ErrProof)
	}
	if r != root {
		return fmt.Errorf("%w: it leads to another root", ErrProof)
	}
	return nil
}

// VerifyConsistency checks that the tree of size m with root rootM is a
// prefix of the tree of size n with root rootN (RFC 9162 section 2.1.4.2).
func VerifyConsistency(m, n uint64, rootM, rootN Hash, proof []Hash) error {
	switch {
	case m > n:
		return fmt.Errorf("%w: from %d to the smaller %d", ErrProof, m, n)
	case m == n:
		if len(proof) != 0 || rootM != rootN {
			return fmt.Errorf("%w: equal sizes need equal roots and an empty proof", ErrProof)
		}
		return nil
	case m == 0:
		// Every tree extends the empty one; there is nothing to prove.
		if len(proof) != 0 || rootM != EmptyRoot {
			return fmt.Errorf("%w: from the empty tree the proof is empty", ErrProof)
		}
		return nil
	case len(proof) == 0:
		return fmt.Errorf("%w: empty proof", ErrProof)
	}
	if m&(m-1) == 0 {
		proof = append([]Hash{rootM}, proof...)
	}
	fn, sn := m-1, n-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return fmt.Errorf("%w: the proof is too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: the proof is too short", ErrProof)
	}
	if fr != rootM || sr != rootN {
		return fmt.Errorf("%w: it leads to other roots", ErrProof)
	}
	return nil
}
