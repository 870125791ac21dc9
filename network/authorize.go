package network

import (
	"fmt"

	"github.com/tangled-ledger/tangled/dag"
)

// AllowList authorizes the genesis validators and the extra keys (static
// peers given with a key, and keys an operator allows explicitly, such as a
// non-validator node that syncs from this one).
func AllowList(g *dag.Genesis, extra ...dag.PublicKey) Authorizer {
	allowed := make(map[dag.PublicKey]bool, len(g.Validators)+len(extra))
	for _, v := range g.Validators {
		allowed[v.PublicKey] = true
	}
	for _, k := range extra {
		allowed[k] = true
	}
	return func(key dag.PublicKey) error {
		if allowed[key] {
			return nil
		}
		return fmt.Errorf("%w: %s is neither a validator nor on the allow list", ErrUnauthorized, key)
	}
}
