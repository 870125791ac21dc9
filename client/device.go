package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/pow"
)

// Device issues one key's chain of transactions: it learns parents, its
// chain head and the difficulty from the node, signs, solves the work and
// posts, and it re-sends a transaction the node has not acknowledged
// unchanged, never a new one with the same sequence number (two
// transactions with one sequence number are an equivocation, and the node
// quarantines the key).
//
// A chain is sequential, so Send calls are serialised: concurrent calls
// are safe but wait for each other. Sending from several goroutines, or
// several processes, with the same key through different Devices is not:
// that is exactly what a cloned key looks like.
type Device struct {
	c        *Client
	keyErr   error
	nodeWork bool
	// ident is the key that signs the chain now; Rotate replaces it once
	// the node has the rotation. Written with turn held, read anywhere.
	ident atomic.Pointer[identity]

	// turn holds a token while a Send runs; a channel rather than a mutex
	// so a waiting Send still honours its context.
	turn chan struct{}

	// pending is the signed and solved transaction not yet acknowledged.
	// Atomic so that Pending can read it while a Send runs.
	pending atomic.Pointer[pendingTx]

	// Guarded by turn.
	chain struct {
		// known is set once a transaction of this Device was
		// acknowledged: from then on next and prev are the Device's own,
		// which beat a node's view that may lag behind them.
		known  bool
		next   uint64
		prev   dag.ID
		last   int64   // issuing time of the transaction at next-1
		recent []int64 // issuing times of our transactions within the rate window
	}
	// Guarded by turn; fetched once from /v1/info.
	rules      *pow.Rules
	maxPayload int
}

type pendingTx struct {
	tx  *dag.Transaction
	raw []byte // posted verbatim on every attempt
	// rotateTo is the key tx rotates to: it signs from the acknowledgement on.
	rotateTo *identity
}

// identity is a key and its public half.
type identity struct {
	key ed25519.PrivateKey
	pub dag.PublicKey
}

func newIdentity(key ed25519.PrivateKey) *identity {
	id := &identity{key: key}
	copy(id.pub[:], key[ed25519.SeedSize:])
	return id
}

// NewDevice returns a device that signs with key and talks through c. It
// starts with no chain state: its first Send takes the chain head from the
// node.
func NewDevice(c *Client, key ed25519.PrivateKey) *Device {
	d := &Device{c: c, keyErr: checkKey(key), turn: make(chan struct{}, 1)}
	if d.keyErr == nil {
		d.ident.Store(newIdentity(key))
	} else {
		d.ident.Store(&identity{})
	}
	return d
}

// DeviceOptions configures a Device; the zero value is NewDevice's.
type DeviceOptions struct {
	// NodeWork leaves the proof-of-work to the node: the Device fetches
	// tips, signs and posts with Client.PostNodeWork, and never solves
	// (a microcontroller's way in). The node does the work only within
	// the allowance of the device's policy (its node-work header); a
	// refusal (node_work_refused) leaves the transaction pending, since
	// it is valid once anyone does its work: a gateway may solve
	// Pending() and post it.
	NodeWork bool
}

// NewDeviceWithOptions is NewDevice with options.
func NewDeviceWithOptions(c *Client, key ed25519.PrivateKey, opts DeviceOptions) *Device {
	d := NewDevice(c, key)
	d.nodeWork = opts.NodeWork
	return d
}

// PublicKey is the device's issuer key: the key its next transaction is
// signed with, which changes when a Rotate is acknowledged.
func (d *Device) PublicKey() dag.PublicKey { return d.ident.Load().pub }

// Pending returns the transaction that the node has not acknowledged yet,
// or nil. The next Send posts it again before anything else. It must not
// be modified.
func (d *Device) Pending() *dag.Transaction {
	if p := d.pending.Load(); p != nil {
		return p.tx
	}
	return nil
}

// Send issues a transaction of kind with payload and returns its ID once
// the node has made it durable (attached or parked) or already had it.
//
// A pending transaction from an earlier Send is delivered first. Network
// errors, 429 and 503 (and future_time, which only delays) are retried
// with the same bytes and a backoff that honours Retry-After, until ctx
// ends; the transaction then stays pending. A rejection that every node
// would reach (bad signature, insufficient work, broken chain, ...) drops
// it: it can never enter a ledger, so its sequence number is free for the
// next Send. Other errors keep it pending; a fresh Device (a device that
// lost its state) starts without it.
//
// An acknowledged transaction that turns out to be part of an
// equivocation returns its ID and an error wrapping ErrConflicting; so
// does a Send for an issuer the node already holds in quarantine, before
// signing anything.
//
// A rotation goes through Rotate, which switches the Device to the new
// key; Send refuses KindRotate.
func (d *Device) Send(ctx context.Context, kind dag.Kind, payload []byte) (dag.ID, error) {
	return d.send(ctx, kind, payload, parents{}, nil)
}

// SendWithTrunk is Send with the trunk chosen by the caller rather than
// the node (the branch still comes from the node's tips): for a
// transaction that must have trunk in its past, as an authority's action
// on a device must have the device's newest control transaction.
func (d *Device) SendWithTrunk(ctx context.Context, kind dag.Kind, payload []byte, trunk dag.ID) (dag.ID, error) {
	if trunk.IsZero() {
		return dag.ID{}, errors.New("client: send: zero trunk")
	}
	return d.send(ctx, kind, payload, parents{trunk: trunk}, nil)
}

// Rotate replaces the device's key: it sends a KindRotate transaction
// signed by the current key that names newKey and, when nextHash is not
// nil, commits to the key after it (device.KeyHash of its public key;
// then only that key can be rotated to next). Once the node has the
// rotation the Device signs with newKey, continuing the same chain, and
// PublicKey returns newKey's public half. If it returns without the
// rotation acknowledged, the rotation stays pending (see Send) and the
// switch happens when a later Send delivers it.
//
// Keep newKey stored (SaveKey) before calling Rotate: once the rotation
// is in the ledger only newKey can write for the device.
func (d *Device) Rotate(ctx context.Context, newKey ed25519.PrivateKey, nextHash *[32]byte) (dag.ID, error) {
	if err := checkKey(newKey); err != nil {
		return dag.ID{}, err
	}
	next := newIdentity(newKey)
	return d.send(ctx, dag.KindRotate, dag.RotatePayload(next.pub, nextHash), parents{}, next)
}

// parents are the caller's choice of parents; a zero one is the node's.
type parents struct{ trunk, branch dag.ID }

// send is Send, SendWithTrunk and Rotate.
func (d *Device) send(ctx context.Context, kind dag.Kind, payload []byte, par parents, rotateTo *identity) (dag.ID, error) {
	if d.keyErr != nil {
		return dag.ID{}, d.keyErr
	}
	if !kind.Known() {
		return dag.ID{}, fmt.Errorf("client: send: %w: %d", dag.ErrKind, kind)
	}
	if kind == dag.KindRotate && rotateTo == nil {
		return dag.ID{}, errors.New("client: send: a rotation goes through Rotate, which switches the Device to the new key")
	}
	select {
	case d.turn <- struct{}{}:
	case <-ctx.Done():
		return dag.ID{}, fmt.Errorf("client: send: %w", context.Cause(ctx))
	}
	defer func() { <-d.turn }()

	if p := d.pending.Load(); p != nil {
		if _, err := d.deliver(ctx, p); err != nil && !errors.Is(err, ErrConflicting) {
			return dag.ID{}, fmt.Errorf("%w (delivering the earlier transaction %s)", err, p.tx.ID())
		}
	}
	tx, err := d.prepare(ctx, kind, payload, par)
	if err != nil {
		return dag.ID{}, err
	}
	p := &pendingTx{tx: tx, raw: tx.Bytes(), rotateTo: rotateTo}
	d.pending.Store(p)
	return d.deliver(ctx, p)
}

// Prepare builds, signs and solves the device's next transaction without
// posting it, for delivery by other means (a file handed to curl, a
// gateway without the key); with DeviceOptions.NodeWork it is left
// unsolved, for Client.PostNodeWork. The Device's chain does not advance: post the
// result before preparing or sending another, or the two share a sequence
// number, which is what a cloned key looks like.
func (d *Device) Prepare(ctx context.Context, kind dag.Kind, payload []byte) (*dag.Transaction, error) {
	if d.keyErr != nil {
		return nil, d.keyErr
	}
	if !kind.Known() {
		return nil, fmt.Errorf("client: prepare: %w: %d", dag.ErrKind, kind)
	}
	select {
	case d.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("client: prepare: %w", context.Cause(ctx))
	}
	defer func() { <-d.turn }()
	return d.prepare(ctx, kind, payload, parents{})
}

// prepare is Prepare with the turn held; non-zero parents replace the
// node's.
func (d *Device) prepare(ctx context.Context, kind dag.Kind, payload []byte, par parents) (*dag.Transaction, error) {
	if d.rules == nil {
		info, err := retry(ctx, d.c, func() (*Info, error) { return d.c.Info(ctx) })
		if err != nil {
			return nil, err
		}
		d.rules, d.maxPayload = &info.Network.Difficulty, info.Network.MaxPayload
	}
	if d.maxPayload > 0 && len(payload) > d.maxPayload {
		return nil, fmt.Errorf("client: send: %w: %d bytes, the network allows %d", dag.ErrPayloadTooLarge, len(payload), d.maxPayload)
	}
	ident := d.ident.Load()
	tips, err := retry(ctx, d.c, func() (*Tips, error) { return d.c.Tips(ctx, &ident.pub, len(payload)) })
	if err != nil {
		return nil, err
	}
	if !par.trunk.IsZero() {
		tips.Trunk = par.trunk
	}
	if !par.branch.IsZero() {
		tips.Branch = par.branch
	}
	tx, bits, err := d.build(kind, payload, tips)
	if err != nil {
		return nil, err
	}
	tx.Sign(ident.key)
	if d.nodeWork {
		return tx, nil
	}
	// Until it is posted nobody has seen tx, so a cancelled solve simply
	// forgets it.
	if err := d.c.Solve(ctx, tx, bits); err != nil {
		return nil, err
	}
	return tx, nil
}

// build fills in the next transaction from the node's tips and the
// device's own chain state, and returns the bits its work must meet.
func (d *Device) build(kind dag.Kind, payload []byte, tips *Tips) (*dag.Transaction, int, error) {
	if tips.Issuer == nil {
		// Guessing sequence 0 could equivocate a device with history.
		return nil, 0, errors.New("client: send: the node did not report the issuer's chain head")
	}
	if tips.Issuer.Conflicting {
		return nil, 0, fmt.Errorf("client: send: issuer %s is quarantined: %w", d.PublicKey(), ErrConflicting)
	}
	ch := &d.chain
	seq, prev := tips.Issuer.NextSeq, tips.Issuer.Prev
	if ch.known && seq <= ch.next {
		// The node has not seen all of our chain yet (a lagging node
		// behind a load balancer, or our last one is still parked):
		// our own head is the truth, and the node parks the new
		// transaction until its predecessor arrives.
		seq, prev = ch.next, ch.prev
	} else if ch.known {
		// The node knows a longer chain than we do: this Device's state
		// is stale (another process with this key?). Follow the node.
		ch.known, ch.recent, ch.last = false, nil, 0
	}
	at := d.c.opts.Now().UnixNano()
	if ch.known && at < ch.last {
		// Issuing times may not run backwards along a chain; a clock
		// step back must not break it.
		at = ch.last
	}

	bits := tips.Difficulty
	if d.rules != nil {
		// The node counts our rate from the chain it has; when it lags,
		// it undercounts, and a transaction that parks and then fails
		// the work check at attach is lost silently. Our own count
		// covers that case.
		recent := 0
		if ch.known && !kind.Spec().RateExempt {
			since := at - int64(d.rules.RateWindow)
			for _, t := range ch.recent {
				if t > since {
					recent++
				}
			}
		}
		bits = max(bits, d.rules.Required(len(payload), recent))
	}
	return &dag.Transaction{
		Kind: kind, Trunk: tips.Trunk, Branch: tips.Branch,
		Seq: seq, Prev: prev, Time: at,
		// A copy: the caller may reuse its buffer while the transaction
		// waits in pending.
		Payload: bytes.Clone(payload),
	}, bits, nil
}

// deliver posts p until the node answers or the error is final (see Send).
func (d *Device) deliver(ctx context.Context, p *pendingTx) (dag.ID, error) {
	id := p.tx.ID()
	bo := d.c.newBackoff()
	for {
		res, err := d.c.postWork(ctx, p.raw, id.String(), d.nodeWork)
		if err == nil && res.ID != id {
			err = fmt.Errorf("client: node acknowledged %s for transaction %s", res.ID, id)
		}
		if err == nil {
			d.acknowledged(p.tx)
			if p.rotateTo != nil {
				// The chain goes on under the new key.
				d.ident.Store(p.rotateTo)
			}
			if res.Conflicting {
				return id, fmt.Errorf("client: transaction %s: %w", id, ErrConflicting)
			}
			return id, nil
		}
		switch {
		case ctx.Err() != nil:
			return dag.ID{}, err
		case verdict(err):
			d.pending.Store(nil)
			return dag.ID{}, err
		case IsRetryable(err) || isCode(err, "future_time"):
			if serr := sleep(ctx, bo.next(retryAfter(err))); serr != nil {
				return dag.ID{}, fmt.Errorf("client: transaction %s not acknowledged: %w (last error: %v)", id, serr, err)
			}
		default:
			return dag.ID{}, err
		}
	}
}

// acknowledged advances the chain past tx.
func (d *Device) acknowledged(tx *dag.Transaction) {
	ch := &d.chain
	if !ch.known || tx.Seq >= ch.next {
		ch.known, ch.next, ch.prev, ch.last = true, tx.Seq+1, tx.ID(), tx.Time
		if d.rules != nil {
			// Only what can still change a difficulty is kept.
			since := tx.Time - int64(d.rules.RateWindow)
			kept := ch.recent[:0]
			for _, t := range ch.recent {
				if t > since {
					kept = append(kept, t)
				}
			}
			if n := d.rules.MaxCounted(); len(kept) >= n && n > 0 {
				kept = kept[len(kept)-n+1:]
			}
			ch.recent = append(kept, tx.Time)
		}
	}
	d.pending.Store(nil)
}

func isCode(err error, code string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == code
}

// retry calls f until it succeeds, fails for good, or ctx ends. It is for
// reads, which carry no state to protect.
func retry[T any](ctx context.Context, c *Client, f func() (T, error)) (T, error) {
	bo := c.newBackoff()
	for {
		v, err := f()
		if err == nil || ctx.Err() != nil || !IsRetryable(err) {
			return v, err
		}
		if serr := sleep(ctx, bo.next(retryAfter(err))); serr != nil {
			return v, fmt.Errorf("client: %w (last error: %v)", serr, err)
		}
	}
}
