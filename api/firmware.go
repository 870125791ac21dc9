package api

import (
	"fmt"
	"net/http"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// firmwareBody is the contract's Firmware: a class's releases and rollout
// as of this node's newest confirmed transaction.
type firmwareBody struct {
	device.FirmwareStatus
	// AsOf is the confirmed transaction whose past decided which release
	// is active (the genesis root before anything is confirmed), and
	// AsOfTime its issuing time: every node that confirmed it answers
	// the same active release.
	AsOf     dag.ID `json:"as_of"`
	AsOfTime string `json:"as_of_time"`
	// Freshness is the proof for the anchor the device asked with.
	Freshness *device.FreshnessProof `json:"freshness,omitempty"`
}

func (s *Server) firmware(w http.ResponseWriter, r *http.Request) {
	class := r.PathValue("class")
	if !dag.ValidClass(class) {
		writeError(w, errorOf(fmt.Errorf("%w: class %q must be 1 to 64 of a-z 0-9 . _ -", dag.ErrMalformed, class)))
		return
	}
	var anchor *dag.ID
	if a := r.URL.Query().Get("anchor"); a != "" {
		id, err := dag.ParseID(a)
		if err != nil {
			writeError(w, newError(codeMalformed, fmt.Sprintf("api: anchor %q: %v", a, err)))
			return
		}
		anchor = &id
	}
	point, at := s.ledger.ConfirmedFrontier()
	body := firmwareBody{
		FirmwareStatus: device.FirmwareStatus{Class: class, Releases: []device.ReleaseInfo{}, Installed: map[uint64]int{}, Failed: map[uint64]int{}},
		AsOf:           point, AsOfTime: dag.FormatTime(at),
	}
	if devs := s.backend.Devices(); devs != nil {
		horizon, ok := s.ledger.HorizonOf(point)
		if !ok {
			horizon = []uint64{} // the root: nothing is in its past
		}
		if ch, ok := s.backend.(confirmedHorizoner); ok {
			// Everything confirmed, not only the newest confirmed
			// transaction's past (which can miss a concurrent branch).
			var newest int64
			horizon, newest = ch.ConfirmedHorizon()
			// Ledger time: the newest issuing time confirmed, which the
			// newest transaction of the confirmed order need not carry.
			body.AsOfTime = dag.FormatTime(max(at, newest))
		}
		body.FirmwareStatus = devs.Firmware(class, horizon)
	}
	if anchor != nil {
		fp, ok := s.backend.(FreshnessProver)
		if !ok {
			writeError(w, newError(codeNotFound, "api: this node builds no freshness proofs"))
			return
		}
		proof, err := fp.FreshnessProof(class, *anchor)
		if err != nil {
			writeError(w, imageErrorOf(err))
			return
		}
		body.Freshness = proof
	}
	writeJSON(w, http.StatusOK, body)
}

// confirmedHorizoner is a backend that tracks the past of everything it
// confirmed (the node does); activity is then judged against it.
type confirmedHorizoner interface {
	ConfirmedHorizon() (horizon []uint64, newestTime int64)
}

// FreshnessProver builds freshness proofs (the node does): validator
// beacons of a quorum that saw the anchor, committing to the active
// releases (device.VerifyFreshness checks one).
type FreshnessProver interface {
	FreshnessProof(class string, anchor dag.ID) (*device.FreshnessProof, error)
}
