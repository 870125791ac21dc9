// Package merkle is an append-only Merkle tree with RFC 6962 (RFC 9162
// section 2.1) hashing: SHA-256, leaves hashed with a 0x00 prefix and
// interior nodes with 0x01, the tree split at the largest power of two
// below its size. It builds and verifies inclusion proofs (a leaf is in
// the tree of a given size and root) and consistency proofs (the tree of
// one size is a prefix of the tree of a larger one), in the forms
// Certificate Transparency, the C2SP tlog formats and Sigstore use, so a
// verifier in any language can check them.
//
// The tree keeps the hash of every complete, aligned subtree in a
// NodeStore: level 0 are the leaves, level k node i covers leaves
// [i·2^k, (i+1)·2^k). Appending costs O(log n) hashes; a proof or a root
// at any earlier size reads O(log n) stored hashes and computes the
// incomplete right edge. The store can be memory (MemStore) or durable,
// and it is all a node needs to keep to serve proofs after the leaves'
// transactions are pruned.
package merkle
