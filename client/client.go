package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/pow"
)

// Options configures a Client. The zero value of every field means its
// default.
type Options struct {
	// HTTPClient carries every request. Nil means a client of the
	// package's own with keep-alive connections, connect and TLS timeouts
	// and no overall timeout. A client with http.Client.Timeout set cuts
	// event streams off after that long (WaitConfirmed then reconnects).
	HTTPClient *http.Client
	// UserAgent is sent with every request; empty means DefaultUserAgent.
	UserAgent string
	// PoWWorkers is how many goroutines solve proof-of-work; 0 means
	// runtime.GOMAXPROCS(0).
	PoWWorkers int
	// RequestTimeout bounds each request other than an event stream,
	// from sending to the end of the response body; 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// StreamIdleTimeout closes an event stream that delivered nothing,
	// not even a keep-alive comment, for this long; 0 means
	// DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay between retries of
	// Device.Send and reconnections of WaitConfirmed; 0 means
	// DefaultMinBackoff and DefaultMaxBackoff. A longer Retry-After from
	// the node is honoured over MaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Now stamps issuing times; nil means time.Now.
	Now func() time.Time
}

const (
	// DefaultUserAgent names the SDK in node logs.
	DefaultUserAgent = "tangled-client/1"
	// DefaultRequestTimeout covers a post, which the node answers only
	// once the transaction is durable: a group commit takes milliseconds,
	// so 30 s is only reached by a node that is stuck, not busy.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultStreamIdleTimeout is three missed keep-alives: the contract
	// has the node send one every 15 s, so a silent stream is a dead
	// connection that TCP alone may not notice for many minutes.
	DefaultStreamIdleTimeout = 45 * time.Second
	// DefaultMinBackoff keeps the first retry quick, for the common case
	// of a brief overload.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff keeps a fleet of devices from hammering a node
	// that is down, while one that comes back is noticed within seconds.
	DefaultMaxBackoff = 10 * time.Second
)

func (o Options) validate() error {
	switch {
	case o.PoWWorkers < 0:
		return fmt.Errorf("client: negative PoWWorkers %d", o.PoWWorkers)
	case o.RequestTimeout < 0:
		return fmt.Errorf("client: negative RequestTimeout %v", o.RequestTimeout)
	case o.StreamIdleTimeout < 0:
		return fmt.Errorf("client: negative StreamIdleTimeout %v", o.StreamIdleTimeout)
	case o.MinBackoff < 0 || o.MaxBackoff < 0:
		return errors.New("client: negative backoff")
	}
	o = o.withDefaults()
	if o.MinBackoff > o.MaxBackoff {
		return fmt.Errorf("client: MinBackoff %v exceeds MaxBackoff %v", o.MinBackoff, o.MaxBackoff)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.HTTPClient == nil {
		o.HTTPClient = newHTTPClient()
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.PoWWorkers == 0 {
		o.PoWWorkers = runtime.GOMAXPROCS(0)
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.StreamIdleTimeout == 0 {
		o.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// newHTTPClient has no overall Timeout because event streams are long
// lived; unary requests get RequestTimeout through their context instead.
// maxIdleConns keeps one connection per concurrent poster of a busy
// gateway.
const maxIdleConns = 512

func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       dialer.DialContext,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      maxIdleConns,
		// A gateway posts from many goroutines to one node, each waiting
		// for a durable acknowledgement; the standard library's 2 idle
		// connections per host would make all but two of them redial
		// (BenchmarkNodeHTTP: 9.9k tx/s with 32, see the README).
		MaxIdleConnsPerHost:   maxIdleConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// Client talks to one node's HTTP API. It is safe for concurrent use.
// Each method makes one attempt; Device and WaitConfirmed add the retries.
type Client struct {
	base *url.URL
	http *http.Client
	opts Options
}

// New returns a client for the node at baseURL (http or https; a path
// prefix, as behind a reverse proxy, is kept).
func New(baseURL string, opts Options) (*Client, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https:// and a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q has a query or fragment", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	opts = opts.withDefaults()
	return &Client{base: u, http: opts.HTTPClient, opts: opts}, nil
}

// CloseIdleConnections closes keep-alive connections that carry no
// request, for a gateway that shuts down or goes quiet for a long time.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Info returns the node's description, its network's rules and counters.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var info Info
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/info"}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Tips returns two parents for a new transaction and the difficulty it
// must meet. With issuer set it also returns the issuer's chain head as
// the node knows it, and the difficulty includes the issuer's rate part;
// payloadSize adds the payload part.
func (c *Client) Tips(ctx context.Context, issuer *dag.PublicKey, payloadSize int) (*Tips, error) {
	q := url.Values{}
	if issuer != nil {
		q.Set("issuer", issuer.String())
	}
	if payloadSize > 0 {
		q.Set("payload_size", strconv.Itoa(payloadSize))
	}
	var tips Tips
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/tips", query: q}, &tips); err != nil {
		return nil, err
	}
	if tips.Trunk.IsZero() || tips.Branch.IsZero() {
		return nil, errors.New("client: node returned a zero tip")
	}
	return &tips, nil
}

// Post submits one transaction in the binary encoding and returns once the
// node has made it durable (status attached or parked) or already had it
// (duplicate). A rejection is an *APIError.
func (c *Client) Post(ctx context.Context, tx *dag.Transaction) (*SubmitResult, error) {
	id := tx.ID()
	res, err := c.post(ctx, tx.Bytes(), id.String())
	if err != nil {
		return nil, err
	}
	if res.ID != id {
		return nil, fmt.Errorf("client: node acknowledged %s for transaction %s", res.ID, id)
	}
	return res, nil
}

// PostRaw submits bytes that are meant to be one canonical transaction,
// for a gateway that forwards what a device built, or a replay of stored
// bytes. The node does every check.
func (c *Client) PostRaw(ctx context.Context, raw []byte) (*SubmitResult, error) {
	key := ""
	if tx, err := dag.Decode(raw, dag.MaxPayloadLimit); err == nil {
		key = tx.ID().String()
	}
	return c.post(ctx, raw, key)
}

// PostNodeWork submits a signed transaction without work (its nonce is
// ignored) and asks the node to solve the proof-of-work: POST
// /v1/transactions?work=node. The node does so only for a registered
// device whose policy grants node-work, within that allowance; otherwise
// node_work_refused (403) or rate_limited (429). The ID does not depend on
// the nonce, so the answer names tx.ID(), and a copy the node already has
// is a duplicate.
func (c *Client) PostNodeWork(ctx context.Context, tx *dag.Transaction) (*SubmitResult, error) {
	id := tx.ID()
	res, err := c.postWork(ctx, tx.Bytes(), id.String(), true)
	if err != nil {
		return nil, err
	}
	if res.ID != id {
		return nil, fmt.Errorf("client: node acknowledged %s for transaction %s", res.ID, id)
	}
	return res, nil
}

func (c *Client) post(ctx context.Context, raw []byte, idempotencyKey string) (*SubmitResult, error) {
	return c.postWork(ctx, raw, idempotencyKey, false)
}

// postWork posts one transaction; nodeWork asks the node to do its work.
func (c *Client) postWork(ctx context.Context, raw []byte, idempotencyKey string, nodeWork bool) (*SubmitResult, error) {
	var q url.Values
	if nodeWork {
		q = url.Values{"work": {"node"}}
	}
	var res SubmitResult
	err := c.call(ctx, request{
		method: http.MethodPost, path: "/v1/transactions", query: q,
		contentType: "application/octet-stream", body: raw, idempotencyKey: idempotencyKey,
	}, &res)
	if err != nil {
		return nil, err
	}
	if res.Status == StatusRejected {
		return nil, res.Err()
	}
	return &res, nil
}

// PostBatch submits transactions in one request, as a stream of
// (u32 big-endian length, canonical bytes) frames. Results are in input
// order; an item the node refused has Status rejected, and its Err gives
// an *APIError. The error return is for the request as a whole.
func (c *Client) PostBatch(ctx context.Context, txs []*dag.Transaction) ([]SubmitResult, error) {
	size := 0
	for _, tx := range txs {
		size += 4 + tx.EncodedSize()
	}
	body := make([]byte, 0, size)
	for _, tx := range txs {
		body = binary.BigEndian.AppendUint32(body, uint32(tx.EncodedSize()))
		body = tx.Encode(body)
	}
	sum := sha256.Sum256(body)
	var out struct {
		Results []SubmitResult `json:"results"`
	}
	err := c.call(ctx, request{
		method: http.MethodPost, path: "/v1/transactions/batch",
		contentType: "application/octet-stream", body: body, idempotencyKey: hex.EncodeToString(sum[:]),
	}, &out)
	if err != nil {
		return nil, err
	}
	if len(out.Results) != len(txs) {
		return nil, fmt.Errorf("client: node returned %d results for %d transactions", len(out.Results), len(txs))
	}
	return out.Results, nil
}

// Transaction returns a transaction and its status. An unknown ID is an
// *APIError with code not_found (errors.Is(err, dag.ErrNotFound) holds).
func (c *Client) Transaction(ctx context.Context, id dag.ID) (*TransactionStatus, error) {
	var st TransactionStatus
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/transactions/" + id.String()}, &st); err != nil {
		return nil, err
	}
	// A node that answers for another transaction is broken or lying;
	// a caller that trusted it could record a confirmation it never got.
	if st.Transaction == nil || st.Transaction.ID() != id {
		return nil, fmt.Errorf("client: node answered for another transaction than %s", id)
	}
	return &st, nil
}

// Solve sets tx.Nonce so that its work meets bits, on PoWWorkers cores. A
// gateway can do this for a device that signed tx itself: the work covers
// the ID, not the key.
func (c *Client) Solve(ctx context.Context, tx *dag.Transaction, bits int) error {
	nonce, err := pow.Solve(ctx, tx.ID(), bits, c.opts.PoWWorkers)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	tx.Nonce = nonce
	return nil
}

// Response bodies are bounded so that a broken or hostile node cannot make
// the client allocate without limit.
const (
	maxResponseBody = 16 << 20
	maxErrorBody    = 64 << 10
)

// errRequestTimeout marks a request that ran out of RequestTimeout while
// the caller's context was still alive: a slow node, worth retrying.
var errRequestTimeout = errors.New("client: request timed out")

type request struct {
	method, path   string
	query          url.Values
	contentType    string
	body           []byte
	idempotencyKey string
}

func (c *Client) url(path string, query url.Values) string {
	u := *c.base
	u.Path += path
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// call performs a unary request and decodes a 2xx JSON body into out.
func (c *Client) call(ctx context.Context, r request, out any) error {
	rctx, cancel := context.WithTimeoutCause(ctx, c.opts.RequestTimeout, errRequestTimeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(rctx, r.method, c.url(r.path, r.query), body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.idempotencyKey != "" {
		// Posting the same bytes twice is harmless (the node answers
		// duplicate), and this header is what lets net/http replay a
		// POST that met a keep-alive connection the node had just closed.
		req.Header.Set("Idempotency-Key", r.idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, rctx, r, err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeAPIError(resp, c.opts.Now())
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(out); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syntax) || errors.As(err, &typ) || rctx.Err() == nil && !isReadError(err) {
			return fmt.Errorf("client: %s %s: decoding response: %w", r.method, r.path, err)
		}
		return c.transportError(ctx, rctx, r, err)
	}
	return nil
}

// isReadError reports whether err came from reading the connection rather
// than from the JSON it carried.
func isReadError(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr)
}

// transportError tells the caller's own cancellation, which is final, from
// the request timeout and network failures, which are worth a retry.
func (c *Client) transportError(ctx, rctx context.Context, r request, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("client: %s %s: %w", r.method, r.path, context.Cause(ctx))
	}
	if errors.Is(context.Cause(rctx), errRequestTimeout) {
		return fmt.Errorf("%w after %v: %s %s", errRequestTimeout, c.opts.RequestTimeout, r.method, r.path)
	}
	return fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
}

// drainClose reads a little of what is left so the connection can be
// reused, then closes the body.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBody))
	_ = body.Close()
}

// backoff is exponential with equal jitter: a fleet of devices that lost
// the node at the same moment does not come back in lockstep.
type backoff struct {
	min, max, cur time.Duration
}

func (c *Client) newBackoff() *backoff {
	return &backoff{min: c.opts.MinBackoff, max: c.opts.MaxBackoff}
}

// next returns the delay before the next attempt, at least floor (a
// Retry-After or an SSE retry hint).
func (b *backoff) next(floor time.Duration) time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	d := b.cur/2 + rand.N(b.cur/2+1)
	return max(d, floor)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
