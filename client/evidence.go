package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/merkle"
)

// ErrNoGenesis: evidence is verified against a genesis the caller holds;
// the node's word for it would make the check circular.
var ErrNoGenesis = errors.New("client: evidence needs the network's genesis to verify against")

// VerifyEvidence checks a bundle (as served, byte for byte) against the
// genesis alone, with no network, and returns what it proves.
func VerifyEvidence(g *dag.Genesis, bundle []byte) (*evidence.Proven, error) {
	if g == nil {
		return nil, ErrNoGenesis
	}
	return evidence.Verify(g, bundle)
}

// rawBundle fetches a bundle's exact bytes.
func (c *Client) rawBundle(ctx context.Context, path string) ([]byte, error) {
	var raw json.RawMessage
	if err := c.call(ctx, request{method: http.MethodGet, path: path}, &raw); err != nil {
		return nil, err
	}
	return append([]byte(raw), '\n'), nil
}

// TransactionEvidence fetches the evidence bundle of a transaction and
// verifies it against g: the bundle must prove this transaction. While no
// final checkpoint covers it the error is an *APIError with code
// evidence_pending (WaitEvidence waits it out).
func (c *Client) TransactionEvidence(ctx context.Context, g *dag.Genesis, id dag.ID) ([]byte, *evidence.Proven, error) {
	if g == nil {
		return nil, nil, ErrNoGenesis
	}
	raw, err := c.rawBundle(ctx, "/v1/transactions/"+id.String()+"/evidence")
	if err != nil {
		return nil, nil, err
	}
	p, err := evidence.Verify(g, raw)
	if err != nil {
		return raw, nil, err
	}
	if p.Kind != evidence.KindTransaction || len(p.Entries) != 1 || p.Entries[0].ID != id {
		return raw, nil, fmt.Errorf("%w: the node answered with evidence of something else than %s", evidence.ErrBundle, id)
	}
	return raw, p, nil
}

// DeviceEvidence fetches and verifies the evidence bundle of a device (its
// ID or one of its keys, in hex).
func (c *Client) DeviceEvidence(ctx context.Context, g *dag.Genesis, idOrKey string) ([]byte, *evidence.Proven, error) {
	if g == nil {
		return nil, nil, ErrNoGenesis
	}
	raw, err := c.rawBundle(ctx, "/v1/devices/"+url.PathEscape(idOrKey)+"/evidence")
	if err != nil {
		return nil, nil, err
	}
	p, err := evidence.Verify(g, raw)
	if err != nil {
		return raw, nil, err
	}
	if p.Kind != evidence.KindDevice || p.Device == nil {
		return raw, nil, fmt.Errorf("%w: the node answered with evidence of something else than device %s", evidence.ErrBundle, idOrKey)
	}
	return raw, p, nil
}

// WaitEvidence is TransactionEvidence that waits, with backoff, while the
// node answers evidence_pending (about a second after confirmation).
func (c *Client) WaitEvidence(ctx context.Context, g *dag.Genesis, id dag.ID) ([]byte, *evidence.Proven, error) {
	b := c.newBackoff()
	for {
		raw, p, err := c.TransactionEvidence(ctx, g, id)
		var apiErr *APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.Code != "evidence_pending" {
			return raw, p, err
		}
		if err := sleep(ctx, b.next(apiErr.RetryAfter)); err != nil {
			return nil, nil, err
		}
	}
}

// LogCheckpoint is GET /v1/log/checkpoint.
type LogCheckpoint struct {
	Origin     string        `json:"origin"`
	Orderer    dag.PublicKey `json:"orderer"`
	LogSize    uint64        `json:"log_size"`
	Checkpoint *struct {
		Size    uint64          `json:"size"`
		Root    string          `json:"root"`
		Signers []dag.PublicKey `json:"signers"`
		Weight  uint64          `json:"weight"`
		Note    string          `json:"note"`
	} `json:"checkpoint,omitempty"`
}

// LogCheckpoint returns the audit log's state and newest final checkpoint
// as the node reports them. Verify the note with evidence.OpenCheckpoint
// before relying on it.
func (c *Client) LogCheckpoint(ctx context.Context) (*LogCheckpoint, error) {
	var out LogCheckpoint
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/log/checkpoint"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckConsistency fetches a consistency proof between two checkpoints
// the caller already holds (verified, e.g. with evidence.OpenCheckpoint)
// and checks it against their roots: the log of the newer one extends the
// older one, so nothing logged was changed or dropped in between.
func (c *Client) CheckConsistency(ctx context.Context, older, newer evidence.Checkpoint) error {
	q := url.Values{"from": {strconv.FormatUint(older.Size, 10)}, "to": {strconv.FormatUint(newer.Size, 10)}}
	var out struct {
		Proof []string `json:"proof"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/log/consistency", query: q}, &out); err != nil {
		return err
	}
	proof := make([]merkle.Hash, len(out.Proof))
	for i, s := range out.Proof {
		h, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(h) != len(merkle.Hash{}) {
			return fmt.Errorf("client: consistency proof hash %d is not 32 bytes of base64", i)
		}
		copy(proof[i][:], h)
	}
	if err := merkle.VerifyConsistency(older.Size, newer.Size, older.Root, newer.Root, proof); err != nil {
		return fmt.Errorf("client: the log of checkpoint %d does not extend that of %d: %w", newer.Size, older.Size, err)
	}
	return nil
}
