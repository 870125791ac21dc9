package api

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// Config configures a Server. The zero value of every field means its
// default; rate fields take a negative value to mean "unlimited".
type Config struct {
	// MaxBodyBytes bounds the body of POST /v1/transactions. Zero means
	// DefaultMaxBodyBytes; it must hold at least dag.MinSize bytes.
	MaxBodyBytes int64
	// MaxBatchBytes bounds the body of POST /v1/transactions/batch. Zero
	// means DefaultMaxBatchBytes.
	MaxBatchBytes int64
	// MaxBatchItems bounds the transactions of one batch. Zero means
	// DefaultMaxBatchItems.
	MaxBatchItems int
	// BodyBudget bounds the bytes of request bodies that all requests
	// together hold in memory. A body's buffer grows with the bytes that
	// arrive (never with the Content-Length a client declares), and each
	// growth is taken from this budget until the body is decoded; a
	// request whose growth does not fit is answered 429 overloaded. Zero
	// means DefaultBodyBudget; it must hold the largest body twice (its
	// chunks and the copy it is joined into, for a moment).
	BodyBudget int64

	// ClientRate is the sustained rate of transactions per second that
	// one client (remote address, see TrustProxy) may post, ClientBurst
	// the bucket size; a batch of n transactions takes n tokens. Zero
	// means DefaultClientRate and DefaultClientBurst; a negative
	// ClientRate turns the limit off. ClientBurst must be at least
	// MaxBatchItems, or a full batch could never pass.
	ClientRate  float64
	ClientBurst int
	// TrustProxy makes the client the last address of X-Forwarded-For
	// (the one the proxy in front of this node appended) instead of the
	// connection's remote address. Only set it behind a proxy that
	// appends to that header; otherwise any client picks its own bucket.
	TrustProxy bool

	// JunkRate and JunkBurst bound what one client's invalid transactions
	// may cost the node: every transaction rejected for its sender's fault
	// (malformed, bad signature, insufficient work, ...) takes a token
	// from the client's junk bucket, which may go into debt, and a client
	// in debt is refused rate_limited before its body is read. Zero means
	// DefaultJunkRate and DefaultJunkBurst; a negative JunkRate turns the
	// limit off.
	JunkRate  float64
	JunkBurst int

	// IssuerRate and IssuerBurst limit the transactions per second of one
	// issuer key across all clients. Only transactions whose work and
	// signature verified are charged (inside the ingest pipeline, before
	// attach), so junk that names a device's key never costs the device.
	// Zero means DefaultIssuerRate and DefaultIssuerBurst; a negative
	// IssuerRate turns the limit off.
	IssuerRate  float64
	IssuerBurst int

	// SubmitTimeout is how long a POST may wait for room in the ingest
	// queue before it is answered 429 overloaded. Zero means
	// DefaultSubmitTimeout. A queued transaction is still waited for
	// until durable, so http.Server.WriteTimeout must leave room for both.
	SubmitTimeout time.Duration

	// EventBuffer is how many events one /v1/events stream may fall
	// behind before it is sent "lagged" and closed. Zero means
	// DefaultEventBuffer.
	EventBuffer int
	// KeepAlive is the interval of keep-alive comments on an idle event
	// stream. Zero means DefaultKeepAlive.
	KeepAlive time.Duration
	// MaxStreams bounds concurrent event streams; more are answered 429.
	// Zero means DefaultMaxStreams.
	MaxStreams int

	// Clock gives the node time for /v1/tips and the rate limiters; nil
	// means time.Now. Tests and simulations pass a fake.
	Clock func() time.Time
}

const (
	// DefaultMaxBodyBytes holds the JSON form of a transaction with the
	// protocol's largest payload: base64 makes 64 KiB about 87 KiB, and
	// the hex fields add under a kilobyte.
	DefaultMaxBodyBytes = 128 << 10
	// DefaultMaxBatchBytes holds 4096 transactions with typical payloads of
	// a few hundred bytes in either encoding.
	DefaultMaxBatchBytes = 8 << 20
	// DefaultMaxBatchItems is a few signature-verification batches: enough
	// to amortise HTTP overhead, small enough that one batch does not hold
	// the ingest queue for long.
	DefaultMaxBatchItems = 4096
	// DefaultBodyBudget holds eight full batches in flight at once, far
	// more than two cores can verify in the time they take to arrive.
	DefaultBodyBudget = 64 << 20
	// DefaultClientRate and DefaultClientBurst stop a runaway client
	// without throttling a gateway or a loopback benchmark at 40k tx/s;
	// the ingest queue's back-pressure does the fine-grained work.
	DefaultClientRate  = 50_000
	DefaultClientBurst = 100_000
	// DefaultJunkRate lets an honest client make mistakes (a stale
	// sequence number, a clock ahead) without noticing the limit; a
	// client sending nothing but junk makes the node verify at most this
	// many of its transactions a second on average, a few milliseconds of
	// CPU. DefaultJunkBurst admits one full batch of junk before the
	// debt starts.
	DefaultJunkRate  = 100
	DefaultJunkBurst = DefaultMaxBatchItems
	// DefaultIssuerRate and DefaultIssuerBurst are far above what an honest
	// device sends (the difficulty rules already make more than one a
	// second expensive), but stop one stolen key from flooding through
	// many clients.
	DefaultIssuerRate  = 100
	DefaultIssuerBurst = 200
	// DefaultSubmitTimeout rides out a commit stall of a second or so; a
	// longer wait only ties up the client's connection.
	DefaultSubmitTimeout = 2 * time.Second
	// DefaultEventBuffer is about a tenth of a second of events at full
	// ingest rate: a reader that falls further behind is better off
	// reconnecting and resyncing than reading stale events.
	DefaultEventBuffer = 1024
	// DefaultKeepAlive is below the idle timeouts of common proxies (30 to
	// 60 s), so an idle stream is not cut.
	DefaultKeepAlive = 15 * time.Second
	// DefaultMaxStreams bounds the memory of buffered events
	// (MaxStreams × EventBuffer × about 100 bytes, 25 MiB by default).
	DefaultMaxStreams = 256
)

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.MaxBatchItems == 0 {
		c.MaxBatchItems = DefaultMaxBatchItems
	}
	if c.ClientRate == 0 {
		c.ClientRate = DefaultClientRate
	}
	if c.ClientBurst == 0 {
		c.ClientBurst = DefaultClientBurst
	}
	if c.BodyBudget == 0 {
		c.BodyBudget = DefaultBodyBudget
	}
	if c.JunkRate == 0 {
		c.JunkRate = DefaultJunkRate
	}
	if c.JunkBurst == 0 {
		c.JunkBurst = DefaultJunkBurst
	}
	if c.IssuerRate == 0 {
		c.IssuerRate = DefaultIssuerRate
	}
	if c.IssuerBurst == 0 {
		c.IssuerBurst = DefaultIssuerBurst
	}
	if c.SubmitTimeout == 0 {
		c.SubmitTimeout = DefaultSubmitTimeout
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// validate checks a configuration with its defaults filled in.
func (c Config) validate() error {
	switch {
	case c.MaxBodyBytes < dag.MinSize:
		return fmt.Errorf("api: MaxBodyBytes %d below the smallest transaction (%d bytes)", c.MaxBodyBytes, dag.MinSize)
	case c.MaxBatchBytes < 0:
		return fmt.Errorf("api: negative MaxBatchBytes %d", c.MaxBatchBytes)
	case c.MaxBatchItems < 0:
		return fmt.Errorf("api: negative MaxBatchItems %d", c.MaxBatchItems)
	case c.BodyBudget < minBodyBudget(max(c.MaxBatchBytes, c.MaxBodyBytes)):
		return fmt.Errorf("api: BodyBudget %d cannot hold the largest body (%d bytes) while it is read: need at least %d",
			c.BodyBudget, max(c.MaxBatchBytes, c.MaxBodyBytes), minBodyBudget(max(c.MaxBatchBytes, c.MaxBodyBytes)))
	case math.IsNaN(c.ClientRate) || math.IsNaN(c.IssuerRate) || math.IsNaN(c.JunkRate):
		return errors.New("api: rate is NaN")
	case c.ClientBurst < 0:
		return fmt.Errorf("api: negative ClientBurst %d", c.ClientBurst)
	case c.ClientRate > 0 && c.ClientBurst < c.MaxBatchItems:
		return fmt.Errorf("api: ClientBurst %d below MaxBatchItems %d: a full batch could never pass", c.ClientBurst, c.MaxBatchItems)
	case c.JunkBurst < 0:
		return fmt.Errorf("api: negative JunkBurst %d", c.JunkBurst)
	case c.IssuerBurst < 0:
		return fmt.Errorf("api: negative IssuerBurst %d", c.IssuerBurst)
	case c.SubmitTimeout < 0:
		return fmt.Errorf("api: negative SubmitTimeout %v", c.SubmitTimeout)
	case c.EventBuffer < 0:
		return fmt.Errorf("api: negative EventBuffer %d", c.EventBuffer)
	case c.KeepAlive < 0:
		return fmt.Errorf("api: negative KeepAlive %v", c.KeepAlive)
	case c.MaxStreams < 0:
		return fmt.Errorf("api: negative MaxStreams %d", c.MaxStreams)
	}
	return nil
}

// minBodyBudget is the budget that lets one body of n bytes be read: its
// chunks, rounded up to a whole chunk, and the copy they are joined into.
func minBodyBudget(n int64) int64 {
	return firstChunk + (n+nextChunk-1)/nextChunk*nextChunk + n
}
