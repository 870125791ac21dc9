package node

import (
	"context"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// sweepLoop (BeaconSweep) issues beacons every BeaconInterval while some data
// transaction is unconfirmed and the ledger has tips besides this node's
// latest beacon, so an idle network is quiet (validators do not approve
// each other's beacons forever) and every transaction ends up in a
// beacon's past cone.
//
// A beacon approves this node's previous beacon when that is still a tip
// (so beacons never pile up as tips themselves) and the oldest other tip
// (so no transaction waits behind younger ones for a random pick). A tick
// issues up to maxBeaconsPerTick beacons while tips remain, which bounds
// how long a burst of tips takes to sweep.
//
// The first beacon of a tick links in another validator's latest beacon
// instead of the oldest tip (see linkTip): validators sweep different
// tips (a tip one of them has approved is no longer the oldest for the
// others), and confirmation needs the weight of several, so without the
// link a swept tip would wait until the others reached it through data
// approvals, or until the data stopped.
func (n *Node) sweepLoop(ctx context.Context) {
	ticker := time.NewTicker(n.cfg.BeaconInterval)
	defer ticker.Stop()
	var last dag.ID
	linkFrom := 0 // where linkTip's round over the validators starts
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n.issueNotices(ctx)
		if n.ledger.Stats().UnconfirmedData == 0 && !n.logLags() {
			continue // nothing waits for confirmation
		}
		for i := range maxBeaconsPerTick {
			trunk, branch, ok := n.beaconParents(last)
			if !ok {
				// Only this validator's last beacon is a tip. While the
				// audit log waits for it (confirmed data not yet under a
				// final checkpoint), approve it, or a lone validator's
				// newest history would wait for the next data.
				if i > 0 || last.IsZero() || !n.ledger.IsTip(last) || !n.logLags() {
					break
				}
				trunk, branch = last, last
			}
			if i == 0 {
				if other, next, ok := n.linkTip(linkFrom, trunk); ok {
					branch, linkFrom = other, next
				}
			} else if n.onlyBeaconsLeft(trunk, branch) {
				// Other validators' beacons are tips too; approving them
				// once a tick spreads weight, more would only ping-pong.
				break
			}
			id, err := n.issueBeacon(ctx, trunk, branch)
			if err != nil {
				if ctx.Err() == nil {
					n.log.Warn("beacon", "err", err)
				}
				break
			}
			last = id
		}
	}
}

// linkTip returns the latest beacon of another validator that is still a
// tip and is not exclude, looking at the validators in turn from index
// from, and the index to start from next time; ok is false when there is
// none (a single-validator network, or every other validator's latest
// beacon is approved already). Taking turns spreads the links over all
// the other validators.
func (n *Node) linkTip(from int, exclude dag.ID) (tip dag.ID, next int, ok bool) {
	vs := n.genesis.Validators
	now := n.cfg.Now().UnixNano()
	for k := range vs {
		i := (from + k) % len(vs)
		if vs[i].PublicKey == n.publicKey {
			continue
		}
		st, known := n.ledger.IssuerState(vs[i].PublicKey, now)
		if !known || st.Prev == exclude || !n.ledger.IsTip(st.Prev) {
			continue
		}
		return st.Prev, i + 1, true
	}
	return dag.ZeroID, from, false
}

// onlyBeaconsLeft reports whether both chosen parents are beacons.
func (n *Node) onlyBeaconsLeft(trunk, branch dag.ID) bool {
	for _, id := range [2]dag.ID{trunk, branch} {
		if info, ok := n.ledger.Info(id); !ok || info.Kind != dag.KindBeacon {
			return false
		}
	}
	return true
}

// maxBeaconsPerTick bounds the beacon rate at a few hundred a second, under
// a percent of what the node ingests.
const maxBeaconsPerTick = 8

// beaconParents picks a beacon's parents; ok is false when there is nothing
// new to approve.
func (n *Node) beaconParents(last dag.ID) (trunk, branch dag.ID, ok bool) {
	oldest, ok := n.ledger.OldestTip(last)
	if !ok {
		return dag.ZeroID, dag.ZeroID, false
	}
	if !last.IsZero() && n.ledger.IsTip(last) {
		return last, oldest, true
	}
	// The previous beacon is approved already (or there is none): the
	// second parent comes from ordinary tip selection.
	other, _, err := n.SelectTips(context.Background())
	if err != nil {
		other = oldest
	}
	return oldest, other, true
}
