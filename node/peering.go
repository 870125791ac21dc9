package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/network"
)

// ParsePeer reads a --peer value: "host:port", or "KEY@host:port" to also
// pin the peer's Ed25519 public key (hex). A pinned key is allowed to
// connect even when it is not a validator.
func ParsePeer(s string) (network.PeerAddr, error) {
	s = strings.TrimSpace(s)
	keyHex, addr, pinned := strings.Cut(s, "@")
	if !pinned {
		addr, keyHex = keyHex, ""
	}
	if addr == "" || !strings.Contains(addr, ":") {
		return network.PeerAddr{}, fmt.Errorf("node: peer %q: want host:port or KEY@host:port", s)
	}
	var pa network.PeerAddr
	pa.Addr = addr
	if pinned {
		if err := pa.Key.UnmarshalText([]byte(keyHex)); err != nil {
			return network.PeerAddr{}, fmt.Errorf("node: peer %q: bad key: %w", s, err)
		}
	}
	return pa, nil
}

// setupNetwork builds the QUIC transport and the network when P2PAddr is
// set. Peers must prove a genesis validator key, a key pinned in --peer,
// or a key listed in AllowPeers.
func (n *Node) setupNetwork() error {
	if n.cfg.P2PAddr == "" {
		if len(n.cfg.Peers) > 0 {
			return fmt.Errorf("node: --peer needs a --p2p listen address")
		}
		return nil
	}
	var peers []network.PeerAddr
	var allow []dag.PublicKey
	for _, s := range n.cfg.Peers {
		pa, err := ParsePeer(s)
		if err != nil {
			return err
		}
		peers = append(peers, pa)
		if pa.Key != (dag.PublicKey{}) {
			allow = append(allow, pa.Key)
		}
	}
	for _, s := range n.cfg.AllowPeers {
		var k dag.PublicKey
		if err := k.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
			return fmt.Errorf("node: allowed peer key %q: %w", s, err)
		}
		allow = append(allow, k)
	}
	tr, err := network.NewQUIC(network.QUICConfig{
		ListenAddr: n.cfg.P2PAddr,
		Key:        n.key,
		Authorize:  network.AllowList(n.genesis, allow...),
	})
	if err != nil {
		return err
	}
	if n.cfg.WrapTransport != nil {
		tr = n.cfg.WrapTransport(tr)
	}
	cfg := n.cfg.Network
	cfg.Transport, cfg.Key, cfg.Peers = tr, n.key, peers
	cfg.Logger = n.log.With("component", "network")
	if cfg.CursorFile == "" {
		cfg.CursorFile = filepath.Join(n.cfg.DataDir, "sync-cursors.json")
	}
	if cfg.Now == nil {
		cfg.Now = n.cfg.Now
	}
	n.net, err = network.New(cfg, peerHost{n})
	if err != nil {
		_ = tr.Close()
		return err
	}
	return nil
}

// peerHost is what the network sees of the node.
type peerHost struct{ n *Node }

func (h peerHost) Ledger() network.Ledger { return h.n.ledger }
func (h peerHost) Submit(ctx context.Context, txs []*dag.Transaction) []dag.Result {
	return h.n.pipeline.SubmitDecoded(ctx, txs)
}
func (h peerHost) Range(from uint64, fn func(uint64, []byte) error) error {
	return h.n.store.Range(from, fn)
}

// P2PAddr is the QUIC listen address, or "" when peering is off.
func (n *Node) P2PAddr() string {
	if n.net == nil {
		return ""
	}
	return n.net.Addr()
}

// Network returns the peering side, or nil when peering is off.
func (n *Node) Network() *network.Network { return n.net }

// Peers lists the node's peers for GET /v1/peers (api.PeerLister).
func (n *Node) Peers() []api.Peer {
	if n.net == nil {
		return nil
	}
	ps := n.net.Peers()
	out := make([]api.Peer, len(ps))
	for i, p := range ps {
		t := p.Traffic
		var latest *dag.ID
		if id := p.Heartbeat.LatestConfirmed; !id.IsZero() {
			latest = &id
		}
		out[i] = api.Peer{
			Key: p.Key, Addr: p.Addr, State: string(p.State), Inbound: p.Inbound, Static: p.Static,
			Score: p.Score, ConnectedAt: timeOrNil(p.ConnectedAt), BannedUntil: timeOrNil(p.BannedUntil),
			LastError: p.LastError,
			Heartbeat: api.PeerHeartbeat{
				Transactions: p.Heartbeat.Transactions, Confirmed: p.Heartbeat.Confirmed,
				Tips: p.Heartbeat.Tips, Parked: p.Heartbeat.Parked, LatestConfirmed: latest, At: timeOrNil(p.HeartbeatAt),
			},
			Traffic: api.PeerTraffic{
				TxIn: t.TxIn, TxOut: t.TxOut, Duplicates: t.Duplicates, Invalid: t.Invalid, Dropped: t.Dropped,
				RequestsIn: t.RequestsIn, RequestsOut: t.RequestsOut, BytesIn: t.BytesIn, BytesOut: t.BytesOut,
			},
		}
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
