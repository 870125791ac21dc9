package sim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrConfig is wrapped by every error that reports an invalid Config.
var ErrConfig = errors.New("sim: invalid config")

// Model is the arrival model.
type Model string

// The models.
const (
	// Continuous: Poisson arrivals; each transaction becomes visible after
	// its own delay drawn from Config.Delay.
	Continuous Model = "continuous"
	// Discrete: time runs in ticks of length h (the mean delay); the
	// transactions of a tick (Poisson(λh) of them) are all issued at the
	// tick's start and see exactly the transactions of earlier ticks.
	Discrete Model = "discrete"
)

// TipSelection names a tip selection algorithm.
type TipSelection string

// The tip selections.
const (
	URTS TipSelection = "urts"
	MCMC TipSelection = "mcmc"
)

// StartRule is where an MCMC walk starts.
type StartRule string

// The start rules.
const (
	// StartCover (the default): the newest of a series of candidate starts
	// that is at least StartAge old and whose future cone holds every
	// visible tip, so that every tip stays reachable and the unbiased walk
	// leaves nothing behind (docs/design/2026-12-02-sim-network.md).
	StartCover StartRule = "cover"
	// StartAged: the newest transaction visible at least StartAge ago that
	// has a visible approver, whether or not its cone reaches every tip
	// (the rule before 2026-12-02, kept for comparison; it orphans about
	// one transaction in 10⁴ at α = 0).
	StartAged StartRule = "age"
	// StartGenesis: every walk starts at the genesis root, as in the
	// whitepaper's simulations. Walks lengthen as the tangle grows: the
	// dag engine steps through all history with exact weights (quadratic);
	// the model engine, at any α, draws where a walk leaves the part of
	// history whose transitions no longer change and steps on from there
	// (genesisWalk; docs/design/2026-12-03-genesis-walk.md).
	StartGenesis StartRule = "genesis"
)

// Draw is how the k parents are drawn from the tips.
type Draw string

// The draws.
const (
	// DrawDistinct: k distinct tips (when at least k exist).
	DrawDistinct Draw = "distinct"
	// DrawReplacement: k independent uniform draws; a tip drawn twice is
	// approved once, so a transaction may have fewer than k parents.
	DrawReplacement Draw = "replacement"
)

// Engine says which code computes the tangle.
type Engine string

// The engines.
const (
	// EngineDAG attaches transactions to a real dag.Ledger and selects with
	// tipselect (k = 2 only). The default.
	EngineDAG Engine = "dag"
	// EngineModel is the simulator's own uniform random tip selection over
	// an index-based tangle; it supports any k and is proven equal to
	// EngineDAG for k = 2 by TestEnginesAgree. Chosen automatically for
	// k ≠ 2. It also walks (k = 2): from the cover start at α = 0, and from
	// the genesis at any α with exact cumulative weights.
	EngineModel Engine = "model"
	// EngineNetwork is the network model (Config.Network): nodes with
	// their own views, each drawing as the model engine does.
	EngineNetwork Engine = "network"
)

// Config describes one simulation. Zero values mean the defaults below.
type Config struct {
	// Lambda is the arrival rate λ in transactions per virtual second.
	// Required (> 0).
	Lambda float64
	// Delay draws each transaction's visibility delay h. Nil means
	// ConstantDelay(DefaultDelay).
	Delay Delay
	// Parents is k, the number of distinct tips each transaction approves.
	// Zero means 2.
	Parents int
	// TipSelection is URTS (default) or MCMC.
	TipSelection TipSelection
	// Retention, for URTS: zero is the whitepaper's rule (a tip leaves the
	// pool at its first visible approval); positive keeps an approved tip
	// selectable for this long after its first visible approval (Hornet's
	// retention rule; the CLI's --retention, formerly --expiry).
	Retention time.Duration
	// TipExpiry, for URTS: positive removes a tip that is still
	// unapproved TipExpiry after its issue from the pool for good (the
	// expiry rule of the analytical papers). It runs on the model engine.
	TipExpiry time.Duration
	// Draw is DrawDistinct (default) or DrawReplacement. Replacement runs
	// on the model engine.
	Draw Draw
	// Alpha is the MCMC bias α (0 = unbiased walk).
	Alpha float64
	// Start is the MCMC start rule; empty means StartCover.
	Start StartRule
	// StartAge is how old a walk's start must at least be, for StartCover
	// and StartAged (see StartRule). Zero means DefaultStartAgeFactor·h.
	StartAge time.Duration
	// Count is how many transactions to issue. Zero with a zero Horizon
	// means DefaultCount.
	Count int
	// Horizon stops issuing at this virtual time, if it comes first.
	Horizon time.Duration
	// Warmup is how many of the first transactions are excluded from every
	// statistic. Negative means none; zero means Count/10 (or the
	// transactions of the first tenth of the horizon).
	Warmup int
	// Tail: transactions issued less than Tail before the last issue are
	// excluded from the approval statistics (they had no fair chance to be
	// approved). Zero means DefaultTailFactor·h.
	Tail time.Duration
	// Seed fixes every random draw.
	Seed uint64
	// Model is Continuous (default) or Discrete.
	Model Model
	// Engine is EngineDAG (default for k = 2) or EngineModel.
	Engine Engine
	// Confirm is the confirmation rule. The zero value means a cumulative
	// weight threshold of DefaultCWThreshold.
	Confirm Confirm
	// Network, when set, simulates nodes with their own views instead of
	// one global view (see Network). Delay is then the network's latency.
	Network *Network
	// SampleEvery is the time step of the CSV time series. Zero means h.
	SampleEvery time.Duration
	// Progress, if set, is called every few tens of thousands of issued
	// transactions with the numbers issued and planned (planned is 0 when
	// only a horizon bounds the run). It must not write to the outputs.
	Progress func(issued, planned int)
}

// Confirm is a confirmation rule, judged by the simulator on a sample of
// transactions (see docs/bench/sim.md).
type Confirm struct {
	// CWThreshold: confirmed when the cumulative weight (the transaction
	// and its visible direct and indirect approvers) reaches it.
	CWThreshold int
	// Issuers, when set, switches to approval weight: each transaction is
	// issued by issuer i with probability proportional to Issuers[i]
	// (its weight), and a transaction is confirmed when the issuers of
	// the visible transactions in its future cone (itself included) carry
	// more than Quorum of the total weight. At most 64 issuers.
	Issuers []float64
	// Quorum is the approval weight fraction; zero means 2/3.
	Quorum float64
}

// The defaults.
const (
	DefaultDelay          = time.Second
	DefaultCount          = 100_000
	DefaultCWThreshold    = 100
	DefaultQuorum         = 2.0 / 3
	DefaultTailFactor     = 20
	DefaultStartAgeFactor = 30
	// MaxParents bounds k: the simulator keeps parents in fixed arrays.
	MaxParents = 8
	// MaxIssuers bounds the issuers of approval weight; each tracked
	// transaction holds a bitset of the issuers seen approving it.
	MaxIssuers = 100_000
)

func (c Config) withDefaults() Config {
	if c.Network != nil {
		n := *c.Network
		n.withDefaults(&c)
		c.Network = &n
	}
	if c.Delay == nil {
		c.Delay = ConstantDelay(DefaultDelay)
	}
	if c.Parents == 0 {
		c.Parents = 2
	}
	if c.TipSelection == "" {
		c.TipSelection = URTS
	}
	if c.Model == "" {
		c.Model = Continuous
	}
	if c.Draw == "" {
		c.Draw = DrawDistinct
	}
	if c.Start == "" {
		c.Start = StartCover
	}
	if c.Engine == "" {
		c.Engine = EngineDAG
		if c.Parents != 2 || c.TipExpiry > 0 || c.Draw == DrawReplacement {
			c.Engine = EngineModel
		}
	}
	if c.Count == 0 && c.Horizon == 0 {
		c.Count = DefaultCount
	}
	h := c.Delay.Mean()
	if c.Tail == 0 {
		c.Tail = DefaultTailFactor * h
	}
	if c.StartAge == 0 {
		c.StartAge = DefaultStartAgeFactor * h
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = h
	}
	if c.Confirm.CWThreshold == 0 && len(c.Confirm.Issuers) == 0 {
		c.Confirm.CWThreshold = DefaultCWThreshold
	}
	if len(c.Confirm.Issuers) > 0 && c.Confirm.Quorum == 0 {
		c.Confirm.Quorum = DefaultQuorum
	}
	return c
}

// validate checks a configuration whose defaults are filled in.
func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case !(c.Lambda > 0) || math.IsInf(c.Lambda, 0):
		return bad("lambda is %v, must be a positive number", c.Lambda)
	case c.Delay.Mean() <= 0:
		return bad("delay mean is %v, must be positive", c.Delay.Mean())
	case c.Parents < 2 || c.Parents > MaxParents:
		return bad("parents is %d, must be in [2, %d]", c.Parents, MaxParents)
	case c.TipSelection != URTS && c.TipSelection != MCMC:
		return bad("tip selection %q, want %q or %q", c.TipSelection, URTS, MCMC)
	case c.Retention < 0:
		return bad("retention is %v, must not be negative", c.Retention)
	case c.TipExpiry < 0:
		return bad("tip expiry is %v, must not be negative", c.TipExpiry)
	case c.Draw != DrawDistinct && c.Draw != DrawReplacement:
		return bad("draw %q, want %q or %q", c.Draw, DrawDistinct, DrawReplacement)
	case c.Start != StartCover && c.Start != StartAged && c.Start != StartGenesis:
		return bad("start %q, want %q, %q or %q", c.Start, StartCover, StartAged, StartGenesis)
	case math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) || c.Alpha < 0:
		return bad("alpha is %v, must be finite and not negative", c.Alpha)
	case c.StartAge < 0:
		return bad("start age is %v, must not be negative", c.StartAge)
	case c.Count < 0:
		return bad("count is %d, must not be negative", c.Count)
	case c.Horizon < 0:
		return bad("horizon is %v, must not be negative", c.Horizon)
	case c.Tail < 0:
		return bad("tail is %v, must not be negative", c.Tail)
	case c.SampleEvery < 0:
		return bad("sample interval is %v, must not be negative", c.SampleEvery)
	case c.Model != Continuous && c.Model != Discrete:
		return bad("model %q, want %q or %q", c.Model, Continuous, Discrete)
	case c.Engine != EngineDAG && c.Engine != EngineModel && c.Engine != EngineNetwork:
		return bad("engine %q, want %q or %q", c.Engine, EngineDAG, EngineModel)
	case (c.Engine == EngineNetwork) != (c.Network != nil):
		return bad("the network engine runs the network model (nodes) only")
	case c.Engine == EngineDAG && c.Parents != 2:
		return bad("the dag engine approves exactly 2 parents (trunk, branch); k = %d needs the model engine", c.Parents)
	case c.Engine == EngineModel && c.Retention != 0:
		return bad("the model engine has no retention; use the dag engine (k = 2) for --retention")
	case c.Engine == EngineModel && c.TipSelection == MCMC && (c.Alpha != 0 && c.Start != StartGenesis || c.Start == StartAged || c.Parents != 2 || c.TipExpiry != 0 || c.Draw != DrawDistinct):
		return bad("the model engine walks with two parents, from the genesis at any α or from the cover start at α = 0; use the dag engine for %s with α = %g, start %s", c.TipSelection, c.Alpha, c.Start)
	case c.Engine == EngineDAG && (c.TipExpiry != 0 || c.Draw != DrawDistinct):
		return bad("tip expiry and draws with replacement run on the model engine only")
	case c.Confirm.CWThreshold < 0:
		return bad("cumulative weight threshold is %d, must be positive", c.Confirm.CWThreshold)
	case len(c.Confirm.Issuers) > MaxIssuers:
		return bad("%d issuers, at most %d", len(c.Confirm.Issuers), MaxIssuers)
	case len(c.Confirm.Issuers) > 0 && !(c.Confirm.Quorum > 0 && c.Confirm.Quorum < 1):
		return bad("quorum is %v, must be in (0, 1)", c.Confirm.Quorum)
	}
	for i, w := range c.Confirm.Issuers {
		if !(w > 0) || math.IsInf(w, 0) {
			return bad("issuer %d has weight %v, must be positive", i, w)
		}
	}
	if c.Network != nil {
		return c.Network.validate(c)
	}
	return nil
}
