package dag_test

import (
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/pow"
)

// dagtestRules are cheap rules for tests that are not about work: a couple
// of bits so the check is exercised, no rate rule.
func dagtestRules() pow.Rules { return pow.Rules{BaseBits: 2} }

// powOK reports whether tx's nonce meets bits of work.
func powOK(tx *dag.Transaction, bits int) bool { return pow.Verify(tx.ID(), tx.Nonce, bits) }
