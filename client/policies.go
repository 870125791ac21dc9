package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
)

// The device package's policy types, named here too so that a program
// that sets or lists policies needs this package alone.
type (
	PolicyPayload = device.PolicyPayload
	PolicyInfo    = device.PolicyInfo
	PolicyRef     = device.PolicyRef
	PolicyQuery   = device.PolicyQuery
	Scope         = device.Scope
)

// The policy scopes.
const (
	ScopeNetwork = device.ScopeNetwork
	ScopeClass   = device.ScopeClass
	ScopeDevice  = device.ScopeDevice
)

// ParseScope reads a scope's name as the API writes it: network, class or
// device.
func ParseScope(name string) (Scope, error) {
	var s Scope
	if err := s.UnmarshalText([]byte(name)); err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	return s, nil
}

// SetPolicy attaches a policy to the network, a class or one device (a
// KindPolicy transaction) and returns the transaction's ID. The source is
// checked (policy.Source.Validate, then compiled with the default limits)
// before anything is signed, so a typo costs no sequence number; the node
// compiles it again with the network's own cost limit.
//
// The version must be above the one in force at the scope in the
// transaction's past (policy_outdated otherwise), so the policy it
// replaces is put in that past: the trunk is the policy in force at the
// scope as the node lists it (GET /v1/policies; a node without that
// endpoint leaves the parents to its tips). A device policy must also have
// the device's registration and newest lifecycle action in its past,
// since only the device's owner as of that past may set it: its trunk is
// that transaction, as for Suspend, and its branch the device policy in
// force, if any.
func (a *Authority) SetPolicy(ctx context.Context, p PolicyPayload) (dag.ID, error) {
	if p.Source == nil {
		return dag.ID{}, fmt.Errorf("client: set policy: no source")
	}
	if err := p.Source.Validate(); err != nil {
		return dag.ID{}, fmt.Errorf("client: set policy: %w", err)
	}
	// Default limits: a policy over them may still fit a network whose
	// genesis raises policy_cost_limit, so only the CEL errors are
	// final here.
	if _, err := policy.Compile(p.Source, policy.Limits{}); err != nil && !policy.IsCode(err, device.CodePolicyTooCostly) {
		return dag.ID{}, fmt.Errorf("client: set policy: %w", err)
	}
	var par parents
	switch p.Scope {
	case ScopeNetwork, ScopeClass:
		if p.Scope == ScopeNetwork {
			p.Class = ""
		} else if !dag.ValidClass(p.Class) {
			return dag.ID{}, fmt.Errorf("client: set policy: class %q (1 to 64 of a-z 0-9 . _ -)", p.Class)
		}
		p.Device = dag.ID{}
		scope := p.Scope
		cur, err := retry(ctx, a.c, func() ([]PolicyInfo, error) {
			return a.c.Policies(ctx, PolicyQuery{Scope: &scope, Class: p.Class, InForce: true})
		})
		switch {
		case err == nil && len(cur) > 0:
			par.trunk = cur[len(cur)-1].Transaction
		case err != nil && !isCode(err, "not_found"):
			return dag.ID{}, fmt.Errorf("%w (looking up the %s policy in force)", err, scope)
		}
	case ScopeDevice:
		d, err := retry(ctx, a.c, func() (*device.Device, error) { return a.c.Device(ctx, p.Device.String()) })
		if err != nil {
			return dag.ID{}, fmt.Errorf("%w (looking up device %s to set its policy)", err, p.Device.Short())
		}
		p.Device, p.Class = d.ID, ""
		par.trunk = newestControl(d)
		for _, ref := range d.Policies {
			if ref.Scope == ScopeDevice {
				par.branch = ref.Transaction
			}
		}
	default:
		return dag.ID{}, fmt.Errorf("client: set policy: unknown scope %d", p.Scope)
	}
	return a.dev.send(ctx, dag.KindPolicy, p.Encode(), par, nil)
}

// Command sends a command to the device target (a KindCommand
// transaction in this device's chain). The target's policies judge it,
// reading tx.target == device.id; a refusal is policy_denied and final for
// that transaction, like any device-layer verdict.
func (d *Device) Command(ctx context.Context, target dag.ID, body []byte) (dag.ID, error) {
	return d.Send(ctx, dag.KindCommand, device.CommandPayload(target, body))
}

// Command sends a command to the device target from the authority's own
// chain, as a device's owner does (see Device.Command).
func (a *Authority) Command(ctx context.Context, target dag.ID, body []byte) (dag.ID, error) {
	return a.dev.Command(ctx, target, body)
}

func policyQueryValues(q PolicyQuery) url.Values {
	v := url.Values{}
	if q.Scope != nil {
		v.Set("scope", q.Scope.String())
	}
	if q.Class != "" {
		v.Set("class", q.Class)
	}
	if q.Device != nil {
		v.Set("device", q.Device.String())
	}
	if q.InForce {
		v.Set("in_force", "true")
	}
	return v
}

// Policies lists the policies installed on the node that q selects:
// network, then classes by name, then devices by ID, each scope's
// versions in order. With q.InForce, only the newest at each scope (what
// a transaction that sees everything the node holds is judged by).
func (c *Client) Policies(ctx context.Context, q PolicyQuery) ([]PolicyInfo, error) {
	var out struct {
		Policies []PolicyInfo `json:"policies"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/policies", query: policyQueryValues(q)}, &out); err != nil {
		return nil, err
	}
	return out.Policies, nil
}

// DecodeDevice reads a device as GET /v1/devices/{id} writes it.
func DecodeDevice(data []byte) (*device.Device, error) {
	var d device.Device
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("client: device: %w", err)
	}
	return &d, nil
}
