package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// LoadConfig configures RunLoad. The zero value of every field means its
// default, except where a field says otherwise.
type LoadConfig struct {
	// Nodes is the number of nodes, all validators of equal weight, in a
	// full QUIC mesh on loopback (default DefaultLoadNodes).
	Nodes int
	// Devices is the number of simulated devices, each with its own key;
	// device d posts to node d % Nodes (default DefaultLoadDevices).
	Devices int
	// Rate is the total offered load in transactions per second, spread
	// evenly over the devices. Zero means as fast as possible: every
	// device sends its next transaction as soon as the last one is
	// acknowledged.
	Rate float64
	// Duration is how long devices send (default DefaultLoadDuration).
	Duration time.Duration
	// Warmup is the leading part of Duration left out of the statistics
	// (zero: none). It covers connection set-up and the first round of
	// GET /v1/info of every device.
	Warmup time.Duration
	// Grace is how long to wait after sending stops for the outstanding
	// confirmations (default DefaultLoadGrace).
	Grace time.Duration
	// Dir holds the genesis, the data directories and the node logs.
	// Empty means a temporary directory, removed afterwards.
	Dir string
	// Binary, when set, is a tangled executable: each node runs as a child
	// process `Binary node ...`, so CPU and memory are measured per node.
	// Empty runs the nodes in this process.
	Binary string
	// Difficulty is the network's work rules; the zero value means
	// LoadDifficulty.
	Difficulty pow.Rules
	// BeaconInterval is the validators' beacon interval; zero means the
	// node's default.
	BeaconInterval time.Duration
	// BeaconRule is the validators' beacon rule (node.BeaconSweep or
	// node.BeaconRounds); empty means the node's default.
	BeaconRule string
	// PayloadBytes is each reading's size (default DefaultLoadPayload).
	PayloadBytes int
	// Seed spreads the devices' schedules; the run is not reproducible
	// (keys, tips and timing are not), only its schedule is.
	Seed uint64
	// Progress, if set, receives a line a second while devices send.
	Progress io.Writer
}

// The defaults.
const (
	DefaultLoadNodes    = 3
	DefaultLoadDevices  = 32
	DefaultLoadDuration = 30 * time.Second
	// DefaultLoadGrace is many beacon intervals: what is still
	// unconfirmed after it is stuck, not slow.
	DefaultLoadGrace = 10 * time.Second
	// DefaultLoadPayload is a typical sensor reading with some metadata.
	DefaultLoadPayload = 64
)

// LoadDifficulty keeps device work small (2^8 hashes, tens of
// microseconds) and turns the per-issuer rate rule off: the simulated
// devices send tens of readings a second each, far above an honest
// device's one a second, and under the default rules their work would
// double per reading and soon take all the machine's CPU from the nodes
// being measured.
var LoadDifficulty = pow.Rules{BaseBits: 8, PayloadBytesPerBit: 512}

func (c LoadConfig) withDefaults() LoadConfig {
	if c.Nodes == 0 {
		c.Nodes = DefaultLoadNodes
	}
	if c.Devices == 0 {
		c.Devices = DefaultLoadDevices
	}
	if c.Duration == 0 {
		c.Duration = DefaultLoadDuration
	}
	if c.Grace == 0 {
		c.Grace = DefaultLoadGrace
	}
	if c.Difficulty == (pow.Rules{}) {
		c.Difficulty = LoadDifficulty
	}
	if c.PayloadBytes == 0 {
		c.PayloadBytes = DefaultLoadPayload
	}
	return c
}

// Validate reports the first value RunLoad would refuse, with its
// defaults filled in.
func (c LoadConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Nodes < 1 || c.Nodes > dag.MaxValidators:
		return fmt.Errorf("bench: %d nodes, want 1 to %d", c.Nodes, dag.MaxValidators)
	case c.Devices < 1:
		return fmt.Errorf("bench: %d devices, want at least 1", c.Devices)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("bench: rate %v, want a finite number ≥ 0 (0: as fast as possible)", c.Rate)
	case c.Duration < 0:
		return fmt.Errorf("bench: negative duration %v", c.Duration)
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("bench: warmup %v, want at least 0 and below the duration %v", c.Warmup, c.Duration)
	case c.Grace < 0:
		return fmt.Errorf("bench: negative grace %v", c.Grace)
	case c.BeaconInterval < 0:
		return fmt.Errorf("bench: negative beacon interval %v", c.BeaconInterval)
	case c.PayloadBytes < 0:
		return fmt.Errorf("bench: negative payload size %d", c.PayloadBytes)
	}
	return c.Difficulty.Validate()
}

// Outcomes of a send other than a node's rejection code.
const (
	outcomeAccepted  = ""
	outcomeTransport = "transport"
	// outcomeAborted is a send cut off by the end of the run or by the
	// caller's cancellation: neither the node's verdict nor a failure.
	outcomeAborted = "aborted"
)

// txRecord is one device send.
type txRecord struct {
	node    int
	start   time.Time     // when the device started (tips, sign, work, post)
	took    time.Duration // until the node's durable acknowledgement
	id      dag.ID
	outcome string
}

// RunLoad starts cfg.Nodes validator nodes on loopback peering over QUIC,
// drives them with cfg.Devices devices that post signed readings over
// HTTP at cfg.Rate, follows every posted transaction to its confirmation
// on the node it was posted to, and reports throughput, latency, rejections
// and the nodes' CPU and memory. It stops every node it started before it
// returns, also when ctx is cancelled.
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	wallStart := time.Now()
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tangled-load-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	rules := cfg.Difficulty
	g, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "load", Validators: cfg.Nodes, Difficulty: &rules})
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(g.Validators))
	for i, v := range g.Validators {
		keys[i] = v.PublicKey.String()
	}

	var cl *loadCluster
	if cfg.Binary != "" {
		cl, err = startChildren(ctx, cfg, dir, keys)
	} else {
		cl, err = startInProcess(cfg, dir, keys)
	}
	if err != nil {
		return nil, err
	}
	// Whatever happens from here on, the nodes are stopped.
	stopped := false
	defer func() {
		if !stopped {
			cl.stop()
		}
	}()
	progress(cfg.Progress, "bench load: %d nodes up (%s), waiting for the full mesh", cfg.Nodes, cl.mode)
	if err := cl.waitMesh(ctx, 30*time.Second); err != nil {
		return nil, err
	}

	r := &loadRun{cfg: cfg, cl: cl}
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("bench: load run: %w", context.Cause(ctx))
	}
	r.collectNodeInfo(ctx)
	r.stats.cpuEnd = cl.cpuSeconds()
	exitErrs := cl.stop()
	stopped = true
	rep := r.report(time.Since(wallStart), exitErrs)
	return rep, nil
}

// loadRun is one run's state once the nodes are up.
type loadRun struct {
	cfg     LoadConfig
	cl      *loadCluster
	clients []*client.Client
	counts  *responseCounts
	watch   []*confirmWatch

	sendStart time.Time // t = 0 of the series
	sendEnd   time.Time // sending stopped
	records   []txRecord
	missed    atomic.Int64
	mem       *memSampler
	// lateConfirmed are accepted transactions found confirmed by a status
	// lookup after their event was missed.
	lateConfirmed map[dag.ID]bool

	stats struct {
		cpuStart, cpuEnd       []float64
		loaderCPU0, loaderCPU1 float64
		// machine CPU (all cores, busy and total) at send start and end
		busy0, total0, busy1, total1 float64
		info                         []nodeInfo
	}
}

type nodeInfo struct {
	transactions, confirmed, beacons uint64
	peersConnected                   int
	err                              string
}

func (r *loadRun) run(ctx context.Context) error {
	cfg := r.cfg
	r.counts = newResponseCounts()
	for i := range cfg.Nodes {
		c, err := client.New(r.cl.urls[i], client.Options{
			HTTPClient: r.counts.httpClient(),
			// One worker: the device goroutines already keep both cores
			// busy, and 2^8 hashes are not worth a fan-out.
			PoWWorkers: 1,
		})
		if err != nil {
			return err
		}
		r.clients = append(r.clients, c)
	}

	devices := make([]*client.Device, cfg.Devices)
	issuers := make([][]dag.PublicKey, cfg.Nodes)
	for d := range devices {
		key, err := client.GenerateKey()
		if err != nil {
			return err
		}
		devices[d] = client.NewDevice(r.clients[d%cfg.Nodes], key)
		issuers[d%cfg.Nodes] = append(issuers[d%cfg.Nodes], devices[d].PublicKey())
	}

	// Streams open before the first send, so no confirmation is missed.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer func() { stopWatch(); watchers.Wait() }()
	for i := range cfg.Nodes {
		w, err := newConfirmWatch(watchCtx, r.cl.urls[i], issuers[i])
		if err != nil {
			return err
		}
		r.watch = append(r.watch, w)
		watchers.Add(1)
		go func() { defer watchers.Done(); w.run(watchCtx) }()
	}

	// Memory is followed per node with child processes, plus this
	// process (the devices), or this one process with nodes inside.
	r.mem = newMemSampler(append(slices.Clone(r.cl.pids), os.Getpid()))
	stopSampling := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() { defer close(samplerDone); r.mem.run(stopSampling) }()
	defer func() { close(stopSampling); <-samplerDone }()

	r.stats.cpuStart = r.cl.cpuSeconds()
	r.stats.loaderCPU0 = procCPUSeconds(os.Getpid())
	r.stats.busy0, r.stats.total0 = machineCPU()
	r.sendStart = time.Now()
	stopAt := r.sendStart.Add(cfg.Duration)
	// A send still running well after the end (a node that stopped
	// answering) is cut off rather than holding the report back.
	sendCtx, cancelSends := context.WithDeadline(ctx, stopAt.Add(cfg.Grace))
	defer cancelSends()
	perDevice := make([][]txRecord, cfg.Devices)
	var sent atomic.Int64
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x10ad))
	for d, dev := range devices {
		phase := rng.Float64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			perDevice[d] = r.device(sendCtx, d, dev, phase, stopAt, &sent)
		}()
	}
	progressDone := make(chan struct{})
	go r.reportProgress(progressDone, &sent)
	wg.Wait()
	close(progressDone)
	r.sendEnd = time.Now()
	r.stats.loaderCPU1 = procCPUSeconds(os.Getpid())
	r.stats.busy1, r.stats.total1 = machineCPU()
	for _, recs := range perDevice {
		r.records = append(r.records, recs...)
	}
	slices.SortFunc(r.records, func(a, b txRecord) int { return a.start.Compare(b.start) })
	if ctx.Err() != nil {
		return nil
	}
	r.waitConfirmed(ctx)
	r.mem.sample()
	stopWatch()
	watchers.Wait()
	r.lookupUnobserved(ctx)
	return nil
}

// device sends readings on its own schedule until stopAt. With a rate, its
// slots are 1/(rate/devices) apart, offset by phase so that the devices
// do not send in lock step; a device that falls behind by more than one
// slot skips the missed slots (counted) instead of bursting to catch up,
// as a real sensor with a fixed sampling period would.
func (r *loadRun) device(ctx context.Context, d int, dev *client.Device, phase float64, stopAt time.Time, sent *atomic.Int64) []txRecord {
	cfg := r.cfg
	var interval time.Duration
	next := time.Now()
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Devices) / cfg.Rate)
		next = next.Add(time.Duration(phase * float64(interval)))
	}
	payload := make([]byte, cfg.PayloadBytes)
	var recs []txRecord
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; ; i++ {
		if interval > 0 {
			if wait := time.Until(next); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return recs
				}
			}
		}
		start := time.Now()
		if !start.Before(stopAt) || ctx.Err() != nil {
			return recs
		}
		copy(payload, fmt.Sprintf("device=%d reading=%d ", d, i))
		id, err := dev.Send(ctx, dag.KindData, payload)
		rec := txRecord{node: d % cfg.Nodes, start: start, took: time.Since(start), id: id, outcome: classify(ctx, err)}
		recs = append(recs, rec)
		sent.Add(1)
		if interval > 0 {
			next = next.Add(interval)
			if behind := time.Since(next); behind > interval {
				skipped := int64(behind / interval)
				r.missed.Add(skipped)
				next = next.Add(time.Duration(skipped) * interval)
			}
		}
	}
}

// classify names a send's outcome: the node's rejection code when it gave
// one, else a transport failure or an abort.
func classify(ctx context.Context, err error) string {
	if err == nil {
		return outcomeAccepted
	}
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Code != "" {
			return apiErr.Code
		}
		return fmt.Sprintf("http_%d", apiErr.Status)
	case errors.Is(err, client.ErrConflicting):
		return "conflicting"
	case ctx.Err() != nil:
		return outcomeAborted
	}
	return outcomeTransport
}

func (r *loadRun) reportProgress(done <-chan struct{}, sent *atomic.Int64) {
	if r.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			confirmed := 0
			for _, w := range r.watch {
				confirmed += w.count()
			}
			progress(r.cfg.Progress, "bench load: %4.0fs sent %d, confirmed %d", time.Since(r.sendStart).Seconds(), sent.Load(), confirmed)
		}
	}
}

// waitConfirmed waits up to the grace period until every accepted
// transaction's confirmation was seen on the node it was posted to.
func (r *loadRun) waitConfirmed(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.Grace)
	for {
		missing := 0
		for _, rec := range r.records {
			if rec.outcome == outcomeAccepted {
				if _, ok := r.watch[rec.node].confirmedAt(rec.id); !ok {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		progress(r.cfg.Progress, "bench load: waiting for %d confirmations", missing)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// maxLookups bounds the status requests for transactions whose confirmed
// event was not seen (a stream that lagged and reconnected); lookupWorkers
// are the concurrent ones.
const (
	maxLookups    = 200_000
	lookupWorkers = 8
)

// lookupUnobserved asks the posting node about accepted transactions
// whose confirmation event was not seen: events are lost while a stream
// that fell behind reconnects, and such a transaction may be confirmed
// all the same. It counts as confirmed, without a latency.
func (r *loadRun) lookupUnobserved(ctx context.Context) {
	r.lateConfirmed = map[dag.ID]bool{}
	var todo []txRecord
	for _, rec := range r.records {
		if rec.outcome != outcomeAccepted {
			continue
		}
		if _, ok := r.watch[rec.node].confirmedAt(rec.id); !ok && len(todo) < maxLookups {
			todo = append(todo, rec) // beyond the cap, they count as unconfirmed
		}
	}
	if len(todo) > 0 {
		progress(r.cfg.Progress, "bench load: looking up %d transactions whose confirmation was not seen", len(todo))
	}
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range lookupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(todo) || ctx.Err() != nil {
					return
				}
				rec := todo[i]
				st, err := r.clients[rec.node].Transaction(ctx, rec.id)
				if err == nil && st.Status == client.StateConfirmed {
					mu.Lock()
					r.lateConfirmed[rec.id] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}

func (r *loadRun) collectNodeInfo(ctx context.Context) {
	r.stats.info = make([]nodeInfo, r.cfg.Nodes)
	for i, c := range r.clients {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := c.Info(ictx)
		cancel()
		if err != nil {
			r.stats.info[i].err = err.Error()
			continue
		}
		r.stats.info[i].transactions, r.stats.info[i].confirmed = info.Counts.Transactions, info.Counts.Confirmed
		r.stats.info[i].beacons = info.Counts.Beacons
		r.stats.info[i].peersConnected, _ = connectedPeers(ctx, r.cl.urls[i])
	}
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// nodeDir is node i's data directory (0-based i, 1-based names as the
// validator keys).
func nodeDir(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("node-%d", i+1)) }
