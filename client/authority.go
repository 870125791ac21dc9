package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// Registration and Attribute are the device package's, named here too so
// that a program that registers devices needs this package alone.
type (
	Registration = device.Registration
	Attribute    = device.Attribute
)

// KeyHash is the commitment a registration or rotation makes to the next
// key (device.KeyHash): pass it as Registration.NextKeyHash or to
// Device.Rotate, and only that key can be rotated to next.
func KeyHash(key dag.PublicKey) [32]byte { return device.KeyHash(key) }

// Authority issues a genesis authority's control transactions: it
// registers devices and suspends, resumes, revokes and transfers the ones
// it owns. Its transactions form the authority key's own chain, issued
// through a Device, so what Device says of retries, pending transactions
// and one Device per key holds for it too. It is safe for concurrent use
// (its transactions are sent one at a time), but two actions on one device
// belong one after the other: the second must see the first.
//
// An action on a device is judged by what is in its past, so each
// lifecycle action or transfer approves the device's newest control
// transaction (its registration, or its latest action or transfer) as
// the node reports it in GET /v1/devices/{id}: act on a device once the
// node shows its registration (or the previous action).
type Authority struct {
	c   *Client
	dev *Device
}

// NewAuthority returns an authority that signs with key (one of the
// genesis authorities' keys) and talks through c.
func NewAuthority(c *Client, key ed25519.PrivateKey) *Authority {
	return &Authority{c: c, dev: NewDevice(c, key)}
}

// PublicKey is the authority's key.
func (a *Authority) PublicKey() dag.PublicKey { return a.dev.PublicKey() }

// Register registers a device and returns the registration's ID, which is
// the device's identity from then on. The attributes are put in their
// canonical order; the registration is checked (device.Registration's
// Validate) before anything is signed.
func (a *Authority) Register(ctx context.Context, reg Registration) (dag.ID, error) {
	reg.Attributes = append([]device.Attribute(nil), reg.Attributes...)
	device.SortAttributes(reg.Attributes)
	if err := reg.Validate(); err != nil {
		return dag.ID{}, fmt.Errorf("client: register: %w", err)
	}
	return a.dev.Send(ctx, dag.KindRegister, reg.Encode())
}

// Suspend stops the device from writing until Resume.
func (a *Authority) Suspend(ctx context.Context, deviceID dag.ID) (dag.ID, error) {
	return a.act(ctx, dag.KindSuspend, deviceID, nil)
}

// Resume lets a suspended device write again.
func (a *Authority) Resume(ctx context.Context, deviceID dag.ID) (dag.ID, error) {
	return a.act(ctx, dag.KindResume, deviceID, nil)
}

// Revoke ends the device for good.
func (a *Authority) Revoke(ctx context.Context, deviceID dag.ID) (dag.ID, error) {
	return a.act(ctx, dag.KindRevoke, deviceID, nil)
}

// Transfer hands the device to the authority with key to, which must be
// allowed the device's class.
func (a *Authority) Transfer(ctx context.Context, deviceID dag.ID, to dag.PublicKey) (dag.ID, error) {
	return a.act(ctx, dag.KindTransfer, deviceID, &to)
}

// act sends a lifecycle action (to nil) or a transfer whose trunk is the
// device's newest control transaction.
// Retire retires the authority's own key (a KindRetire in its chain):
// in every past that holds it the key acts no more and its firmware
// approvals count for nothing. Irreversible: a replacement key needs a
// new genesis.
func (a *Authority) Retire(ctx context.Context) (dag.ID, error) {
	return a.dev.Send(ctx, dag.KindRetire, nil)
}

func (a *Authority) act(ctx context.Context, kind dag.Kind, deviceID dag.ID, to *dag.PublicKey) (dag.ID, error) {
	d, err := retry(ctx, a.c, func() (*device.Device, error) { return a.c.Device(ctx, deviceID.String()) })
	if err != nil {
		return dag.ID{}, fmt.Errorf("%w (looking up device %s to %s it)", err, deviceID.Short(), kind)
	}
	// The ID, not what was asked for: a caller may have passed a key.
	payload := device.LifecyclePayload(d.ID)
	if to != nil {
		payload = device.TransferPayload(d.ID, *to)
	}
	return a.dev.SendWithTrunk(ctx, kind, payload, newestControl(d))
}

// newestControl is what an authority's action on d must have in its past.
func newestControl(d *device.Device) dag.ID {
	if n := len(d.Control); n > 0 {
		return d.Control[n-1].Transaction
	}
	return d.ID
}

// Device returns a device as the node knows it: its state, owner, keys and
// control history. idOrKey is its ID (the registration's) or a public key
// it was registered with or rotated to, in hex. A device the node does not
// know is an *APIError with code not_found.
func (c *Client) Device(ctx context.Context, idOrKey string) (*device.Device, error) {
	ref, err := dag.ParseID(idOrKey)
	if err != nil {
		return nil, fmt.Errorf("client: device %q: %w", idOrKey, err)
	}
	d := &device.Device{}
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/devices/" + ref.String()}, d); err != nil {
		return nil, err
	}
	if d.ID != ref && !hasKey(d, dag.PublicKey(ref)) {
		return nil, fmt.Errorf("client: node answered for device %s, which is neither %s nor has it as a key", d.ID, ref)
	}
	return d, nil
}

func hasKey(d *device.Device, key dag.PublicKey) bool {
	for _, k := range d.Keys {
		if k.Key == key {
			return true
		}
	}
	return false
}

// HistoryQuery selects part of a device's chain; the zero value selects
// all of it (a page at a time, see DeviceHistory).
type HistoryQuery struct {
	// FromSeq and ToSeq bound the sequence numbers, inclusive; nil ToSeq
	// means no upper bound.
	FromSeq uint64
	ToSeq   *uint64
	// FromTime and ToTime bound the issuing times, inclusive; zero means
	// no bound.
	FromTime, ToTime time.Time
	// Limit is the page size: 0 means the node's default (100), at most
	// 1000.
	Limit int
	// Cursor continues a listing where its last page ended
	// (DeviceHistory.NextCursor); it replaces FromSeq.
	Cursor string
}

func (q HistoryQuery) values() (url.Values, error) {
	v := url.Values{}
	switch {
	case q.Cursor != "":
		v.Set("cursor", q.Cursor)
	case q.FromSeq > 0:
		v.Set("from_seq", strconv.FormatUint(q.FromSeq, 10))
	}
	if q.ToSeq != nil {
		v.Set("to_seq", strconv.FormatUint(*q.ToSeq, 10))
	}
	for _, b := range []struct {
		name string
		t    time.Time
	}{{"from_time", q.FromTime}, {"to_time", q.ToTime}} {
		if !b.t.IsZero() {
			if b.t.Before(time.Unix(0, 0)) {
				return nil, fmt.Errorf("client: history: %s %v is before 1970", b.name, b.t)
			}
			v.Set(b.name, dag.FormatTime(b.t.UnixNano()))
		}
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("client: history: negative limit %d", q.Limit)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v, nil
}

// DeviceHistory is one page of GET /v1/devices/{id}/transactions.
type DeviceHistory struct {
	Device       dag.ID              `json:"device"`
	Transactions []DeviceTransaction `json:"transactions"`
	// NextCursor is the next page's HistoryQuery.Cursor; empty on the
	// last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// DeviceTransaction is one transaction of a device's chain, in short
// (Client.Transaction has the rest).
type DeviceTransaction struct {
	ID  dag.ID `json:"id"`
	Seq uint64 `json:"seq"`
	// Kind is the transaction's kind by name ("data", "rotate"); a string,
	// as in Event, so that kinds newer than this client do not break a
	// listing.
	Kind   string        `json:"kind"`
	Time   time.Time     `json:"time"`
	Issuer dag.PublicKey `json:"issuer"`
	// Status is pending, confirmed or conflicting.
	Status State `json:"status"`
	// ConfirmedIndex is set once confirmed.
	ConfirmedIndex uint64 `json:"confirmed_index,omitempty"`
	// Policies are the ones that judged the transaction: those in force
	// in its past, widest scope first.
	Policies []PolicyRef `json:"policies,omitempty"`
}

// DeviceHistory returns one page of a device's chain transactions in
// order of sequence number (where a quarantined device's chain forks,
// both twins). id is the device's ID (or one of its keys). Pass the
// page's NextCursor as the next query's Cursor to read on, or use
// DeviceTransactions.
func (c *Client) DeviceHistory(ctx context.Context, id dag.ID, q HistoryQuery) (*DeviceHistory, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	var h DeviceHistory
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/devices/" + id.String() + "/transactions", query: v}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// DeviceTransactions iterates over a device's chain transactions that q
// selects, page after page (q.Limit is the page size). It stops at the
// first error, which it yields with a zero DeviceTransaction.
func (c *Client) DeviceTransactions(ctx context.Context, id dag.ID, q HistoryQuery) iter.Seq2[DeviceTransaction, error] {
	return func(yield func(DeviceTransaction, error) bool) {
		var device dag.ID
		for first := true; ; first = false {
			page, err := c.DeviceHistory(ctx, id, q)
			if err == nil && !first && page.Device != device {
				err = fmt.Errorf("client: history of %s: a page of device %s", device, page.Device)
			}
			if err != nil {
				yield(DeviceTransaction{}, err)
				return
			}
			device = page.Device
			for _, tx := range page.Transactions {
				if !yield(tx, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			if page.NextCursor == q.Cursor || len(page.Transactions) == 0 {
				yield(DeviceTransaction{}, errors.New("client: history: the node's cursor does not advance"))
				return
			}
			q.Cursor = page.NextCursor
		}
	}
}

// Authorities is GET /v1/authorities.
type Authorities struct {
	// Permissioned: only registered, active devices may write.
	Permissioned bool                   `json:"permissioned"`
	Authorities  []device.AuthorityInfo `json:"authorities"`
}

// Authorities returns the network's genesis authorities, the device
// classes each may register and how many devices each owns now. A network
// without authorities has none, and then no devices.
func (c *Client) Authorities(ctx context.Context) (*Authorities, error) {
	var out Authorities
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/authorities"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
