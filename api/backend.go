package api

import (
	"context"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// Backend is what the API needs from a node. The node package implements
// it over its ledger, ingest pipeline and tip selection; tests can build
// the same parts directly. A backend may also be an IssuerLimiter and a
// Worker.
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
	// transaction and the newest policies that apply to it, so the device
	// is judged by its current state and policies.
	SelectTipsFor(ctx context.Context, issuer dag.PublicKey) (trunk, branch dag.ID, err error)
	// Devices is the device registry; nil in a network without
	// authorities (the device endpoints then answer not_found).
	Devices() Devices
	// Ledger is the read side (a *dag.Ledger satisfies it).
	Ledger() Ledger
	// Identity describes this node.
	Identity() Identity
}

// IssuerLimiter is implemented by a backend whose issuers' rate limits
// follow their devices' policies. IssuerLimit is the sustained rate (per
// second) and burst of issuer's bucket, or false for Config.IssuerRate
// and IssuerBurst. The API never raises a limit above those: a policy's
// author is not the node's operator.
type IssuerLimiter interface {
	IssuerLimit(issuer dag.PublicKey) (perSecond float64, burst int, ok bool)
}

// Worker is implemented by a backend that solves the proof-of-work of a
// signed transaction on its device's behalf (POST
// /v1/transactions?work=node). WorkFor sets tx.Nonce, or returns why not:
// a *WorkError, or an error wrapping a dag sentinel (dag.ErrSignature).
// It must check the signature before spending anything on tx. A backend
// without it refuses every such request (node_work_refused).
type Worker interface {
	WorkFor(ctx context.Context, tx *dag.Transaction) error
	WorkStats() WorkStats
}

// WorkStats counts what a Worker did, for /v1/info: the CPU a node spends
// for others is visible.
type WorkStats struct {
	// Solved counts the transactions whose work the node solved, Refused
	// those it refused to (node_work_refused), Limited those refused for
	// the device's allowance or the node's solver budget (rate_limited).
	Solved, Refused, Limited uint64
	// SolveTime is the time the solver spent solving.
	SolveTime time.Duration
}

// PruneReporter is implemented by a backend that prunes confirmed history
// from its store (a node with a disk budget or a retention). Pruned
// reports whether this node held id, confirmed, and has pruned it since:
// the API then answers 410 pruned rather than 404 not_found.
type PruneReporter interface {
	Pruned(id dag.ID) bool
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
	// RequiredFor is Required under the rate rule the issuer's next
	// transaction meets (a device policy's free rate and growth).
	RequiredFor(issuer dag.PublicKey, kind dag.Kind, payloadLen, recent int) int
	// HorizonOf is an attached transaction's horizon, from which the
	// registry recomputes the policies that judged it.
	HorizonOf(id dag.ID) ([]uint64, bool)
	// ConfirmedFrontier is the newest transaction of the confirmed order
	// (the root before any) and its issuing time.
	ConfirmedFrontier() (dag.ID, int64)
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
	// Policies lists the installed policies q selects.
	Policies(q device.PolicyQuery) []device.PolicyInfo
	// JudgedBy lists the policies in force in the past of a device's
	// transaction whose horizon is horizon.
	JudgedBy(id dag.ID, horizon []uint64) []device.PolicyRef
	// Firmware is a class's releases and rollout, which release is
	// active decided as of the horizon.
	Firmware(class string, horizon []uint64) device.FirmwareStatus
}

var _ Devices = (*device.Registry)(nil)
