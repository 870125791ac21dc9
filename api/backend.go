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
	// (dag.Result.Err wraps a dag sentinel; dag.Code gives its stable
	// code). The API decodes to rate-limit by issuer, so the pipeline
	// takes the decoded form rather than decoding again.
	Submit(ctx context.Context, txs []*dag.Transaction) []dag.Result
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
