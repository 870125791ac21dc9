package network

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tangled-ledger/tangled/dag"
)

// alpn names the protocol in the TLS handshake, so a tangled node never
// talks to an unrelated QUIC service by mistake.
const alpn = "tangled/1"

// QUICConfig configures NewQUIC.
type QUICConfig struct {
	// ListenAddr is the UDP address to bind ("127.0.0.1:0" picks a port).
	ListenAddr string
	// Key is the node's identity; its public half is in the certificate.
	Key ed25519.PrivateKey
	// Authorize checks every peer's key, inbound and outbound. Required.
	Authorize Authorizer
	// KeepAlive and IdleTimeout keep quiet links open and notice dead
	// ones; the zero values mean 5 s and 20 s.
	KeepAlive   time.Duration
	IdleTimeout time.Duration
	// MaxStreamWindow and MaxConnectionWindow bound the receive buffers a
	// peer can fill (flow control); the zero values mean 1 MiB and 4 MiB.
	MaxStreamWindow     uint64
	MaxConnectionWindow uint64
}

// quicTransport is the production Transport: one UDP socket for listening
// and dialing, TLS 1.3 with pinned Ed25519 keys.
type quicTransport struct {
	udp       *net.UDPConn
	tr        *quic.Transport
	ln        *quic.Listener
	tlsServer *tls.Config
	key       ed25519.PrivateKey
	authorize Authorizer
	cfg       *quic.Config

	mu     sync.Mutex
	closed bool
}

// NewQUIC binds the UDP socket and starts listening.
func NewQUIC(cfg QUICConfig) (Transport, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("network: QUIC transport needs an Ed25519 key")
	}
	if cfg.Authorize == nil {
		return nil, errors.New("network: QUIC transport needs an Authorize function")
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 5 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 20 * time.Second
	}
	if cfg.MaxStreamWindow == 0 {
		cfg.MaxStreamWindow = 1 << 20
	}
	if cfg.MaxConnectionWindow == 0 {
		cfg.MaxConnectionWindow = 4 << 20
	}
	cert, err := selfSignedCertificate(cfg.Key)
	if err != nil {
		return nil, err
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("network: listen address: %w", err)
	}
	udp, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("network: listen: %w", err)
	}
	// The stateless-reset key is derived from the node's identity, not
	// drawn per process: a restarted node then answers the packets its
	// peers still send on the dead process's connection with a reset they
	// accept, and they drop that connection at once instead of at the idle
	// timeout (while it lives, the restarted node's redials lose the
	// duplicate tie-break when the peer has the smaller key).
	resetKey := statelessResetKey(cfg.Key)
	t := &quicTransport{
		udp:       udp,
		tr:        &quic.Transport{Conn: udp, StatelessResetKey: &resetKey},
		key:       cfg.Key,
		authorize: cfg.Authorize,
		cfg: &quic.Config{
			HandshakeIdleTimeout:           5 * time.Second,
			MaxIdleTimeout:                 cfg.IdleTimeout,
			KeepAlivePeriod:                cfg.KeepAlive,
			InitialStreamReceiveWindow:     min(256<<10, cfg.MaxStreamWindow),
			MaxStreamReceiveWindow:         cfg.MaxStreamWindow,
			InitialConnectionReceiveWindow: min(512<<10, cfg.MaxConnectionWindow),
			MaxConnectionReceiveWindow:     cfg.MaxConnectionWindow,
			// gossip and requests in each direction, plus a few sync
			// sessions; a peer cannot open more.
			MaxIncomingStreams:    16,
			MaxIncomingUniStreams: -1,
			Allow0RTT:             false, // 0-RTT data is replayable
		},
	}
	t.tlsServer = &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		NextProtos:            []string{alpn},
		VerifyPeerCertificate: t.verifier(dag.PublicKey{}),
	}
	t.ln, err = t.tr.Listen(t.tlsServer, t.cfg)
	if err != nil {
		_ = t.tr.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("network: listen: %w", err)
	}
	return t, nil
}

func (t *quicTransport) Addr() string { return t.udp.LocalAddr().String() }

func (t *quicTransport) Dial(ctx context.Context, addr string, expect dag.PublicKey) (Conn, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("network: dial %s: %w", addr, err)
	}
	cert := t.tlsServer.Certificates[0]
	tlsConf := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{alpn},
		ServerName:   "tangled",
		// The chain is not checked against CAs: the certificate is
		// self-signed, and VerifyPeerCertificate pins the key instead.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: t.verifier(expect),
	}
	c, err := t.tr.Dial(ctx, udpAddr, tlsConf, t.cfg)
	if err != nil {
		if t.isClosed() {
			return nil, ErrTransportClosed
		}
		return nil, fmt.Errorf("network: dial %s: %w", addr, err)
	}
	return newQUICConn(c)
}

func (t *quicTransport) Accept(ctx context.Context) (Conn, error) {
	for {
		c, err := t.ln.Accept(ctx)
		if err != nil {
			if t.isClosed() {
				return nil, ErrTransportClosed
			}
			return nil, err
		}
		qc, err := newQUICConn(c)
		if err != nil {
			_ = c.CloseWithError(quic.ApplicationErrorCode(CodeProtocol), err.Error())
			continue
		}
		return qc, nil
	}
}

func (t *quicTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *quicTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	_ = t.ln.Close()
	err := t.tr.Close()
	if e := t.udp.Close(); err == nil && !errors.Is(e, net.ErrClosed) {
		err = e
	}
	return err
}

// verifier pins the peer's key: the certificate must be a valid
// self-signed Ed25519 certificate whose key is authorized (and equals
// expect when that is set). Both sides run it, so neither exchanges
// application data with an unknown peer.
func (t *quicTransport) verifier(expect dag.PublicKey) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		key, err := certificateKey(raw)
		if err != nil {
			return err
		}
		if expect != (dag.PublicKey{}) && key != expect {
			return fmt.Errorf("%w: key %s, expected %s", ErrUnauthorized, key, expect)
		}
		return t.authorize(key)
	}
}

func certificateKey(raw [][]byte) (dag.PublicKey, error) {
	if len(raw) != 1 {
		return dag.PublicKey{}, fmt.Errorf("%w: want exactly one certificate, got %d", ErrUnauthorized, len(raw))
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return dag.PublicKey{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return dag.PublicKey{}, fmt.Errorf("%w: certificate key is not Ed25519", ErrUnauthorized)
	}
	// CheckSignatureFrom would demand a CA certificate; the self-signature
	// is checked directly.
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return dag.PublicKey{}, fmt.Errorf("%w: certificate self-signature: %v", ErrUnauthorized, err)
	}
	return dag.PublicKey(pub), nil
}

// selfSignedCertificate wraps the node's Ed25519 key in a certificate.
// Validity is deliberately wide: the key, not the certificate, is the
// identity, and node clocks may be off.
func selfSignedCertificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "tangled node"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("network: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// quicConn adapts *quic.Conn.
type quicConn struct {
	c   *quic.Conn
	key dag.PublicKey
}

func newQUICConn(c *quic.Conn) (*quicConn, error) {
	state := c.ConnectionState().TLS
	if len(state.PeerCertificates) != 1 {
		return nil, fmt.Errorf("%w: no peer certificate", ErrUnauthorized)
	}
	pub, ok := state.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: certificate key is not Ed25519", ErrUnauthorized)
	}
	return &quicConn{c: c, key: dag.PublicKey(pub)}, nil
}

func (c *quicConn) RemoteKey() dag.PublicKey { return c.key }
func (c *quicConn) RemoteAddr() string       { return c.c.RemoteAddr().String() }
func (c *quicConn) Done() <-chan struct{}    { return c.c.Context().Done() }

func (c *quicConn) OpenStream(ctx context.Context) (Stream, error) {
	s, err := c.c.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (c *quicConn) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := c.c.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (c *quicConn) CloseWithError(code uint64, reason string) error {
	return c.c.CloseWithError(quic.ApplicationErrorCode(code), reason)
}

type quicStream struct{ s *quic.Stream }

func (s quicStream) Read(p []byte) (int, error)  { return s.s.Read(p) }
func (s quicStream) Write(p []byte) (int, error) { return s.s.Write(p) }
func (s quicStream) Close() error                { return s.s.Close() }
func (s quicStream) Abort() {
	s.s.CancelRead(0)
	s.s.CancelWrite(0)
}

// statelessResetKey derives the QUIC stateless-reset key from the node's
// identity key with HKDF-SHA-256, so every process of one node uses the
// same one and nothing else can compute it.
func statelessResetKey(key ed25519.PrivateKey) quic.StatelessResetKey {
	var k quic.StatelessResetKey
	derived, err := hkdf.Key(sha256.New, key.Seed(), nil, "tangled/1 quic stateless reset", len(k))
	if err != nil {
		panic(fmt.Sprintf("network: hkdf: %v", err)) // only for a length above 255×32
	}
	copy(k[:], derived)
	return k
}
