package network

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// MemConfig shapes an in-memory network's links.
type MemConfig struct {
	// Seed makes delays and losses reproducible.
	Seed uint64
	// Delay is the one-way latency of every write; Jitter adds a uniform
	// random part in [0, Jitter). Order within a stream is kept.
	Delay, Jitter time.Duration
	// Loss is the probability that one write (which the protocol always
	// makes of whole frames) is dropped, after a stream's first write.
	// It models lost messages, which requests and sync must repair.
	Loss float64
	// Window bounds the writes in flight per stream direction: a writer
	// blocks beyond it, like flow control. Zero means 1024.
	Window int
}

// MemNetwork is an in-process network for fast, seeded scenario tests: the
// same protocol as QUIC, with configurable delay, loss and partitions. Keys
// are authorized exactly as the QUIC transport does.
type MemNetwork struct {
	cfg MemConfig

	mu        sync.Mutex
	rng       *rand.Rand
	endpoints map[string]*memEndpoint
	group     map[string]int // partition group by address; nil when whole
	conns     map[*memConn]struct{}
	next      int
}

// ErrUnreachable: the address is not listening or is cut off by a
// partition.
var ErrUnreachable = errors.New("network: address unreachable")

// NewMemNetwork builds an empty in-memory network.
func NewMemNetwork(cfg MemConfig) *MemNetwork {
	if cfg.Window == 0 {
		cfg.Window = 1024
	}
	return &MemNetwork{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		endpoints: map[string]*memEndpoint{},
		conns:     map[*memConn]struct{}{},
	}
}

// Listen adds an endpoint with the given identity and returns its
// transport; its address is "mem-N".
func (m *MemNetwork) Listen(key ed25519.PrivateKey, authorize Authorizer) Transport {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	e := &memEndpoint{
		m: m, addr: fmt.Sprintf("mem-%d", m.next), authorize: authorize,
		accept: make(chan *memConn, 16), done: make(chan struct{}),
	}
	copy(e.key[:], key.Public().(ed25519.PublicKey))
	m.endpoints[e.addr] = e
	return e
}

// Partition splits the network into groups of addresses: connections
// between groups are cut and dials across them fail. Addresses in no
// group form one more group.
func (m *MemNetwork) Partition(groups ...[]string) {
	m.mu.Lock()
	m.group = map[string]int{}
	for i, g := range groups {
		for _, addr := range g {
			m.group[addr] = i + 1
		}
	}
	var cut []*memConn
	for c := range m.conns {
		if !m.reachableLocked(c.local.addr, c.remoteAddr) {
			cut = append(cut, c)
		}
	}
	m.mu.Unlock()
	for _, c := range cut {
		c.shutdown()
	}
}

// Heal joins all partitions again; nodes redial on their own.
func (m *MemNetwork) Heal() {
	m.mu.Lock()
	m.group = nil
	m.mu.Unlock()
}

func (m *MemNetwork) reachableLocked(a, b string) bool {
	return m.group == nil || m.group[a] == m.group[b]
}

// delay draws one write's latency.
func (m *MemNetwork) delay() (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.cfg.Delay
	if m.cfg.Jitter > 0 {
		d += time.Duration(m.rng.Int64N(int64(m.cfg.Jitter)))
	}
	lost := m.cfg.Loss > 0 && m.rng.Float64() < m.cfg.Loss
	return d, lost
}

type memEndpoint struct {
	m         *MemNetwork
	addr      string
	key       dag.PublicKey
	authorize Authorizer
	accept    chan *memConn
	done      chan struct{}
	closeOnce sync.Once
}

func (e *memEndpoint) Addr() string { return e.addr }

func (e *memEndpoint) Dial(ctx context.Context, addr string, expect dag.PublicKey) (Conn, error) {
	m := e.m
	m.mu.Lock()
	remote, ok := m.endpoints[addr]
	if !ok || !m.reachableLocked(e.addr, addr) {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, addr)
	}
	m.mu.Unlock()
	// Mutual authentication, as the TLS handshake does it.
	if expect != (dag.PublicKey{}) && remote.key != expect {
		return nil, fmt.Errorf("%w: key %s, expected %s", ErrUnauthorized, remote.key, expect)
	}
	if err := e.authorize(remote.key); err != nil {
		return nil, err
	}
	if err := remote.authorize(e.key); err != nil {
		return nil, err
	}
	local, far := newMemConnPair(e, remote)
	select {
	case remote.accept <- far:
	case <-remote.done:
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, addr)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m.mu.Lock()
	m.conns[local] = struct{}{}
	m.conns[far] = struct{}{}
	m.mu.Unlock()
	return local, nil
}

func (e *memEndpoint) Accept(ctx context.Context) (Conn, error) {
	select {
	case c := <-e.accept:
		return c, nil
	case <-e.done:
		return nil, ErrTransportClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *memEndpoint) Close() error {
	e.closeOnce.Do(func() {
		close(e.done)
		m := e.m
		m.mu.Lock()
		delete(m.endpoints, e.addr)
		var mine []*memConn
		for c := range m.conns {
			if c.local == e {
				mine = append(mine, c)
			}
		}
		m.mu.Unlock()
		for _, c := range mine {
			c.shutdown()
		}
	})
	return nil
}

// memConn is one end of an in-memory connection.
type memConn struct {
	local      *memEndpoint
	remoteKey  dag.PublicKey
	remoteAddr string
	peer       *memConn
	streams    chan *memStream // opened by the peer
	done       chan struct{}
	once       *sync.Once // shared by both ends: closing one closes both
}

func newMemConnPair(a, b *memEndpoint) (*memConn, *memConn) {
	once := &sync.Once{}
	done := make(chan struct{})
	ca := &memConn{local: a, remoteKey: b.key, remoteAddr: b.addr, streams: make(chan *memStream, 16), done: done, once: once}
	cb := &memConn{local: b, remoteKey: a.key, remoteAddr: a.addr, streams: make(chan *memStream, 16), done: done, once: once}
	ca.peer, cb.peer = cb, ca
	return ca, cb
}

func (c *memConn) RemoteKey() dag.PublicKey { return c.remoteKey }
func (c *memConn) RemoteAddr() string       { return c.remoteAddr }
func (c *memConn) Done() <-chan struct{}    { return c.done }

func (c *memConn) OpenStream(ctx context.Context) (Stream, error) {
	ab := newMemPipe(c.local.m, c.done)
	ba := newMemPipe(c.local.m, c.done)
	mine := &memStream{in: ba, out: ab}
	theirs := &memStream{in: ab, out: ba}
	select {
	case c.peer.streams <- theirs:
		return mine, nil
	case <-c.done:
		return nil, io.ErrClosedPipe
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *memConn) AcceptStream(ctx context.Context) (Stream, error) {
	select {
	case s := <-c.streams:
		return s, nil
	case <-c.done:
		return nil, io.ErrClosedPipe
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *memConn) CloseWithError(uint64, string) error {
	c.shutdown()
	return nil
}

func (c *memConn) shutdown() {
	c.once.Do(func() { close(c.done) })
	m := c.local.m
	m.mu.Lock()
	delete(m.conns, c)
	delete(m.conns, c.peer)
	m.mu.Unlock()
}

// memStream is a pair of pipes, one per direction.
type memStream struct {
	in, out *memPipe
}

func (s *memStream) Read(p []byte) (int, error)  { return s.in.read(p) }
func (s *memStream) Write(p []byte) (int, error) { return s.out.write(p) }
func (s *memStream) Close() error                { s.out.closeWrite(); return nil }
func (s *memStream) Abort() {
	s.in.abort()
	s.out.abort()
}

// memPipe is one direction of a stream: writes become chunks delivered in
// order after their delay.
type memPipe struct {
	m        *MemNetwork
	chunks   chan memChunk
	connGone <-chan struct{}
	aborted  chan struct{}

	wmu       sync.Mutex
	last      time.Time // delivery time of the previous chunk
	writes    int
	closed    bool
	abortOnce sync.Once

	cur []byte // reader's unread part of the current chunk
}

type memChunk struct {
	data []byte
	at   time.Time
}

func newMemPipe(m *MemNetwork, connGone <-chan struct{}) *memPipe {
	return &memPipe{m: m, chunks: make(chan memChunk, m.cfg.Window), connGone: connGone, aborted: make(chan struct{})}
}

func (p *memPipe) write(b []byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	d, lost := p.m.delay()
	p.writes++
	if lost && p.writes > 1 {
		return len(b), nil
	}
	at := time.Now().Add(d)
	if at.Before(p.last) {
		at = p.last // keep the stream in order
	}
	p.last = at
	c := memChunk{data: append([]byte(nil), b...), at: at}
	select {
	case p.chunks <- c:
		return len(b), nil
	case <-p.aborted:
		return 0, io.ErrClosedPipe
	case <-p.connGone:
		return 0, io.ErrClosedPipe
	}
}

func (p *memPipe) closeWrite() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.chunks)
	}
}

func (p *memPipe) abort() { p.abortOnce.Do(func() { close(p.aborted) }) }

func (p *memPipe) read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		select {
		case c, ok := <-p.chunks:
			if !ok {
				return 0, io.EOF
			}
			if wait := time.Until(c.at); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-p.aborted:
					t.Stop()
					return 0, io.ErrClosedPipe
				case <-p.connGone:
					t.Stop()
					return 0, io.ErrClosedPipe
				}
			}
			p.cur = c.data
		case <-p.aborted:
			return 0, io.ErrClosedPipe
		case <-p.connGone:
			return 0, io.ErrClosedPipe
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}
