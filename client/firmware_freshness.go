package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// Freshness is how FetchFirmware proves the status is current without a
// clock: the device posts a transaction of its own (the anchor, with a
// random nonce), waits for it to be confirmed, and asks for the status
// with a proof that validators of a quorum saw the anchor and committed
// to the active releases (device.VerifyFreshness). A node that replays an
// old status (a freeze) cannot produce beacons that saw a transaction
// made after it.
type Freshness struct {
	// Key is the device's key; the anchor goes in its chain.
	Key ed25519.PrivateKey
	// Genesis is the network's root of trust, as provisioned in the
	// device (validators, weights, threshold, authorities). Nil takes it
	// from the node (GET /v1/info and /v1/authorities): that trusts the
	// node for the validator set and proves freshness only against a node
	// that lies about the status, not about the network.
	Genesis *dag.Genesis
}

// freshStatus posts the anchor, waits for its confirmation and for a
// proof, and verifies it.
func (c *Client) freshStatus(ctx context.Context, class string, f *Freshness) (*Firmware, *device.FreshState, error) {
	g := f.Genesis
	if g == nil {
		var err error
		if g, err = c.genesisFromNode(ctx); err != nil {
			return nil, nil, err
		}
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	anchor, err := NewDevice(c, f.Key).Send(ctx, dag.KindData, []byte("firmware freshness "+hex.EncodeToString(nonce[:])))
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.WaitConfirmed(ctx, anchor); err != nil {
		return nil, nil, err
	}
	bo := c.newBackoff()
	for {
		var fw Firmware
		err := c.call(ctx, request{method: http.MethodGet, path: "/v1/firmware/" + url.PathEscape(class), query: url.Values{"anchor": {anchor.String()}}}, &fw)
		if err == nil {
			st, verr := device.VerifyFreshness(g, class, anchor, fw.Freshness)
			if verr != nil {
				return nil, nil, firmwareError(CodeNotFresh, "%v", verr)
			}
			return &fw, st, nil
		}
		// A node whose validators' newest beacons have not seen the
		// anchor yet answers not_found for a moment.
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "not_found" && !IsRetryable(err) {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, firmwareError(CodeNotFresh, "no proof for anchor %s: %v", anchor.Short(), err)
		case <-time.After(bo.next(0)):
		}
	}
}

// genesisFromNode is the root of trust as the node reports it.
func (c *Client) genesisFromNode(ctx context.Context) (*dag.Genesis, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	auths, err := c.Authorities(ctx)
	if err != nil {
		return nil, err
	}
	g := &dag.Genesis{Validators: info.Network.Validators, Threshold: info.Network.ConfirmationThreshold, MaxPayload: info.Network.MaxPayload}
	for _, a := range auths.Authorities {
		g.Authorities = append(g.Authorities, dag.Authority{Name: a.Name, PublicKey: a.PublicKey, Classes: a.Classes})
	}
	return g, nil
}

// matchesProof checks the status's release against what the proof
// verified for its line.
func matchesProof(rel *device.ReleaseInfo, st *device.FreshState, component string) error {
	v, ok := st.Active[component]
	switch {
	case rel == nil && !ok:
		return nil
	case rel == nil || !ok:
		return firmwareError(CodeNotFresh, "the status and the proof disagree on whether %s has an active release", component)
	}
	m := v.Manifest
	if v.ID != rel.ID || [32]byte(rel.Digest) != m.Digest || rel.Size != m.Size || rel.Seq != m.Seq ||
		rel.Requires != m.Requires || rel.Expires != m.Expires || (rel.Precursor == nil) != (m.Precursor == nil) ||
		rel.Precursor != nil && [32]byte(*rel.Precursor) != *m.Precursor {
		return firmwareError(CodeNotFresh, "the status's release %s is not the one the proof commits to (%s)", rel.ID.Short(), v.ID.Short())
	}
	return nil
}
