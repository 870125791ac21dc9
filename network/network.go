package network

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// Ledger is what the network reads of a node's ledger, declared here so
// that peering depends on these calls only; *dag.Ledger implements it.
type Ledger interface {
	Genesis() dag.Genesis
	Stats() dag.Stats
	// Known reports whether id is attached or parked.
	Known(id dag.ID) bool
	Transaction(id dag.ID) (*dag.Transaction, error)
	// Missing appends the references parked transactions wait for.
	Missing(dst []dag.ID) []dag.ID
	NewestTips(k int, dst []dag.ID) []dag.ID
	SampleTips(k int, intN func(n int) int, dst []dag.ID) []dag.ID
	// ConfirmedFrontier is the newest confirmed transaction and its
	// issuing time (the genesis root before any).
	ConfirmedFrontier() (dag.ID, int64)
	Subscribe(fn func(dag.Event)) (cancel func())
}

var _ Ledger = (*dag.Ledger)(nil)

// Host is what the network needs from a node: its ledger (read side and
// events), the ingest pipeline, and ranges of its log for bulk sync.
type Host interface {
	// Ledger is read for duplicates, requested transactions, counts and
	// missing parents, and subscribed to for gossip.
	Ledger() Ledger
	// Submit hands transactions decoded with dag.Decode to the ingest
	// pipeline and returns once each is durable or rejected.
	Submit(ctx context.Context, txs []*dag.Transaction) []dag.Result
	// Range calls fn for every attached transaction from arrival number
	// from on, in arrival order, until fn returns an error.
	Range(from uint64, fn func(arrival uint64, raw []byte) error) error
}

// Config configures a Network. Zero values mean the defaults.
type Config struct {
	// Transport carries the connections (NewQUIC, or a MemNetwork
	// endpoint in tests). Required; Run closes it.
	Transport Transport
	// Key is the node's identity (to recognise and refuse a connection to
	// itself). Required.
	Key ed25519.PrivateKey
	// Peers are dialed at start and redialed with backoff when the link
	// drops.
	Peers []PeerAddr
	// HeartbeatInterval is how often a node reports its counts to peers
	// and how often scores recover a point.
	HeartbeatInterval time.Duration
	// RequestInterval is how often missing transactions are requested
	// (each ID backs off on its own from there).
	RequestInterval time.Duration
	// SyncThreshold is how many transactions a peer must be ahead before
	// a bulk sync starts; smaller gaps are filled by gossip and requests.
	SyncThreshold uint64
	// BanDuration is how long a peer whose score fell to zero is refused.
	BanDuration time.Duration
	// ReconnectMin and ReconnectMax bound the redial backoff.
	ReconnectMin, ReconnectMax time.Duration
	// GossipQueue bounds the transactions waiting to be sent to one peer;
	// beyond it gossip to that peer is dropped (requests repair it).
	GossipQueue int
	// MaxFramesPerSecond and MaxRequestIDsPerSecond bound what one peer
	// may send before it is charged for flooding.
	MaxFramesPerSecond     float64
	MaxRequestIDsPerSecond float64
	// CursorFile, when set, keeps bulk-sync positions across restarts so
	// a restarted node resumes instead of starting over.
	CursorFile string
	Logger     *slog.Logger
	// Now is the clock for bans and backoff (nil means time.Now).
	Now func() time.Time
}

// The defaults.
const (
	DefaultHeartbeatInterval      = time.Second
	DefaultRequestInterval        = 50 * time.Millisecond
	DefaultSyncThreshold          = 256
	DefaultBanDuration            = time.Minute
	DefaultReconnectMin           = 100 * time.Millisecond
	DefaultReconnectMax           = 10 * time.Second
	DefaultGossipQueue            = 16384
	DefaultMaxFramesPerSecond     = 200_000
	DefaultMaxRequestIDsPerSecond = 50_000
)

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	set(&c.RequestInterval, DefaultRequestInterval)
	set(&c.BanDuration, DefaultBanDuration)
	set(&c.ReconnectMin, DefaultReconnectMin)
	set(&c.ReconnectMax, DefaultReconnectMax)
	if c.SyncThreshold == 0 {
		c.SyncThreshold = DefaultSyncThreshold
	}
	if c.GossipQueue == 0 {
		c.GossipQueue = DefaultGossipQueue
	}
	if c.MaxFramesPerSecond == 0 {
		c.MaxFramesPerSecond = DefaultMaxFramesPerSecond
	}
	if c.MaxRequestIDsPerSecond == 0 {
		c.MaxRequestIDsPerSecond = DefaultMaxRequestIDsPerSecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Transport == nil:
		return errors.New("network: config has no transport")
	case len(c.Key) != ed25519.PrivateKeySize:
		return errors.New("network: config has no Ed25519 key")
	case c.HeartbeatInterval < 0 || c.RequestInterval < 0 || c.BanDuration < 0 ||
		c.ReconnectMin < 0 || c.ReconnectMax < c.ReconnectMin || c.GossipQueue < 0 ||
		c.MaxFramesPerSecond < 0 || c.MaxRequestIDsPerSecond < 0:
		return errors.New("network: negative or inverted setting")
	}
	for _, p := range c.Peers {
		if p.Addr == "" {
			return errors.New("network: peer without an address")
		}
	}
	return nil
}

// Network runs the peer-to-peer side of a node.
type Network struct {
	cfg        Config
	host       Host
	ledger     Ledger
	self       dag.PublicKey
	log        *slog.Logger
	maxPayload int

	mu    sync.Mutex
	peers map[dag.PublicKey]*peer
	// sessions is the set of live sessions, for gossip fan-out.
	sessions []*session

	inflight inflight
	want     *requester
	sync     *syncer
	blobs    BlobSource // firmware images for peers (ServeBlobs); nil: none

	wg  sync.WaitGroup // session goroutines
	ctx context.Context
	ran bool
}

// New builds a network over host. Run starts it.
func New(cfg Config, host Host) (*Network, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Network{
		cfg:        cfg,
		host:       host,
		ledger:     host.Ledger(),
		log:        cfg.Logger,
		maxPayload: host.Ledger().Genesis().MaxPayload,
		peers:      map[dag.PublicKey]*peer{},
		inflight:   inflight{m: map[dag.ID]struct{}{}},
	}
	copy(n.self[:], cfg.Key.Public().(ed25519.PublicKey))
	n.want = newRequester(n)
	var err error
	if n.sync, err = newSyncer(n); err != nil {
		return nil, err
	}
	return n, nil
}

// Addr is the transport's listen address.
func (n *Network) Addr() string { return n.cfg.Transport.Addr() }

// Run accepts and dials peers until ctx ends, then closes every connection
// and the transport, and returns after all its goroutines have exited.
func (n *Network) Run(ctx context.Context) error {
	if n.ran {
		return errors.New("network: Run called twice")
	}
	n.ran = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.ctx = ctx
	unsubscribe := n.ledger.Subscribe(n.onEvent)
	defer unsubscribe()

	var loops sync.WaitGroup
	start := func(f func(context.Context)) {
		loops.Add(1)
		go func() { defer loops.Done(); f(ctx) }()
	}
	start(n.acceptLoop)
	for _, p := range n.cfg.Peers {
		start(func(ctx context.Context) { n.dialLoop(ctx, p) })
	}
	start(n.want.run)
	start(n.sync.run)
	start(n.scoreLoop)

	<-ctx.Done()
	err := n.cfg.Transport.Close()
	loops.Wait()
	n.mu.Lock()
	sessions := slices.Clone(n.sessions)
	n.mu.Unlock()
	for _, s := range sessions {
		s.close(CodeNormal, "shutting down")
	}
	n.wg.Wait()
	if e := n.sync.saveCursors(); e != nil {
		n.log.Warn("saving sync cursors", "err", e)
	}
	return err
}

// Peers describes every peer the node knows, sorted by key.
func (n *Network) Peers() []PeerInfo {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]PeerInfo, 0, len(n.peers))
	for _, p := range n.peers {
		info := PeerInfo{
			Key: p.key, Addr: p.addr, Static: p.static, Score: p.score, LastError: p.lastErr,
			Heartbeat: p.hb, HeartbeatAt: p.hbAt, Traffic: p.traffic.snapshot(),
		}
		switch {
		case p.session != nil:
			info.State = StateConnected
			info.Inbound = p.session.inbound
			info.ConnectedAt = p.session.since
			info.Addr = p.session.conn.RemoteAddr()
		case p.bannedUntil.After(now):
			info.State = StateBanned
			info.BannedUntil = p.bannedUntil
		case p.connecting:
			info.State = StateConnecting
		default:
			info.State = StateDisconnected
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return slices.Compare(a.Key[:], b.Key[:]) })
	return out
}

// peerLocked returns the record for key, creating it. n.mu must be held.
func (n *Network) peerLocked(key dag.PublicKey) *peer {
	p := n.peers[key]
	if p == nil {
		p = &peer{key: key, score: MaxScore, known: newIDSet(1 << 16), sentUs: newIDSet(1 << 16)}
		n.peers[key] = p
	}
	return p
}

func (n *Network) acceptLoop(ctx context.Context) {
	for {
		c, err := n.cfg.Transport.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrTransportClosed) {
				return
			}
			n.log.Debug("accept", "err", err)
			continue
		}
		n.admit(c, true)
	}
}

// dialLoop keeps one static peer connected, redialing with exponential
// backoff and jitter while it is not.
func (n *Network) dialLoop(ctx context.Context, pa PeerAddr) {
	backoff := n.cfg.ReconnectMin
	var known dag.PublicKey // the key this address turned out to have
	for {
		if k := pa.Key; k != (dag.PublicKey{}) {
			known = k
		}
		wait := time.Duration(0)
		if known != (dag.PublicKey{}) {
			n.mu.Lock()
			p := n.peerLocked(known)
			p.static = true
			if p.addr == "" {
				p.addr = pa.Addr
			}
			connected := p.session != nil
			if until := p.bannedUntil.Sub(n.cfg.Now()); until > 0 {
				wait = until
			} else if connected {
				wait = n.cfg.HeartbeatInterval
			} else {
				p.connecting = true
			}
			n.mu.Unlock()
		}
		if wait == 0 {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := n.cfg.Transport.Dial(dctx, pa.Addr, pa.Key)
			cancel()
			if err == nil {
				known = c.RemoteKey()
				if n.admit(c, false) {
					backoff = n.cfg.ReconnectMin
					wait = n.cfg.HeartbeatInterval
				}
			} else if ctx.Err() == nil {
				n.log.Debug("dial", "addr", pa.Addr, "err", err)
				if known != (dag.PublicKey{}) {
					n.mu.Lock()
					p := n.peerLocked(known)
					p.connecting = false
					p.lastErr = err.Error()
					n.mu.Unlock()
				}
			}
			if wait == 0 {
				// full jitter keeps restarted nodes from dialing in step
				wait = backoff/2 + rand.N(backoff/2+1)
				backoff = min(2*backoff, n.cfg.ReconnectMax)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// admit starts a session on an authenticated connection, unless the peer
// is this node, banned, or already connected by a connection that wins the
// tie-break. It reports whether the session started.
func (n *Network) admit(c Conn, inbound bool) bool {
	key := c.RemoteKey()
	if key == n.self {
		_ = c.CloseWithError(CodeNormal, "connected to self")
		return false
	}
	n.mu.Lock()
	if n.ctx.Err() != nil {
		n.mu.Unlock()
		_ = c.CloseWithError(CodeNormal, "shutting down")
		return false
	}
	p := n.peerLocked(key)
	p.connecting = false
	if p.bannedUntil.After(n.cfg.Now()) {
		n.mu.Unlock()
		_ = c.CloseWithError(CodeBanned, "banned")
		return false
	}
	var replaced *session
	if old := p.session; old != nil {
		if !n.newWins(old, inbound, key) {
			n.mu.Unlock()
			_ = c.CloseWithError(CodeDuplicate, "duplicate connection")
			return false
		}
		replaced = old
		n.removeSessionLocked(old)
	}
	s := newSession(n, p, c, inbound)
	p.session = s
	p.lastErr = ""
	n.sessions = append(n.sessions, s)
	n.wg.Add(1)
	n.mu.Unlock()
	if replaced != nil {
		replaced.close(CodeDuplicate, "replaced by a newer connection")
	}
	n.log.Info("peer connected", "key", key.String()[:16], "addr", c.RemoteAddr(), "inbound", inbound)
	go func() { defer n.wg.Done(); s.run() }()
	return true
}

// newWins settles two connections between the same pair of nodes the same
// way on both ends: the one dialed by the smaller key stays; if both were
// dialed by the same node, the newer one stays (the older is likely a dead
// link the dialer has given up on).
func (n *Network) newWins(old *session, newInbound bool, remote dag.PublicKey) bool {
	dialer := func(inbound bool) dag.PublicKey {
		if inbound {
			return remote
		}
		return n.self
	}
	oldDialer, newDialer := dialer(old.inbound), dialer(newInbound)
	if oldDialer == newDialer {
		return true
	}
	return slices.Compare(newDialer[:], oldDialer[:]) < 0
}

func (n *Network) removeSessionLocked(s *session) {
	if i := slices.Index(n.sessions, s); i >= 0 {
		n.sessions = slices.Delete(n.sessions, i, i+1)
	}
	if s.peer.session == s {
		s.peer.session = nil
	}
}

// ended is called once by a session when it stops.
func (n *Network) ended(s *session, err error) {
	n.mu.Lock()
	n.removeSessionLocked(s)
	if err != nil {
		s.peer.lastErr = err.Error()
	}
	n.mu.Unlock()
	n.log.Info("peer disconnected", "key", s.peer.key.String()[:16], "err", err)
}

// penalize lowers a peer's score; at zero the peer is banned and its
// connection closed.
func (n *Network) penalize(p *peer, points int, why error) {
	n.mu.Lock()
	// The score stops at zero: charges that land while the peer is
	// already banned (the rest of a batch of invalid transactions, frames
	// read before the connection closed) must not push it below, or the
	// end of the ban (scoreLoop) would not restore half the score and the
	// peer would stay at or below zero long after.
	p.score = max(p.score-points, 0)
	banned := p.score == 0 && !p.bannedUntil.After(n.cfg.Now())
	var s *session
	if banned {
		p.score = 0
		p.bannedUntil = n.cfg.Now().Add(n.cfg.BanDuration)
		p.lastErr = why.Error()
		s = p.session
	}
	n.mu.Unlock()
	if banned {
		n.log.Warn("peer banned", "key", p.key.String()[:16], "why", why, "for", n.cfg.BanDuration)
		if s != nil {
			s.close(CodeBanned, "banned: "+why.Error())
		}
	}
}

// scoreLoop lets scores recover: a point per heartbeat interval, so an
// occasional fault is forgiven and a steady stream of them is not. A ban
// that has run out restores half the score.
func (n *Network) scoreLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := n.cfg.Now()
		n.mu.Lock()
		for _, p := range n.peers {
			switch {
			case p.bannedUntil.After(now):
			case p.score == 0:
				p.score = MaxScore / 2
				p.bannedUntil = time.Time{}
			case p.score < MaxScore:
				p.score++
			}
		}
		n.mu.Unlock()
	}
}

// onEvent gossips every newly attached transaction to each connected peer
// not known to have it. It runs on the ledger's committing goroutine, so
// it only queues.
func (n *Network) onEvent(e dag.Event) {
	if e.Kind != dag.EventAttached || e.Tx == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.sessions {
		s.gossip(e.Tx)
	}
}

// inflight keeps one copy of a transaction in the ingest pipeline when
// several peers deliver it at once, so its signature is checked once.
type inflight struct {
	mu sync.Mutex
	m  map[dag.ID]struct{}
}

// claim keeps the entries of txs that are not yet in flight and marks them.
func (f *inflight) claim(txs []*dag.Transaction) []*dag.Transaction {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := txs[:0]
	for _, tx := range txs {
		id := tx.ID()
		if _, ok := f.m[id]; ok {
			continue
		}
		f.m[id] = struct{}{}
		out = append(out, tx)
	}
	return out
}

func (f *inflight) release(txs []*dag.Transaction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tx := range txs {
		delete(f.m, tx.ID())
	}
}

// penalizing reports whether a rejection proves the sender at fault: the
// transaction fails a check every honest node agrees on (dag.FaultSender).
// A future time may be fine by the peer's clock (dag.FaultTiming); a full
// parking lot or an overloaded pipeline are this node's state.
func penalizing(err error) bool {
	return dag.FaultOf(err) == dag.FaultSender
}

// ingest submits transactions a peer delivered and handles the results:
// invalid ones cost the peer score, parked ones lead to requests for what
// they miss (asked first of the same peer, which must have had them).
func (n *Network) ingest(ctx context.Context, p *peer, txs []*dag.Transaction) error {
	fresh := txs[:0]
	for _, tx := range txs {
		p.known.add(tx.ID())
		p.sentUs.add(tx.ID())
		if n.ledger.Known(tx.ID()) {
			p.traffic.duplicates.Add(1)
			continue
		}
		fresh = append(fresh, tx)
	}
	fresh = n.inflight.claim(fresh)
	if len(fresh) == 0 {
		return nil
	}
	defer n.inflight.release(fresh)
	results := n.host.Submit(ctx, fresh)
	for i, r := range results {
		switch r.Status {
		case dag.StatusRejected:
			if penalizing(r.Err) {
				p.traffic.invalid.Add(1)
				n.penalize(p, PenaltyInvalid, fmt.Errorf("invalid transaction %s: %w", fresh[i].ID().Short(), r.Err))
			} else if errors.Is(r.Err, dag.ErrClosed) {
				return r.Err
			}
		case dag.StatusParked:
			n.want.add(r.Missing, p)
		case dag.StatusDuplicate:
			p.traffic.duplicates.Add(1)
		}
	}
	return nil
}
