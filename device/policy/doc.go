// Package policy compiles and evaluates access policies: CEL expressions
// (cel.dev/cel-go, pinned with its cost model, since both are part of
// consensus) that judge a device's transactions from inputs every node
// holds identically: the transaction, the device's state and aggregates
// over the device's chain in the transaction's past.
//
// A policy is refused at install when it does not type-check to a bool,
// reads what it did not declare, iterates a map (cel-go's map order is not
// stable, so a short-circuiting comprehension would cost different amounts
// on different nodes), passes a time zone to a timestamp accessor (that
// reads the host's time-zone database), matches a regular expression that
// is not a literal, or has an estimated cost that is unbounded or over the
// network's limit. The same limit is enforced at run time.
//
// The package knows nothing of the ledger: the device package builds
// Inputs from its registry and maps the errors to rejection codes.
package policy
