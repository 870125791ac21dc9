package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/merkle"
)

// Error codes of the evidence endpoints.
const (
	// CodeEvidencePending: the transaction (or the device's registration)
	// is not yet covered by a final checkpoint of the audit log; it will
	// be within a few seconds of its confirmation.
	CodeEvidencePending = "evidence_pending"
	// CodeBeyondLog: a consistency proof asked for a size the log has
	// not reached.
	CodeBeyondLog = "beyond_log"
)

// AuditLog is what the API reads of the audit log; *evidence.Log
// implements it.
type AuditLog interface {
	Origin() string
	Orderer() dag.PublicKey
	Size() uint64
	Latest() (evidence.Final, []byte, bool)
	NewBundle(kind string) (*evidence.Bundle, evidence.Final, error)
	EntryFor(id dag.ID, raw []byte, size uint64) (evidence.Entry, error)
	RootAt(size uint64) (merkle.Hash, error)
	ConsistencyProof(m, n uint64) ([]merkle.Hash, error)
	Misbehaviours() ([]evidence.Misbehaviour, error)
}

var _ AuditLog = (*evidence.Log)(nil)

// Auditor is a backend with an audit log.
type Auditor interface {
	AuditLog() AuditLog
}

func (s *Server) auditLog(w http.ResponseWriter) AuditLog {
	if a, ok := s.backend.(Auditor); ok {
		if l := a.AuditLog(); l != nil {
			return l
		}
	}
	writeError(w, newError(codeNotFound, "api: this node keeps no audit log"))
	return nil
}

func writeBundle(w http.ResponseWriter, b *evidence.Bundle) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Encode())
}

func pending(msg string) *apiError {
	e := newError(CodeEvidencePending, msg)
	e.retry = time.Second
	return e
}

// transactionEvidence serves GET /v1/transactions/{id}/evidence.
func (s *Server) transactionEvidence(w http.ResponseWriter, r *http.Request) {
	id, err := dag.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	log := s.auditLog(w)
	if log == nil {
		return
	}
	if _, ok := s.ledger.Info(id); !ok {
		writeError(w, s.missingEvidence(id, false))
		return
	}
	tx, err := s.ledger.Transaction(id)
	if err != nil {
		writeError(w, s.missingEvidence(id, errors.Is(err, dag.ErrPruned)))
		return
	}
	b, f, err := log.NewBundle(evidence.KindTransaction)
	if err != nil {
		writeError(w, pending("api: no checkpoint of the audit log is final yet"))
		return
	}
	e, err := log.EntryFor(id, tx.Bytes(), f.Size)
	if err != nil {
		if errors.Is(err, evidence.ErrNotLogged) {
			writeError(w, pending(fmt.Sprintf("api: transaction %s is not in the audit log's final checkpoint (size %d) yet: it is logged once confirmed and checkpointed about a second later", id, f.Size)))
			return
		}
		writeError(w, errorOf(err))
		return
	}
	b.Entries = append(b.Entries, e)
	writeBundle(w, b)
}

// missingEvidence is missing for an evidence request: the log still
// proves a pruned transaction's entry, but the bundle carries the
// transaction's bytes, which are gone here.
func (s *Server) missingEvidence(id dag.ID, pruned bool) *apiError {
	if pruned || s.pruned(id) {
		return newError(codePruned, "api: transaction "+id.String()+" was pruned from this node's store after it was logged; its evidence bundle needs the transaction's bytes, so get the transaction from its owner (the issuing device or its operator) or the bundle from a node that keeps more history")
	}
	return newError(codeNotFound, "api: transaction "+id.String()+" not found")
}

// deviceEvidence serves GET /v1/devices/{id}/evidence: the device's
// registration, rotations and control actions that the final checkpoint
// covers, and for a quarantined device the two twins.
func (s *Server) deviceEvidence(w http.ResponseWriter, r *http.Request) {
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
	log := s.auditLog(w)
	if log == nil {
		return
	}
	b, f, err := log.NewBundle(evidence.KindDevice)
	if err != nil {
		writeError(w, pending("api: no checkpoint of the audit log is final yet"))
		return
	}
	b.Device = fmt.Sprintf("%x", d.ID[:])
	ids := []dag.ID{d.ID}
	for _, k := range d.Keys[1:] {
		ids = append(ids, k.Transaction)
	}
	for _, c := range d.Control {
		ids = append(ids, c.Transaction)
	}
	rotations := len(d.Keys) - 1
	skippedKey := false
	for i, id := range ids {
		tx, err := s.ledger.Transaction(id)
		if err != nil {
			writeError(w, errorOf(err))
			return
		}
		entry, err := log.EntryFor(id, tx.Bytes(), f.Size)
		if errors.Is(err, evidence.ErrNotLogged) {
			if i == 0 {
				writeError(w, pending(fmt.Sprintf("api: device %s's registration is not in the audit log's final checkpoint (size %d) yet", d.ID, f.Size)))
				return
			}
			skippedKey = skippedKey || i <= rotations
			continue // newer than the checkpoint: a later bundle has it
		}
		if err != nil {
			writeError(w, errorOf(err))
			return
		}
		b.Entries = append(b.Entries, entry)
	}
	sortEntries(b.Entries)
	// The twins are judged against the keys the bundle proves: while a
	// rotation to the twins' key is not covered yet, a later bundle
	// carries them.
	if q := d.Quarantine; q != nil && len(q.Transactions) == 2 && !skippedKey {
		for _, id := range q.Transactions {
			tx, err := s.ledger.Transaction(id)
			if err != nil {
				writeError(w, errorOf(err))
				return
			}
			b.Equivocation = append(b.Equivocation, base64.StdEncoding.EncodeToString(tx.Bytes()))
		}
	}
	writeBundle(w, b)
}

func sortEntries(es []evidence.Entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].LogIndex < es[j-1].LogIndex; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// checkpointBody is GET /v1/log/checkpoint.
type checkpointBody struct {
	Origin  string        `json:"origin"`
	Orderer dag.PublicKey `json:"orderer"`
	// LogSize is the log's size on this node; Checkpoint the newest
	// final one (absent before the first).
	LogSize    uint64           `json:"log_size"`
	Checkpoint *checkpointFinal `json:"checkpoint,omitempty"`
}

type checkpointFinal struct {
	Size    uint64          `json:"size"`
	Root    string          `json:"root"`
	Signers []dag.PublicKey `json:"signers"`
	Weight  uint64          `json:"weight"`
	// Note is the signed note (C2SP tlog-checkpoint text and one
	// signature line per validator).
	Note string `json:"note"`
}

func (s *Server) logCheckpoint(w http.ResponseWriter, r *http.Request) {
	log := s.auditLog(w)
	if log == nil {
		return
	}
	body := checkpointBody{Origin: log.Origin(), Orderer: log.Orderer(), LogSize: log.Size()}
	if f, note, ok := log.Latest(); ok {
		c := &checkpointFinal{Size: f.Size, Root: base64.StdEncoding.EncodeToString(f.Root[:]), Weight: f.Weight, Note: string(note), Signers: []dag.PublicKey{}}
		for _, i := range f.Signers {
			c.Signers = append(c.Signers, s.genesis.Validators[i].PublicKey)
		}
		body.Checkpoint = c
	}
	writeJSON(w, http.StatusOK, body)
}

// consistencyBody is GET /v1/log/consistency.
type consistencyBody struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	FromRoot string   `json:"from_root"`
	ToRoot   string   `json:"to_root"`
	Proof    []string `json:"proof"`
}

func (s *Server) logConsistency(w http.ResponseWriter, r *http.Request) {
	log := s.auditLog(w)
	if log == nil {
		return
	}
	q := r.URL.Query()
	parse := func(name string) (uint64, bool) {
		v, err := strconv.ParseUint(q.Get(name), 10, 64)
		if err != nil {
			writeError(w, newError(codeMalformed, fmt.Sprintf("api: %s=%q must be a log size (a decimal integer)", name, q.Get(name))))
			return 0, false
		}
		return v, true
	}
	from, ok := parse("from")
	if !ok {
		return
	}
	to, ok := parse("to")
	if !ok {
		return
	}
	if from > to {
		writeError(w, newError(codeMalformed, fmt.Sprintf("api: from=%d is past to=%d", from, to)))
		return
	}
	if size := log.Size(); to > size {
		writeError(w, newError(CodeBeyondLog, fmt.Sprintf("api: to=%d is beyond the log's size %d", to, size)))
		return
	}
	proof, err := log.ConsistencyProof(from, to)
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	fromRoot, err1 := log.RootAt(from)
	toRoot, err2 := log.RootAt(to)
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, errorOf(err))
		return
	}
	body := consistencyBody{From: from, To: to, FromRoot: base64.StdEncoding.EncodeToString(fromRoot[:]), ToRoot: base64.StdEncoding.EncodeToString(toRoot[:]), Proof: []string{}}
	for _, h := range proof {
		body.Proof = append(body.Proof, base64.StdEncoding.EncodeToString(h[:]))
	}
	writeJSON(w, http.StatusOK, body)
}

// misbehaviourBody is one entry of GET /v1/log/misbehaviour.
type misbehaviourBody struct {
	Kind      string        `json:"kind"`
	Validator dag.PublicKey `json:"validator"`
	Size      uint64        `json:"size"`
	// Transactions are the validator's own signed checkpoint
	// transactions, base64 canonical bytes.
	Transactions []string `json:"transactions"`
}

func (s *Server) logMisbehaviour(w http.ResponseWriter, r *http.Request) {
	log := s.auditLog(w)
	if log == nil {
		return
	}
	found, err := log.Misbehaviours()
	if err != nil {
		writeError(w, errorOf(err))
		return
	}
	out := []misbehaviourBody{}
	for _, m := range found {
		b := misbehaviourBody{Kind: m.Kind, Validator: s.genesis.Validators[m.Validator].PublicKey, Size: m.Size, Transactions: []string{}}
		for _, raw := range m.Transactions {
			b.Transactions = append(b.Transactions, base64.StdEncoding.EncodeToString(raw))
		}
		out = append(out, b)
	}
	writeJSON(w, http.StatusOK, out)
}
