package api

import (
	"context"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
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
	// SelectTipsFor returns two parents for a new transaction of issuer:
	// for a device's key they see the device's newest control
	// transaction, so the device is judged by its current state.
	SelectTipsFor(ctx context.Context, issuer dag.PublicKey) (trunk, branch dag.ID, err error)
	// Devices is the device registry; nil in a network without
	// authorities (the device endpoints then answer not_found).
	Devices() Devices
	// Ledger is the read side (a *dag.Ledger satisfies it).
	Ledger() Ledger
	// Identity describes this node.
	Identity() Identity
}

// Identity is the node's own description for /v1/info.
type Identity struct {
	Version   string
	PublicKey dag.PublicKey
	Validator bool
}

// Ledger is what the API reads of the node's ledger, declared here so
// that the API depends on these calls only; *dag.Ledger implements it.
type Ledger interface {
	Genesis() dag.Genesis
	// Root is the genesis transaction's ID.
	Root() dag.ID
	Stats() dag.Stats
	Info(id dag.ID) (dag.Info, bool)
	IsParked(id dag.ID) bool
	Transaction(id dag.ID) (*dag.Transaction, error)
	IssuerState(issuer dag.PublicKey, at int64) (state dag.IssuerState, known bool)
	Required(kind dag.Kind, payloadLen, recent int) int
	// Successor is the first transaction seen that continues id's issuer
	// chain; with Info it is the device.ChainReader a device's history
	// is read through.
	Successor(id dag.ID) (dag.ID, bool)
	// Subscribe calls fn for every event until cancel; fn runs on the
	// committing goroutine and must not block.
	Subscribe(fn func(dag.Event)) (cancel func())
}

var _ Ledger = (*dag.Ledger)(nil)

// Devices is what the API reads of the device registry, declared here so
// that the API depends on these calls only; *device.Registry implements
// it.
type Devices interface {
	// Device is the device whose registration has this ID.
	Device(id dag.ID) (device.Device, bool)
	// DeviceByKey is the device a key was registered for or rotated to.
	DeviceByKey(key dag.PublicKey) (device.Device, bool)
	// History lists part of a device's chain, read through chain, and
	// the sequence number to resume from (0 when complete).
	History(id dag.ID, q device.HistoryQuery, chain device.ChainReader) ([]dag.Info, uint64, bool)
	Authorities() []device.AuthorityInfo
	Permissioned() bool
}

var _ Devices = (*device.Registry)(nil)
