package node

import (
	"context"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// Beacons come in rounds (docs/design/2026-12-02-beacon-rounds.md).
//
// A transaction is confirmed once validators holding more than the
// threshold of the weight have each issued a beacon with it in its past,
// so each confirmation needs beacons of several validators issued after
// it. Issuing them on independent timers takes many beacons for a short
// latency; rounds need only as many as confirmation does:
//
//   - Time is cut into rounds of BeaconInterval, counted from the Unix
//     epoch, so validators agree on them as far as their clocks do (the
//     clock decides only when a beacon is issued, never what is valid).
//     Rounds follow the wall clock even when Config.Now is a test's
//     clock: they are a schedule, like the sweep's ticker.
//   - At each round's start, while some data is unconfirmed, the
//     validators that follow the round number in genesis order, just
//     enough of them for their weight to pass the threshold, each issue one
//     beacon approving the two newest tips they hold. What was attached
//     everywhere before the round started is then confirmed one gossip hop
//     later; what came later waits for the next round.
//   - The others issue one only if the round still lacks the weight a
//     quarter of an interval later (a validator is down or slow), and
//     every validator does after a round that wanted beacons got none.
//   - Tips left behind for more than two intervals (no transaction
//     approves them) are swept first, a few a round.
//
// So a round costs as many beacons as the threshold needs validators (3 of
// 4 equal ones), and a transaction waits about half an interval for the
// next round and a hop for the beacons, at any data rate.

// beaconRound is the round of beacons in progress as this node sees it.
type beaconRound struct {
	number  int64     // start time / interval
	start   time.Time // when this node noticed it
	members uint64    // validators with a beacon in the round, by genesis index
	weight  uint64
	mine    bool // this node has a beacon in the round
	// wanted: some data was unconfirmed when the round started.
	wanted bool
}

// beaconer owns the beacon loop's state; only beaconLoop touches it.
type beaconer struct {
	n         *Node
	me        int // this node's genesis index
	weights   []uint64
	total     uint64
	index     map[dag.PublicKey]int
	interval  time.Duration
	threshold dag.Threshold
	step      time.Duration // the shortest sleep
	round     beaconRound
}

func newBeaconer(n *Node) *beaconer {
	g := n.ledger.Genesis() // with the defaults filled in
	b := &beaconer{
		n:         n,
		me:        -1,
		weights:   make([]uint64, len(g.Validators)),
		index:     make(map[dag.PublicKey]int, len(g.Validators)),
		interval:  n.cfg.BeaconInterval,
		threshold: g.Threshold,
		round:     beaconRound{number: -1},
	}
	for i, v := range g.Validators {
		b.weights[i] = v.Weight
		b.total += v.Weight
		b.index[v.PublicKey] = i
		if v.PublicKey == n.publicKey {
			b.me = i
		}
	}
	b.step = max(b.interval/20, time.Millisecond)
	return b
}

// noteBeacon forwards an attached beacon to the loop; it runs on the
// committing goroutine and never blocks it. A beacon dropped from a full
// queue only costs a fallback beacon.
func (n *Node) noteBeacon(info dag.Info) {
	if n.beacons == nil {
		return
	}
	select {
	case n.beacons <- info:
	default:
	}
}

// The beacon rules (Config.BeaconRule).
const (
	BeaconSweep       = "sweep"
	BeaconRounds      = "rounds"
	DefaultBeaconRule = BeaconSweep
)

// beaconLoop issues this validator's beacons and quarantine notices until
// ctx ends, under the configured rule.
func (n *Node) beaconLoop(ctx context.Context) {
	if n.cfg.BeaconRule == BeaconSweep {
		n.sweepLoop(ctx)
		return
	}
	b := newBeaconer(n)
	timer := time.NewTimer(b.step)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case info := <-n.beacons:
			if v, ok := b.index[info.Issuer]; ok && b.roundOf(time.Now()) == b.round.number {
				b.join(v)
			}
			continue
		case <-timer.C:
			n.issueNotices(ctx)
			b.tick(ctx, time.Now())
		}
		timer.Reset(b.untilNext(time.Now()))
	}
}

// untilNext is how long the loop sleeps: until the next round starts, or
// until this round's fallback is due, whichever comes first (clamped, so
// a clock that jumps cannot stall the loop).
func (b *beaconer) untilNext(now time.Time) time.Duration {
	next := time.Unix(0, (b.roundOf(now)+1)*int64(b.interval))
	if b.round.wanted && !b.round.mine && !b.passes(b.round.weight) {
		if at := b.round.start.Add(b.interval / 4); at.After(now) && at.Before(next) {
			next = at
		}
	}
	return min(max(next.Sub(now), b.step), b.interval)
}

func (b *beaconer) roundOf(t time.Time) int64 { return t.UnixNano() / int64(b.interval) }

// join counts validator v's beacon in the current round.
func (b *beaconer) join(v int) {
	if b.round.members&(1<<v) != 0 {
		return
	}
	b.round.members |= 1 << v
	b.round.weight += b.weights[v]
	if v == b.me {
		b.round.mine = true
	}
}

// tick begins a new round when one has started, and fills in a round that
// still lacks weight.
func (b *beaconer) tick(ctx context.Context, now time.Time) {
	if k := b.roundOf(now); k != b.round.number {
		// A round that wanted beacons and got none means the validators
		// whose turn it was are down: then everyone issues.
		unanswered := b.round.wanted && b.round.members == 0
		b.round = beaconRound{number: k, start: now}
		if b.n.ledger.Stats().UnconfirmedData == 0 && !b.n.logLags() {
			return // nothing waits for confirmation
		}
		b.round.wanted = true
		if b.issuesIn(k) || unanswered {
			b.issue(ctx, now)
		}
		return
	}
	if !b.round.wanted || b.round.mine || b.passes(b.round.weight) || now.Sub(b.round.start) < b.interval/4 {
		return
	}
	b.issue(ctx, now)
}

// issue sweeps tips left behind, then issues the round's beacon approving
// the two newest tips: their pasts hold everything unconfirmed but what is
// younger than a device's send and a gossip hop.
func (b *beaconer) issue(ctx context.Context, now time.Time) {
	n := b.n
	var last dag.ID
	for range maxSweepPerRound {
		oldest, ok := n.ledger.OldestTip(last)
		if !ok {
			break
		}
		info, ok := n.ledger.Info(oldest)
		if !ok || now.Sub(time.Unix(0, info.Time)) < 2*b.interval {
			break
		}
		branch := last
		if branch.IsZero() {
			branch = oldest
		}
		id, err := n.issueBeacon(ctx, oldest, branch)
		if err != nil {
			b.warn(ctx, err)
			return
		}
		last = id
	}
	var buf [2]dag.ID
	tips := n.ledger.NewestTips(2, buf[:0])
	if len(tips) == 0 {
		return // nothing to approve
	}
	trunk, branch := tips[0], tips[len(tips)-1]
	if !last.IsZero() {
		branch = last // the sweep must be in the round's beacon's past
	}
	if _, err := n.issueBeacon(ctx, trunk, branch); err != nil {
		b.warn(ctx, err)
		return
	}
	b.join(b.me)
}

// passes reports whether weight exceeds the confirmation threshold.
func (b *beaconer) passes(weight uint64) bool {
	return weight*b.threshold.Denominator > b.total*b.threshold.Numerator
}

// issuesIn reports whether this node is among the validators that issue
// in round k: those from index k mod n on in genesis order, just enough of
// them to pass the threshold. Taking turns spreads the beacons evenly.
func (b *beaconer) issuesIn(k int64) bool {
	count := len(b.weights)
	var weight uint64
	for i := 0; i < count && !b.passes(weight); i++ {
		v := int((k + int64(i)) % int64(count))
		if v == b.me {
			return true
		}
		weight += b.weights[v]
	}
	return false
}

func (b *beaconer) warn(ctx context.Context, err error) {
	if ctx.Err() == nil {
		b.n.log.Warn("beacon", "err", err)
	}
}

// beaconQueue is how many attached beacons may wait for the beacon loop.
const beaconQueue = 256

// maxSweepPerRound bounds the beacons a round spends on tips left behind,
// so a backlog is swept at a few dozen tips a second per validator without
// flooding the ledger with beacons.
const maxSweepPerRound = 4
