package network_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/pow"
)

// misbehaveRules cost honest issuers 256 hashes a transaction, while a
// wrong nonce passes only once in 256 tries (the insufficient-work case
// picks one that fails).
var misbehaveRules = pow.Rules{BaseBits: 8}

// fabric makes transports that can reach each other: real QUIC on
// loopback, or endpoints of one MemNetwork.
type fabric struct {
	name   string
	listen func(t testing.TB, key ed25519.PrivateKey, auth network.Authorizer) network.Transport
}

func quicFabric() fabric {
	return fabric{"quic", func(t testing.TB, key ed25519.PrivateKey, auth network.Authorizer) network.Transport {
		t.Helper()
		tr, err := network.NewQUIC(network.QUICConfig{ListenAddr: "127.0.0.1:0", Key: key, Authorize: auth})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		return tr
	}}
}

func memFabric(cfg network.MemConfig) fabric {
	m := network.NewMemNetwork(cfg)
	return fabric{"mem", func(t testing.TB, key ed25519.PrivateKey, auth network.Authorizer) network.Transport {
		tr := m.Listen(key, auth)
		t.Cleanup(func() { _ = tr.Close() })
		return tr
	}}
}

// offsetClock runs with real time and can jump ahead, so a ban can run
// out without the test waiting for it. It must keep running: request and
// redial backoff are measured with the same clock.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// attacker holds a validator key, so it passes authentication, but speaks
// raw bytes over a transport of its own instead of running a Network.
type attacker struct {
	key ed25519.PrivateKey
	pub dag.PublicKey
	tr  network.Transport
}

// dial connects to the target; the connection may still be refused by the
// target's session layer right after.
func (a *attacker) dial(target *peerNode) (network.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.tr.Dial(ctx, target.tr.Addr(), target.pub)
}

// connect dials target and waits until the target lists the attacker as
// connected (what names that step in a failure).
func (a *attacker) connect(t *testing.T, target *peerNode, what string) network.Conn {
	t.Helper()
	conn, err := a.dial(target)
	if err != nil {
		t.Fatalf("%s: dial: %v", what, err)
	}
	poll.Until(t, 5*time.Second, what, func() bool {
		info, _ := peerInfo(target.net, a.pub)
		return info.State == network.StateConnected
	})
	return conn
}

// send opens a stream on c and writes data to it.
func (a *attacker) send(t *testing.T, c network.Conn, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatalf("attacker opens a stream: %v", err)
	}
	// The write may fail part way: the target can ban the attacker on the
	// first frames, before the last are even sent.
	if _, err := st.Write(data); err != nil {
		t.Logf("attacker's write: %v", err)
	}
}

func closed(c network.Conn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// misbehaviour is one way a peer breaks the protocol.
type misbehaviour struct {
	name string
	// stream returns the bytes the attacker writes on a stream it opens.
	stream func(t *testing.T, c *cluster) []byte
	// check inspects the target's record of the attacker after the ban.
	check func(t *testing.T, info network.PeerInfo)
}

// cluster is three honest validators in a full mesh; honest[0] is the
// target of the attacks.
type cluster struct {
	net    *dagtest.Network
	honest []*peerNode
	clock  *offsetClock
	gen    *dagtest.Generator // the honest stream
	rng    *rand.Rand
}

const (
	misbehaveBan      = time.Minute
	misbehaveIDsLimit = 512 // the target's MaxRequestIDsPerSecond
)

func newCluster(t *testing.T, fab fabric, net *dagtest.Network) *cluster {
	auth := network.AllowList(net.Genesis)
	c := &cluster{net: net, clock: &offsetClock{}, rng: rand.New(rand.NewPCG(1, 2)),
		gen: dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 5, BeaconEvery: -1})}
	var addrs []network.PeerAddr
	for i := range 3 {
		key := net.Validators[i]
		cfg := network.Config{Peers: addrs, BanDuration: misbehaveBan}
		if i == 0 {
			cfg.Now = c.clock.Now
			cfg.MaxRequestIDsPerSecond = misbehaveIDsLimit
		}
		tr := fab.listen(t, key, auth)
		c.honest = append(c.honest, startPeer(t, net.Genesis, key, tr, cfg))
		addrs = append(addrs, network.PeerAddr{Addr: tr.Addr(), Key: dagtest.PublicKey(key)})
	}
	poll.Until(t, 10*time.Second, "honest mesh connected", func() bool { return c.honestMeshHealthy() })
	return c
}

// honestMeshHealthy reports whether every honest node is connected to the
// two others at full score.
func (c *cluster) honestMeshHealthy() bool {
	for _, a := range c.honest {
		for _, b := range c.honest {
			if a == b {
				continue
			}
			info, ok := peerInfo(a.net, b.pub)
			if !ok || info.State != network.StateConnected || info.Score != network.MaxScore {
				return false
			}
		}
	}
	return true
}

// exchange submits fresh transactions to one honest node and waits until
// every honest node has them.
func (c *cluster) exchange(t *testing.T, via int) {
	t.Helper()
	txs := c.gen.Take(20)
	submitAll(t, c.honest[via].host, txs)
	poll.Until(t, 10*time.Second, "honest transactions reach every honest node", func() bool {
		for _, p := range c.honest {
			for _, tx := range txs {
				if !p.ledger.Known(tx.ID()) {
					return false
				}
			}
		}
		return true
	})
	if !c.honestMeshHealthy() {
		t.Fatal("an honest link was lost or charged")
	}
}

// badTxs returns a gossip stream of n transactions of an unrelated, valid
// stream, each spoiled by spoil, which returns the encoding to send.
func badTxs(c *cluster, seed uint64, n int, spoil func(tx *dag.Transaction) []byte) []byte {
	gen := dagtest.NewGenerator(c.net, dagtest.GeneratorConfig{Seed: seed, BeaconEvery: -1})
	buf := network.AppendPreamble(nil, network.PurposeGossip)
	for _, tx := range gen.Take(n) {
		buf = network.AppendFrame(buf, network.FrameTx, spoil(tx))
	}
	return buf
}

var misbehaviours = []misbehaviour{
	{
		name: "garbage instead of a preamble",
		stream: func(*testing.T, *cluster) []byte {
			return []byte("GET / HTTP/1.1\r\nHost: tangled\r\n\r\n")
		},
		check: func(t *testing.T, info network.PeerInfo) {
			if !strings.Contains(info.LastError, "preamble") {
				t.Errorf("last error %q does not name the preamble", info.LastError)
			}
		},
	},
	{
		name: "oversize frame",
		stream: func(t *testing.T, c *cluster) []byte {
			limit := network.MaxFrame(network.FrameTx, c.honest[0].ledger.Genesis().MaxPayload)
			// Only the header: the target must refuse the length before
			// it waits for (or buffers) the payload.
			buf := network.AppendPreamble(nil, network.PurposeGossip)
			return binary.BigEndian.AppendUint32(append(buf, network.FrameTx), uint32(limit+1))
		},
		check: func(t *testing.T, info network.PeerInfo) {
			if !strings.Contains(info.LastError, "frame too large") {
				t.Errorf("last error %q does not name the oversize frame", info.LastError)
			}
		},
	},
	{
		name: "invalid signatures",
		stream: func(t *testing.T, c *cluster) []byte {
			return badTxs(c, 101, 6, func(tx *dag.Transaction) []byte {
				raw := bytes.Clone(tx.Bytes())
				raw[len(raw)-8-dag.SignatureSize] ^= 0x40 // the signature's first byte
				// The ID covers the signature: solve the work again for
				// the new ID, so that the signature is the only fault.
				bad, err := dag.Decode(raw, dag.MaxPayloadLimit)
				if err != nil {
					t.Fatal(err)
				}
				if bad.Nonce, err = pow.Solve(context.Background(), bad.ID(), misbehaveRules.BaseBits, 1); err != nil {
					t.Fatal(err)
				}
				return bad.Bytes()
			})
		},
		check: checkInvalid(dag.ErrSignature),
	},
	{
		name: "insufficient work",
		stream: func(t *testing.T, c *cluster) []byte {
			return badTxs(c, 102, 6, func(tx *dag.Transaction) []byte {
				for tx.Nonce++; pow.Verify(tx.ID(), tx.Nonce, misbehaveRules.BaseBits); tx.Nonce++ {
				}
				return tx.Bytes()
			})
		},
		check: checkInvalid(dag.ErrWork),
	},
	{
		name: "request flood",
		stream: func(t *testing.T, c *cluster) []byte {
			// Each frame asks for more IDs than the limiter's burst, so
			// every one beyond the first two is charged PenaltyFlood.
			buf := network.AppendPreamble(nil, network.PurposeRequest)
			for range 2 + network.MaxScore/network.PenaltyFlood + 8 {
				parts := make([][]byte, network.MaxRequestIDs)
				for i := range parts {
					var id dag.ID
					for j := range id {
						id[j] = byte(c.rng.Uint32())
					}
					parts[i] = id[:]
				}
				buf = network.AppendFrame(buf, network.FrameRequest, parts...)
			}
			return buf
		},
		check: func(t *testing.T, info network.PeerInfo) {
			const floods = network.MaxScore / network.PenaltyFlood
			if min := uint64(floods * network.MaxRequestIDs); info.Traffic.RequestsIn < min {
				t.Errorf("Traffic.RequestsIn = %d, want at least %d", info.Traffic.RequestsIn, min)
			}
			if info.Traffic.Invalid != 0 {
				t.Errorf("Traffic.Invalid = %d for a flood of requests", info.Traffic.Invalid)
			}
			if !strings.Contains(info.LastError, "request flood") {
				t.Errorf("last error %q does not name the flood", info.LastError)
			}
		},
	},
}

// TestMisbehavingPeerIsBanned: a peer with a legitimate validator key that
// sends garbage, an oversize frame, invalid transactions or a request
// flood is disconnected and banned, cannot reconnect during the ban, and
// gets half its score back when the ban runs out; meanwhile the honest
// validators keep exchanging transactions at full score.
func TestMisbehavingPeerIsBanned(t *testing.T) {
	for _, fab := range []func() fabric{quicFabric, func() fabric { return memFabric(network.MemConfig{Seed: 1}) }} {
		fab := fab()
		t.Run(fab.name, func(t *testing.T) {
			outer := t
			net := dagtest.NewNetwork(3+len(misbehaviours), misbehaveRules)
			c := newCluster(t, fab, net)
			target := c.honest[0]
			var banned []*attacker
			for i, m := range misbehaviours {
				t.Run(m.name, func(t *testing.T) {
					key := net.Validators[3+i]
					// The transport outlives this subtest: the attacker
					// comes back when the ban runs out.
					a := &attacker{key: key, pub: dagtest.PublicKey(key), tr: fab.listen(outer, key, network.AllowList(net.Genesis))}
					conn := a.connect(t, target, "attacker admitted")
					a.send(t, conn, m.stream(t, c))
					poll.Until(t, 5*time.Second, "attacker disconnected and banned", func() bool {
						info, _ := peerInfo(target.net, a.pub)
						return closed(conn) && info.State == network.StateBanned
					})
					info, _ := peerInfo(target.net, a.pub)
					if info.Score != 0 {
						t.Errorf("banned peer's score %d, want 0", info.Score)
					}
					if until := info.BannedUntil.Sub(c.clock.Now()); until < misbehaveBan-5*time.Second || until > misbehaveBan {
						t.Errorf("banned for another %v, want about %v", until, misbehaveBan)
					}
					m.check(t, info)
					banned = append(banned, a)

					checkRefused(t, target, a)
					c.exchange(t, i%len(c.honest))
				})
			}
			t.Run("ban runs out", func(t *testing.T) {
				if len(banned) == 0 {
					t.Skip("no attacker ran")
				}
				c.clock.advance(misbehaveBan + time.Second)
				for _, a := range banned {
					// One scoreLoop tick restores half the score; climbing
					// a point per tick from below zero would take seconds.
					poll.Until(t, time.Second, "half the score restored after the ban", func() bool {
						info, _ := peerInfo(target.net, a.pub)
						return info.State == network.StateDisconnected && info.Score == network.MaxScore/2
					})
				}
				a := banned[0]
				conn := a.connect(t, target, "readmitted after the ban")
				_ = conn.CloseWithError(network.CodeNormal, "bye")
				c.exchange(t, 1)
			})
		})
	}
}

// checkRefused redials as the banned attacker: the transport may complete
// the handshake, but the target closes the connection without ever
// starting a session.
func checkRefused(t *testing.T, target *peerNode, a *attacker) {
	t.Helper()
	for try := range 3 {
		conn, err := a.dial(target)
		if err != nil {
			continue // refused during the handshake: fine too
		}
		deadline := time.Now().Add(5 * time.Second)
		for !closed(conn) {
			if info, _ := peerInfo(target.net, a.pub); info.State != network.StateBanned {
				t.Fatalf("redial %d during the ban: target shows the attacker %s", try, info.State)
			}
			if time.Now().After(deadline) {
				t.Fatalf("redial %d during the ban: connection still open", try)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if info, _ := peerInfo(target.net, a.pub); info.State != network.StateBanned {
		t.Fatalf("after redials the attacker is %s", info.State)
	}
}

// checkInvalid expects a peer banned for enough invalid transactions, the
// last of them rejected with want.
func checkInvalid(want error) func(t *testing.T, info network.PeerInfo) {
	return func(t *testing.T, info network.PeerInfo) {
		if info.Traffic.Invalid < network.MaxScore/network.PenaltyInvalid {
			t.Errorf("Traffic.Invalid = %d, want at least %d", info.Traffic.Invalid, network.MaxScore/network.PenaltyInvalid)
		}
		if !strings.Contains(info.LastError, want.Error()) {
			t.Errorf("last error %q does not name %q", info.LastError, want)
		}
	}
}

// TestPeerJunkCostsThePeerNotTheDevice: a peer that relays forged
// transactions naming real devices' keys is banned, and those devices'
// genuine transactions, arriving afterwards through an honest peer, are
// accepted everywhere: nothing the ledger or the network keeps per device
// was charged for the forgeries.
func TestPeerJunkCostsThePeerNotTheDevice(t *testing.T) {
	fab := memFabric(network.MemConfig{Seed: 7})
	net := dagtest.NewNetwork(4, misbehaveRules)
	c := newCluster(t, fab, net)
	target := c.honest[0]
	genuine := dagtest.NewGenerator(c.net, dagtest.GeneratorConfig{Seed: 103, BeaconEvery: -1}).Take(12)
	forged := network.AppendPreamble(nil, network.PurposeGossip)
	for _, tx := range genuine {
		raw := bytes.Clone(tx.Bytes())
		raw[len(raw)-8-dag.SignatureSize] ^= 0x40
		bad, err := dag.Decode(raw, dag.MaxPayloadLimit)
		if err != nil {
			t.Fatal(err)
		}
		if bad.Nonce, err = pow.Solve(context.Background(), bad.ID(), misbehaveRules.BaseBits, 1); err != nil {
			t.Fatal(err)
		}
		forged = network.AppendFrame(forged, network.FrameTx, bad.Bytes())
	}
	key := net.Validators[3]
	a := &attacker{key: key, pub: dagtest.PublicKey(key), tr: fab.listen(t, key, network.AllowList(net.Genesis))}
	conn := a.connect(t, target, "attacker admitted")
	a.send(t, conn, forged)
	poll.Until(t, 5*time.Second, "the relaying peer banned", func() bool {
		info, _ := peerInfo(target.net, a.pub)
		return info.State == network.StateBanned
	})
	submitAll(t, c.honest[1].host, genuine)
	poll.Until(t, 10*time.Second, "the named devices' genuine transactions on the target", func() bool {
		for _, tx := range genuine {
			if _, ok := target.ledger.Info(tx.ID()); !ok {
				return false
			}
		}
		return true
	})
	if !c.honestMeshHealthy() {
		t.Fatal("an honest link was lost or charged")
	}
}
