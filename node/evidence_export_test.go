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
