package node

import (
	"fmt"
	"strings"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
)

// AuditWaiting describes what the audit log waits for, for a test's
// report when a cluster does not settle: its counters, and the orderer's
// first anchor above the log's with its parents.
func (n *Node) AuditWaiting() string {
	if n.audit == nil {
		return "no audit log"
	}
	a := n.audit
	a.mu.Lock()
	w := a.waiting
	out := fmt.Sprintf("lags %v: %d confirmed data unlogged, %d uncovered, logged data up to %d, final checkpoint %d, cover %s, %d events dropped",
		a.lags, w.unlogged, w.uncovered, w.need, w.final, a.cover.Short(), a.dropped.Load())
	a.mu.Unlock()
	id, seq, _ := a.log.Anchor()
	var b strings.Builder
	fmt.Fprintf(&b, "%s; log size %d, anchor %s seq %d", out, a.log.Size(), id.Short(), seq)
	if info, ok := n.ledger.Info(id); ok {
		fmt.Fprintf(&b, " (trunk %s branch %s)", info.Trunk.Short(), info.Branch.Short())
	}
	for name, ids := range map[string][]dag.ID{"unlogged": w.someUnlogged, "uncovered": w.someUncovered} {
		for _, id := range ids {
			fmt.Fprintf(&b, "; %s %s", name, n.describeForAudit(id))
		}
	}
	st, ok := n.ledger.IssuerState(a.log.Orderer(), n.cfg.Now().UnixNano())
	if !ok {
		return b.String()
	}
	var next *dag.Info
	for cur := st.Prev; ; {
		info, ok := n.ledger.Info(cur)
		if !ok || info.Seq <= seq {
			break
		}
		if evidence.IsAnchor(info) {
			next = &info
		}
		cur = info.Prev
	}
	fmt.Fprintf(&b, "; orderer's next seq %d", st.NextSeq)
	if next != nil {
		fmt.Fprintf(&b, "; next anchor %s seq %d confirmed %v ruled out %v", next.ID.Short(), next.Seq, next.Confirmed, next.RuledOut)
		for name, id := range map[string]dag.ID{"trunk": next.Trunk, "branch": next.Branch} {
			pi, ok := n.ledger.Info(id)
			fmt.Fprintf(&b, "; %s %s known %v %s confirmed %v ruled out %v", name, id.Short(), ok, pi.Kind, pi.Confirmed, pi.RuledOut)
		}
	}
	return b.String()
}

// describeForAudit is a transaction's state as the audit log sees it:
// kind, confirmation, log position and its approvers'.
func (n *Node) describeForAudit(id dag.ID) string {
	info, ok := n.ledger.Info(id)
	if !ok {
		return id.Short() + " unknown"
	}
	var b strings.Builder
	index, err := n.audit.log.IndexOf(id)
	fmt.Fprintf(&b, "%s %s seq %d confirmed %v at %d ruled out %v tip %v logged %d (%v) trunk %s branch %s",
		id.Short(), info.Kind, info.Seq, info.Confirmed, info.ConfirmedIndex, info.RuledOut, n.ledger.IsTip(id), index, err, info.Trunk.Short(), info.Branch.Short())
	for _, ap := range n.ledger.Approvers(id, nil) {
		ai, _ := n.ledger.Info(ap)
		index, err := n.audit.log.IndexOf(ap)
		fmt.Fprintf(&b, " [approver %s %s confirmed %v at %d logged %d (%v)]", ap.Short(), ai.Kind, ai.Confirmed, ai.ConfirmedIndex, index, err)
	}
	return b.String()
}
