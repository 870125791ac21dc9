package client

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/pow"
)

// The types below mirror the JSON of docs/api-contract.md. They are the
// client's own rather than the api package's so that a device build does
// not pull in the server.

// Info is GET /v1/info.
type Info struct {
	Version string      `json:"version"`
	Node    NodeInfo    `json:"node"`
	Network NetworkInfo `json:"network"`
	Counts  Counts      `json:"counts"`
	// NodeWork is the work the node did on devices' behalf since it
	// started (Client.PostNodeWork).
	NodeWork NodeWorkCounts `json:"node_work"`
}

// NodeWorkCounts are what a node solved for devices and what it refused.
type NodeWorkCounts struct {
	Solved      uint64 `json:"solved"`
	Refused     uint64 `json:"refused"`
	RateLimited uint64 `json:"rate_limited"`
	// SolveMillis is the time its one solver spent solving.
	SolveMillis int64 `json:"solve_ms"`
}

// NodeInfo describes the node that answered.
type NodeInfo struct {
	PublicKey dag.PublicKey `json:"public_key"`
	Validator bool          `json:"validator"`
}

// NetworkInfo is the network's genesis as the node holds it.
type NetworkInfo struct {
	NetworkID             string          `json:"network_id"`
	GenesisID             dag.ID          `json:"genesis_id"`
	Validators            []dag.Validator `json:"validators"`
	ConfirmationThreshold dag.Threshold   `json:"confirmation_threshold"`
	MaxPayload            int             `json:"max_payload"`
	Difficulty            pow.Rules       `json:"difficulty"`
}

// Counts are the node's ledger counters.
type Counts struct {
	Transactions uint64 `json:"transactions"`
	Tips         uint64 `json:"tips"`
	Confirmed    uint64 `json:"confirmed"`
	Parked       uint64 `json:"parked"`
	Conflicting  uint64 `json:"conflicting"`
	Issuers      uint64 `json:"issuers"`
	// Beacons counts validator beacons (included in Transactions).
	Beacons uint64 `json:"beacons"`
}

// Tips is GET /v1/tips: what a new transaction needs.
type Tips struct {
	Trunk  dag.ID `json:"trunk"`
	Branch dag.ID `json:"branch"`
	// Difficulty is the bits the next transaction must meet.
	Difficulty int `json:"difficulty"`
	// Issuer is present when the request named one.
	Issuer *IssuerState `json:"issuer,omitempty"`
	// Time is the node's clock, for a device without one of its own.
	Time time.Time `json:"time"`
}

// IssuerState is an issuer's chain head as the node knows it.
type IssuerState struct {
	NextSeq     uint64 `json:"next_seq"`
	Prev        dag.ID `json:"prev"` // zero for a new issuer
	Recent      int    `json:"recent"`
	Conflicting bool   `json:"conflicting"`
}

// SubmitStatus is what the node did with a submitted transaction.
type SubmitStatus string

// The submit statuses.
const (
	StatusAttached  SubmitStatus = "attached"  // durable and attached
	StatusParked    SubmitStatus = "parked"    // durable, waits for missing parents
	StatusDuplicate SubmitStatus = "duplicate" // the node already had it
	StatusRejected  SubmitStatus = "rejected"  // batch items only; see Err
)

// SubmitResult is the node's answer for one transaction.
type SubmitResult struct {
	ID     dag.ID       `json:"id"`
	Status SubmitStatus `json:"status"`
	// Missing lists referenced transactions the node has never seen.
	Missing     []dag.ID `json:"missing,omitempty"`
	Conflicting bool     `json:"conflicting,omitempty"`
	// Code and Message explain a rejection.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Err returns nil unless the result is a rejection, which it returns as an
// *APIError with the status the contract gives its code, so that
// IsRetryable and errors.Is work on batch items as on single posts.
func (r *SubmitResult) Err() error {
	if r.Status != StatusRejected {
		return nil
	}
	e := &APIError{Status: 400, Code: r.Code, Message: r.Message}
	if c, ok := codes[r.Code]; ok {
		e.Status = c.status
	}
	return e
}

// UnmarshalJSON tolerates an empty "id": a batch item too malformed to
// have an ID has none to report.
func (r *SubmitResult) UnmarshalJSON(data []byte) error {
	type plain SubmitResult
	var j struct {
		plain
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*r = SubmitResult(j.plain)
	if j.ID != "" {
		id, err := dag.ParseID(j.ID)
		if err != nil {
			return fmt.Errorf("client: submit result: %w", err)
		}
		r.ID = id
	}
	return nil
}

// State is where a transaction stands on the node.
type State string

// The transaction states.
const (
	StatePending     State = "pending"     // attached, not yet confirmed
	StateConfirmed   State = "confirmed"   // final
	StateConflicting State = "conflicting" // part of an equivocation, confirmed or not: final
	StateParked      State = "parked"      // waits for missing parents
)

// TransactionStatus is GET /v1/transactions/{id}.
type TransactionStatus struct {
	Transaction *dag.Transaction `json:"transaction"`
	Status      State            `json:"status"`
	Reasons     []string         `json:"reasons"`
	// ApprovalWeight of TotalWeight is what the approving validators'
	// beacons carry; Approvers names them.
	ApprovalWeight uint64   `json:"approval_weight"`
	TotalWeight    uint64   `json:"total_weight"`
	Approvers      []string `json:"approvers"`
	// ConfirmedIndex is the position in the node's confirmed order, zero
	// while unconfirmed.
	ConfirmedIndex uint64 `json:"confirmed_index,omitempty"`
	// Arrival numbers attached transactions in this node's attach order.
	Arrival uint64 `json:"arrival"`
}

// UnmarshalJSON decodes the transaction through dag.DecodeJSON and
// dag.Decode, so it passes the same shape checks as on the node.
func (s *TransactionStatus) UnmarshalJSON(data []byte) error {
	var j struct {
		Transaction    json.RawMessage `json:"transaction"`
		Status         State           `json:"status"`
		Reasons        []string        `json:"reasons"`
		ApprovalWeight uint64          `json:"approval_weight"`
		TotalWeight    uint64          `json:"total_weight"`
		Approvers      []string        `json:"approvers"`
		ConfirmedIndex uint64          `json:"confirmed_index"`
		Arrival        uint64          `json:"arrival"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = TransactionStatus{
		Status: j.Status, Reasons: j.Reasons, ApprovalWeight: j.ApprovalWeight,
		TotalWeight: j.TotalWeight, Approvers: j.Approvers,
		ConfirmedIndex: j.ConfirmedIndex, Arrival: j.Arrival,
	}
	if len(j.Transaction) == 0 || string(j.Transaction) == "null" {
		return nil
	}
	raw, err := dag.DecodeJSON(j.Transaction)
	if err != nil {
		return fmt.Errorf("client: transaction status: %w", err)
	}
	tx, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil {
		return fmt.Errorf("client: transaction status: %w", err)
	}
	s.Transaction = tx
	return nil
}

// final reports whether the status can no longer change.
func (s *TransactionStatus) final() bool {
	return s.Status == StateConfirmed || s.Status == StateConflicting
}

// EventKind is what happened to a transaction.
type EventKind string

// The event kinds.
const (
	EventAttached    EventKind = "attached"
	EventConfirmed   EventKind = "confirmed"
	EventConflicting EventKind = "conflicting"
)

// Event is one entry of GET /v1/events. Its flags are the transaction's
// state when the node sent it, so an attached event may already show it
// confirmed.
type Event struct {
	Kind   EventKind     `json:"kind"`
	ID     dag.ID        `json:"id"`
	Issuer dag.PublicKey `json:"issuer"`
	Seq    uint64        `json:"seq"`
	// TxKind is the transaction's kind by name ("data", "beacon"). It is a
	// string so that kinds newer than this client do not break a stream.
	TxKind         string    `json:"tx_kind"`
	Time           time.Time `json:"time"`
	Confirmed      bool      `json:"confirmed"`
	Conflicting    bool      `json:"conflicting"`
	ApprovalWeight uint64    `json:"approval_weight"`
}

// EventFilter selects events; the zero value selects all of them.
type EventFilter struct {
	// Issuer keeps the events of one issuer's transactions.
	Issuer *dag.PublicKey
	// IDs keeps the events of these transactions. Each costs 68 bytes of
	// URL; keep the list to a few hundred.
	IDs []dag.ID
}
