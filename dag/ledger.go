package dag

import (
	"container/heap"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tangled-ledger/tangled/pow"
)

// Config configures a Ledger. The zero value of every field but Genesis
// means its default.
type Config struct {
	// Genesis describes the network. Required.
	Genesis *Genesis
	// Store persists the log. Nil keeps everything in memory only (the
	// simulator does this); the node always passes a store.
	Store Store
	// MaxFutureDrift is how far ahead of Now an issuing time may be.
	MaxFutureDrift time.Duration
	// MaxParked bounds the transactions waiting for missing parents.
	MaxParked int
	// CumulativeWeightWindow enables cumulative weights (for the MCMC walk
	// and the simulator): each new transaction adds one to every ancestor
	// issued at most this long before it. Zero disables them.
	CumulativeWeightWindow time.Duration
	// Now is the clock for the future-drift check; nil means time.Now.
	Now func() time.Time
	// Rules is the rule layer (the device package in a node); nil means
	// none: an open network with the ledger's own rules only.
	Rules RuleLayer
	// MemoryBudget bounds the memory that confirmed transactions take, in
	// bytes (about 400 per transaction): beyond it the oldest confirmed
	// ones are archived to the store (when it implements Archive) and read
	// back from it on demand. Unconfirmed transactions stay while they are
	// in tip selection's reach: those that nothing in memory approves
	// leave once as many transactions as the budget holds arrived after
	// them (stale, see archive.go). Zero means DefaultMemoryBudget;
	// negative keeps everything in memory.
	MemoryBudget int64
	// StaleAfter is how far an unconfirmed transaction's issuing time
	// must lie behind the newest confirmed one's before it may leave
	// memory as stale (see MemoryBudget); zero means DefaultStaleAfter.
	StaleAfter time.Duration
}

const (
	// DefaultMaxFutureDrift tolerates devices whose clocks run a little
	// ahead of the node's.
	DefaultMaxFutureDrift = 30 * time.Second
	// DefaultMaxParked holds a few seconds of full-rate traffic whose
	// parents are still on their way from peers.
	DefaultMaxParked = 100_000
	// DefaultMemoryBudget keeps about 670,000 confirmed transactions in
	// memory: minutes of full-rate traffic, far more than tip selection,
	// the rate window and the audit log look back.
	DefaultMemoryBudget = 256 << 20
	// DefaultStaleAfter is five times tip selection's below-max-depth
	// bound (60 s): nothing that tip selection or a validator's beacon
	// sweep (which approves the ledger's tips) may still pick leaves
	// memory. During a partition nothing is confirmed, so nothing ages.
	DefaultStaleAfter = 5 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.MaxFutureDrift == 0 {
		c.MaxFutureDrift = DefaultMaxFutureDrift
	}
	if c.MaxParked == 0 {
		c.MaxParked = DefaultMaxParked
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = DefaultMemoryBudget
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Genesis == nil:
		return fmt.Errorf("%w: config has no genesis", ErrGenesis)
	case c.MaxFutureDrift < 0:
		return fmt.Errorf("dag: negative MaxFutureDrift %v", c.MaxFutureDrift)
	case c.MaxParked < 0:
		return fmt.Errorf("dag: negative MaxParked %d", c.MaxParked)
	case c.StaleAfter < 0:
		return fmt.Errorf("dag: negative StaleAfter %v", c.StaleAfter)
	case c.CumulativeWeightWindow < 0:
		return fmt.Errorf("dag: negative CumulativeWeightWindow %v", c.CumulativeWeightWindow)
	}
	return c.Genesis.Validate()
}

// Status is the outcome of offering one transaction to the ledger.
type Status uint8

// The statuses.
const (
	// StatusRejected: the transaction is invalid; Result.Err says why.
	StatusRejected Status = iota
	// StatusAttached: solid and attached (durable once Wait returns).
	StatusAttached
	// StatusParked: waiting for the IDs in Result.Missing; it attaches
	// by itself when they arrive.
	StatusParked
	// StatusDuplicate: already attached or parked; nothing changed.
	StatusDuplicate
)

func (s Status) String() string {
	switch s {
	case StatusRejected:
		return "rejected"
	case StatusAttached:
		return "attached"
	case StatusParked:
		return "parked"
	case StatusDuplicate:
		return "duplicate"
	}
	return "unknown"
}

// Result is the outcome for one transaction.
type Result struct {
	ID     ID
	Status Status
	// Missing lists parents or the predecessor that this node has never
	// seen (parked ones are not listed): the network asks peers for them.
	Missing []ID
	// Conflicting is set when the transaction is part of an equivocation.
	Conflicting bool
	// Err is set when Status is StatusRejected.
	Err error
}

// node flags.
const (
	flagConfirmed uint8 = 1 << iota
	flagConflicting
	flagRuledOut
	// flagArchived: the store's archive holds a record of the node.
	flagArchived
	// flagDirty: archived, but changed since (it waits in rearchive).
	flagDirty
	// flagEvicted: out of memory; only its ID, times, sequence, arrival and
	// flags are kept, for the in-memory nodes that still point at it.
	flagEvicted
	// flagStub: a placeholder holding only an ID (see nodeOrStub).
	flagStub
)

// node is the in-memory metadata of one attached transaction. The raw
// bytes live in the store; this is what attach, propagation and tip
// selection touch.
type node struct {
	id        ID
	parents   [2]*node // trunk, branch; nil for the genesis root
	prev      *node    // issuer's previous transaction
	next      *node    // first issuer-chain successor seen
	approvers []*node
	issuer    *issuer

	seq          uint64
	time         int64
	arrival      uint64
	confIndex    uint64
	weight       uint64
	validators   uint64 // bit i: validator i's beacons approve it
	oldestRoot   int64
	youngestRoot int64
	cw           uint64
	horizon      *horizon // see PastView.Horizon; nil without authorities
	tipIndex     int      // position in Ledger.tips, -1 when not a tip
	mark         uint32   // walk epoch, see Ledger.epoch
	pending      int32    // in-degree while confirm orders a set
	tag          uint32   // the rule layer's Applied.Tag
	kind         Kind
	flags        uint8
}

func (n *node) confirmed() bool   { return n.flags&flagConfirmed != 0 }
func (n *node) conflicting() bool { return n.flags&flagConflicting != 0 }
func (n *node) ruledOut() bool    { return n.flags&flagRuledOut != 0 }

// issuer is the per-key state: its chain start and validator index.
type issuer struct {
	key       PublicKey
	first     *node // the first seq-0 transaction seen
	head      *node // the attached transaction with the highest seq
	validator int   // index in the genesis validator list, -1 if none
}

// parkedTx waits for missing parents.
type parkedTx struct {
	tx      *Transaction
	missing int // how many distinct referenced IDs are not attached yet
}

// Ledger is the DAG: it attaches transactions, parks orphans, keeps tips,
// propagates approval weight, confirms and detects equivocation. Reads are
// safe from any goroutine; writes are serialised by one lock held only for
// in-memory work, never across I/O.
type Ledger struct {
	cfg     Config
	genesis Genesis
	rules   pow.Rules
	// rateRuler is cfg.Rules when it sets per-issuer rate rules.
	rateRuler  RateRuler
	validators map[PublicKey]int
	// authorities indexes the genesis authorities; named is the number of
	// issuers whose control transactions horizons track (authorities and
	// validators), zero in a network without authorities.
	authorities map[PublicKey]int
	named       int
	weights     []uint64
	total       uint64
	root        *node

	failed atomic.Pointer[error] // set once a store commit fails

	// archive is the store's Archive when archiving is on; resident is how
	// many confirmed transactions stay in memory. durableArrival is the
	// highest arrival whose commit has returned; archived is set once a
	// transaction has been archived (until then no lookup reads the store).
	archive        Archive
	resident       int
	chunk          int
	durableArrival atomic.Uint64
	archived       atomic.Bool
	// rewrites collects, while a Prune call reads records outside the
	// writer's lock, the IDs whose records an archive pass rewrote: Prune
	// distrusts what it read of those.
	rewrites rewriteWatch
	prune    pruneState
	// restored: Open loaded a checkpoint; inReplay: Open is replaying a
	// pruned log (which rebuilds approvers out of order, so nothing is
	// evicted as stale meanwhile).
	restored bool
	inReplay bool

	// newest is the newest transaction of the confirmed order (the root
	// before any), readable without the lock.
	newest atomic.Pointer[node]

	// writeMu serialises AttachVerified calls, so that arrival order, the
	// commit queue and the write sets agree. Taken before mu.
	writeMu sync.Mutex

	// mu guards the graph and everything in it.
	mu struct {
		sync.RWMutex
		nodes   map[ID]*node
		issuers map[PublicKey]*issuer
		tips    []*node
		// confirmed is the resident part of the confirmed order: positions
		// confirmedBase+1 onwards (the ones before are archived).
		confirmed     []*node
		confirmedBase uint64
		// rearchive lists archived nodes in memory whose record is stale.
		rearchive []*node
		// aging lists attached nodes in arrival order from agingHead on,
		// until an archive pass has looked at them (stale ones leave
		// memory; see archive.go); recheck lists unconfirmed ones the
		// queue has let go of that may have become stale since.
		aging     []*node
		agingHead int
		recheck   []*node
		// restored lists, during the replay of a pruned store, attached
		// transactions whose record knew more (restoreFromRecord).
		restored  []restored
		arrivals  uint64
		parked    map[ID]*parkedTx
		waiting   map[ID][]*parkedTx // missing ID -> transactions waiting for it
		conflicts int
		// rotated holds the new key of each attached rotation: the key
		// that must sign the chain's next transaction.
		rotated map[*node]PublicKey
		// unconfirmedData counts attached non-beacon transactions not yet
		// confirmed: validators issue beacons only while it is above zero.
		unconfirmedData int
		// beacons counts attached validator beacons: their share of the
		// ledger is what the beacon rule is tuned against.
		beacons  int
		epoch    uint32
		walk     []*node // scratch stack for walks
		rootWork []*node // scratch heap for refreshRoots
	}

	commit committer

	subs struct {
		sync.RWMutex
		next int
		fns  map[int]func(Event)
	}
}

// Open builds a ledger and restores its state from cfg.Store: from its
// checkpoint when the store holds one that fits the log (see
// checkpoint.go), else by replaying the log.
func Open(cfg Config) (*Ledger, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Store == nil {
		return newLedger(cfg), nil
	}
	l := newLedger(cfg)
	restored, err := l.restoreCheckpoint()
	if err != nil {
		return nil, err
	}
	if restored {
		if err := l.replayParked(cfg.Store.(CheckpointStore)); err != nil {
			return nil, err
		}
		l.restored = true
		return l, nil
	}
	// A restore that failed part-way may have changed l.
	l = newLedger(cfg)
	if err := l.replay(); err != nil {
		return nil, err
	}
	return l, nil
}

// newLedger is a ledger holding only the genesis root.
func newLedger(cfg Config) *Ledger {
	g := cfg.Genesis.withDefaults()
	l := &Ledger{
		cfg:        cfg,
		genesis:    g,
		rules:      g.Difficulty,
		validators: make(map[PublicKey]int, len(g.Validators)),
		total:      g.TotalWeight(),
	}
	l.rateRuler, _ = cfg.Rules.(RateRuler)
	for i, v := range g.Validators {
		l.validators[v.PublicKey] = i
		l.weights = append(l.weights, v.Weight)
	}
	l.authorities = make(map[PublicKey]int, len(g.Authorities))
	for i, a := range g.Authorities {
		l.authorities[a.PublicKey] = i
	}
	if len(g.Authorities) > 0 {
		l.named = len(g.Authorities) + len(g.Validators)
	}
	l.mu.rotated = make(map[*node]PublicKey)
	l.mu.nodes = make(map[ID]*node)
	l.mu.issuers = make(map[PublicKey]*issuer)
	l.mu.parked = make(map[ID]*parkedTx)
	l.mu.waiting = make(map[ID][]*parkedTx)
	l.subs.fns = make(map[int]func(Event))
	l.commit.init(l)

	gt := g.Time.UnixNano()
	l.root = &node{id: cfg.Genesis.ID(), time: gt, oldestRoot: gt, youngestRoot: gt,
		flags: flagConfirmed, tipIndex: -1, cw: 1}
	l.mu.nodes[l.root.id] = l.root
	l.addTip(l.root)
	l.newest.Store(l.root)

	if a, ok := cfg.Store.(Archive); ok && cfg.MemoryBudget > 0 {
		l.archive = a
		l.resident = int(max(cfg.MemoryBudget/nodeBytes, 1))
		l.chunk = min(archiveChunk, max(l.resident/8, 1))
	}
	return l
}

// Restored reports whether Open loaded a checkpoint instead of replaying
// the log.
func (l *Ledger) Restored() bool { return l.restored }

// replay rebuilds the in-memory state from the store's log. It runs the same
// attach code as live traffic, minus the checks that were already passed
// when the transactions were first accepted (signature, work, clock).
// Decoding (and hashing each ID) runs on every core ahead of the single,
// ordered attach.
func (l *Ledger) replay() error {
	var parked []*Transaction
	// Everything replayed is durable.
	l.durableArrival.Store(^uint64(0))
	defer func() { l.durableArrival.Store(l.mu.arrivals) }()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := batch{replaying: true, fromLog: true}
	// A pruned log has gaps, and references that only the archive (or
	// nothing) can resolve: see prune.go.
	pruned := l.archive != nil && l.pruned()
	l.inReplay = pruned
	defer func() { l.inReplay = false }()
	if pruned {
		l.archived.Store(true)
	}
	var high uint64
	err := replayDecoded(l.cfg.Store, l.genesis.MaxPayload, func(arrival uint64, tx *Transaction) error {
		high = arrival
		if pruned && arrival > l.mu.arrivals+1 {
			l.mu.arrivals = arrival - 1
		}
		if arrival != l.mu.arrivals+1 {
			return fmt.Errorf("%w: replay expected arrival %d, store has %d", ErrStore, l.mu.arrivals+1, arrival)
		}
		l.offer(&b, tx)
		r := b.results[len(b.results)-1]
		if pruned && r.Status == StatusParked {
			// A frontier transaction: a reference of it was pruned. It
			// stays out of memory and is resurrected from its record
			// when a kept transaction names it.
			l.unpark(r.ID)
			b.results = b.results[:0]
			b.events = b.events[:0]
			b.writes = WriteSet{}
			return nil
		}
		if r.Status != StatusAttached {
			return fmt.Errorf("%w: replay arrival %d (%s) did not attach: %s %v", ErrStore, arrival, r.ID.Short(), r.Status, r.Err)
		}
		if pruned {
			if err := l.restoreFromRecord(l.mu.nodes[r.ID]); err != nil {
				return err
			}
		}
		b.results = b.results[:0]
		b.events = b.events[:0]
		b.writes = WriteSet{}
		if l.archive != nil && arrival%uint64(l.chunk) == 0 {
			// The pass takes the graph lock itself; replay has the
			// ledger to itself meanwhile.
			l.mu.Unlock()
			err := l.archivePass()
			l.mu.Lock()
			return err
		}
		return nil
	}, func(tx *Transaction) error {
		parked = append(parked, tx)
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.arrivals = max(l.mu.arrivals, high)
	if len(l.mu.restored) > 0 {
		l.finishRestore()
	}
	return l.offerParked(parked)
}

// offerParked offers the stored parked transactions through the live path
// so that any whose parents are now all present attach; that needs a
// commit of its own. Called with l.mu held, at open.
func (l *Ledger) offerParked(parked []*Transaction) error {
	b := batch{replaying: true}
	for _, tx := range parked {
		l.offer(&b, tx)
	}
	if !b.writes.Empty() {
		if err := l.cfg.Store.Commit(&b.writes); err != nil {
			return fmt.Errorf("%w: %v", ErrStore, err)
		}
		if a := b.writes.Attached; len(a) > 0 {
			l.durableArrival.Store(a[len(a)-1].Arrival)
		}
	}
	return nil
}

// replayChunk is how many log entries one decoder takes at a time.
const replayChunk = 512

type replayBatch struct {
	arrivals []uint64
	raws     [][]byte
	txs      []*Transaction
	err      error
	decoded  chan struct{}
}

// replayDecoded runs store.Replay, decodes attached entries in parallel and
// hands them to attached in arrival order.
func replayDecoded(store Store, maxPayload int, attached func(uint64, *Transaction) error, parked func(*Transaction) error) error {
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *replayBatch, workers)
	ordered := make(chan *replayBatch, 2*workers)
	var decoders sync.WaitGroup
	for range workers {
		decoders.Add(1)
		go func() {
			defer decoders.Done()
			for rb := range work {
				rb.txs = make([]*Transaction, len(rb.raws))
				for i, raw := range rb.raws {
					tx, err := decode(raw, maxPayload, false)
					if err != nil {
						rb.err = fmt.Errorf("dag: replay arrival %d: %w", rb.arrivals[i], err)
						break
					}
					rb.txs[i] = tx
				}
				close(rb.decoded)
			}
		}()
	}
	// The consumer attaches in order and reports the first error; after an
	// error it keeps draining so the producer never blocks.
	consumed := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var first error
		for rb := range ordered {
			<-rb.decoded
			if first != nil {
				continue
			}
			if rb.err != nil {
				first = rb.err
				failed.Store(true)
				continue
			}
			for i, tx := range rb.txs {
				if err := attached(rb.arrivals[i], tx); err != nil {
					first = err
					failed.Store(true)
					break
				}
			}
		}
		consumed <- first
	}()

	cur := &replayBatch{decoded: make(chan struct{})}
	flush := func() {
		if len(cur.raws) == 0 {
			return
		}
		ordered <- cur
		work <- cur
		cur = &replayBatch{decoded: make(chan struct{})}
	}
	var parkedTxs []*Transaction
	storeErr := store.Replay(func(arrival uint64, raw []byte) error {
		if failed.Load() {
			return errReplayStopped
		}
		cur.arrivals = append(cur.arrivals, arrival)
		cur.raws = append(cur.raws, raw)
		if len(cur.raws) == replayChunk {
			flush()
		}
		return nil
	}, func(raw []byte) error {
		tx, err := decode(raw, maxPayload, false)
		if err != nil {
			return fmt.Errorf("dag: replay parked: %w", err)
		}
		parkedTxs = append(parkedTxs, tx)
		return nil
	})
	flush()
	close(work)
	close(ordered)
	decoders.Wait()
	if err := <-consumed; err != nil {
		return err
	}
	if storeErr != nil {
		return storeErr
	}
	for _, tx := range parkedTxs {
		if err := parked(tx); err != nil {
			return err
		}
	}
	return nil
}

var errReplayStopped = errors.New("dag: replay stopped")

// batch collects what one AttachVerified call produces.
type batch struct {
	results   []Result
	writes    WriteSet
	events    []change
	replaying bool
	// fromLog: replaying the attached log, whose transactions are not
	// duplicates (unlike parked ones, which may be pruned ones sent again).
	fromLog bool
	now     int64
	// archivedDup marks the batch's transactions found in the archive.
	archivedDup map[ID]bool
}

// AttachVerified offers transactions whose signatures the caller has
// already verified (the Pipeline does; the simulator builds trusted ones).
// Everything else is checked here: work including the issuer's rate,
// the clock, the issuer chain, beacons. It returns at once; Wait on the
// result blocks until the changes are durable, and events are delivered
// only then. Batches become durable in the order AttachVerified was called.
func (l *Ledger) AttachVerified(txs []*Transaction) *Pending {
	p := &Pending{l: l}
	if err := l.failure(); err != nil {
		p.err = err
		p.done = true
		return p
	}
	b := batch{results: make([]Result, 0, len(txs)), now: l.cfg.Now().UnixNano()}
	// writeMu keeps whole batches in order; the graph lock is dropped every
	// few transactions so readers (the API, tip selection's view, the
	// pipeline's duplicate check) never wait for a whole batch.
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.archivePass(); err != nil {
		l.failed.CompareAndSwap(nil, &err)
		p.err = err
		p.done = true
		return p
	}
	b.archivedDup = l.archivedDuplicates(txs)
	for i := 0; i < len(txs); i += lockSlice {
		l.mu.Lock()
		for _, tx := range txs[i:min(i+lockSlice, len(txs))] {
			l.offer(&b, tx)
		}
		l.mu.Unlock()
	}
	p.results = b.results
	l.commit.enqueue(p, &b)
	return p
}

// lockSlice is how many transactions one hold of the graph lock attaches:
// about 50 µs of work.
const lockSlice = 16

// offer handles one transaction. Called with l.mu held.
func (l *Ledger) offer(b *batch, tx *Transaction) {
	id := tx.ID()
	if _, ok := l.mu.nodes[id]; ok {
		b.results = append(b.results, Result{ID: id, Status: StatusDuplicate})
		return
	}
	if _, ok := l.mu.parked[id]; ok || b.archivedDup[id] {
		b.results = append(b.results, Result{ID: id, Status: StatusDuplicate})
		return
	}
	if !b.replaying && tx.Time > b.now+int64(l.cfg.MaxFutureDrift) {
		b.results = append(b.results, reject(id, fmt.Errorf("%w: %v ahead", ErrFuture, time.Duration(tx.Time-b.now))))
		return
	}
	if err := l.checkIssuerKind(tx); err != nil {
		b.results = append(b.results, reject(id, err))
		return
	}
	refs := tx.references()
	var missing []ID
	unknown := 0
	for _, ref := range refs {
		n, err := l.resolve(ref)
		if err != nil {
			b.results = append(b.results, reject(id, err))
			return
		}
		if n != nil {
			continue
		}
		unknown++
		if _, ok := l.mu.parked[ref]; !ok {
			missing = append(missing, ref)
		}
	}
	if unknown == 0 && tx.Seq > 0 && !b.fromLog {
		// A pruned transaction sent again: its predecessor still names it
		// as its successor (prune.go). Without this it would attach a
		// second time, as a fork of itself.
		if p := l.mu.nodes[tx.Prev]; p != nil && p.next != nil && p.next.id == id && p.next.flags&flagEvicted != 0 {
			b.results = append(b.results, Result{ID: id, Status: StatusDuplicate})
			return
		}
	}
	if unknown > 0 {
		if len(l.mu.parked) >= l.cfg.MaxParked {
			b.results = append(b.results, reject(id, fmt.Errorf("%w: %d parked", ErrParkedFull, len(l.mu.parked))))
			return
		}
		p := &parkedTx{tx: tx, missing: unknown}
		l.mu.parked[id] = p
		for _, ref := range refs {
			if _, ok := l.mu.nodes[ref]; !ok {
				l.mu.waiting[ref] = append(l.mu.waiting[ref], p)
			}
		}
		if !b.replaying {
			b.writes.Parked = append(b.writes.Parked, StoredTransaction{ID: id, Raw: tx.Bytes()})
		}
		b.results = append(b.results, Result{ID: id, Status: StatusParked, Missing: missing})
		return
	}
	res := l.attachSolid(b, tx)
	b.results = append(b.results, res)
	if res.Status == StatusAttached {
		l.releaseWaiters(b, id)
	}
}

// checkIssuerKind refuses kinds reserved to validators or authorities
// from anyone else: a check on the bytes alone, run before the signature.
func (l *Ledger) checkIssuerKind(tx *Transaction) error {
	spec := tx.Kind.Spec()
	if spec.PayloadSize != 0 && len(tx.Payload) != spec.PayloadSize {
		return fmt.Errorf("%w: a %s payload is %d bytes, not %d", ErrMalformed, spec.Name, spec.PayloadSize, len(tx.Payload))
	}
	if spec.ValidatorsOnly {
		if _, ok := l.validators[tx.Issuer]; !ok {
			return fmt.Errorf("%w: %s", ErrNotValidator, tx.Issuer)
		}
	}
	if spec.AuthoritiesOnly {
		if _, ok := l.authorities[tx.Issuer]; !ok {
			return fmt.Errorf("%w: %s", ErrNotAuthority, tx.Issuer)
		}
	}
	return nil
}

// releaseWaiters attaches parked transactions whose last missing reference
// was id, and their parked descendants in turn.
func (l *Ledger) releaseWaiters(b *batch, id ID) {
	queue := []ID{id}
	for len(queue) > 0 {
		arrived := queue[0]
		queue = queue[1:]
		waiters := l.mu.waiting[arrived]
		delete(l.mu.waiting, arrived)
		for _, p := range waiters {
			p.missing--
			if p.missing > 0 {
				continue
			}
			pid := p.tx.ID()
			delete(l.mu.parked, pid)
			b.writes.Unparked = append(b.writes.Unparked, pid)
			res := l.attachSolid(b, p.tx)
			if res.Status == StatusAttached {
				queue = append(queue, pid)
				continue
			}
			// Invalid once its past is known: whatever waits for it can
			// never become solid, so it goes too.
			l.dropWaiters(b, pid)
		}
	}
}

// dropWaiters discards the parked transactions that depend on id.
func (l *Ledger) dropWaiters(b *batch, id ID) {
	stack := []ID{id}
	for len(stack) > 0 {
		gone := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range l.mu.waiting[gone] {
			pid := p.tx.ID()
			if _, ok := l.mu.parked[pid]; !ok {
				continue
			}
			delete(l.mu.parked, pid)
			b.writes.Unparked = append(b.writes.Unparked, pid)
			stack = append(stack, pid)
		}
		delete(l.mu.waiting, gone)
	}
}

// references lists the distinct IDs a transaction needs before it is solid:
// its parents and its issuer predecessor.
func (tx *Transaction) references() []ID {
	refs := make([]ID, 0, 3)
	refs = append(refs, tx.Trunk)
	if tx.Branch != tx.Trunk {
		refs = append(refs, tx.Branch)
	}
	if !tx.Prev.IsZero() && tx.Prev != tx.Trunk && tx.Prev != tx.Branch {
		refs = append(refs, tx.Prev)
	}
	return refs
}

func reject(id ID, err error) Result { return Result{ID: id, Status: StatusRejected, Err: err} }

// attachSolid checks a solid transaction against its past and, if it
// passes, attaches it. Called with l.mu held.
func (l *Ledger) attachSolid(b *batch, tx *Transaction) Result {
	// A parked transaction's references may have been archived while it
	// waited: bring them back first.
	for _, ref := range tx.references() {
		if n, err := l.resolve(ref); err != nil || n == nil {
			return reject(tx.ID(), fmt.Errorf("%w: reference %s: %v", ErrStore, ref.Short(), err))
		}
	}
	prev, err := l.checkSolid(b, tx)
	if err != nil {
		return reject(tx.ID(), err)
	}
	return l.applySolid(b, tx, prev)
}

// checkSolid is the read-only half of attach: the issuer chain, the work
// with the issuer's rate, and the rule layer, all judged from the
// transaction and its past, so a rejected transaction changes nothing.
// Stored transactions passed it once and are not judged again on replay.
// Called with l.mu held.
func (l *Ledger) checkSolid(b *batch, tx *Transaction) (prev *node, err error) {
	id := tx.ID()
	if tx.Seq > 0 {
		prev = l.mu.nodes[tx.Prev]
		if prev.issuer == nil || l.successorKey(prev) != tx.Issuer || prev.seq != tx.Seq-1 {
			return nil, fmt.Errorf("%w: predecessor %s is not sequence %d of this issuer", ErrChain, tx.Prev.Short(), tx.Seq-1)
		}
		if tx.Time < prev.time {
			return nil, fmt.Errorf("%w: issuing time earlier than the predecessor's", ErrChain)
		}
	}
	if b.replaying {
		return prev, nil
	}
	// The rule layer's view; an open network (no layer) skips the two
	// parent lookups it costs.
	var view pastView
	if l.cfg.Rules != nil {
		view = pastView{l: l, b: b, near: [3]*node{l.mu.nodes[tx.Trunk], l.mu.nodes[tx.Branch], prev}}
	}
	rules := l.rules
	recent := 0
	if !tx.Kind.Spec().RateExempt {
		if l.rateRuler != nil {
			if rr, ok := l.rateRuler.RateRule(tx, view); ok {
				rules = rr.apply(rules)
			}
		}
		recent = l.recentCount(rules, prev, tx.Time)
	}
	if need := rules.Required(len(tx.Payload), recent); !pow.Verify(id, tx.Nonce, need) {
		return nil, fmt.Errorf("%w: need %d bits", ErrWork, need)
	}
	if l.cfg.Rules != nil {
		if err := l.cfg.Rules.Check(tx, view); err != nil {
			return nil, err
		}
	}
	return prev, nil
}

// successorKey is the key that signs the transaction after p in its
// chain: p's own, or the new key p rotates to.
func (l *Ledger) successorKey(p *node) PublicKey {
	if p.kind.Spec().RotatesKey {
		return l.mu.rotated[p]
	}
	return p.issuer.key
}

// applySolid is the other half: it attaches a checked transaction and
// tells the rule layer. Called with l.mu held.
func (l *Ledger) applySolid(b *batch, tx *Transaction, prev *node) Result {
	id := tx.ID()
	nodes := l.mu.nodes
	trunk, branch := nodes[tx.Trunk], nodes[tx.Branch]

	iss := l.issuerOf(tx.Issuer)

	l.mu.arrivals++
	n := &node{
		id: id, parents: [2]*node{trunk, branch}, prev: prev, issuer: iss,
		seq: tx.Seq, time: tx.Time, arrival: l.mu.arrivals, kind: tx.Kind,
		tipIndex: -1, cw: 1,
	}
	n.oldestRoot, n.youngestRoot = n.rootsFromParents()
	nodes[id] = n
	if l.archive != nil {
		l.mu.aging = append(l.mu.aging, n)
	}
	for i, p := range n.parents {
		if i == 1 && p == trunk {
			break
		}
		p.approvers = append(p.approvers, n)
		l.touch(p)
		if p.tipIndex >= 0 {
			l.removeTip(p)
		}
	}
	l.addTip(n)
	b.writes.Attached = append(b.writes.Attached, StoredTransaction{Arrival: n.arrival, ID: id, Raw: tx.Bytes()})

	if iss.head == nil || n.seq > iss.head.seq {
		if iss.head != nil {
			l.unpinned(iss.head)
		}
		iss.head = n
	}
	if n.kind.Spec().RotatesKey {
		// The chain goes on under the new key: its state (next sequence,
		// predecessor) is found under that key from now on.
		newKey, _, _ := ParseRotatePayload(tx.Payload)
		l.mu.rotated[n] = newKey
		next := l.issuerOf(newKey)
		if next.head == nil || n.seq > next.head.seq {
			if next.head != nil {
				l.unpinned(next.head)
			}
			next.head = n
		}
	}
	if l.named > 0 {
		var prevHorizon *horizon
		if prev != nil {
			prevHorizon = prev.horizon
		}
		n.horizon = mergeHorizons([3]*horizon{trunk.horizon, branch.horizon, prevHorizon})
		if n.kind.Spec().Control {
			// Only control kinds look the issuer up (a scan of the genesis).
			if named, ok := l.genesis.Named(tx.Issuer); ok {
				n.horizon = n.horizon.with(named, n.seq+1, l.named)
			}
		}
	}
	if (trunk.ruledOut() || branch.ruledOut()) && !n.kind.Spec().KeepsApproval() {
		// Approving what is ruled out is ruled out too, except for control
		// transactions (a revocation that approves the device's last
		// transaction must still be confirmed) and the audit log's.
		n.flags |= flagRuledOut
		l.removeTip(n)
		l.retipParents(b, n)
	}

	// Equivocation: a second transaction naming the same predecessor (or a
	// second first transaction) is proof of a cloned key.
	var twin *node
	if prev == nil {
		if iss.first == nil {
			iss.first = n
		} else {
			twin = iss.first
		}
	} else {
		if prev.conflicting() {
			// A chain built on an equivocation inherits the quarantine.
			n.flags |= flagConflicting
			l.mu.conflicts++
			l.removeTip(n)
		}
		if prev.next == nil || prev.next.id == id {
			// (The same ID: a stub of n that replay restored from prev's
			// record before n's turn came; see restoreFromRecord.)
			prev.next = n
			l.touch(prev)
		} else {
			twin = prev.next
		}
	}
	if n.kind.Spec().Data && !n.ruledOut() {
		l.mu.unconfirmedData++
	}
	if n.kind == KindBeacon {
		l.mu.beacons++
	}
	b.events = append(b.events, change{kind: EventAttached, n: n, tx: tx})
	if l.cfg.Rules != nil {
		applied := l.cfg.Rules.Apply(tx, pastView{l: l, b: b, near: [3]*node{trunk, branch, prev}, self: n})
		n.tag = applied.Tag
		if applied.RuleOut {
			l.ruleOut(b, n)
		}
	}
	if twin != nil {
		l.markConflicting(b, n)
		// The twin's chain may run through archived transactions.
		for c, _ := l.live(twin); c != nil; c, _ = l.live(c.next) {
			l.markConflicting(b, c)
		}
		if l.cfg.Rules != nil {
			l.cfg.Rules.Equivocation(twin.id, n.id, pastView{l: l, b: b, self: n})
		}
	}

	if l.cfg.CumulativeWeightWindow > 0 {
		l.addCumulativeWeight(n)
	}
	if n.kind.Spec().Weighs {
		l.propagate(b, n, iss.validator)
	}
	return Result{ID: id, Status: StatusAttached, Conflicting: n.conflicting()}
}

// rootsOf gives what a child inherits from parent p for its OCRI/YCRI: a
// confirmed parent is itself a root; an unconfirmed one passes on its own.
func rootsOf(p *node) (oldest, youngest int64) {
	if p.confirmed() {
		return p.time, p.time
	}
	return p.oldestRoot, p.youngestRoot
}

// rootsFromParents computes n's OCRI/YCRI from its parents as they are now.
func (n *node) rootsFromParents() (oldest, youngest int64) {
	oldest, youngest = rootsOf(n.parents[0])
	if n.parents[1] != n.parents[0] {
		o, y := rootsOf(n.parents[1])
		oldest, youngest = min(oldest, o), max(youngest, y)
	}
	return oldest, youngest
}

// recentCount counts the issuer's transactions before one issued at t, up
// to the number that can still change the difficulty. The chain is read
// from the archive where memory no longer links it. Called with l.mu held.
func (l *Ledger) recentCount(rules pow.Rules, prev *node, t int64) int {
	if rules.BitsPerExcess == 0 {
		return 0
	}
	limit := rules.MaxCounted()
	since := t - int64(rules.RateWindow)
	count := 0
	for p := prev; p != nil && count < limit && p.time > since; p = l.chainPrev(p) {
		count++
	}
	return count
}

// issuerOf returns the state of key, creating it on first use.
func (l *Ledger) issuerOf(key PublicKey) *issuer {
	iss := l.mu.issuers[key]
	if iss == nil {
		iss = &issuer{key: key, validator: -1}
		if v, ok := l.validators[key]; ok {
			iss.validator = v
		}
		l.mu.issuers[key] = iss
	}
	return iss
}

// ruleOut flags n and its unconfirmed descendants by approval as ruled out
// (see Applied.RuleOut): they leave the tip pools and stop counting as
// data waiting for confirmation, since honest validators never approve
// them. The walk stops at control and audit transactions (and does not
// flag them, see KindSpec.KeepsApproval): the revocation that caused it
// may approve the device's last transaction itself, and must be
// confirmed. Each node is flagged once, so the walks cost O(ruled-out
// nodes).
func (l *Ledger) ruleOut(b *batch, n *node) {
	stack := []*node{n}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c.flags&flagEvicted != 0 && !c.confirmed() {
			// A stale approver (archive.go): judged in memory.
			if c, _ = l.live(c); c == nil {
				continue
			}
		}
		if c.confirmed() || c.ruledOut() || (c != n && c.kind.Spec().KeepsApproval()) {
			continue
		}
		c.flags |= flagRuledOut
		if c.tipIndex >= 0 {
			l.removeTip(c)
		}
		l.retipParents(b, c)
		if c.kind.Spec().Data {
			l.mu.unconfirmedData--
		}
		b.events = append(b.events, change{kind: EventRuledOut, n: c})
		stack = append(stack, c.approvers...)
	}
}

// retipParents makes the parents of a ruled-out transaction tips again
// when nothing but ruled-out transactions approves them: otherwise valid
// transactions whose only approvers were ruled out would wait for ever,
// neither tips nor confirmed.
func (l *Ledger) retipParents(b *batch, c *node) {
	for i, p := range c.parents {
		if p == nil || i == 1 && p == c.parents[0] {
			continue
		}
		if p.confirmed() || p.ruledOut() || p.conflicting() || p.tipIndex >= 0 {
			continue
		}
		orphaned := true
		for _, a := range p.approvers {
			if cur := l.current(a); cur != nil {
				a = cur
			}
			if !a.ruledOut() {
				orphaned = false
				break
			}
		}
		if orphaned {
			l.addTip(p)
			b.events = append(b.events, change{kind: EventTip, n: p})
		}
	}
}

func (l *Ledger) markConflicting(b *batch, n *node) {
	if n.conflicting() {
		return
	}
	n.flags |= flagConflicting
	l.mu.conflicts++
	l.touch(n)
	if n.tipIndex >= 0 {
		l.removeTip(n)
	}
	b.events = append(b.events, change{kind: EventConflicting, n: n})
}

// addCumulativeWeight adds one to every ancestor of n inside the window.
func (l *Ledger) addCumulativeWeight(n *node) {
	since := n.time - int64(l.cfg.CumulativeWeightWindow)
	epoch := l.nextEpoch()
	stack := l.mu.walk[:0]
	for _, p := range n.parents {
		if p.mark != epoch {
			p.mark = epoch
			stack = append(stack, p)
		}
	}
	for len(stack) > 0 {
		a := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if a.time < since || a == l.root {
			continue
		}
		a.cw++
		for _, p := range a.parents {
			if p != nil && p.mark != epoch {
				p.mark = epoch
				stack = append(stack, p)
			}
		}
	}
	l.mu.walk = stack[:0]
}

// propagate sets validator v's bit on the beacon's past cone. The walk
// stops at transactions that already carry the bit and at confirmed ones
// (whose past is confirmed too), so each bit is set at most once per
// transaction: O(transactions × validators) in total.
func (l *Ledger) propagate(b *batch, beacon *node, v int) {
	bit := uint64(1) << uint(v)
	w := l.weights[v]
	var newly []*node
	stack := l.mu.walk[:0]
	stack = append(stack, beacon.parents[0], beacon.parents[1])
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.flags&flagEvicted != 0 && !n.confirmed() {
			// Never met while the parents of every in-memory node are in
			// memory or confirmed (archive.go); judged in memory if so.
			if n, _ = l.live(n); n == nil {
				continue
			}
		}
		if n.validators&bit != 0 || n.confirmed() {
			continue
		}
		n.validators |= bit
		n.weight += w
		if l.exceedsThreshold(n.weight) {
			n.flags |= flagConfirmed
			newly = append(newly, n)
		}
		stack = append(stack, n.parents[0], n.parents[1])
	}
	l.mu.walk = stack[:0]
	if len(newly) > 0 {
		l.confirm(b, newly)
	}
}

func (l *Ledger) exceedsThreshold(weight uint64) bool {
	t := l.genesis.Threshold
	// weight and total are below 2^48 and the threshold terms small, so
	// the products do not overflow.
	return weight*t.Denominator > l.total*t.Numerator
}

// confirm appends newly confirmed transactions to the confirmed order:
// parents (and issuer predecessors) before children, ties broken by lower
// ID, so the order depends on the DAG and not on arrival order within the
// set. Kahn's algorithm with a heap; set membership and in-degrees live in
// the nodes (mark, pending) so a confirmation allocates nothing per node.
func (l *Ledger) confirm(b *batch, newly []*node) {
	epoch := l.nextEpoch()
	for _, n := range newly {
		n.mark = epoch
	}
	ready := nodeHeap(make([]*node, 0, len(newly)))
	for _, n := range newly {
		n.pending = 0
		for _, r := range n.orderRefs() {
			if r = l.current(r); r != nil && r.mark == epoch {
				n.pending++
			}
		}
		if n.pending == 0 {
			ready = append(ready, n)
		}
	}
	heap.Init(&ready)
	emitted := 0
	emit := func(n *node) {
		n.mark = 0 // out of the set: a later edge to it is not counted
		l.mu.confirmed = append(l.mu.confirmed, n)
		n.confIndex = l.totalConfirmed()
		l.newest.Store(n)
		if n.kind.Spec().Data && !n.ruledOut() {
			l.mu.unconfirmedData--
		}
		b.events = append(b.events, change{kind: EventConfirmed, n: n})
		emitted++
	}
	release := func(c *node) {
		// An evicted copy stands for the node that replaced it, if any.
		if c = l.current(c); c != nil && c.mark == epoch && c.pending > 0 {
			c.pending--
			if c.pending == 0 {
				heap.Push(&ready, c)
			}
		}
	}
	for ready.Len() > 0 {
		n := heap.Pop(&ready).(*node)
		emit(n)
		for _, c := range n.approvers {
			release(c)
		}
		if c := l.current(n.next); c != nil && c.parents[0] != n && c.parents[1] != n {
			release(c)
		}
	}
	if emitted < len(newly) {
		// Only an equivocation twin (a second chain successor, which n.next
		// does not reach) is left waiting; it goes last, by ID.
		var rest []*node
		for _, n := range newly {
			if n.mark == epoch {
				rest = append(rest, n)
			}
		}
		sort.Slice(rest, func(i, j int) bool { return rest[i].id.Compare(rest[j].id) < 0 })
		for _, n := range rest {
			emit(n)
		}
	}
	l.refreshRoots(newly)
}

// refreshRoots brings OldestRoot and YoungestRoot of the unconfirmed
// descendants of newly up to date. A transaction's roots are the confirmed
// transactions its unconfirmed past cone reaches; attach computes them from
// its parents, so they are exact then, but a confirmation moves the
// boundary up under transactions attached earlier. Without this refresh a
// child attached while its parent was unconfirmed would inherit the
// parent's roots as they were at the parent's attach, its own children the
// same, and so on: on a busy network every tip would carry the genesis as
// its oldest root and turn lazy a minute after the network started.
//
// The walk visits unconfirmed transactions in arrival order, which puts
// every parent before its children, and stops where nothing changed. It
// covers the unconfirmed transactions above the new boundary, a few
// hundred in steady state; during a partition nothing confirms and nothing
// is walked.
func (l *Ledger) refreshRoots(newly []*node) {
	epoch := l.nextEpoch()
	work := arrivalHeap(l.mu.rootWork[:0])
	enqueueApprovers := func(n *node) {
		for _, a := range n.approvers {
			if a.flags&flagEvicted != 0 && !a.confirmed() {
				// A stale approver: its roots move too.
				if a, _ = l.live(a); a == nil {
					continue
				}
			}
			if !a.confirmed() && a.mark != epoch {
				a.mark = epoch
				work.push(a)
			}
		}
	}
	for _, n := range newly {
		enqueueApprovers(n)
	}
	for len(work) > 0 {
		n := work.pop()
		o, y := n.rootsFromParents()
		if o == n.oldestRoot && y == n.youngestRoot {
			continue
		}
		n.oldestRoot, n.youngestRoot = o, y
		enqueueApprovers(n)
	}
	l.mu.rootWork = work[:0]
}

// arrivalHeap is a binary min-heap of nodes by arrival, parents before
// children. It is typed, not a container/heap, because refreshRoots runs
// on every confirmation inside the ledger's critical section.
type arrivalHeap []*node

func (h *arrivalHeap) push(n *node) {
	*h = append(*h, n)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].arrival <= s[i].arrival {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

func (h *arrivalHeap) pop() *node {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = nil
	s = s[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(s) && s[l].arrival < s[least].arrival {
			least = l
		}
		if r < len(s) && s[r].arrival < s[least].arrival {
			least = r
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	*h = s
	return top
}

// nextEpoch starts a new walk. Zero is never an epoch, so a zero mark
// means "in no walk".
func (l *Ledger) nextEpoch() uint32 {
	l.mu.epoch++
	if l.mu.epoch == 0 {
		l.mu.epoch = 1
	}
	return l.mu.epoch
}

// nodeHeap orders nodes by ID.
type nodeHeap []*node

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return h[i].id.Compare(h[j].id) < 0 }
func (h nodeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)        { *h = append(*h, x.(*node)) }
func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}

// orderRefs lists the distinct transactions that must precede n in the
// confirmed order.
func (n *node) orderRefs() [3]*node {
	refs := [3]*node{n.parents[0]}
	if n.parents[1] != n.parents[0] {
		refs[1] = n.parents[1]
	}
	if n.prev != nil && n.prev != n.parents[0] && n.prev != n.parents[1] {
		refs[2] = n.prev
	}
	return refs
}

func (l *Ledger) addTip(n *node) {
	n.tipIndex = len(l.mu.tips)
	l.mu.tips = append(l.mu.tips, n)
}

func (l *Ledger) removeTip(n *node) {
	if n.tipIndex < 0 {
		return
	}
	last := len(l.mu.tips) - 1
	moved := l.mu.tips[last]
	l.mu.tips[n.tipIndex] = moved
	moved.tipIndex = n.tipIndex
	l.mu.tips = l.mu.tips[:last]
	n.tipIndex = -1
}

// info snapshots n. Called with l.mu held.
func (l *Ledger) info(n *node) Info {
	if n.flags&flagEvicted != 0 {
		// An event can outlive the node's stay in memory.
		if g := l.peek(n.id); g != nil && g.flags&flagEvicted == 0 {
			n = g
		}
	}
	in := Info{
		ID: n.id, Kind: n.kind, Seq: n.seq, Time: n.time, Arrival: n.arrival,
		Confirmed: n.confirmed(), ConfirmedIndex: n.confIndex, Conflicting: n.conflicting(),
		RuledOut: n.ruledOut(),
		Weight:   n.weight, Validators: n.validators,
		OldestRoot: n.oldestRoot, YoungestRoot: n.youngestRoot,
		CumulativeWeight: n.cw, Approvers: len(n.approvers),
	}
	if n.parents[0] != nil {
		in.Trunk, in.Branch = n.parents[0].id, n.parents[1].id
	}
	if n.prev != nil {
		in.Prev = n.prev.id
	}
	if n.issuer != nil {
		in.Issuer = n.issuer.key
	}
	return in
}

func (l *Ledger) failure() error {
	if p := l.failed.Load(); p != nil {
		return *p
	}
	return nil
}
