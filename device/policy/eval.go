package policy

import (
	"errors"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Input is everything a policy may read. Every node builds the same Input
// for a transaction, since each field is a function of the transaction
// and its past; `tangled policy test` builds it from JSON.
type Input struct {
	Tx      Tx      `json:"tx"`
	Device  Device  `json:"device"`
	History History `json:"history"`
}

// Tx is the transaction being judged.
type Tx struct {
	Kind string `json:"kind"`
	Seq  uint64 `json:"seq"`
	// Time is the issuing time (unix ns), which the issuer signed.
	Time    int64  `json:"time"`
	Payload []byte `json:"payload"`
	// Issuer is the signing key in hex; Target the commanded device's ID in
	// hex (commands only, else empty).
	Issuer string `json:"issuer"`
	Target string `json:"target"`
}

// Device is the device's state as of the transaction's past.
type Device struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	// Owner is the owning authority's key in hex.
	Owner      string            `json:"owner"`
	State      string            `json:"state"`
	Key        string            `json:"key"`
	Attributes map[string]string `json:"attributes"`
	// Firmware is the installed firmware version; until install reports
	// exist, the registration's "firmware" attribute (0 when absent).
	Firmware int64 `json:"firmware"`
}

// History is aggregates over the device's chain before the transaction.
type History struct {
	// Count is the chain's transactions before this one.
	Count uint64 `json:"count"`
	// LastTime is the predecessor's issuing time (unix ns; 0 for none).
	LastTime int64 `json:"last_time"`
	// InWindow counts the chain's transactions issued within the policy's
	// window before this one (saturating at MaxInWindow).
	InWindow int64 `json:"in_window"`
}

// MaxInWindow is where history.in_window saturates: the device package
// walks the chain back at most this far.
const MaxInWindow = 256

// activation resolves the qualified variables lazily: a policy that
// reads only tx.size converts nothing else.
type activation struct{ in *Input }

func (a activation) ResolveName(name string) (any, bool) {
	in := a.in
	switch name {
	case "tx.kind":
		return types.String(in.Tx.Kind), true
	case "tx.seq":
		return types.Int(in.Tx.Seq), true
	case "tx.time":
		return timestamp(in.Tx.Time), true
	case "tx.size":
		return types.Int(len(in.Tx.Payload)), true
	case "tx.payload":
		return types.Bytes(in.Tx.Payload), true
	case "tx.issuer":
		return types.String(in.Tx.Issuer), true
	case "tx.target":
		return types.String(in.Tx.Target), true
	case "device.id":
		return types.String(in.Device.ID), true
	case "device.class":
		return types.String(in.Device.Class), true
	case "device.owner":
		return types.String(in.Device.Owner), true
	case "device.state":
		return types.String(in.Device.State), true
	case "device.key":
		return types.String(in.Device.Key), true
	case "device.attributes":
		attrs := in.Device.Attributes
		if attrs == nil {
			attrs = map[string]string{}
		}
		return types.NewStringStringMap(types.DefaultTypeAdapter, attrs), true
	case "device.firmware":
		return types.Int(in.Device.Firmware), true
	case "history.count":
		return types.Int(in.History.Count), true
	case "history.last_time":
		return timestamp(in.History.LastTime), true
	case "history.in_window":
		return types.Int(in.History.InWindow), true
	}
	return nil, false
}

func (activation) Parent() interpreter.Activation { return nil }

func timestamp(ns int64) ref.Val { return types.Timestamp{Time: time.Unix(0, ns).UTC()} }

// Verdict is the outcome of one evaluation.
type Verdict struct {
	Allow bool
	// Cost is the evaluation's actual cost in cel-go units.
	Cost uint64
	// Err is why the evaluation failed (the cost limit, a missing map key,
	// an overflow): a failed evaluation denies.
	Err error
}

// ErrCostLimit is Verdict.Err when the evaluation hit the cost limit.
var ErrCostLimit = errors.New("policy: evaluation stopped at the cost limit")

// Eval judges one input. It never panics on any input; it is
// deterministic: the same program and input give the same verdict and
// cost on every node and every run.
func (p *Program) Eval(in *Input) Verdict {
	out, det, err := p.prg.Eval(activation{in})
	var cost uint64
	if det != nil && det.ActualCost() != nil {
		cost = *det.ActualCost()
	}
	if err != nil {
		if cost > p.limit || isCostErr(err) {
			return Verdict{Cost: cost, Err: ErrCostLimit}
		}
		return Verdict{Cost: cost, Err: err}
	}
	allow, ok := out.Value().(bool)
	if !ok {
		return Verdict{Cost: cost, Err: errors.New("policy: the result is not a bool")}
	}
	return Verdict{Allow: allow, Cost: cost}
}

// isCostErr recognises cel-go's "actual cost limit exceeded" error, which
// has no sentinel to match.
func isCostErr(err error) bool { return strings.Contains(err.Error(), "cost limit exceeded") }
