// Package dag is the ledger core: the transaction format and its codec, and
// the DAG that attaches, solidifies, confirms and orders transactions.
//
// # Transactions
//
// A Transaction approves two earlier transactions (Trunk, Branch), names its
// issuer's previous transaction (Prev, a reference, not an approval) and
// carries a payload. Its ID is BLAKE3-256 over the signed essence and the
// Ed25519 signature; its proof-of-work is BLAKE3(ID ‖ nonce) with enough
// leading zero bits (package pow). Decode accepts exactly one encoding per
// transaction; signatures are verified under ZIP-215 rules by both
// VerifySignature and the batch VerifySignatures, so the two always agree.
//
// # The ledger
//
// A Ledger holds the DAG in memory and writes through a Store (package
// storage). Transactions whose parents or predecessor are unknown are
// parked and attach by themselves once those arrive; Result.Missing and
// Ledger.Missing say what to ask peers for. Validators named in the Genesis
// issue beacons; a beacon sets its validator's bit on its past cone, and a
// transaction whose approving validators' weight exceeds the genesis
// threshold (2/3 by default) is confirmed and appended to the confirmed
// order. Two transactions of one issuer with the same sequence number are an
// equivocation: both, and the issuer-chain successors of each, are marked
// conflicting. Subscribers receive attached, confirmed and conflicting
// events after the change is durable.
//
// Untrusted bytes enter through a Pipeline: decode and work check in the
// caller's goroutine, batch signature verification on every core, one
// attaching goroutine, and a group commit that acknowledges a transaction
// only once it is on disk.
//
//	l, err := dag.Open(dag.Config{Genesis: genesis, Store: store})
//	if err != nil { ... }
//	p, err := dag.NewPipeline(l, dag.PipelineConfig{})
//	go p.Run(ctx)
//	res, err := p.Submit(ctx, raw) // returns once durable or rejected
//	switch dag.Code(err) {
//	case "": // res.Status is attached, parked or duplicate
//	case "insufficient_work", "bad_signature": ...
//	}
//
// # Rules and rejections
//
// Attach is a read-only check (issuer chain, work with the issuer's rate,
// then an optional RuleLayer given the transaction and a PastView) followed
// by an apply, so a rejected transaction changes nothing. Kinds are rows of
// a table (Kind.Spec). Every rejection wraps a sentinel or is a Rejection;
// Code gives its stable code and FaultOf whose doing it is, which the API
// and the network use to charge the client or peer that sent it.
//
// The package knows nothing of disks, sockets or tip selection; time enters
// through Config.Now and randomness not at all, so the same code runs in the
// node, the tests and the simulator.
package dag
