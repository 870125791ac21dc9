package network

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// PeerState is where a peer stands.
type PeerState string

// The peer states.
const (
	StateConnecting   PeerState = "connecting"
	StateConnected    PeerState = "connected"
	StateDisconnected PeerState = "disconnected"
	StateBanned       PeerState = "banned"
)

// Score rules. A peer starts at MaxScore; misbehaviour subtracts, good
// behaviour earns a point back every heartbeat interval, and a peer at or
// below zero is disconnected and banned for Config.BanDuration.
const (
	MaxScore = 100
	// PenaltyInvalid is charged for each transaction that fails a check
	// every honest node agrees on (bad encoding, signature, work, chain):
	// an honest peer forwards only what it attached, so four are enough.
	PenaltyInvalid = 25
	// PenaltyFlood is charged for traffic beyond the per-peer rate limit.
	PenaltyFlood = 10
	// A malformed or oversize frame, a bad preamble or an unexpected frame
	// type costs the whole score at once: honest software never sends one.
	PenaltyProtocol = MaxScore
)

// PeerAddr is a static peer: an address to dial and, optionally, the key
// it must prove (zero means any authorized key).
type PeerAddr struct {
	Addr string
	Key  dag.PublicKey
}

// PeerInfo describes one peer for operators (GET /v1/peers).
type PeerInfo struct {
	Key         dag.PublicKey
	Addr        string
	State       PeerState
	Inbound     bool // the current connection was dialed by the peer
	Static      bool // configured with --peer; redialed with backoff
	Score       int
	ConnectedAt time.Time // zero when not connected
	BannedUntil time.Time // zero when not banned
	LastError   string
	// Heartbeat is the peer's latest report of itself.
	Heartbeat   Heartbeat
	HeartbeatAt time.Time
	Traffic     Traffic
}

// Traffic counts what went over the wire with one peer.
type Traffic struct {
	TxIn        uint64 // transactions received (gossip, responses, sync)
	TxOut       uint64 // transactions sent
	Duplicates  uint64 // received transactions this node already had
	Invalid     uint64 // received transactions that failed validation
	Dropped     uint64 // gossip not sent because the peer's queue was full
	RequestsIn  uint64 // IDs the peer asked for
	RequestsOut uint64 // IDs asked of the peer
	BytesIn     uint64
	BytesOut    uint64
}

// counters are Traffic as atomics, updated from the stream goroutines.
type counters struct {
	txIn, txOut, duplicates, invalid, dropped  atomic.Uint64
	requestsIn, requestsOut, bytesIn, bytesOut atomic.Uint64
}

func (c *counters) snapshot() Traffic {
	return Traffic{
		TxIn: c.txIn.Load(), TxOut: c.txOut.Load(), Duplicates: c.duplicates.Load(),
		Invalid: c.invalid.Load(), Dropped: c.dropped.Load(),
		RequestsIn: c.requestsIn.Load(), RequestsOut: c.requestsOut.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
	}
}

// peer is everything the node remembers about one key, across
// connections.
type peer struct {
	key     dag.PublicKey
	traffic counters

	// guarded by Network.mu
	addr        string
	static      bool
	session     *session
	connecting  bool
	score       int
	bannedUntil time.Time
	lastErr     string
	hb          Heartbeat
	hbAt        time.Time
	known       *idSet // IDs the peer has: it sent them, or they were sent to it
	// sentUs are the IDs the peer delivered to this node: the bulk sync
	// this node serves it skips them (after a heal, a peer's log holds
	// what the requester gave it). Unlike known, a gossip send that was
	// dropped never lands here.
	sentUs *idSet
}

// idSet is a bounded set of recent transaction IDs, keyed by their first
// eight bytes (a false hit only skips one gossip send, which missing-parent
// requests repair). The oldest entries are evicted first.
type idSet struct {
	mu   sync.Mutex
	m    map[uint64]struct{}
	ring []uint64
	next int
}

func newIDSet(capacity int) *idSet {
	return &idSet{m: make(map[uint64]struct{}, capacity), ring: make([]uint64, 0, capacity)}
}

func idKey(id dag.ID) uint64 {
	return uint64(id[0]) | uint64(id[1])<<8 | uint64(id[2])<<16 | uint64(id[3])<<24 |
		uint64(id[4])<<32 | uint64(id[5])<<40 | uint64(id[6])<<48 | uint64(id[7])<<56
}

// has reports whether id is in the set.
func (s *idSet) has(id dag.ID) bool {
	k := idKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}

// add records id and reports whether it was new.
func (s *idSet) add(id dag.ID) bool {
	k := idKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return false
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, k)
	} else {
		delete(s.m, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % len(s.ring)
	}
	s.m[k] = struct{}{}
	return true
}
