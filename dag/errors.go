package dag

import (
	"errors"
	"fmt"
)

// Rejection sentinels. Every error the ledger returns for bad input wraps
// exactly one of these, so callers map it to a stable code with Code and to
// a transport status of their own (the API maps them to HTTP statuses).
var (
	// ErrMalformed: the bytes are not a transaction (too short, truncated,
	// zero parent, a sequence number that disagrees with its predecessor).
	ErrMalformed = errors.New("dag: malformed transaction")
	// ErrVersion: an encoding version this node does not know.
	ErrVersion = errors.New("dag: unknown transaction version")
	// ErrKind: a transaction kind this node does not know.
	ErrKind = errors.New("dag: unknown transaction kind")
	// ErrPayloadTooLarge: the payload exceeds the network's maximum.
	ErrPayloadTooLarge = errors.New("dag: payload too large")
	// ErrTrailingBytes: bytes after the end of the transaction; every
	// transaction has exactly one valid encoding.
	ErrTrailingBytes = errors.New("dag: trailing bytes after transaction")
	// ErrSignature: the Ed25519 signature does not verify (ZIP-215 rules).
	ErrSignature = errors.New("dag: invalid signature")
	// ErrWork: the nonce does not meet the required proof-of-work.
	ErrWork = errors.New("dag: insufficient proof of work")
	// ErrFuture: the issuing time is too far ahead of this node's clock.
	// It is a delay, not a verdict: the same bytes may be accepted later.
	ErrFuture = errors.New("dag: issuing time too far in the future")
	// ErrChain: the predecessor is not the issuer's previous transaction,
	// or the issuing time runs backwards along the issuer's chain.
	ErrChain = errors.New("dag: broken issuer chain")
	// ErrNotValidator: a beacon from a key outside the validator set.
	ErrNotValidator = errors.New("dag: beacon issuer is not a validator")
	// ErrNotAuthority: an authority's control kind from a key that is not
	// a genesis authority.
	ErrNotAuthority = errors.New("dag: control transaction issuer is not an authority")
	// ErrParkedFull: too many transactions wait for missing parents; the
	// sender should slow down and retry.
	ErrParkedFull = errors.New("dag: too many transactions waiting for parents")
	// ErrOverloaded: the ingest queues are full (back-pressure).
	ErrOverloaded = errors.New("dag: ingest overloaded")
	// ErrClosed: the ledger or pipeline is shutting down.
	ErrClosed = errors.New("dag: closed")
	// ErrStore: persisting failed; the ledger refuses further writes
	// because its memory state is ahead of the disk.
	ErrStore = errors.New("dag: store failure")
	// ErrNotFound: no such transaction.
	ErrNotFound = errors.New("dag: transaction not found")
	// ErrGenesis: an invalid genesis description.
	ErrGenesis = errors.New("dag: invalid genesis")
	// ErrPruned: the transaction was confirmed and then pruned from this
	// node's store (Ledger.Prune); its bytes are gone here, though peers
	// or the device may keep them. It wraps ErrNotFound, so callers that
	// only know "not here" treat it as such.
	ErrPruned = fmt.Errorf("%w (pruned)", ErrNotFound)
)

// Fault says whose doing a rejection is, so that each transport charges
// the right party without re-deriving it from codes: the API charges a
// client's junk budget, the network a peer's score.
type Fault uint8

const (
	// FaultNone: not a rejection, or a failure of this node (load,
	// shutdown, the store) that no sender caused.
	FaultNone Fault = iota
	// FaultSender: the transaction itself is invalid (its bytes, its
	// signature, its work, its place in the issuer's chain). Every honest
	// node reaches the same verdict, so whoever sent it sent junk.
	FaultSender
	// FaultTiming: the transaction may be valid later (its issuing time is
	// ahead of this node's clock). A client that sends it is at fault; a
	// peer relaying it may only have a clock that runs ahead.
	FaultTiming
)

func (f Fault) String() string {
	switch f {
	case FaultSender:
		return "sender"
	case FaultTiming:
		return "timing"
	default:
		return "none"
	}
}

// Rejection is a rejection with a code of its own, for rule layers that
// refuse transactions for reasons the ledger does not define (a device
// layer's "device_revoked"). Code and FaultOf recognise it anywhere in an
// error chain.
type Rejection struct {
	Code    string // stable, lower-case, documented by the layer
	Fault   Fault
	Message string
}

func (r *Rejection) Error() string { return r.Message }

// codes are the stable, documented machine codes of the sentinels, and
// whose fault each is.
var codes = []struct {
	err   error
	code  string
	fault Fault
}{
	{ErrMalformed, "malformed", FaultSender},
	{ErrVersion, "bad_version", FaultSender},
	{ErrKind, "bad_kind", FaultSender},
	{ErrPayloadTooLarge, "payload_too_large", FaultSender},
	{ErrTrailingBytes, "trailing_bytes", FaultSender},
	{ErrSignature, "bad_signature", FaultSender},
	{ErrWork, "insufficient_work", FaultSender},
	{ErrFuture, "future_time", FaultTiming},
	{ErrChain, "broken_chain", FaultSender},
	{ErrNotValidator, "not_validator", FaultSender},
	{ErrNotAuthority, "not_authority", FaultSender},
	{ErrParkedFull, "parked_full", FaultNone},
	{ErrOverloaded, "overloaded", FaultNone},
	{ErrClosed, "closed", FaultNone},
	{ErrStore, "store_failure", FaultNone},
	{ErrPruned, "pruned", FaultNone}, // before ErrNotFound, which it wraps
	{ErrNotFound, "not_found", FaultNone},
	{ErrGenesis, "bad_genesis", FaultNone},
}

// Code returns the stable machine code of a ledger error ("malformed",
// "insufficient_work", ..., or a Rejection's own code), "internal" for an
// error of another origin and "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var r *Rejection
	if errors.As(err, &r) {
		return r.Code
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

// FaultOf returns whose doing a ledger error is; FaultNone for nil and
// for errors of another origin.
func FaultOf(err error) Fault {
	if err == nil {
		return FaultNone
	}
	var r *Rejection
	if errors.As(err, &r) {
		return r.Fault
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.fault
		}
	}
	return FaultNone
}
