package dag_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
)

// TestCodeAndFault is the table every transport charges by: the stable
// code of each sentinel and whose fault it is, also when wrapped, and a
// rule layer's own Rejection anywhere in a chain.
func TestCodeAndFault(t *testing.T) {
	revoked := &dag.Rejection{Code: "device_revoked", Fault: dag.FaultSender, Message: "device: revoked"}
	cases := []struct {
		err   error
		code  string
		fault dag.Fault
	}{
		{nil, "", dag.FaultNone},
		{dag.ErrMalformed, "malformed", dag.FaultSender},
		{dag.ErrVersion, "bad_version", dag.FaultSender},
		{dag.ErrKind, "bad_kind", dag.FaultSender},
		{dag.ErrPayloadTooLarge, "payload_too_large", dag.FaultSender},
		{dag.ErrTrailingBytes, "trailing_bytes", dag.FaultSender},
		{dag.ErrSignature, "bad_signature", dag.FaultSender},
		{dag.ErrWork, "insufficient_work", dag.FaultSender},
		{dag.ErrFuture, "future_time", dag.FaultTiming},
		{dag.ErrChain, "broken_chain", dag.FaultSender},
		{dag.ErrNotValidator, "not_validator", dag.FaultSender},
		{dag.ErrParkedFull, "parked_full", dag.FaultNone},
		{dag.ErrOverloaded, "overloaded", dag.FaultNone},
		{dag.ErrClosed, "closed", dag.FaultNone},
		{dag.ErrStore, "store_failure", dag.FaultNone},
		{dag.ErrNotFound, "not_found", dag.FaultNone},
		{dag.ErrPruned, "pruned", dag.FaultNone},
		{fmt.Errorf("storage: arrival 7: %w", dag.ErrPruned), "pruned", dag.FaultNone},
		{dag.ErrGenesis, "bad_genesis", dag.FaultNone},
		{fmt.Errorf("%w: need 12 bits", dag.ErrWork), "insufficient_work", dag.FaultSender},
		{errors.New("disk on fire"), "internal", dag.FaultNone},
		{revoked, "device_revoked", dag.FaultSender},
		{fmt.Errorf("attach: %w", revoked), "device_revoked", dag.FaultSender},
	}
	for _, c := range cases {
		if got := dag.Code(c.err); got != c.code {
			t.Errorf("Code(%v) = %q, want %q", c.err, got, c.code)
		}
		if got := dag.FaultOf(c.err); got != c.fault {
			t.Errorf("FaultOf(%v) = %v, want %v", c.err, got, c.fault)
		}
	}
}
