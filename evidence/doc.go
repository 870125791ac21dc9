// Package evidence is the audit log of a tangled network: confirmed
// history as an RFC 6962 Merkle log in one canonical order, identical on
// every node; checkpoints of it that the validators cosign; and bundles
// (a transaction or a device's history, its inclusion proofs and a
// cosigned checkpoint) that verify against the genesis alone, offline.
//
// The order. The log follows one validator's chain, the orderer's (the
// first validator of the genesis). Its checkpoint transactions are the
// anchors; when an anchor is confirmed (and every anchor before it), what
// its approval cone adds to the log is appended, parents first, ties by
// lower ID. An anchor's cone is immutable, so the log is a function of the
// DAG alone: which node confirmed what when changes how soon the log
// grows, never what it holds.
//
// Checkpoints. An anchor whose issuing time falls in another second than
// its predecessor's closes a checkpoint: every validator that reaches it
// signs the checkpoint's text (the C2SP tlog-checkpoint body: origin, size,
// root) as a signed note and posts the signature in a transaction of kind
// checkpoint, so cosignatures travel, persist and sync as the DAG does. A
// checkpoint signed by more than the confirmation threshold of validator
// weight is final. A validator that signs two roots for one size, or a
// root that is not the log's, is caught with its own signed transactions
// as the evidence.
package evidence
