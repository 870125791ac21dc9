package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// Firmware is a device class's firmware as GET /v1/firmware/{class}
// reports it: the releases in the past of the node's newest confirmed
// transaction (AsOf), the active one per component, and the rollout.
type Firmware struct {
	device.FirmwareStatus
	AsOf     dag.ID    `json:"as_of"`
	AsOfTime time.Time `json:"as_of_time"`
	// Freshness is the proof asked for with an anchor (FetchOptions).
	Freshness *device.FreshnessProof `json:"freshness,omitempty"`
}

// Firmware returns the class's firmware status.
func (c *Client) Firmware(ctx context.Context, class string) (*Firmware, error) {
	if !dag.ValidClass(class) {
		return nil, fmt.Errorf("client: class %q: 1 to 64 of a-z 0-9 . _ -", class)
	}
	var out Firmware
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/firmware/" + url.PathEscape(class)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
