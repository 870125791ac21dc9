// Package pow is the proof-of-work of a Tangle ledger: a cheap, parallel,
// cancellable search for a nonce, a one-hash check, and the rules that set
// how much work a transaction needs.
//
// The work of a transaction is BLAKE3-256(ID ‖ nonce), the nonce encoded as
// 8 bytes little-endian, and it is valid when it has at least the required
// number of leading zero bits. Because it covers the transaction ID rather
// than its bytes, a gateway can do the work for a device without holding the
// device's key, re-mining a nonce never yields a second ID, and a node checks
// the work with one small hash before it spends time on the signature.
// Meeting b bits takes 2^b hashes on average.
//
// How many bits a transaction needs is set by the network's Rules: a base
// cost, plus one bit per so many payload bytes, plus a cost that grows with
// the number of transactions its issuer sent within a recent window. Each
// extra bit doubles the work, so an honest low-rate device pays almost
// nothing and a flooding one pays exponentially more. The rules are plain
// data, kept in the genesis file (see Rules for the JSON form), and Required
// is a pure function of them, so every node computes the same difficulty.
//
// A device or gateway solves; a node verifies:
//
//	rules := pow.DefaultRules()
//	bits := rules.Required(len(payload), recent)
//
//	nonce, err := pow.Solve(ctx, id, bits, 0) // 0: one worker per CPU
//	if err != nil {
//		return err // ctx ended
//	}
//
//	// On the node, with recent counted from the issuer's chain:
//	if !pow.Verify(id, nonce, rules.Required(len(payload), recent)) {
//		return errNotEnoughWork
//	}
//
// recent counts the issuer's transactions whose issuing time lies within
// RateWindow before this one's; the caller walks the issuer's chain to count
// them and may stop after MaxCounted.
//
// The package knows nothing of transactions, clocks or networks: IDs,
// payload lengths and counts come in as arguments.
package pow
