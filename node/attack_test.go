package node_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
)

// gossipFrame builds the bytes a peer's gossip stream starts with: the
// preamble ("TGL", protocol version, purpose 1 = gossip), then frames of
// type u8 | length u32 BE | payload (type 1 = transaction).
func gossipFrame(frames ...[]byte) []byte {
	b := []byte{'T', 'G', 'L', network.ProtocolVersion, 1}
	for _, f := range frames {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// TestClusterDropsMisbehavingPeers: a peer with an allowed key that sends
// garbage, an oversize frame or invalid transactions is banned and
// disconnected by the node it talks to, while the four validators keep
// confirming.
func TestClusterDropsMisbehavingPeers(t *testing.T) {
	attackerKey := dagtest.Key("attacker")
	attacker := dagtest.PublicKey(attackerKey)
	c := newCluster(t, 4)
	c.startAll(attacker.String())
	gen := c.generator()

	// Invalid transactions: valid ones (from a stream of their own) with
	// a flipped signature byte.
	var bad [][]byte
	for _, tx := range c.generator().Take(5) {
		raw := append([]byte(nil), tx.Bytes()...)
		raw[len(raw)-9] ^= 0xff // the signature precedes the 8-byte nonce
		bad = append(bad, raw)
	}
	oversize := []byte{'T', 'G', 'L', network.ProtocolVersion, 1, 1, 0xff, 0xff, 0xff, 0xff}

	cases := []struct {
		name   string
		target *member
		bytes  []byte
	}{
		{"garbage", c.members[0], []byte("GET / HTTP/1.1\r\n\r\n")},
		{"oversize frame", c.members[1], oversize},
		{"invalid transactions", c.members[2], gossipFrame(bad...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := network.NewQUIC(network.QUICConfig{ListenAddr: "127.0.0.1:0", Key: attackerKey,
				Authorize: func(dag.PublicKey) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := tr.Dial(ctx, tc.target.p2p, tc.target.key)
			if err != nil {
				t.Fatal(err)
			}
			st, err := conn.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if t.Failed() {
					for _, p := range tc.target.r.n.Peers() {
						t.Logf("peer %+v", p)
					}
				}
			}()
			poll.Until(t, 10*time.Second, "the attacker banned", func() bool {
				for _, p := range tc.target.r.n.Peers() {
					if p.Key == attacker {
						return p.State == string(network.StateBanned) && p.Score == 0
					}
				}
				return false
			})
			select {
			case <-conn.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the banned attacker's connection stays open")
			}
			// A new connection during the ban gets no session.
			if again, err := tr.Dial(ctx, tc.target.p2p, tc.target.key); err == nil {
				select {
				case <-again.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("a banned peer reconnected")
				}
			}
			if tc.name == "invalid transactions" {
				for _, p := range tc.target.r.n.Peers() {
					if p.Key == attacker && p.Traffic.Invalid < 4 {
						t.Fatalf("invalid transactions not counted: %+v", p.Traffic)
					}
				}
			}
		})
	}
	// The validators never lost each other and go on confirming.
	txs := gen.Take(200)
	c.post(txs, 20, func(k int) *member { return c.members[k%4] })
	c.waitConfirmed(c.members, txs, 30*time.Second)
	for _, m := range c.members {
		for _, p := range m.r.n.Peers() {
			if p.Key != attacker && (p.State != string(network.StateConnected) || p.Score != network.MaxScore) {
				t.Fatalf("%s's view of validator %s: %+v", m.name, p.Key, p)
			}
		}
	}
}
