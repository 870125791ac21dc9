package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

// Independent random streams, so that changing one part of the model (the
// delay distribution, say) does not shift the draws of another (the tip
// choices), and so that both engines see the same tip-selection stream.
const (
	streamArrivals = 0x61727269 // "arri"
	streamDelays   = 0x64656c61 // "dela"
	streamTips     = 0x74697073 // "tips"
	streamIssuers  = 0x69737375 // "issu"
)

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// inFlight is a transaction issued but not yet visible.
type inFlight struct {
	issued, visible int64
	seq             uint64 // issue order, breaks ties of visible
	parents         [MaxParents]int32
	issuer          int32
	nParents        uint8
}

// flightHeap orders the transactions in flight by visibility, then issue
// order (a total order, so any heap pops the same sequence). It is typed
// rather than a container/heap: the interface boxing of Push allocated
// once per transaction.
type flightHeap []inFlight

func (h flightHeap) less(i, j int) bool {
	if h[i].visible != h[j].visible {
		return h[i].visible < h[j].visible
	}
	return h[i].seq < h[j].seq
}

func (h *flightHeap) push(f inFlight) {
	*h = append(*h, f)
	s := *h
	for j := len(s) - 1; j > 0; {
		i := (j - 1) / 2
		if !s.less(j, i) {
			break
		}
		s[i], s[j] = s[j], s[i]
		j = i
	}
}

func (h *flightHeap) pop() inFlight {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		j := l
		if r := l + 1; r < len(s) && s.less(r, l) {
			j = r
		}
		if !s.less(j, i) {
			break
		}
		s[i], s[j] = s[j], s[i]
		i = j
	}
	*h = s
	return top
}

// record is what the statistics need of a visible transaction.
type record struct {
	issued    int64
	visible   int64
	first     int64 // issuing time of its first approver, -1 while none
	approvers uint32
	parents   uint8 // distinct parents, the root included
}

// progressEvery is how many issues pass between Progress calls.
const progressEvery = 1 << 15

// Run simulates cfg and returns its results. It reads the wall clock only
// to report Summary.WallSeconds.
func Run(cfg Config) (*Result, error) {
	wallStart := time.Now()
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s, err := newSim(&cfg)
	if err != nil {
		return nil, err
	}
	if err := s.run(); err != nil {
		return nil, err
	}
	res, err := s.result()
	if err != nil {
		return nil, err
	}
	res.Summary.WallSeconds = time.Since(wallStart).Seconds()
	if res.Summary.WallSeconds > 0 {
		res.Summary.TxPerWallSecond = float64(res.Summary.Transactions) / res.Summary.WallSeconds
	}
	return res, nil
}

type sim struct {
	cfg      *Config
	eng      engine
	net      *netEngine // the network model's engine, also eng
	track    *tracker
	arrivals *rand.Rand
	delays   *rand.Rand
	issuers  *rand.Rand
	cumW     []float64 // cumulative issuer weights

	start   int64 // genesis time, unix ns
	now     int64 // virtual clock, unix ns (shared with the dag engine)
	flights flightHeap
	records []record
	issued  int
	lastIss int64
	lastVis int64 // time of the last visibility (issuer attach, network)
	parBuf  []int32
	attBuf  []int32

	// tip statistics over the measurement window, sampled at issues
	warmupAt int64 // issuing time of the first measured transaction
	// tips is the whitepaper's tip count L(t): transactions issued by now
	// that no transaction issued by now approves, hidden ones included.
	tips         int
	rootApproved bool
	// L and the visible tip count as each arrival finds them, kept until
	// the end of the run places the measurement window.
	tipSample []int32
	visSample []float32

	series []sample
	nextS  int64
}

// sample is one row of the time series.
type sample struct {
	t        float64 // virtual seconds since genesis
	tips     int
	visTips  float64
	inFlight int
	issued   int
	visible  int
}

func newSim(cfg *Config) (*sim, error) {
	s := &sim{
		cfg:      cfg,
		arrivals: newRand(cfg.Seed, streamArrivals),
		delays:   newRand(cfg.Seed, streamDelays),
		issuers:  newRand(cfg.Seed, streamIssuers),
		start:    dagtest.GenesisTime.UnixNano(),
		warmupAt: math.MaxInt64,
		tips:     1, // the genesis root
	}
	s.now = s.start
	s.nextS = s.start
	tips := newRand(cfg.Seed, streamTips)
	s.track = newTracker(cfg)
	var err error
	switch cfg.Engine {
	case EngineDAG:
		s.eng, err = newDAGEngine(cfg, &s.now, tips)
	case EngineModel:
		s.eng = newModelEngine(cfg, tips)
	case EngineNetwork:
		s.net, err = newNetEngine(cfg, tips, s.track)
		s.eng = s.net
	}
	if err != nil {
		return nil, err
	}
	if n := cfg.Count; n > 0 {
		// Growing these by appending would copy them over and over: at
		// millions of transactions that was a fifth of the run time.
		s.records = make([]record, 0, n)
		s.tipSample = make([]int32, 0, n)
		s.visSample = make([]float32, 0, n)
		s.track.masks = make([]uint64, 0, n)
		// One row per SampleEvery of the virtual time n arrivals take,
		// with room for the tail of the last visibilities.
		rows := float64(n)/cfg.Lambda/cfg.SampleEvery.Seconds() + 64
		s.series = make([]sample, 0, int(min(rows, 1<<20)))
		if e, ok := s.eng.(*dagEngine); ok {
			e.ids = make([]dag.ID, 0, n)
			if e.cover != nil {
				e.cover.masks = make([]uint64, 0, n)
			}
		}
		if m, ok := s.eng.(*modelEngine); ok {
			m.pos = make([]int32, 0, n)
		}
	}
	var acc float64
	for _, w := range cfg.Confirm.Issuers {
		acc += w
		s.cumW = append(s.cumW, acc)
	}
	return s, nil
}

// warmupCount is the number of leading transactions excluded.
func (s *sim) warmupCount() int {
	switch {
	case s.cfg.Warmup < 0:
		return 0
	case s.cfg.Warmup > 0:
		return s.cfg.Warmup
	case s.cfg.Count > 0:
		return s.cfg.Count / 10
	}
	// Horizon only: the transactions of its first tenth, about.
	return int(s.cfg.Lambda * s.cfg.Horizon.Seconds() / 10)
}

// run is the event loop: the next event is either the next arrival or the
// earliest visibility; at equal times visibility goes first, so a
// transaction issued exactly h after another sees it (in the discrete model
// a tick sees the whole previous tick).
func (s *sim) run() error {
	warmup := s.warmupCount()
	h := int64(s.cfg.Delay.Mean())
	horizon := int64(math.MaxInt64)
	if s.cfg.Horizon > 0 {
		horizon = s.start + int64(s.cfg.Horizon)
	}
	cont := float64(s.start) // the continuous arrival process, unix ns
	next := func() int64 {
		cont += s.arrivals.ExpFloat64() / s.cfg.Lambda * 1e9
		return int64(cont)
	}
	arrival := next()
	for {
		more := (s.cfg.Count == 0 || s.issued < s.cfg.Count) && s.issueTime(arrival, h) <= horizon
		// The network's deliveries and the issuers' own attaches are
		// visibility events too; between the two, at equal times, the
		// earlier issued transaction goes first, so that every node
		// attaches in issue order as the single view does.
		netAt, netTx, netOK := int64(0), int32(0), false
		if s.net != nil {
			netAt, netTx, netOK = s.net.next()
		}
		if !more && len(s.flights) == 0 && !netOK {
			break
		}
		if netOK && (!more || netAt <= s.issueTime(arrival, h)) &&
			(len(s.flights) == 0 || netAt < s.flights[0].visible || netAt == s.flights[0].visible && uint64(netTx) < s.flights[0].seq) {
			if more || len(s.flights) > 0 {
				s.advance(netAt)
			} else {
				s.now = netAt // past the last visibility: no more series rows
			}
			s.net.deliver()
			continue
		}
		if len(s.flights) > 0 && (!more || s.flights[0].visible <= s.issueTime(arrival, h)) {
			// Advance first: a series row due before this event must
			// still count the transaction as in flight.
			s.advance(s.flights[0].visible)
			f := s.flights.pop()
			s.lastVis = f.visible
			if err := s.attach(&f, warmup); err != nil {
				return err
			}
			continue
		}
		t := s.issueTime(arrival, h)
		s.advance(t)
		if err := s.issue(t, h, warmup); err != nil {
			return err
		}
		arrival = next()
	}
	// The series ends with the last visibility, where the single view
	// ends; the network's last deliveries come after it.
	s.flushSeries(s.lastVis + 1)
	return nil
}

// issueTime maps an arrival of the continuous process to its issuing time:
// itself, or in the discrete model the start of its tick.
func (s *sim) issueTime(arrival, h int64) int64 {
	if s.cfg.Model == Discrete {
		return s.start + (arrival-s.start)/h*h
	}
	return arrival
}

// advance moves the virtual clock to t, emitting the time series rows due
// before it.
func (s *sim) advance(t int64) {
	s.flushSeries(t)
	s.now = t
}

func (s *sim) flushSeries(t int64) {
	step := int64(s.cfg.SampleEvery)
	for s.nextS < t {
		if s.net != nil && s.nextS >= s.warmupAt {
			s.net.sampleTips()
		}
		s.series = append(s.series, sample{
			t:        float64(s.nextS-s.start) / 1e9,
			tips:     s.tips,
			visTips:  s.eng.tips(),
			inFlight: len(s.flights),
			issued:   s.issued,
			visible:  len(s.records),
		})
		s.nextS += step
	}
}

func (s *sim) issue(t, h int64, warmup int) error {
	if s.issued == warmup {
		s.warmupAt = t
	}
	// Tips as seen by this arrival; Poisson arrivals see time averages, so
	// the mean over arrivals is the time average of the tip count.
	s.tipSample = append(s.tipSample, int32(s.tips))
	s.visSample = append(s.visSample, float32(s.eng.tips()))
	var issuer int
	if s.cumW != nil {
		u := s.issuers.Float64() * s.cumW[len(s.cumW)-1]
		issuer, _ = slices.BinarySearch(s.cumW, u)
		if issuer < len(s.cumW) && s.cumW[issuer] == u {
			issuer++ // u falls at the start of the next issuer's interval
		}
		issuer = min(issuer, len(s.cumW)-1)
	}
	parents, err := s.eng.choose(t, issuer, s.parBuf[:0])
	if err != nil {
		return err
	}
	s.parBuf = parents
	f := inFlight{issued: t, seq: uint64(s.issued), nParents: uint8(len(parents)), issuer: int32(issuer)}
	copy(f.parents[:], parents)
	for i, p := range parents {
		if p == root {
			if !s.rootApproved {
				s.rootApproved = true
				s.tips--
			}
			continue
		}
		if dup(parents[:i], p) {
			continue
		}
		r := &s.records[p]
		if r.first < 0 {
			r.first = t
			s.tips--
		}
		r.approvers++
	}
	s.tips++
	switch {
	case s.net != nil:
		f.visible = t + int64(s.cfg.Network.SelfDelay)
		s.net.issue(int32(f.seq), t, issuer, parents)
	case s.cfg.Model == Discrete:
		f.visible = t + h
	default:
		f.visible = t + int64(s.cfg.Delay.Draw(s.delays))
	}
	s.flights.push(f)
	s.issued++
	s.lastIss = t
	if s.cfg.Progress != nil && s.issued%progressEvery == 0 {
		s.cfg.Progress(s.issued, s.cfg.Count)
	}
	return nil
}

func (s *sim) attach(f *inFlight, warmup int) error {
	// A copy: passing f's own array to the engine's interface method made
	// f escape, one 64-byte allocation per transaction.
	s.attBuf = append(s.attBuf[:0], f.parents[:f.nParents]...)
	parents := s.attBuf
	idx := int32(len(s.records))
	s.records = append(s.records, record{issued: f.issued, visible: f.visible, first: -1, parents: f.nParents})
	measured := f.seq >= uint64(warmup)
	// The tracker first: the network engine judges confirmation at the
	// issuer's view with the mask the tracker has just computed.
	s.track.attach(idx, f.issued, f.visible, parents, int(f.issuer), measured)
	return s.eng.attach(f.issued, f.visible, parents)
}

// errTooShort reports a run with nothing left to measure.
func errTooShort(cfg *Config) error {
	return fmt.Errorf("%w: the run is too short: after the warm-up and the last %v (the tail, whose transactions had no fair chance to be approved) nothing is left to measure; raise the count or horizon, or lower the warm-up or tail", ErrConfig, cfg.Tail)
}
