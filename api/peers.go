package api

import (
	"net/http"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// PeerLister is implemented by a backend that has peers (the node when
// peering is on). The API stays free of the network package: the node
// converts its peers into this form.
type PeerLister interface {
	Peers() []Peer
}

// Peer is one peer as GET /v1/peers reports it.
type Peer struct {
	Key     dag.PublicKey `json:"key"`
	Addr    string        `json:"addr"`
	State   string        `json:"state"` // connecting, connected, disconnected, banned
	Inbound bool          `json:"inbound"`
	Static  bool          `json:"static"`
	Score   int           `json:"score"`
	// ConnectedAt and BannedUntil are RFC 3339 times, omitted when unset.
	ConnectedAt *time.Time `json:"connected_at,omitempty"`
	BannedUntil *time.Time `json:"banned_until,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	// Heartbeat is the peer's latest report of its own ledger.
	Heartbeat PeerHeartbeat `json:"heartbeat"`
	Traffic   PeerTraffic   `json:"traffic"`
}

// PeerHeartbeat is a peer's report of its ledger.
type PeerHeartbeat struct {
	Transactions uint64 `json:"transactions"`
	Confirmed    uint64 `json:"confirmed"`
	Tips         uint32 `json:"tips"`
	Parked       uint32 `json:"parked"`
	// LatestConfirmed is the newest transaction in the peer's confirmed
	// order; nil while it has confirmed nothing.
	LatestConfirmed *dag.ID    `json:"latest_confirmed,omitempty"`
	At              *time.Time `json:"at,omitempty"`
}

// PeerTraffic counts what went over the wire with a peer.
type PeerTraffic struct {
	TxIn        uint64 `json:"tx_in"`
	TxOut       uint64 `json:"tx_out"`
	Duplicates  uint64 `json:"duplicates"`
	Invalid     uint64 `json:"invalid"`
	Dropped     uint64 `json:"dropped"`
	RequestsIn  uint64 `json:"requests_in"`
	RequestsOut uint64 `json:"requests_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
}

type peersBody struct {
	Peers []Peer `json:"peers"`
}

// peers lists the node's peers; a node without peering has none.
func (s *Server) peers(w http.ResponseWriter, _ *http.Request) {
	body := peersBody{Peers: []Peer{}}
	if pl, ok := s.backend.(PeerLister); ok {
		if ps := pl.Peers(); ps != nil {
			body.Peers = ps
		}
	}
	writeJSON(w, http.StatusOK, body)
}
