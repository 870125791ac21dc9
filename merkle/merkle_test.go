package merkle

import (
	"errors"
	"fmt"
	"testing"
)

// mth is RFC 6962's Merkle Tree Hash, written as the definition reads:
// the brute force the tree's stored-node arithmetic is checked against.
func mth(leaves [][]byte) Hash {
	switch len(leaves) {
	case 0:
		return EmptyRoot
	case 1:
		return LeafHash(leaves[0])
	}
	k := splitPoint(uint64(len(leaves)))
	return NodeHash(mth(leaves[:k]), mth(leaves[k:]))
}

func leavesN(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("leaf %d", i))
	}
	return out
}

func build(t testing.TB, leaves [][]byte) *Tree {
	tr := New(&MemStore{}, 0)
	for _, l := range leaves {
		if err := tr.Append(LeafHash(l)); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// The RFC 6962 test tree of Certificate Transparency's reference code:
// eight leaves, with the roots of each prefix.
func TestRFC6962Vectors(t *testing.T) {
	leaves := [][]byte{{}, {0x00}, {0x10}, {0x20, 0x21}, {0x30, 0x31}, {0x40, 0x41, 0x42, 0x43},
		{0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
		{0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f}}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	tr := build(t, leaves)
	if EmptyRoot.String() != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty root %s", EmptyRoot)
	}
	for i, want := range roots {
		got, err := tr.RootAt(uint64(i + 1))
		if err != nil || got.String() != want {
			t.Errorf("root of %d leaves %s (%v), want %s", i+1, got, err, want)
		}
	}
}

// TestProofsAgainstBruteForce: for every size up to 70 and every leaf,
// the root matches the definition and the inclusion proof verifies; for
// every pair of sizes up to 70 the consistency proof verifies; a proof
// for another leaf, size or root does not.
func TestProofsAgainstBruteForce(t *testing.T) {
	const max = 70
	all := leavesN(max)
	tr := build(t, all)
	roots := make([]Hash, max+1)
	for n := 0; n <= max; n++ {
		root, err := tr.RootAt(uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		if want := mth(all[:n]); root != want {
			t.Fatalf("root of %d: %s, brute force %s", n, root, want)
		}
		roots[n] = root
	}
	for n := uint64(1); n <= max; n++ {
		for i := uint64(0); i < n; i++ {
			proof, err := tr.InclusionProof(i, n)
			if err != nil {
				t.Fatal(err)
			}
			leaf := LeafHash(all[i])
			if err := VerifyInclusion(leaf, i, n, proof, roots[n]); err != nil {
				t.Fatalf("leaf %d of %d: %v", i, n, err)
			}
			if n > 1 {
				other := (i + 1) % n
				if VerifyInclusion(leaf, other, n, proof, roots[n]) == nil && LeafHash(all[other]) != leaf {
					t.Fatalf("leaf %d of %d verifies at index %d", i, n, other)
				}
				if VerifyInclusion(leaf, i, n, proof, roots[n-1]) == nil {
					t.Fatalf("leaf %d of %d verifies against the root of %d", i, n, n-1)
				}
			}
		}
		for m := uint64(1); m <= n; m++ {
			proof, err := tr.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(m, n, roots[m], roots[n], proof); err != nil {
				t.Fatalf("%d to %d: %v", m, n, err)
			}
			if m < n && VerifyConsistency(m, n, roots[m-1], roots[n], proof) == nil {
				t.Fatalf("%d to %d verifies with the root of %d", m, n, m-1)
			}
		}
	}
}

// TestFlippedBitsFail: every single bit flipped in an inclusion or a
// consistency proof, or in the roots, fails verification.
func TestFlippedBitsFail(t *testing.T) {
	all := leavesN(37)
	tr := build(t, all)
	root, _ := tr.RootAt(37)
	root20, _ := tr.RootAt(20)
	incl, _ := tr.InclusionProof(13, 37)
	cons, _ := tr.ConsistencyProof(20, 37)
	leaf := LeafHash(all[13])
	flip := func(h Hash, bit int) Hash { h[bit/8] ^= 1 << (bit % 8); return h }
	for bit := range 256 {
		for j := range incl {
			p := append([]Hash(nil), incl...)
			p[j] = flip(p[j], bit)
			if VerifyInclusion(leaf, 13, 37, p, root) == nil {
				t.Fatalf("inclusion proof with bit %d of hash %d flipped verifies", bit, j)
			}
		}
		if VerifyInclusion(flip(leaf, bit), 13, 37, incl, root) == nil || VerifyInclusion(leaf, 13, 37, incl, flip(root, bit)) == nil {
			t.Fatalf("a flipped leaf or root verifies (bit %d)", bit)
		}
		for j := range cons {
			p := append([]Hash(nil), cons...)
			p[j] = flip(p[j], bit)
			if VerifyConsistency(20, 37, root20, root, p) == nil {
				t.Fatalf("consistency proof with bit %d of hash %d flipped verifies", bit, j)
			}
		}
	}
	if VerifyInclusion(leaf, 13, 37, incl[:len(incl)-1], root) == nil || VerifyInclusion(leaf, 13, 37, append(incl, Hash{}), root) == nil {
		t.Fatal("a truncated or extended inclusion proof verifies")
	}
	if VerifyConsistency(20, 37, root20, root, cons[:len(cons)-1]) == nil || VerifyConsistency(20, 37, root20, root, append(cons, Hash{})) == nil {
		t.Fatal("a truncated or extended consistency proof verifies")
	}
}

func TestRangeErrors(t *testing.T) {
	tr := build(t, leavesN(5))
	for _, err := range []error{
		func() error { _, err := tr.RootAt(6); return err }(),
		func() error { _, err := tr.InclusionProof(5, 5); return err }(),
		func() error { _, err := tr.InclusionProof(0, 6); return err }(),
		func() error { _, err := tr.ConsistencyProof(0, 3); return err }(),
		func() error { _, err := tr.ConsistencyProof(4, 3); return err }(),
	} {
		if !errors.Is(err, ErrRange) {
			t.Errorf("err = %v, want ErrRange", err)
		}
	}
	if err := VerifyInclusion(Hash{}, 3, 3, nil, Hash{}); !errors.Is(err, ErrProof) {
		t.Errorf("index beyond size: %v", err)
	}
}

// TestReopen: a tree reopened on its store at its size continues exactly.
func TestReopen(t *testing.T) {
	all := leavesN(50)
	store := &MemStore{}
	tr := New(store, 0)
	for _, l := range all[:23] {
		tr.Append(LeafHash(l))
	}
	again := New(store, 23)
	for _, l := range all[23:] {
		if err := again.Append(LeafHash(l)); err != nil {
			t.Fatal(err)
		}
	}
	if root, _ := again.Root(); root != mth(all) {
		t.Fatalf("reopened root %s, want %s", root, mth(all))
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	tr := New(&MemStore{}, 0)
	for i := range 1 << 20 {
		tr.Append(LeafHash([]byte{byte(i), byte(i >> 8), byte(i >> 16)}))
	}
	root, _ := tr.Root()
	const i = 123457
	proof, _ := tr.InclusionProof(i, 1<<20)
	leaf := LeafHash([]byte{i & 0xff, i >> 8 & 0xff, i >> 16})
	for b.Loop() {
		if err := VerifyInclusion(leaf, i, 1<<20, proof, root); err != nil {
			b.Fatal(err)
		}
	}
}
