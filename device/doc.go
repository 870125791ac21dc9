// Package device is tangled's device layer: the registry of device
// identities and the rules every node enforces on them. It implements
// dag.RuleLayer, so the ledger asks it about every solid transaction.
//
// A device's identity is the ID of its registration, a control
// transaction of a genesis authority binding a public key, a class and
// attributes. The device's own chain starts with a transaction of that key
// whose past holds the registration, and continues across key rotations
// (dag.KindRotate, signed by the current key; a registration or rotation
// may commit to the hash of the next key). Authorities suspend, resume,
// revoke and transfer the devices they own, each action in their own
// chain. A device that signs two transactions with one sequence number is
// quarantined; a validator's notice approving both makes every later
// transaction of it that sees the notice invalid.
//
// Every verdict is a function of the transaction's past: its chain (the
// device of a transaction is the device of its predecessor) and the
// ledger's horizons, which say in O(1) which control transactions of
// each authority and validator a transaction has in its past. What a
// transaction's past cannot show (a revocation the device never saw) is
// handled by honest tip selection: Apply rules such transactions out, so
// they are never confirmed. See docs/design/2026-12-02-device-identity.md.
package device
