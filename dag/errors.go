package dag

import "errors"

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
)

// codes are the stable, documented machine codes of the sentinels.
var codes = []struct {
	err  error
	code string
}{
	{ErrMalformed, "malformed"},
	{ErrVersion, "bad_version"},
	{ErrKind, "bad_kind"},
	{ErrPayloadTooLarge, "payload_too_large"},
	{ErrTrailingBytes, "trailing_bytes"},
	{ErrSignature, "bad_signature"},
	{ErrWork, "insufficient_work"},
	{ErrFuture, "future_time"},
	{ErrChain, "broken_chain"},
	{ErrNotValidator, "not_validator"},
	{ErrParkedFull, "parked_full"},
	{ErrOverloaded, "overloaded"},
	{ErrClosed, "closed"},
	{ErrStore, "store_failure"},
	{ErrNotFound, "not_found"},
	{ErrGenesis, "bad_genesis"},
}

// Code returns the stable machine code of a ledger error ("malformed",
// "insufficient_work", ...), "internal" for an error of another origin and ""
// for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}
