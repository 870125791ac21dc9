package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
	"github.com/tangled-ledger/tangled/tipselect"
)

// Version is the node software version reported by /v1/info.
var Version = "0.1.0-dev"

// Config configures a node. Zero values mean the defaults.
type Config struct {
	// DataDir holds the Badger store (DataDir/db) and, for a development
	// network, genesis.json and validator-1.key.
	DataDir string
	// HTTPAddr is the API's listen address; port 0 picks a free port
	// (see Node.HTTPAddr).
	HTTPAddr string
	// P2PAddr is the UDP address for peering over QUIC; empty means no
	// peering (a standalone node). Port 0 picks a free port (see
	// Node.P2PAddr).
	P2PAddr string
	// Peers are dialed and kept connected: "host:port" or
	// "KEY@host:port" (see ParsePeer).
	Peers []string
	// AllowPeers are hex public keys that may connect besides the genesis
	// validators and pinned peers (for example a non-validator node that
	// syncs from this one).
	AllowPeers []string
	// Network tunes peering (heartbeats, bans, ...); Transport, Key and
	// Peers are set by the node.
	Network network.Config
	// WrapTransport, if set, wraps the QUIC transport (tests cut links
	// with a network.Gate).
	WrapTransport func(network.Transport) network.Transport
	// GenesisFile names the network; empty means the data directory's
	// development network, created on first start.
	GenesisFile string
	// KeyFile is the node's identity key. Empty means the development
	// network's validator key, or DataDir/node.key (created on first
	// start) with an explicit genesis.
	KeyFile string
	// BeaconInterval is how often a validator node issues a beacon while
	// there are new transactions to approve.
	BeaconInterval time.Duration
	// BeaconRule is how a validator spends its beacons: BeaconSweep (the
	// default: every validator sweeps the oldest tips each interval) or
	// BeaconRounds (the validators take turns, as few per interval as
	// confirmation needs). Empty means DefaultBeaconRule.
	BeaconRule string
	// AdminAddr is the admin listener's address (the Go profiler and the
	// log level, see admin.go); empty means none. Bind it to loopback or
	// a management network: it must not be public.
	AdminAddr string
	// LogLevel, if set, is the level of Logger's handler, which the admin
	// endpoint changes at run time. With no Logger, the default logger
	// gets one.
	LogLevel *slog.LevelVar
	// ShutdownTimeout bounds the graceful part of shutdown (in-flight HTTP
	// requests); the store is always flushed and closed afterwards.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	Storage         storage.Options
	Pipeline        dag.PipelineConfig
	TipSelection    tipselect.URTSConfig
	API             api.Config
	// Now is the clock (nil means time.Now); tests move it.
	Now func() time.Time
	// FirmwareImageMax caps the firmware images the node hosts, in bytes
	// (zero: DefaultFirmwareImageMax).
	FirmwareImageMax int64
	// LedgerMemory bounds the memory the ledger's confirmed transactions
	// take, in bytes (dag.Config.MemoryBudget): older ones are served from
	// the store. Zero means dag.DefaultMemoryBudget; negative keeps all.
	LedgerMemory int64
	// DiskBudget bounds the database directory, in bytes: above 80% of
	// it the oldest prunable confirmed transactions are pruned (prune.go).
	// Zero means no budget.
	DiskBudget int64
	// PruneAfter prunes confirmed transactions issued longer ago than
	// this (zero: only the budget prunes).
	PruneAfter time.Duration
	// PruneInterval is how often a pruning node checks its disk; zero
	// means DefaultPruneInterval.
	PruneInterval time.Duration
}

// The defaults.
const (
	DefaultDataDir  = "./tangled-data"
	DefaultHTTPAddr = "127.0.0.1:8080"
	// DefaultP2PAddr is the CLI's peering address; node.Config leaves
	// peering off unless P2PAddr is set.
	DefaultP2PAddr = "127.0.0.1:7070"
	// DefaultBeaconInterval keeps confirmation latency near a tenth of a
	// second on a quiet network at ten beacons a second, a negligible
	// share of a node's capacity.
	DefaultBeaconInterval  = 100 * time.Millisecond
	DefaultShutdownTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.BeaconInterval == 0 {
		c.BeaconInterval = DefaultBeaconInterval
	}
	if c.BeaconRule == "" {
		c.BeaconRule = DefaultBeaconRule
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		if c.LogLevel == nil {
			c.LogLevel = new(slog.LevelVar)
		}
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	}
	if c.Storage.Logger == nil {
		c.Storage.Logger = storageLogger(c.Logger)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TipSelection == (tipselect.URTSConfig{}) {
		c.TipSelection = DefaultTipSelection
	}
	return c
}

// DefaultTipSelection keeps only true tips in the URTS pool: a tip leaves
// at its first approver. Hornet's retention (30 children, 3 s) suits blocks
// with up to 8 parents; with 2 parents per transaction it fills the pool
// with approved transactions, new transactions approve those, real tips
// pile up and wait for the beacons' sweep (BenchmarkConfirmationLatency:
// p50 415 ms with Hornet's values).
//
// The pool holds up to DefaultMaxTips tips, not Hornet's 100: a network
// has about 2λh tips (λ transactions a second, h the delay until a
// transaction is visible), 100 already at 2,000 tx/s and h = 25 ms. A tip
// trimmed from a full pool is never picked by devices and waits for a
// beacon's sweep of the oldest tips, a few dozen a second per validator,
// so a pool that is too small leaves transactions behind for seconds
// under load. The pool is a heap: size costs O(log n) per operation.
var DefaultTipSelection = tipselect.URTSConfig{MaxChildren: 1, MaxTips: DefaultMaxTips}

// DefaultMaxTips covers 2λh for 20,000 tx/s at a visibility delay of
// 100 ms.
const DefaultMaxTips = 4096

func (c Config) validate() error {
	if c.BeaconInterval < 0 || c.ShutdownTimeout < 0 {
		return errors.New("node: negative interval")
	}
	switch c.BeaconRule {
	case "", BeaconSweep, BeaconRounds:
	default:
		return fmt.Errorf("node: unknown beacon rule %q (want %s or %s)", c.BeaconRule, BeaconSweep, BeaconRounds)
	}
	return c.validatePruning()
}

// Node is one running tangled node.
type Node struct {
	cfg       Config
	log       *slog.Logger
	genesis   *dag.Genesis
	key       ed25519.PrivateKey
	publicKey dag.PublicKey
	validator bool

	store    *storage.Badger
	registry *device.Registry // nil in a network without authorities
	ledger   *dag.Ledger
	pipeline *dag.Pipeline
	urts     *tipselect.URTS
	api      *api.Server
	work     *worker          // solves proof-of-work for devices
	net      *network.Network // nil when peering is off
	images   *storage.Blobs   // hosted firmware images; nil without authorities
	http     *http.Server
	listener net.Listener
	metrics  *metrics
	// admin serves Config.AdminAddr; nil when it is off.
	admin         *http.Server
	adminListener net.Listener

	// fwHorizon is the past of everything confirmed, for firmware status.
	fwHorizon confirmedHorizon

	rngs  sync.Pool // *rand.Rand for tip selection
	prune pruneStats
	ran   bool
	// beacons carries attached beacons to a validator's beacon loop (nil
	// for other nodes).
	beacons chan dag.Info
	// audit is the audit log (evidence).
	audit *audit
}

// New opens the data directory, the store and the ledger (replaying the
// log), and binds the HTTP listener. Run starts serving.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("node: data directory: %w", err)
	}
	if err := n.loadIdentity(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			n.closeStore()
		}
	}()
	var err error
	n.store, err = storage.Open(filepath.Join(cfg.DataDir, "db"), cfg.withPruningStorage())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	ledgerCfg := dag.Config{Genesis: n.genesis, Store: n.store, Now: cfg.Now, MemoryBudget: cfg.LedgerMemory}
	if len(n.genesis.Authorities) > 0 {
		// The device layer judges every transaction; a network without
		// authorities has no devices and runs the ledger's rules alone.
		n.registry = device.New(*n.genesis)
		ledgerCfg.Rules = n.registry
	}
	n.ledger, err = dag.Open(ledgerCfg)
	if err != nil {
		return nil, err
	}
	stats := n.ledger.Stats()
	n.log.Info("ledger loaded", "transactions", stats.Transactions, "confirmed", stats.Confirmed,
		"parked", stats.Parked, "from checkpoint", n.ledger.Restored(), "took", time.Since(start).Round(time.Millisecond))
	if n.pipeline, err = dag.NewPipeline(n.ledger, cfg.Pipeline); err != nil {
		return nil, err
	}
	if n.urts, err = tipselect.NewURTS(cfg.TipSelection, n.ledger); err != nil {
		return nil, err
	}
	n.rngs.New = func() any { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }
	if n.validator && cfg.BeaconRule == BeaconRounds {
		n.beacons = make(chan dag.Info, beaconQueue)
	}
	if err := n.openAudit(); err != nil {
		return nil, err
	}
	n.ledger.Subscribe(n.onEvent)
	now := cfg.Now()
	for _, id := range n.ledger.Tips(nil) {
		if info, ok := n.ledger.Info(id); ok {
			n.urts.Add(info, now)
		}
	}
	apiCfg := cfg.API
	if apiCfg.Clock == nil {
		apiCfg.Clock = cfg.Now
	}
	n.work = newWorker(n)
	n.trackConfirmedHorizon()
	if err := n.openImages(); err != nil {
		return nil, err
	}
	if n.api, err = api.New(apiBackend{n}, apiCfg); err != nil {
		return nil, err
	}
	if n.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("node: http listen: %w", err)
	}
	if err := n.listenAdmin(); err != nil {
		_ = n.listener.Close()
		return nil, err
	}
	if err := n.setupNetwork(); err != nil {
		_ = n.listener.Close()
		return nil, err
	}
	n.servePeersImages()
	n.setupMetrics()
	n.http = &http.Server{
		Handler:           n.publicHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	ok = true
	return n, nil
}

// loadIdentity reads the genesis and the node's key.
func (n *Node) loadIdentity() error {
	genesisPath, keyPath := n.cfg.GenesisFile, n.cfg.KeyFile
	if genesisPath == "" {
		devGenesis, devKey, err := devNetwork(n.cfg.DataDir)
		if err != nil {
			return err
		}
		genesisPath = devGenesis
		if keyPath == "" {
			keyPath = devKey
		}
	}
	g, err := dag.LoadGenesis(genesisPath)
	if err != nil {
		return err
	}
	n.genesis = g
	if keyPath == "" {
		keyPath = filepath.Join(n.cfg.DataDir, "node.key")
		if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
			key, err := client.GenerateKey()
			if err != nil {
				return err
			}
			if err := client.SaveKey(keyPath, key, false); err != nil {
				return err
			}
		}
	}
	key, err := client.LoadKey(keyPath)
	if err != nil {
		return err
	}
	n.key = key
	copy(n.publicKey[:], key.Public().(ed25519.PublicKey))
	for _, v := range g.Validators {
		if v.PublicKey == n.publicKey {
			n.validator = true
		}
	}
	return nil
}

// HTTPAddr is the address the API listens on.
func (n *Node) HTTPAddr() string { return n.listener.Addr().String() }

// Ledger returns the node's ledger.
func (n *Node) Ledger() *dag.Ledger { return n.ledger }

// Registry returns the node's device registry; nil in a network without
// authorities.
func (n *Node) Registry() *device.Registry { return n.registry }

// apiBackend is the node as the API sees it: its ledger through the
// API's narrow read interface.
type apiBackend struct{ *Node }

// Ledger implements api.Backend.
func (b apiBackend) Ledger() api.Ledger { return b.ledger }

// AuditLog implements api.Auditor.
func (b apiBackend) AuditLog() api.AuditLog { return b.audit.log }

// Devices implements api.Backend: the registry, or a nil interface (not
// a typed nil pointer, which would not compare equal to nil) in a
// network without authorities.
func (b apiBackend) Devices() api.Devices {
	if b.registry == nil {
		return nil
	}
	return b.registry
}

// WorkFor solves a device's transaction's work (api.Worker).
func (b apiBackend) WorkFor(ctx context.Context, tx *dag.Transaction) error {
	return b.work.WorkFor(ctx, tx)
}

// WorkStats counts the work done for devices (api.Worker).
func (b apiBackend) WorkStats() api.WorkStats { return b.work.WorkStats() }

// IssuerLimit is the HTTP rate limit of a device's key under its policy
// rate (api.IssuerLimiter): its free transactions per window, with a burst
// of what the work rule counts before its cap (pow.Rules.MaxCounted), so
// the HTTP limit stops a flood about where the work stops growing. A rule
// of zero free transactions still refills one per window: the work, not
// the HTTP limit, is what prices such a device.
func (n *Node) IssuerLimit(issuer dag.PublicKey) (perSecond float64, burst int, ok bool) {
	if n.registry == nil {
		return 0, 0, false
	}
	rr, ok := n.registry.CurrentRateRule(issuer)
	if !ok || rr.Window <= 0 {
		return 0, 0, false
	}
	burst = max(n.ledger.RulesFor(issuer).MaxCounted(), 1)
	return float64(max(rr.Free, 1)) / rr.Window.Seconds(), burst, true
}

// Identity describes the node (api.Backend).
func (n *Node) Identity() api.Identity {
	return api.Identity{Version: Version, PublicKey: n.publicKey, Validator: n.validator}
}

// Submit hands decoded transactions to the pipeline (api.Backend).
func (n *Node) Submit(ctx context.Context, txs []*dag.Transaction, admit dag.Admit) []dag.Result {
	return n.pipeline.SubmitAdmitted(ctx, txs, admit)
}

// SelectTips chooses two parents by URTS (api.Backend).
func (n *Node) SelectTips(ctx context.Context) (trunk, branch dag.ID, err error) {
	rng := n.rngs.Get().(*rand.Rand)
	defer n.rngs.Put(rng)
	return n.urts.Select(rng, n.cfg.Now())
}

// SelectTipsFor chooses parents for a transaction of issuer. For a key of
// a registered device the transaction is judged by the control
// transactions in its past, so when neither the tips nor the device's
// chain head see the device's newest control transaction (its
// registration, or its latest lifecycle action: a resume, say) or the
// newest policies that apply to it, parents are replaced by those
// transactions themselves: the control transaction first, then the
// policies. An honest device is then judged by its current state and
// policies (with three unseen policies and an unseen control transaction,
// the next transaction, which sees this one through its chain, takes in
// the rest).
func (n *Node) SelectTipsFor(ctx context.Context, issuer dag.PublicKey) (trunk, branch dag.ID, err error) {
	trunk, branch, err = n.SelectTips(ctx)
	if err != nil || n.registry == nil {
		return trunk, branch, err
	}
	control, ok := n.registry.LatestControl(issuer)
	if !ok {
		return trunk, branch, nil
	}
	var head dag.ID
	if st, known := n.ledger.IssuerState(issuer, n.cfg.Now().UnixNano()); known {
		head = st.Prev
	}
	need := append([]dag.ID{control}, n.policiesOf(issuer)...)
	// score counts what parents see (with the chain head, which every
	// transaction of the chain has in its past), the control transaction
	// above any number of policies.
	score := func(t, b dag.ID) int {
		total := 0
		for i, id := range need {
			if !head.IsZero() && n.ledger.Sees(head, id) || n.ledger.Sees(t, id) || n.ledger.Sees(b, id) {
				if i == 0 {
					total += len(need)
				} else {
					total++
				}
			}
		}
		return total
	}
	best := score(trunk, branch)
	if best == 2*len(need)-1 {
		return trunk, branch, nil // the usual case: everything seen
	}
	// Each parent keeps its tip or takes one of the needed transactions
	// (at most five candidates, 25 pairs, and only when something is
	// unseen). The first best pair wins, so tips are kept where they lose
	// nothing.
	bestT, bestB := trunk, branch
	for _, t := range append([]dag.ID{trunk}, need...) {
		for _, b := range append([]dag.ID{branch}, need...) {
			if sc := score(t, b); sc > best {
				best, bestT, bestB = sc, t, b
			}
		}
	}
	return bestT, bestB, nil
}

// policiesOf are the policy transactions that judge the next transaction
// of issuer's device when it sees everything attached here.
func (n *Node) policiesOf(issuer dag.PublicKey) []dag.ID {
	d, ok := n.registry.DeviceByKey(issuer)
	if !ok {
		return nil
	}
	ids := make([]dag.ID, len(d.Policies))
	for i, p := range d.Policies {
		ids[i] = p.Transaction
	}
	return ids
}

// onEvent feeds tip selection; it runs on the committing goroutine.
func (n *Node) onEvent(e dag.Event) {
	switch e.Kind {
	case dag.EventAttached, dag.EventTip:
		n.urts.Add(e.Info, n.cfg.Now())
		if e.Kind == dag.EventAttached && e.Info.Kind == dag.KindBeacon {
			n.noteBeacon(e.Info)
		}
	case dag.EventConflicting, dag.EventRuledOut:
		n.urts.Remove(e.Info.ID)
	}
	n.audit.onEvent(e)
}

// Run serves until ctx ends, then shuts down in order: stop issuing
// beacons, stop accepting HTTP requests and let in-flight ones finish, drain
// the ingest pipeline (everything attached is acknowledged once durable),
// stop value-log GC, and close the store. It returns after every goroutine
// it started has exited.
func (n *Node) Run(ctx context.Context) error {
	if n.ran {
		return errors.New("node: Run called twice")
	}
	n.ran = true
	defer n.closeStore()

	var wg sync.WaitGroup
	pipeCtx, stopPipeline := context.WithCancel(context.Background())
	defer stopPipeline()
	wg.Add(1)
	go func() { defer wg.Done(); _ = n.pipeline.Run(pipeCtx) }()

	gcCtx, stopGC := context.WithCancel(context.Background())
	defer stopGC()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.store.Run(gcCtx); err != nil && !errors.Is(err, storage.ErrClosed) {
			n.log.Warn("value-log gc stopped", "err", err)
		}
	}()

	if n.cfg.pruning() {
		wg.Add(1)
		go func() { defer wg.Done(); n.pruneLoop(gcCtx) }()
	}

	auditCtx, stopAudit := context.WithCancel(context.Background())
	defer stopAudit()
	wg.Add(1)
	go func() { defer wg.Done(); n.runAudit(auditCtx) }()

	beaconCtx, stopBeacons := context.WithCancel(ctx)
	defer stopBeacons()
	var beacons sync.WaitGroup
	if n.validator {
		beacons.Add(1)
		go func() { defer beacons.Done(); n.beaconLoop(beaconCtx) }()
	}

	// The solver serves HTTP handlers, so it stops after them.
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	wg.Add(1)
	go func() { defer wg.Done(); n.work.Run(workCtx) }()

	netCtx, stopNetwork := context.WithCancel(context.Background())
	defer stopNetwork()
	netDone := make(chan struct{})
	if n.net != nil {
		go func() {
			defer close(netDone)
			if err := n.net.Run(netCtx); err != nil {
				n.log.Warn("network stopped", "err", err)
			}
		}()
	} else {
		close(netDone)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- n.http.Serve(n.listener) }()
	stopAdmin := n.serveAdmin()
	n.log.Info("node running", "http", n.HTTPAddr(), "p2p", n.P2PAddr(), "network", n.genesis.NetworkID,
		"validator", n.validator, "key", n.publicKey.String())

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("node: http: %w", err)
	}
	n.log.Info("shutting down")
	stopBeacons()
	beacons.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	n.api.CloseStreams() // ends event streams, which Shutdown would otherwise wait for
	if e := n.http.Shutdown(shutdownCtx); e != nil {
		n.log.Warn("http shutdown", "err", e)
		_ = n.http.Close()
	}
	stopAdmin(shutdownCtx)
	cancel()
	if err == nil {
		if e := <-serveErr; e != nil && !errors.Is(e, http.ErrServerClosed) {
			err = e
		}
	}
	// Peers stop before the pipeline, so nothing they deliver is cut off
	// half-way; what the pipeline already holds is still made durable.
	stopWork()
	stopNetwork()
	<-netDone
	stopPipeline()
	stopAudit()
	stopGC()
	wg.Wait()
	n.saveCheckpoint()
	n.log.Info("stopped")
	return err
}

func (n *Node) closeStore() {
	n.closeAdminListener()
	if n.listener != nil && !n.ran {
		_ = n.listener.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.log.Warn("closing store", "err", err)
		}
	}
}

// issueNotices issues a quarantine notice for each device equivocation
// this validator has not noticed yet: a control transaction approving the
// two twins, which makes every later transaction of the device that sees
// it invalid on every node (device_quarantined).
func (n *Node) issueNotices(ctx context.Context) {
	n.issueCheckpoints(ctx)
	if n.registry == nil {
		return
	}
	for _, e := range n.registry.TakeEquivocations(n.publicKey) {
		if _, err := n.issueControl(ctx, dag.KindQuarantine, e.A, e.B, nil); err != nil && ctx.Err() == nil {
			n.log.Warn("quarantine notice", "device", e.Device, "err", err)
		}
	}
}

func (n *Node) issueBeacon(ctx context.Context, trunk, branch dag.ID) (dag.ID, error) {
	return n.issueCommittingBeacon(ctx, trunk, branch)
}

// issueControl signs, solves and submits a validator transaction of kind
// (a quarantine notice, a checkpoint cosignature) in the node's own chain.
func (n *Node) issueControl(ctx context.Context, kind dag.Kind, trunk, branch dag.ID, payload []byte) (dag.ID, error) {
	now := n.cfg.Now().UnixNano()
	tx := &dag.Transaction{Kind: kind, Trunk: trunk, Branch: branch, Time: now, Payload: payload}
	if st, known := n.ledger.IssuerState(n.publicKey, now); known {
		tx.Seq, tx.Prev = st.NextSeq, st.Prev
		if prev, ok := n.ledger.Info(st.Prev); ok && prev.Time > now {
			tx.Time = prev.Time // never run the chain backwards if the clock did
		}
	}
	tx.Sign(n.key)
	bits := n.ledger.Required(kind, len(tx.Payload), 0)
	nonce, err := pow.Solve(ctx, tx.ID(), bits, 1)
	if err != nil {
		return dag.ZeroID, err
	}
	tx.Nonce = nonce
	_, err = n.pipeline.Submit(ctx, tx.Bytes())
	return tx.ID(), err
}
