package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/pow"
)

// beaconPayload is the firmware commitment a beacon with these parents
// carries (device.CommitLines of the active releases in its past, which
// the device layer checks on every node); nil without authorities or
// releases.
func (n *Node) beaconPayload(trunk, branch, prev dag.ID) []byte {
	if n.registry == nil {
		return nil
	}
	var h []uint64
	for _, id := range [3]dag.ID{trunk, branch, prev} {
		if id.IsZero() {
			continue
		}
		if v, ok := n.ledger.HorizonOf(id); ok {
			if len(h) < len(v) {
				h = append(h, make([]uint64, len(v)-len(h))...)
			}
			for i, x := range v {
				h[i] = max(h[i], x)
			}
		}
	}
	return device.CommitLines(n.registry.ActiveLines(h))
}

// issueCommittingBeacon is issueControl for a beacon: the same chain,
// time and work rules, with the firmware commitment as payload.
func (n *Node) issueCommittingBeacon(ctx context.Context, trunk, branch dag.ID) (dag.ID, error) {
	now := n.cfg.Now().UnixNano()
	tx := &dag.Transaction{Kind: dag.KindBeacon, Trunk: trunk, Branch: branch, Time: now}
	if st, known := n.ledger.IssuerState(n.publicKey, now); known {
		tx.Seq, tx.Prev = st.NextSeq, st.Prev
		if prev, ok := n.ledger.Info(st.Prev); ok && prev.Time > now {
			tx.Time = prev.Time // never run the chain backwards if the clock did
		}
	}
	tx.Payload = n.beaconPayload(trunk, branch, tx.Prev)
	tx.Sign(n.key)
	nonce, err := pow.Solve(ctx, tx.ID(), n.ledger.Required(dag.KindBeacon, len(tx.Payload), 0), 1)
	if err != nil {
		return dag.ZeroID, err
	}
	tx.Nonce = nonce
	_, err = n.pipeline.Submit(ctx, tx.Bytes())
	return tx.ID(), err
}

// maxProofSearch bounds the transactions a proof's path search visits per
// validator: the anchor is recent, so the beacons that saw it are close.
const maxProofSearch = 50_000

// FreshnessProof implements the API's proof source: for each validator,
// its newest beacon and a path from it down to the anchor; the beacons
// that commit to the state of the largest weight are kept.
func (b apiBackend) FreshnessProof(class string, anchor dag.ID) (*device.FreshnessProof, error) {
	if b.registry == nil {
		return nil, &api.ImageError{Code: "not_found", Message: "node: a network without authorities has no releases"}
	}
	a, ok := b.ledger.Info(anchor)
	if !ok {
		return nil, &api.ImageError{Code: "not_found", Message: fmt.Sprintf("node: anchor %s is not attached here", anchor.Short())}
	}
	type found struct {
		beacon *dag.Transaction
		path   []*dag.Transaction
		weight uint64
	}
	groups := map[string][]found{}
	weights := map[string]uint64{}
	now := b.cfg.Now().UnixNano()
	for _, v := range b.genesis.Validators {
		st, known := b.ledger.IssuerState(v.PublicKey, now)
		if !known {
			continue
		}
		beacon, path, ok := b.pathToAnchor(st.Prev, a)
		if !ok {
			continue
		}
		key := string(beacon.Payload)
		groups[key] = append(groups[key], found{beacon, path, v.Weight})
		weights[key] += v.Weight
	}
	best, bestWeight := "", uint64(0)
	for k, w := range weights {
		if w > bestWeight || w == bestWeight && k < best {
			best, bestWeight = k, w
		}
	}
	if bestWeight == 0 {
		return nil, &api.ImageError{Code: "not_found", Message: fmt.Sprintf("node: no validator's newest beacon has anchor %s in its past yet", anchor.Short())}
	}
	// A proof that the device would refuse (weight not above the
	// threshold: right after the anchor only some validators' newest
	// beacons have seen it) is not served: not_found, which clients ask
	// again on, until enough have.
	t := b.genesis.Threshold
	if t == (dag.Threshold{}) {
		t = dag.DefaultThreshold
	}
	if bestWeight*t.Denominator <= b.genesis.TotalWeight()*t.Numerator {
		return nil, &api.ImageError{Code: "not_found", Message: fmt.Sprintf("node: the newest beacons that have anchor %s in their past weigh %d of %d, not above the threshold yet", anchor.Short(), bestWeight, b.genesis.TotalWeight())}
	}
	proof := &device.FreshnessProof{Anchor: anchor, Lines: []device.ActiveLine{}, Releases: [][]byte{}, Beacons: []device.ProofBeacon{}}
	for _, f := range groups[best] {
		pb := device.ProofBeacon{Beacon: f.beacon.Bytes(), Path: [][]byte{}}
		for _, tx := range f.path {
			pb.Path = append(pb.Path, tx.Bytes())
		}
		proof.Beacons = append(proof.Beacons, pb)
	}
	// The state the beacons committed to: recomputed from the first
	// one's past, which the rule made equal to its payload.
	first := groups[best][0].beacon
	proof.Lines = b.registry.ActiveLines(b.horizonOfPast(first))
	if !slices.Equal(device.CommitLines(proof.Lines), first.Payload) {
		return nil, fmt.Errorf("node: beacon %s's commitment is not the state of its past", first.ID().Short())
	}
	for _, l := range proof.Lines {
		if len(l.Line) > len(class) && l.Line[:len(class)+1] == class+"/" {
			tx, err := b.ledger.Transaction(l.Release)
			if err != nil {
				return nil, err
			}
			proof.Releases = append(proof.Releases, tx.Bytes())
		}
	}
	return proof, nil
}

// horizonOfPast is the merged horizon of a transaction's parents and
// predecessor: its past as the rules saw it.
func (b apiBackend) horizonOfPast(tx *dag.Transaction) []uint64 {
	var h []uint64
	for _, id := range [3]dag.ID{tx.Trunk, tx.Branch, tx.Prev} {
		if v, ok := b.ledger.HorizonOf(id); ok {
			if len(h) < len(v) {
				h = append(h, make([]uint64, len(v)-len(h))...)
			}
			for i, x := range v {
				h[i] = max(h[i], x)
			}
		}
	}
	return h
}

// pathToAnchor finds, from the validator's newest transaction head (a
// beacon, or a quarantine notice whose chain leads back to one), the
// newest beacon and a shortest path of parent and predecessor links from
// it to the anchor. Transactions attached before the anchor cannot have
// it in their past and are not searched.
func (b apiBackend) pathToAnchor(head dag.ID, anchor dag.Info) (*dag.Transaction, []*dag.Transaction, bool) {
	for range 16 {
		info, ok := b.ledger.Info(head)
		if !ok || head.IsZero() {
			return nil, nil, false
		}
		if info.Kind == dag.KindBeacon {
			break
		}
		head = info.Prev
	}
	start, err := b.ledger.Transaction(head)
	if err != nil || start.Kind != dag.KindBeacon {
		return nil, nil, false
	}
	from := map[dag.ID]dag.ID{head: {}}
	queue := []dag.ID{head}
	for len(queue) > 0 && len(from) < maxProofSearch {
		id := queue[0]
		queue = queue[1:]
		info, ok := b.ledger.Info(id)
		if !ok {
			continue
		}
		links := []dag.ID{info.Trunk, info.Branch}
		if info.Seq > 0 {
			links = append(links, info.Prev)
		}
		for _, next := range links {
			if next == anchor.ID {
				// Walk back: the path is the transactions between the
				// beacon and the anchor, beacon side first.
				var path []*dag.Transaction
				for at := id; at != head; at = from[at] {
					tx, err := b.ledger.Transaction(at)
					if err != nil {
						return nil, nil, false
					}
					path = append(path, tx)
				}
				slices.Reverse(path)
				if len(path) > device.MaxProofPath {
					return nil, nil, false
				}
				return start, path, true
			}
			if _, seen := from[next]; seen {
				continue
			}
			if ni, ok := b.ledger.Info(next); ok && ni.Arrival > anchor.Arrival {
				from[next] = id
				queue = append(queue, next)
			}
		}
	}
	return nil, nil, false
}
