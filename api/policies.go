package api

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// policiesBody is the contract's Policies.
type policiesBody struct {
	Policies []device.PolicyInfo `json:"policies"`
}

func (s *Server) policies(w http.ResponseWriter, r *http.Request) {
	q, err := parsePolicyQuery(r.URL.Query())
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	body := policiesBody{Policies: []device.PolicyInfo{}}
	if devs := s.backend.Devices(); devs != nil {
		body.Policies = devs.Policies(q)
	}
	writeJSON(w, http.StatusOK, body)
}

// parsePolicyQuery reads scope, class, device and in_force. A class or
// device filter names its scope, so a scope that contradicts it is
// malformed rather than an empty answer that looks like "no policies".
func parsePolicyQuery(q url.Values) (device.PolicyQuery, error) {
	var pq device.PolicyQuery
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{dag.ErrMalformed}, args...)...)
	}
	if v, ok := q["scope"]; ok {
		found := false
		for _, sc := range []device.Scope{device.ScopeNetwork, device.ScopeClass, device.ScopeDevice} {
			if v[0] == sc.String() {
				pq.Scope, found = &sc, true
			}
		}
		if !found {
			return pq, malformed("scope %q must be network, class or device", v[0])
		}
	}
	if v, ok := q["class"]; ok {
		if !dag.ValidClass(v[0]) {
			return pq, malformed("class %q must be 1 to 64 of a-z 0-9 . _ -", v[0])
		}
		if pq.Scope != nil && *pq.Scope != device.ScopeClass {
			return pq, malformed("class with scope %s; a class filter selects class policies", *pq.Scope)
		}
		pq.Class = v[0]
	}
	if v, ok := q["device"]; ok {
		id, err := dag.ParseID(v[0])
		if err != nil {
			return pq, fmt.Errorf("device: %w", err)
		}
		if pq.Scope != nil && *pq.Scope != device.ScopeDevice {
			return pq, malformed("device with scope %s; a device filter selects device policies", *pq.Scope)
		}
		if pq.Class != "" {
			return pq, malformed("class and device together; a policy has one scope")
		}
		pq.Device = &id
	}
	if v, ok := q["in_force"]; ok {
		switch v[0] {
		case "true":
			pq.InForce = true
		case "false":
		default:
			return pq, malformed("in_force %q must be true or false", v[0])
		}
	}
	return pq, nil
}

// judgedBy lists the policies that judged an attached transaction of the
// device: those in force in its past. Empty for one this node no longer
// holds attached (it cannot be, but the listing must not fail for it).
func (s *Server) judgedBy(devs Devices, deviceID, tx dag.ID) []device.PolicyRef {
	horizon, ok := s.ledger.HorizonOf(tx)
	if !ok {
		return []device.PolicyRef{}
	}
	refs := devs.JudgedBy(deviceID, horizon)
	if refs == nil {
		refs = []device.PolicyRef{}
	}
	return refs
}
