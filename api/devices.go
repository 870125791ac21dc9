package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// The page size of GET /v1/devices/{id}/transactions.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
)

// deviceTransaction is the contract's DeviceTransaction: one transaction
// of a device's chain, in short (GET /v1/transactions/{id} has the rest).
type deviceTransaction struct {
	ID     dag.ID        `json:"id"`
	Seq    uint64        `json:"seq"`
	Kind   dag.Kind      `json:"kind"`
	Time   string        `json:"time"`
	Issuer dag.PublicKey `json:"issuer"`
	Status string        `json:"status"`
	// ConfirmedIndex is set once confirmed, also when it is conflicting
	// since (as in TransactionStatus).
	ConfirmedIndex uint64 `json:"confirmed_index,omitempty"`
	// Policies are the ones that judged it (in force in its past), widest
	// scope first.
	Policies []device.PolicyRef `json:"policies"`
}

// deviceHistory is the contract's DeviceTransactions.
type deviceHistory struct {
	Device       dag.ID              `json:"device"`
	Transactions []deviceTransaction `json:"transactions"`
	// NextCursor is the cursor of the next page; absent on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// authoritiesBody is the contract's Authorities.
type authoritiesBody struct {
	Permissioned bool                   `json:"permissioned"`
	Authorities  []device.AuthorityInfo `json:"authorities"`
}

func (s *Server) authorities(w http.ResponseWriter, _ *http.Request) {
	body := authoritiesBody{Authorities: []device.AuthorityInfo{}}
	if devs := s.backend.Devices(); devs != nil {
		body.Permissioned = devs.Permissioned()
		body.Authorities = devs.Authorities()
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	ref, err := parseDeviceRef(r)
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	d, _, e := s.findDevice(ref)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) deviceTransactions(w http.ResponseWriter, r *http.Request) {
	ref, err := parseDeviceRef(r)
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	hq, err := parseHistoryQuery(r.URL.Query())
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	d, devs, e := s.findDevice(ref)
	if e != nil {
		writeError(w, e)
		return
	}
	infos, next, ok := devs.History(d.ID, hq.HistoryQuery, s.ledger)
	if !ok {
		// Found a moment ago; a registry never forgets a device.
		writeError(w, newError(codeNotFound, "api: device "+d.ID.String()+" not found"))
		return
	}
	infos, next = hq.cut(infos, next)
	body := deviceHistory{Device: d.ID, Transactions: make([]deviceTransaction, 0, len(infos))}
	for _, info := range infos {
		item := deviceTransaction{
			ID: info.ID, Seq: info.Seq, Kind: info.Kind, Time: dag.FormatTime(info.Time), Issuer: info.Issuer,
			Status: statusPending, ConfirmedIndex: info.ConfirmedIndex,
			Policies: s.judgedBy(devs, d.ID, info.ID),
		}
		switch {
		case info.Conflicting:
			item.Status = statusConflicting
		case info.Confirmed:
			item.Status = statusConfirmed
		}
		body.Transactions = append(body.Transactions, item)
	}
	if next != 0 {
		body.NextCursor = strconv.FormatUint(next, 10)
	}
	writeJSON(w, http.StatusOK, body)
}

// parseDeviceRef reads {id}: 64 lower-case hex digits, a device ID or a
// key of a device.
func parseDeviceRef(r *http.Request) (dag.ID, error) {
	id, err := dag.ParseID(r.PathValue("id"))
	if err != nil {
		return dag.ID{}, fmt.Errorf("device: %w", err)
	}
	return id, nil
}

// findDevice resolves ref as a device ID first, then as a key the device
// was registered with or rotated to (an ID and a key are never the same
// 32 bytes in practice: one is a hash, the other a curve point).
func (s *Server) findDevice(ref dag.ID) (device.Device, Devices, *apiError) {
	devs := s.backend.Devices()
	if devs == nil {
		return device.Device{}, nil, newError(codeNotFound, "api: this network has no authorities, so no devices")
	}
	if d, ok := devs.Device(ref); ok {
		return d, devs, nil
	}
	if d, ok := devs.DeviceByKey(dag.PublicKey(ref)); ok {
		return d, devs, nil
	}
	return device.Device{}, nil, newError(codeNotFound, "api: no device with ID or key "+ref.String())
}

// historyQuery is the query of GET /v1/devices/{id}/transactions.
type historyQuery struct {
	device.HistoryQuery
	// hasToSeq and hasToTime say a bound was given: HistoryQuery reads a
	// zero bound as none, so a bound of zero itself is applied by cut.
	hasToSeq, hasToTime bool
}

func parseHistoryQuery(q url.Values) (historyQuery, error) {
	hq := historyQuery{HistoryQuery: device.HistoryQuery{Limit: defaultHistoryLimit}}
	if _, ok := q["cursor"]; ok {
		if _, both := q["from_seq"]; both {
			return hq, fmt.Errorf("%w: cursor and from_seq together; the cursor is where the next page starts", dag.ErrMalformed)
		}
	}
	for _, p := range []struct {
		name string
		dst  *uint64
	}{{"from_seq", &hq.FromSeq}, {"cursor", &hq.FromSeq}, {"to_seq", &hq.ToSeq}} {
		if v, ok := q[p.name]; ok {
			n, err := parseSeq(v[0])
			if err != nil {
				return hq, fmt.Errorf("%w: %s %q must be a decimal integer from 0 to %d without sign or leading zeros", dag.ErrMalformed, p.name, v[0], uint64(1<<64-1))
			}
			*p.dst = n
		}
	}
	_, hq.hasToSeq = q["to_seq"]
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"from_time", &hq.FromTime}, {"to_time", &hq.ToTime}} {
		if v, ok := q[p.name]; ok {
			t, err := dag.ParseTime(v[0])
			if err != nil {
				return hq, fmt.Errorf("%s: %w", p.name, err)
			}
			*p.dst = t
		}
	}
	_, hq.hasToTime = q["to_time"]
	if v, ok := q["limit"]; ok {
		n, err := parseCount(v[0])
		if err != nil || n < 1 || n > maxHistoryLimit {
			return hq, fmt.Errorf("%w: limit %q must be a decimal integer from 1 to %d without sign or leading zeros", dag.ErrMalformed, v[0], maxHistoryLimit)
		}
		hq.Limit = n
	}
	return hq, nil
}

// cut applies a to_seq or to_time bound of zero, which History took for no
// bound: only sequence number 0, or only transactions issued at the unix
// epoch.
func (hq historyQuery) cut(infos []dag.Info, next uint64) ([]dag.Info, uint64) {
	zeroSeq := hq.hasToSeq && hq.ToSeq == 0
	zeroTime := hq.hasToTime && hq.ToTime == 0
	if !zeroSeq && !zeroTime {
		return infos, next
	}
	kept := infos[:0]
	for _, info := range infos {
		if zeroSeq && info.Seq > 0 || zeroTime && info.Time > 0 {
			next = 0 // the chain is in order: nothing after this is in range
			continue
		}
		kept = append(kept, info)
	}
	if zeroSeq {
		next = 0
	}
	return kept, next
}

// parseSeq reads a u64 in its one spelling: no sign, no leading zeros.
func parseSeq(v string) (uint64, error) {
	if v == "" || len(v) > 1 && v[0] == '0' {
		return 0, errors.New("not a sequence number")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, errors.New("not a sequence number")
		}
	}
	return strconv.ParseUint(v, 10, 64)
}
