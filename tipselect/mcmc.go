package tipselect

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tangled-ledger/tangled/dag"
)

// MCMCConfig configures an MCMC random walk.
type MCMCConfig struct {
	// Alpha is the walk's bias towards heavy approvers: a step goes to
	// approver y with probability proportional to exp(Alpha·H_y), H being
	// the cumulative weight. It is used as given, so its zero value, the
	// unbiased walk, is the default. IRI used 0.001; large values follow the
	// heaviest branch and leave the other transactions behind; negative
	// values prefer light approvers (for experiments only).
	Alpha float64
	// StartDepth selects the start, RecentConfirmed(StartDepth). Zero means
	// DefaultStartDepth; a negative value means 0, the newest confirmed
	// transaction (quic-go's convention for an explicit zero).
	StartDepth int
	// MaxSteps bounds a walk; one that reaches it returns where it is, which
	// need not be a tip. Zero means DefaultMaxSteps.
	MaxSteps int
}

const (
	// DefaultStartDepth starts walks a few confirmation rounds behind the
	// newest confirmed transaction, so that the start's future cone covers
	// the current tips; a start on a side branch would make the tips outside
	// its cone unreachable. Depth counts transactions, not milestones, so
	// networks that confirm hundreds of transactions per round should
	// raise it.
	DefaultStartDepth = 50
	// DefaultMaxSteps is far beyond the length of a walk from a recent start
	// (tens of steps), so it only stops a walk through a pathological DAG.
	DefaultMaxSteps = 10_000
)

func (c MCMCConfig) withDefaults() MCMCConfig {
	switch {
	case c.StartDepth == 0:
		c.StartDepth = DefaultStartDepth
	case c.StartDepth < 0:
		c.StartDepth = 0
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	return c
}

func (c *MCMCConfig) validate() error {
	switch {
	case math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0):
		return fmt.Errorf("%w: Alpha is %v, must be finite", ErrConfig, c.Alpha)
	case c.MaxSteps < 0:
		return fmt.Errorf("%w: MaxSteps is %d, must not be negative", ErrConfig, c.MaxSteps)
	}
	return nil
}

// MCMC selects tips by the Markov-chain Monte Carlo random walk of the
// Tangle whitepaper, as IRI did. It keeps no state beyond its buffers and is
// safe for concurrent use.
type MCMC struct {
	cfg  MCMCConfig
	view View
	bufs sync.Pool // *walkBuf
}

// walkBuf holds what one step needs, reused across steps and walks.
type walkBuf struct {
	approvers []dag.ID
	cands     []candidate
	weights   []float64
}

type candidate struct {
	id     dag.ID
	weight uint64
}

// NewMCMC returns a walker over view.
func NewMCMC(cfg MCMCConfig, view View) (*MCMC, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if view == nil {
		return nil, fmt.Errorf("%w: nil view", ErrConfig)
	}
	m := &MCMC{cfg: cfg, view: view}
	m.bufs.New = func() any { return new(walkBuf) }
	return m, nil
}

// Select returns the ends of two independent walks. They may be equal, as
// in the whitepaper's model: retrying for a distinct second tip would bias
// the walk's distribution.
func (m *MCMC) Select(rng Rand) (trunk, branch dag.ID, err error) {
	if trunk, err = m.Walk(rng); err != nil {
		return dag.ZeroID, dag.ZeroID, err
	}
	if branch, err = m.Walk(rng); err != nil {
		return dag.ZeroID, dag.ZeroID, err
	}
	return trunk, branch, nil
}

// Walk starts at RecentConfirmed(StartDepth), or at RecentConfirmed(0) for
// a view that has no transaction that deep, and steps to a random approver that
// is not conflicting until it reaches a transaction that has none. Each
// step goes to approver y with probability exp(α·H_y) / Σ exp(α·H_z). It
// returns an error wrapping ErrNoTips when the view has no usable start.
func (m *MCMC) Walk(rng Rand) (dag.ID, error) {
	cur, ok := m.view.RecentConfirmed(m.cfg.StartDepth)
	if !ok {
		cur, ok = m.view.RecentConfirmed(0)
	}
	if !ok {
		return dag.ZeroID, fmt.Errorf("%w: no confirmed transaction to start a walk from", ErrNoTips)
	}
	// Later steps never enter a conflicting transaction, so checking the
	// start is enough to never return one.
	if info, ok := m.view.Info(cur); !ok || info.Conflicting {
		return dag.ZeroID, fmt.Errorf("%w: walk start %s is unknown or conflicting", ErrNoTips, cur.Short())
	}

	buf := m.bufs.Get().(*walkBuf)
	defer m.bufs.Put(buf)
	for range m.cfg.MaxSteps {
		next, ok := m.step(rng, cur, buf)
		if !ok {
			return cur, nil
		}
		cur = next
	}
	return cur, nil
}

// step draws the next transaction from cur's eligible approvers.
func (m *MCMC) step(rng Rand, cur dag.ID, buf *walkBuf) (dag.ID, bool) {
	buf.approvers = m.view.Approvers(cur, buf.approvers[:0])
	cands := buf.cands[:0]
	for _, id := range buf.approvers {
		if info, ok := m.view.Info(id); ok && !info.Conflicting {
			cands = append(cands, candidate{id: id, weight: info.CumulativeWeight})
		}
	}
	buf.cands = cands
	switch len(cands) {
	case 0:
		return dag.ZeroID, false
	case 1:
		return cands[0].id, true
	}
	// The view's order of approvers is arbitrary (arrival order, say), so
	// fix one: the same DAG then yields the same walk on every node.
	slices.SortFunc(cands, func(a, b candidate) int { return a.id.Compare(b.id) })
	if m.cfg.Alpha == 0 {
		return cands[rng.IntN(len(cands))].id, true
	}

	// exp(α·H_y − max_z α·H_z): the largest term is exp(0) = 1, so nothing
	// overflows whatever the weights, and the sum is at least 1.
	top := math.Inf(-1)
	for _, c := range cands {
		top = max(top, m.cfg.Alpha*float64(c.weight))
	}
	weights := buf.weights[:0]
	var sum float64
	for _, c := range cands {
		w := math.Exp(m.cfg.Alpha*float64(c.weight) - top)
		weights = append(weights, w)
		sum += w
	}
	buf.weights = weights
	u := rng.Float64() * sum
	for i, w := range weights {
		if u < w {
			return cands[i].id, true
		}
		u -= w
	}
	// Rounding can leave u just above the last weight.
	for i := len(weights) - 1; ; i-- {
		if weights[i] > 0 {
			return cands[i].id, true
		}
	}
}
