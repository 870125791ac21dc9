// Package network connects tangled nodes over QUIC.
//
// Every connection is mutually authenticated: each node presents a
// self-signed TLS 1.3 certificate over its Ed25519 identity, and both sides
// check the other's key against the network's validator set or an allow
// list before any application data flows. Over one connection the nodes
// run three kinds of stream so that none blocks another:
//
//   - gossip: every transaction a node attaches is sent once to each
//     neighbour that is not known to have it, plus periodic heartbeats
//     (counts of transactions and confirmations);
//   - requests: IDs of transactions that parked transactions wait for,
//     answered with the transactions;
//   - sync: a bulk, resumable range of the peer's log in its arrival
//     order (which is topological: a transaction attaches only after its
//     parents), for a node that is far behind.
//
// Peers earn a score; invalid transactions, malformed or oversize frames,
// protocol violations and floods lower it, and a peer below the threshold
// is disconnected and banned for a while. The Transport interface is the
// seam that lets tests run many nodes in one process, over real QUIC on
// loopback (NewQUIC) or over an in-memory network with seeded delay, loss
// and partitions (NewMemNetwork).
//
// The package imports only dag: the node wires it to the ledger, the ingest
// pipeline and the store through the Host interface.
package network
