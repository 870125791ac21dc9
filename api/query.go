package api

import (
	"errors"
	"fmt"
	"math/bits"
	"net/http"

	"github.com/tangled-ledger/tangled/dag"
)

// infoBody is the contract's Info.
type infoBody struct {
	Version string      `json:"version"`
	Node    nodeInfo    `json:"node"`
	Network networkInfo `json:"network"`
	Counts  countsInfo  `json:"counts"`
	// NodeWork is the work this node did on devices' behalf.
	NodeWork nodeWorkInfo `json:"node_work"`
}

type nodeWorkInfo struct {
	Solved  uint64 `json:"solved"`
	Refused uint64 `json:"refused"`
	Limited uint64 `json:"rate_limited"`
	// SolveMillis is the solver's time spent solving: one core's CPU.
	SolveMillis int64 `json:"solve_ms"`
}

type nodeInfo struct {
	PublicKey dag.PublicKey `json:"public_key"`
	Validator bool          `json:"validator"`
}

type networkInfo struct {
	NetworkID  string          `json:"network_id"`
	GenesisID  dag.ID          `json:"genesis_id"`
	Validators []validatorInfo `json:"validators"`
	Threshold  dag.Threshold   `json:"confirmation_threshold"`
	MaxPayload int             `json:"max_payload"`
	// Difficulty is the genesis's pow.Rules, which marshal themselves;
	// the field is untyped because api may import only dag.
	Difficulty any `json:"difficulty"`
}

// validatorInfo always carries a name, empty or not, unlike dag.Validator.
type validatorInfo struct {
	Name      string        `json:"name"`
	PublicKey dag.PublicKey `json:"public_key"`
	Weight    uint64        `json:"weight"`
}

type countsInfo struct {
	Transactions uint64 `json:"transactions"`
	Tips         int    `json:"tips"`
	Confirmed    int    `json:"confirmed"`
	Parked       int    `json:"parked"`
	Conflicting  int    `json:"conflicting"`
	Issuers      int    `json:"issuers"`
	Beacons      int    `json:"beacons"`
}

func (s *Server) info(w http.ResponseWriter, _ *http.Request) {
	id := s.backend.Identity()
	st := s.ledger.Stats()
	var work nodeWorkInfo
	if wk, ok := s.backend.(Worker); ok {
		ws := wk.WorkStats()
		work = nodeWorkInfo{Solved: ws.Solved, Refused: ws.Refused, Limited: ws.Limited, SolveMillis: ws.SolveTime.Milliseconds()}
	}
	writeJSON(w, http.StatusOK, infoBody{
		Version: id.Version,
		Node:    nodeInfo{PublicKey: id.PublicKey, Validator: id.Validator},
		Network: s.network,
		Counts: countsInfo{
			Transactions: st.Transactions, Tips: st.Tips, Confirmed: st.Confirmed,
			Parked: st.Parked, Conflicting: st.Conflicting, Issuers: st.Issuers,
			Beacons: st.Beacons,
		},
		NodeWork: work,
	})
}

// tipsBody is the contract's Tips.
type tipsBody struct {
	Trunk      dag.ID      `json:"trunk"`
	Branch     dag.ID      `json:"branch"`
	Difficulty int         `json:"difficulty"`
	Issuer     *issuerBody `json:"issuer,omitempty"`
	Time       string      `json:"time"`
}

type issuerBody struct {
	NextSeq     uint64 `json:"next_seq"`
	Prev        dag.ID `json:"prev"`
	Recent      int    `json:"recent"`
	Conflicting bool   `json:"conflicting"`
}

func (s *Server) tips(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	payloadSize := 0
	if v, ok := q["payload_size"]; ok {
		n, err := parseCount(v[0])
		if err != nil {
			writeError(w, newError(codeMalformed, fmt.Sprintf("api: payload_size %q must be a decimal integer from 0 to %d without sign or leading zeros", v[0], s.genesis.MaxPayload)))
			return
		}
		if n > s.genesis.MaxPayload {
			writeError(w, errorOf(fmt.Errorf("%w: payload_size %d, maximum %d", dag.ErrPayloadTooLarge, n, s.genesis.MaxPayload)))
			return
		}
		payloadSize = n
	}
	now := s.now()
	body := tipsBody{Time: dag.FormatTime(now.UnixNano())}
	recent := 0
	var issuer *dag.PublicKey
	if v, ok := q["issuer"]; ok {
		var pk dag.PublicKey
		if err := pk.UnmarshalText([]byte(v[0])); err != nil {
			writeError(w, errorOf(fmt.Errorf("issuer: %w", err)))
			return
		}
		issuer = &pk
		st, _ := s.ledger.IssuerState(pk, now.UnixNano())
		recent = st.Recent
		body.Issuer = &issuerBody{NextSeq: st.NextSeq, Prev: st.Prev, Recent: st.Recent, Conflicting: st.Conflicting}
	}
	if issuer != nil {
		// Under the issuer's own rate rule: a device policy's free rate
		// and growth replace the genesis ones.
		body.Difficulty = s.ledger.RequiredFor(*issuer, dag.KindData, payloadSize, recent)
	} else {
		body.Difficulty = s.ledger.Required(dag.KindData, payloadSize, recent)
	}
	var trunk, branch dag.ID
	var err error
	if issuer != nil {
		// A device's transaction must see its newest control transaction
		// (a resume, say) to be judged by its current state.
		trunk, branch, err = s.backend.SelectTipsFor(r.Context(), *issuer)
	} else {
		trunk, branch, err = s.backend.SelectTips(r.Context())
	}
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	body.Trunk, body.Branch = trunk, branch
	writeJSON(w, http.StatusOK, body)
}

// transactionStatus is the contract's TransactionStatus.
type transactionStatus struct {
	Transaction    *dag.Transaction `json:"transaction"`
	Status         string           `json:"status"`
	Reasons        []string         `json:"reasons"`
	ApprovalWeight uint64           `json:"approval_weight"`
	TotalWeight    uint64           `json:"total_weight"`
	Approvers      []string         `json:"approvers"`
	ConfirmedIndex uint64           `json:"confirmed_index,omitempty"`
	Arrival        uint64           `json:"arrival"`
}

// The transaction statuses of TransactionStatus.
const (
	statusPending     = "pending"
	statusConfirmed   = "confirmed"
	statusConflicting = "conflicting"
	statusParked      = "parked"
)

// reasonRuledOut explains a pending transaction that dag.Info.RuledOut
// marks: valid, but never approved by honest tip selection, so it may
// never be confirmed.
const reasonRuledOut = "ruled out: its device is revoked, suspended or quarantined in this node's state (or it approves such a transaction); honest tip selection will not approve it"

// maxReasonWalk bounds the walk back along an issuer's chain that finds
// where an inherited equivocation started; a status request must stay
// cheap however long the quarantined chain has grown.
const maxReasonWalk = 64

func (s *Server) transaction(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	if raw == "batch" {
		// The batch endpoint's path also matches this pattern; a GET of it
		// is a wrong method, not a malformed ID.
		s.methodNotAllowed(w, r, http.MethodPost)
		return
	}
	id, err := dag.ParseID(raw)
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	st := transactionStatus{TotalWeight: s.totalWeight, Reasons: []string{}, Approvers: []string{}}
	info, attached := s.ledger.Info(id)
	if !attached && !s.ledger.IsParked(id) {
		writeError(w, s.missing(id, false))
		return
	}
	tx, err := s.ledger.Transaction(id)
	if err != nil {
		// Attached but not yet durable, or parked and then dropped: not
		// something this node vouches for. Or pruned since the Info.
		if errors.Is(err, dag.ErrNotFound) {
			writeError(w, s.missing(id, errors.Is(err, dag.ErrPruned)))
			return
		}
		writeError(w, errorOf(err))
		return
	}
	st.Transaction = tx
	if !attached {
		st.Status = statusParked
		st.Reasons = s.parkedReasons(tx)
		writeJSON(w, http.StatusOK, st)
		return
	}
	st.ApprovalWeight = info.Weight
	st.ConfirmedIndex = info.ConfirmedIndex
	st.Arrival = info.Arrival
	for v := info.Validators; v != 0; v &= v - 1 {
		if i := bits.TrailingZeros64(v); i < len(s.approverNames) {
			st.Approvers = append(st.Approvers, s.approverNames[i])
		}
	}
	// A status never hides a conflict: a twin can be confirmed before the
	// other half of the equivocation arrives, and is conflicting from then
	// on (confirmed_index still says it was confirmed).
	switch {
	case info.Conflicting:
		st.Status = statusConflicting
		if info.Confirmed {
			st.Reasons = append(st.Reasons, fmt.Sprintf("confirmed (index %d of this node's confirmed order) before the equivocation was known", info.ConfirmedIndex))
		}
	case info.Confirmed:
		st.Status = statusConfirmed
	default:
		st.Status = statusPending
		t := s.genesis.Threshold
		st.Reasons = append(st.Reasons, fmt.Sprintf("approval weight %d of %d; confirmation needs more than %d/%d",
			info.Weight, s.totalWeight, t.Numerator, t.Denominator))
		if info.RuledOut {
			st.Reasons = append(st.Reasons, reasonRuledOut)
		}
	}
	if info.Conflicting {
		st.Reasons = append(st.Reasons, s.conflictReason(info))
	}
	writeJSON(w, http.StatusOK, st)
}

// missing is the answer for a transaction this node does not hold: 410
// pruned when it held it, confirmed, and pruned it (the store said so, or
// the backend's PruneReporter does), 404 not_found otherwise.
func (s *Server) missing(id dag.ID, pruned bool) *apiError {
	if pruned || s.pruned(id) {
		return newError(codePruned, "api: transaction "+id.String()+" was confirmed here and then pruned from this node's store; its issuer, or a node that keeps more history, may still have it")
	}
	return newError(codeNotFound, "api: transaction "+id.String()+" not found")
}

// pruned reports whether the backend pruned id.
func (s *Server) pruned(id dag.ID) bool {
	p, ok := s.backend.(PruneReporter)
	return ok && p.Pruned(id)
}

// parkedReasons names the references a parked transaction waits for.
func (s *Server) parkedReasons(tx *dag.Transaction) []string {
	var reasons []string
	seen := map[dag.ID]bool{}
	for _, ref := range []dag.ID{tx.Trunk, tx.Branch, tx.Prev} {
		if ref.IsZero() || seen[ref] {
			continue
		}
		seen[ref] = true
		if _, ok := s.ledger.Info(ref); !ok {
			reasons = append(reasons, "waiting for missing transaction "+ref.String())
		}
	}
	if len(reasons) == 0 {
		// Everything arrived between the two reads; it attaches now.
		reasons = append(reasons, "waiting for missing transactions")
	}
	return reasons
}

// conflictReason says where the equivocation is: at this transaction's own
// sequence number, or at an earlier one of its issuer's chain that it
// extends (the first conflicting transaction walking back the chain).
func (s *Server) conflictReason(info dag.Info) string {
	first := info
	for range maxReasonWalk {
		prev, ok := s.ledger.Info(first.Prev)
		if first.Prev.IsZero() || !ok || !prev.Conflicting {
			if first.ID == info.ID {
				return fmt.Sprintf("equivocation: the issuer signed two transactions with sequence %d", info.Seq)
			}
			return fmt.Sprintf("equivocation: the issuer signed two transactions with sequence %d; this transaction extends one of them", first.Seq)
		}
		first = prev
	}
	return "equivocation: this transaction extends an issuer chain in which two transactions share a sequence number"
}

// parseCount reads a non-negative decimal in its one spelling: no sign, no
// leading zeros, at most nine digits (every count the API takes is far
// smaller).
func parseCount(v string) (int, error) {
	if v == "" || len(v) > 9 || (len(v) > 1 && v[0] == '0') {
		return 0, errors.New("not a count")
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, errors.New("not a count")
		}
		n = 10*n + int(v[i]-'0')
	}
	return n, nil
}
