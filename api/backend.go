package api

import (
	"context"

	"github.com/tangled-ledger/tangled/dag"
)

// Backend is what the API needs from a node. The node package implements
// it over its ledger, ingest pipeline and tip selection; tests can build
// the same parts directly.
type Backend interface {
	// Submit hands transactions decoded with dag.Decode to the ingest
	// pipeline and returns, in order, once each is durable or rejected
	// (dag.Result.Err wraps a dag sentinel, or is admit's error). admit,
	// if not nil, runs after a transaction's work and signature verified
	// and before it is attached (dag.Pipeline.SubmitAdmitted): the API
	// charges the issuer's rate limit there, so only what a key signed
	// costs the key.
	Submit(ctx context.Context, txs []*dag.Transaction, admit dag.Admit) []dag.Result
	// SelectTips returns two parents for a new transaction.
	SelectTips(ctx context.Context) (trunk, branch dag.ID, err error)
	// Ledger is the read side: Info, Transaction, IsParked, Stats,
	// Genesis, IssuerState, Required, Subscribe.
	Ledger() *dag.Ledger
	// Identity describes this node.
	Identity() Identity
}

// Identity is the node's own description for /v1/info.
type Identity struct {
	Version   string
	PublicKey dag.PublicKey
	Validator bool
}
