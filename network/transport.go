package network

import (
	"context"
	"errors"
	"io"

	"github.com/tangled-ledger/tangled/dag"
)

// Transport carries authenticated connections between nodes. Both the QUIC
// transport and the in-memory test network implement it.
type Transport interface {
	// Dial connects to addr. When expect is not the zero key, the peer
	// must prove that identity; otherwise any authorized key is accepted.
	Dial(ctx context.Context, addr string, expect dag.PublicKey) (Conn, error)
	// Accept returns the next inbound connection whose handshake has
	// completed and whose key is authorized.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the local listen address, as peers dial it.
	Addr() string
	// Close stops listening and closes every connection.
	Close() error
}

// Conn is one authenticated connection.
type Conn interface {
	// RemoteKey is the peer's authenticated identity.
	RemoteKey() dag.PublicKey
	RemoteAddr() string
	// OpenStream opens a bidirectional stream; AcceptStream waits for one
	// the peer opened.
	OpenStream(ctx context.Context) (Stream, error)
	AcceptStream(ctx context.Context) (Stream, error)
	// CloseWithError closes the connection, telling the peer why.
	CloseWithError(code uint64, reason string) error
	// Done is closed when the connection is gone.
	Done() <-chan struct{}
}

// Stream is one ordered, reliable, flow-controlled byte stream.
type Stream interface {
	io.Reader
	io.Writer
	// Close ends the write direction; the peer reads io.EOF.
	Close() error
	// Abort ends both directions at once (after a protocol violation or
	// when the connection goes away).
	Abort()
}

// Authorizer decides whether a peer's key may connect. It returns nil to
// accept.
type Authorizer func(key dag.PublicKey) error

// Transport errors.
var (
	// ErrUnauthorized: the peer's key is neither a validator nor on the
	// allow list, or it is not the key the dialer expected.
	ErrUnauthorized = errors.New("network: peer not authorized")
	// ErrTransportClosed: the transport was closed.
	ErrTransportClosed = errors.New("network: transport closed")
)

// Close codes sent to a peer with CloseWithError.
const (
	CodeNormal    uint64 = 0 // shutting down, or a duplicate connection
	CodeProtocol  uint64 = 1 // malformed or oversize frame, bad preamble
	CodeBanned    uint64 = 2 // the score fell below the threshold
	CodeDuplicate uint64 = 3 // a second connection to the same peer
)
