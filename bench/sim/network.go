package sim

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Network describes the network model: N nodes, each with its own view of
// the tangle, joined by a topology whose links delay (and may lose) each
// message. Every node is an issuer; each transaction is issued by a node
// drawn in proportion to its weight, which selects its parents among the
// tips of its own view and gossips it to its neighbours; a node that
// receives a transaction attaches it once its parents are attached there
// (it is solid) and forwards it to its other neighbours. Confirmation is by
// approval weight: a transaction is confirmed at a node when the issuers
// of the transactions in its future cone that the node holds, itself
// included, carry more than Confirm.Quorum (θ) of the total weight.
type Network struct {
	// Nodes is N, at least 2 and at most MaxNodes.
	Nodes int
	// Topology joins the nodes; the zero value means a random
	// DefaultDegree-regular graph.
	Topology Topology
	// Latency draws the delay of each message over a link. Nil means
	// ConstantDelay(DefaultDelay). Its mean is the model's h.
	Latency Delay
	// Loss is the probability that a gossip message is lost. A node that
	// receives a transaction whose parent it lacks asks the sender for it,
	// and the reply (a stream, not gossip) arrives a round trip later.
	Loss float64
	// Weights are the nodes' weights; the zero value means equal weights.
	Weights Weights
	// SelfDelay is how long after its issue a transaction is attached at
	// its own issuer (zero: at once). It may not exceed the latency's
	// minimum, so that no node holds a transaction before its issuer.
	SelfDelay time.Duration
}

// Topology names a graph of the nodes.
type Topology struct {
	// Kind is "complete", "regular" (random Degree-regular), "smallworld"
	// (Watts–Strogatz: a ring of Degree nearest neighbours, each edge
	// rewired with probability Rewire) or "file" (Edges).
	Kind   string
	Degree int
	Rewire float64
	// Edges are the undirected links of a "file" topology; Name is what
	// String prints for it.
	Edges [][2]int32
	Name  string
}

// Weights are the issuers' weights: equal, or Zipf's law with exponent
// Zipf (the node of rank r weighs r^−Zipf).
type Weights struct {
	Zipf float64
}

// The network defaults and bounds.
const (
	DefaultDegree = 8
	// MaxNodes bounds N: each node keeps, per tracked transaction, a
	// bitset of the issuers it has seen approve it (N bits).
	MaxNodes = 2000
)

func (t Topology) String() string {
	switch t.Kind {
	case "regular":
		return fmt.Sprintf("regular:%d", t.Degree)
	case "smallworld":
		return fmt.Sprintf("smallworld:%d,%g", t.Degree, t.Rewire)
	case "file":
		return "file:" + t.Name
	}
	return t.Kind
}

func (w Weights) String() string {
	if w.Zipf == 0 {
		return "uniform"
	}
	return fmt.Sprintf("zipf:%g", w.Zipf)
}

// of returns the weights of n nodes, heaviest first.
func (w Weights) of(n int) []float64 {
	ws := make([]float64, n)
	for i := range ws {
		ws[i] = math.Pow(float64(i+1), -w.Zipf)
	}
	return ws
}

func (n *Network) withDefaults(c *Config) {
	if n.Topology.Kind == "" {
		n.Topology = Topology{Kind: "regular", Degree: DefaultDegree}
	}
	if n.Latency == nil {
		n.Latency = c.Delay
	}
	if n.Latency == nil {
		n.Latency = ConstantDelay(DefaultDelay)
	}
	// h, for λh, the tail, the start age and the sampling step, is the
	// mean latency of one hop.
	c.Delay = n.Latency
	c.Engine = EngineNetwork
	if len(c.Confirm.Issuers) == 0 {
		c.Confirm.Issuers = n.Weights.of(n.Nodes)
	}
	if c.Confirm.Quorum == 0 {
		c.Confirm.Quorum = DefaultQuorum
	}
	c.Confirm.CWThreshold = 0
}

func (n *Network) validate(c *Config) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: network: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	t := n.Topology
	switch {
	case n.Nodes < 2 || n.Nodes > MaxNodes:
		return bad("%d nodes, want 2 to %d", n.Nodes, MaxNodes)
	case c.TipSelection != URTS || c.Retention != 0 || c.TipExpiry != 0:
		return bad("nodes select tips by URTS without retention or tip expiry")
	case c.Model != Continuous:
		return bad("the discrete model has no network form")
	case !(n.Loss >= 0 && n.Loss < 1):
		return bad("loss %v, want 0 ≤ loss < 1", n.Loss)
	case n.Weights.Zipf < 0 || math.IsNaN(n.Weights.Zipf) || math.IsInf(n.Weights.Zipf, 0):
		return bad("zipf exponent %v, want a finite number ≥ 0", n.Weights.Zipf)
	case n.SelfDelay < 0 || n.SelfDelay > minDelay(n.Latency):
		return bad("self delay %v, want 0 to the latency's minimum %v", n.SelfDelay, minDelay(n.Latency))
	case len(c.Confirm.Issuers) != n.Nodes:
		return bad("%d issuer weights for %d nodes", len(c.Confirm.Issuers), n.Nodes)
	}
	switch t.Kind {
	case "complete":
	case "regular":
		if t.Degree < 1 || t.Degree >= n.Nodes || t.Degree*n.Nodes%2 != 0 {
			return bad("regular degree %d for %d nodes: want 1 ≤ D < N with N·D even", t.Degree, n.Nodes)
		}
	case "smallworld":
		if t.Degree < 2 || t.Degree%2 != 0 || t.Degree >= n.Nodes || !(t.Rewire >= 0 && t.Rewire <= 1) {
			return bad("smallworld %d,%v for %d nodes: want an even K < N and 0 ≤ P ≤ 1", t.Degree, t.Rewire, n.Nodes)
		}
	case "file":
		for _, e := range t.Edges {
			if e[0] < 0 || e[1] < 0 || int(e[0]) >= n.Nodes || int(e[1]) >= n.Nodes || e[0] == e[1] {
				return bad("edge %d-%d: want two different nodes below %d", e[0], e[1], n.Nodes)
			}
		}
	default:
		return bad("topology %q, want complete, regular:D, smallworld:K,P or file:PATH", t.Kind)
	}
	return nil
}

// ParseTopology reads "complete", "regular:D", "smallworld:K,P" or
// "file:PATH" (one edge "A B" per line, nodes numbered from 0, # starts a
// comment); read loads a file.
func ParseTopology(s string, read func(path string) ([]byte, error)) (Topology, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	bad := fmt.Errorf("%w: topology %q: want complete, regular:D, smallworld:K,P or file:PATH", ErrConfig, s)
	switch kind {
	case "complete":
		return Topology{Kind: kind}, nil
	case "regular":
		d, err := strconv.Atoi(arg)
		if err != nil {
			return Topology{}, bad
		}
		return Topology{Kind: kind, Degree: d}, nil
	case "smallworld":
		k, p, ok := strings.Cut(arg, ",")
		d, err1 := strconv.Atoi(k)
		r, err2 := strconv.ParseFloat(p, 64)
		if !ok || err1 != nil || err2 != nil {
			return Topology{}, bad
		}
		return Topology{Kind: kind, Degree: d, Rewire: r}, nil
	case "file":
		b, err := read(arg)
		if err != nil {
			return Topology{}, fmt.Errorf("%w: topology: %v", ErrConfig, err)
		}
		t := Topology{Kind: kind, Name: arg}
		for i, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, "#")
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			a, err1 := strconv.ParseInt(f[0], 10, 32)
			var c int64
			var err2 error
			if len(f) == 2 {
				c, err2 = strconv.ParseInt(f[1], 10, 32)
			}
			if len(f) != 2 || err1 != nil || err2 != nil {
				return Topology{}, fmt.Errorf("%w: topology %s line %d: want two node numbers", ErrConfig, arg, i+1)
			}
			t.Edges = append(t.Edges, [2]int32{int32(a), int32(c)})
		}
		return t, nil
	}
	return Topology{}, bad
}

// ParseWeights reads "uniform" or "zipf:S".
func ParseWeights(s string) (Weights, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	switch kind {
	case "uniform":
		return Weights{}, nil
	case "zipf":
		z, err := strconv.ParseFloat(arg, 64)
		if err == nil && z >= 0 && !math.IsInf(z, 0) {
			return Weights{Zipf: z}, nil
		}
	}
	return Weights{}, fmt.Errorf("%w: weights %q: want uniform or zipf:S with S ≥ 0", ErrConfig, s)
}

// minDelay is the smallest delay d can draw.
func minDelay(d Delay) time.Duration {
	switch d := d.(type) {
	case ConstantDelay:
		return time.Duration(d)
	case UniformDelay:
		return d.Min
	}
	return 0
}

// graph builds the adjacency lists of t over n nodes, connected, from rng.
func (t Topology) graph(n int, rng *rand.Rand) ([][]int32, error) {
	for range 100 {
		var edges [][2]int32
		switch t.Kind {
		case "complete":
			for i := range n {
				for j := i + 1; j < n; j++ {
					edges = append(edges, [2]int32{int32(i), int32(j)})
				}
			}
		case "regular":
			edges = randomRegular(n, t.Degree, rng)
		case "smallworld":
			edges = smallWorld(n, t.Degree, t.Rewire, rng)
		case "file":
			edges = t.Edges
		}
		if edges == nil {
			continue
		}
		adj := make([][]int32, n)
		seen := map[[2]int32]bool{}
		for _, e := range edges {
			a, b := min(e[0], e[1]), max(e[0], e[1])
			if seen[[2]int32{a, b}] {
				continue
			}
			seen[[2]int32{a, b}] = true
			adj[a] = append(adj[a], b)
			adj[b] = append(adj[b], a)
		}
		if connected(adj) {
			return adj, nil
		}
		if t.Kind == "file" || t.Kind == "complete" {
			break
		}
	}
	return nil, fmt.Errorf("%w: topology %s over %d nodes is not connected", ErrConfig, t, n)
}

// randomRegular pairs n·d half-edges at random, refusing loops and double
// edges (the pairing model with rejection of single pairs, as in
// Steger–Wormald), and returns nil when it gets stuck so the caller
// retries.
func randomRegular(n, d int, rng *rand.Rand) [][2]int32 {
	points := make([]int32, 0, n*d)
	for i := range n {
		for range d {
			points = append(points, int32(i))
		}
	}
	has := map[[2]int32]bool{}
	var edges [][2]int32
	for len(points) > 0 {
		ok := false
		for range 100 {
			i, j := rng.IntN(len(points)), rng.IntN(len(points))
			a, b := points[i], points[j]
			key := [2]int32{min(a, b), max(a, b)}
			if i == j || a == b || has[key] {
				continue
			}
			has[key] = true
			edges = append(edges, key)
			// Remove i and j, the larger index first.
			i, j = max(i, j), min(i, j)
			points[i] = points[len(points)-1]
			points = points[:len(points)-1]
			points[j] = points[len(points)-1]
			points = points[:len(points)-1]
			ok = true
			break
		}
		if !ok {
			return nil
		}
	}
	return edges
}

// smallWorld is Watts–Strogatz: a ring where each node links to its k/2
// nearest neighbours on each side, each link's far end rewired with
// probability p to a node chosen uniformly (no loops, no double links).
func smallWorld(n, k int, p float64, rng *rand.Rand) [][2]int32 {
	has := map[[2]int32]bool{}
	key := func(a, b int32) [2]int32 { return [2]int32{min(a, b), max(a, b)} }
	for i := range n {
		for j := 1; j <= k/2; j++ {
			has[key(int32(i), int32((i+j)%n))] = true
		}
	}
	var edges [][2]int32
	for i := range n {
		for j := 1; j <= k/2; j++ {
			a, b := int32(i), int32((i+j)%n)
			if rng.Float64() < p {
				for range 100 {
					c := int32(rng.IntN(n))
					if c != a && !has[key(a, c)] {
						delete(has, key(a, b))
						has[key(a, c)] = true
						b = c
						break
					}
				}
			}
			edges = append(edges, key(a, b))
		}
	}
	return edges
}

func connected(adj [][]int32) bool {
	seen := make([]bool, len(adj))
	stack := []int32{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				count++
				stack = append(stack, w)
			}
		}
	}
	return count == len(adj)
}

// netEngine is the network model's tangle: one global record of each
// transaction's parents and issuer, and per node a view (the transactions
// attached there) and a URTS pool over that view with the model engine's
// discipline, so that with identical views it draws exactly as the model
// engine does (TestNetworkReducesToSingleView).
type netEngine struct {
	cfg         *Network
	k           int
	replacement bool
	adj         [][]int32
	tipsRng     *rand.Rand
	latRng      *rand.Rand
	lossRng     *rand.Rand
	weights     []float64
	track       *tracker

	txs    []netTx
	nodes  []netNode
	events eventHeap
	// waiting parks, by node<<32|parent, the transactions a node received
	// before that parent; missing counts, by node<<32|tx, the parents it
	// still lacks.
	waiting map[uint64][]int32
	missing map[uint64]int

	totalTips    int   // sum over nodes of their visible tips
	selfAttached int32 // transactions attached at their issuers
	stats        netStats
	chosen       []int
	stack        []int32
}

type netTx struct {
	parents  [MaxParents]int32
	nParents uint8
	issuer   int32
}

type netNode struct {
	received []uint64 // bitset by tx: arrived (or issued here)
	attached []uint64 // bitset by tx: solid and attached, part of the view
	pool     []int32
	pos      map[int32]int32
	rootTip  bool
	tipSum   float64 // summed tip counts of the series samples
}

type netStats struct {
	messages, lost, requests int64
	tipSamples               int
}

// delivery is a message: tx arriving at node from a neighbour.
type delivery struct {
	at      int64
	tx      int32
	node    int32
	from    int32
	request bool // a reply to a request for a missing parent; never lost
}

type eventHeap []delivery

func (h eventHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].tx != h[j].tx {
		return h[i].tx < h[j].tx
	}
	return h[i].node < h[j].node
}

func (h *eventHeap) push(d delivery) {
	*h = append(*h, d)
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

func (h *eventHeap) pop() delivery {
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

// Stream ids of the network model's own draws.
const (
	streamTopology = 0x746f706f // "topo"
	streamLatency  = 0x6c617465 // "late"
	streamLoss     = 0x6c6f7373 // "loss"
)

func newNetEngine(cfg *Config, tips *rand.Rand, track *tracker) (*netEngine, error) {
	n := cfg.Network
	adj, err := n.Topology.graph(n.Nodes, newRand(cfg.Seed, streamTopology))
	if err != nil {
		return nil, err
	}
	e := &netEngine{
		cfg: n, k: cfg.Parents, replacement: cfg.Draw == DrawReplacement, adj: adj,
		tipsRng: tips, latRng: newRand(cfg.Seed, streamLatency), lossRng: newRand(cfg.Seed, streamLoss),
		weights: cfg.Confirm.Issuers, track: track,
		nodes:   make([]netNode, n.Nodes),
		waiting: map[uint64][]int32{}, missing: map[uint64]int{},
	}
	for i := range e.nodes {
		e.nodes[i] = netNode{pos: map[int32]int32{}, rootTip: true}
	}
	e.totalTips = n.Nodes
	track.views = newNodeConfirm(n.Nodes, track)
	return e, nil
}

// choose draws the parents among the tips of the issuer's view, as the
// model engine does over the single view.
func (e *netEngine) choose(_ int64, issuer int, dst []int32) ([]int32, error) {
	dst, e.chosen = drawTips(e.tipsRng, e.nodes[issuer].pool, e.k, e.replacement, e.chosen, dst)
	return dst, nil
}

// issue records the transaction and sends it from its issuer to every
// neighbour; the issuer itself attaches it SelfDelay later (attach).
func (e *netEngine) issue(idx int32, now int64, issuer int, parents []int32) {
	tx := netTx{nParents: uint8(len(parents)), issuer: int32(issuer)}
	copy(tx.parents[:], parents)
	e.txs = append(e.txs, tx)
	if idx%64 == 0 {
		for i := range e.nodes {
			e.nodes[i].received = append(e.nodes[i].received, 0)
			e.nodes[i].attached = append(e.nodes[i].attached, 0)
		}
	}
	setBit(e.nodes[issuer].received, idx)
	e.send(idx, int32(issuer), -1, now)
}

// send gossips tx from node to its neighbours but the one it came from.
func (e *netEngine) send(tx, node, from int32, now int64) {
	for _, nb := range e.adj[node] {
		if nb == from {
			continue
		}
		e.stats.messages++
		if e.cfg.Loss > 0 && e.lossRng.Float64() < e.cfg.Loss {
			e.stats.lost++
			continue
		}
		e.events.push(delivery{at: now + int64(e.cfg.Latency.Draw(e.latRng)), tx: tx, node: nb, from: node})
	}
}

// attach is the issuer's own attach, SelfDelay after the issue. A
// constant SelfDelay keeps the issue order, so the transaction is the next
// one issued that its issuer has not attached.
func (e *netEngine) attach(_, now int64, _ []int32) error {
	idx := e.selfAttached
	e.selfAttached++
	e.attachAt(int(e.txs[idx].issuer), idx, -1, now, false)
	return nil
}

// next is the time and transaction of the earliest pending delivery.
func (e *netEngine) next() (at int64, tx int32, ok bool) {
	if len(e.events) == 0 {
		return 0, 0, false
	}
	return e.events[0].at, e.events[0].tx, true
}

// deliver processes the earliest pending delivery.
func (e *netEngine) deliver() {
	d := e.events.pop()
	nd := &e.nodes[d.node]
	if hasBit(nd.received, d.tx) {
		return
	}
	setBit(nd.received, d.tx)
	tx := &e.txs[d.tx]
	lacking := 0
	for i, p := range tx.parents[:tx.nParents] {
		if p == root || dup(tx.parents[:i], p) || hasBit(nd.attached, p) {
			continue
		}
		lacking++
		key := uint64(d.node)<<32 | uint64(uint32(p))
		e.waiting[key] = append(e.waiting[key], d.tx)
		if e.cfg.Loss > 0 && !hasBit(nd.received, p) {
			// Gossip may have lost it: ask the sender, which holds it.
			e.stats.requests++
			rtt := e.cfg.Latency.Draw(e.latRng) + e.cfg.Latency.Draw(e.latRng)
			e.events.push(delivery{at: d.at + int64(rtt), tx: p, node: d.node, from: d.from, request: true})
		}
	}
	if lacking > 0 {
		e.missing[uint64(d.node)<<32|uint64(uint32(d.tx))] = lacking
		return
	}
	e.attachAt(int(d.node), d.tx, d.from, d.at, true)
}

// attachAt adds tx to node's view, then the transactions parked on it that
// have become solid; forward says whether to gossip tx on (to all
// neighbours but from; the issuer sent its own at issue). Unparked ones
// go to every neighbour.
func (e *netEngine) attachAt(node int, tx, from int32, now int64, forward bool) {
	stack := append(e.stack[:0], tx)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		e.attachOne(node, x, now)
		switch {
		case x != tx:
			e.send(x, int32(node), -1, now)
		case forward:
			e.send(x, int32(node), from, now)
		}
		key := uint64(node)<<32 | uint64(uint32(x))
		for _, c := range e.waiting[key] {
			ck := uint64(node)<<32 | uint64(uint32(c))
			if e.missing[ck]--; e.missing[ck] == 0 {
				delete(e.missing, ck)
				stack = append(stack, c)
			}
		}
		delete(e.waiting, key)
	}
	e.stack = stack
}

// attachOne updates node's view and pool with the model engine's
// discipline, and judges the tracked transactions by that view.
func (e *netEngine) attachOne(node int, x int32, now int64) {
	nd := &e.nodes[node]
	setBit(nd.attached, x)
	tx := &e.txs[x]
	for i, p := range tx.parents[:tx.nParents] {
		if p == root {
			if nd.rootTip {
				nd.rootTip = false
				e.totalTips--
			}
			continue
		}
		if dup(tx.parents[:i], p) {
			continue
		}
		if at, ok := nd.pos[p]; ok {
			last := int32(len(nd.pool) - 1)
			moved := nd.pool[last]
			nd.pool[at] = moved
			nd.pos[moved] = at
			nd.pool = nd.pool[:last]
			delete(nd.pos, p)
			e.totalTips--
		}
	}
	nd.pos[x] = int32(len(nd.pool))
	nd.pool = append(nd.pool, x)
	e.totalTips++
	e.track.views.deliver(node, x, int(tx.issuer), now)
}

// tips is the mean over nodes of the visible tips.
func (e *netEngine) tips() float64 { return float64(e.totalTips) / float64(len(e.nodes)) }

func (e *netEngine) overflowed() bool { return false }

// sampleTips adds each node's tip count to its running sum (series times).
func (e *netEngine) sampleTips() {
	for i := range e.nodes {
		nd := &e.nodes[i]
		n := len(nd.pool)
		if nd.rootTip {
			n++
		}
		nd.tipSum += float64(n)
	}
	e.stats.tipSamples++
}

func setBit(s []uint64, i int32)      { s[i/64] |= 1 << (i % 64) }
func hasBit(s []uint64, i int32) bool { return s[i/64]&(1<<(i%64)) != 0 }

// nodeConfirm judges the tracker's tracked transactions by each node's
// view: per slot and node, the issuers seen approving it, their weight and
// when it passed the quorum.
type nodeConfirm struct {
	n, words int
	t        *tracker
	bits     []uint64  // [slot][node][words]
	weight   []float64 // [slot][node]
	at       []int64   // [slot][node], confirmation time or -1
	done     []uint64  // by node: slots confirmed there

	perNode     [][]int64 // by node: latencies of tracked transactions
	first, last []int64   // per tracked transaction confirmed everywhere
	spread      []int64
	everywhere  int
	tracked     int
}

func newNodeConfirm(n int, t *tracker) *nodeConfirm {
	words := (n + 63) / 64
	c := &nodeConfirm{
		n: n, words: words, t: t,
		bits:    make([]uint64, 64*n*words),
		weight:  make([]float64, 64*n),
		at:      make([]int64, 64*n),
		done:    make([]uint64, n),
		perNode: make([][]int64, n),
	}
	return c
}

// reset readies slot b for a new tracked transaction.
func (c *nodeConfirm) reset(b int) {
	clear(c.bits[b*c.n*c.words : (b+1)*c.n*c.words])
	clear(c.weight[b*c.n : (b+1)*c.n])
	for i := range c.n {
		c.at[b*c.n+i] = -1
		c.done[i] &^= 1 << b
	}
}

// deliver counts tx, issued by issuer and now attached at node, towards the
// tracked transactions in its past cone.
func (c *nodeConfirm) deliver(node int, tx int32, issuer int, now int64) {
	t := c.t
	m := t.masks[tx] & t.active &^ c.done[node]
	for rest := m; rest != 0; rest &= rest - 1 {
		b := bits.TrailingZeros64(rest)
		if t.slots[b].start > tx {
			continue // a bit of the slot's earlier owner
		}
		i := b*c.n + node
		w := &c.bits[i*c.words+issuer/64]
		if bit := uint64(1) << (issuer % 64); *w&bit == 0 {
			*w |= bit
			c.weight[i] += t.weights[issuer]
		}
		if c.weight[i] > t.rule.Quorum*t.total {
			c.at[i] = now
			c.done[node] |= 1 << b
		}
	}
}

// retire collects slot b's confirmation times at every node.
func (c *nodeConfirm) retire(b int, issued int64) {
	c.tracked++
	first, last, all := int64(math.MaxInt64), int64(0), true
	for node := range c.n {
		at := c.at[b*c.n+node]
		if at < 0 {
			all = false
			continue
		}
		l := at - issued
		c.perNode[node] = append(c.perNode[node], l)
		first, last = min(first, l), max(last, l)
	}
	if all {
		c.everywhere++
		c.first = append(c.first, first)
		c.last = append(c.last, last)
		c.spread = append(c.spread, last-first)
	}
}

// NetSummary is what the network model adds to a Summary. Latencies are in
// virtual seconds from issue.
type NetSummary struct {
	Nodes      int     `json:"nodes"`
	Topology   string  `json:"topology"`
	MeanDegree float64 `json:"mean_degree"`
	Latency    string  `json:"latency"`
	Loss       float64 `json:"loss"`
	Weights    string  `json:"weights"`
	Theta      float64 `json:"theta"`
	// IssuersToThreshold is the number of heaviest issuers whose weights
	// together pass θ.
	IssuersToThreshold int `json:"issuers_to_threshold"`

	// ConfirmationLatency is over every (node, tracked transaction) pair
	// that confirmed; NodeP50 and NodeP90 are the spread over the nodes of
	// each node's own median and 90th percentile.
	ConfirmationLatency Pcts `json:"confirmation_latency"`
	NodeP50             Pcts `json:"node_p50"`
	NodeP90             Pcts `json:"node_p90"`
	// FirstNode and LastNode are the latencies at the first and the last
	// node to confirm a tracked transaction, Spread their difference, over
	// the tracked transactions confirmed at every node
	// (ConfirmedEverywhere of Tracked).
	FirstNode           Pcts    `json:"first_node"`
	LastNode            Pcts    `json:"last_node"`
	Spread              Pcts    `json:"spread"`
	Tracked             int     `json:"tracked"`
	ConfirmedEverywhere float64 `json:"confirmed_everywhere"`

	// TipsPerNode is the spread over the nodes of each node's mean number
	// of visible tips (sampled every --sample-every).
	TipsPerNode Pcts `json:"tips_per_node"`
	// Orphans is the number of measured transactions never approved
	// (left_behind_fraction of the measured).
	Orphans  int   `json:"orphans"`
	Messages int64 `json:"messages"`
	Lost     int64 `json:"lost"`
	Requests int64 `json:"requests"`
}

func (e *netEngine) summary(cfg *Config, orphans int) *NetSummary {
	c := e.track.views
	ns := &NetSummary{
		Nodes: e.cfg.Nodes, Topology: e.cfg.Topology.String(), Latency: e.cfg.Latency.String(),
		Loss: e.cfg.Loss, Weights: e.cfg.Weights.String(), Theta: cfg.Confirm.Quorum,
		IssuersToThreshold: IssuersToThreshold(cfg.Confirm.Issuers, cfg.Confirm.Quorum),
		Tracked:            c.tracked, Orphans: orphans,
		Messages: e.stats.messages, Lost: e.stats.lost, Requests: e.stats.requests,
	}
	var deg int
	for _, a := range e.adj {
		deg += len(a)
	}
	ns.MeanDegree = float64(deg) / float64(len(e.adj))
	if c.tracked > 0 {
		ns.ConfirmedEverywhere = float64(c.everywhere) / float64(c.tracked)
	}
	secs := func(xs []int64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = float64(x) / 1e9
		}
		slices.Sort(out)
		return out
	}
	var all, p50s, p90s []float64
	for _, l := range c.perNode {
		s := secs(l)
		all = append(all, s...)
		if len(s) > 0 {
			p := percentiles(s)
			p50s = append(p50s, p.P50)
			p90s = append(p90s, p.P90)
		}
	}
	slices.Sort(all)
	slices.Sort(p50s)
	slices.Sort(p90s)
	ns.ConfirmationLatency = percentiles(all)
	ns.NodeP50 = percentiles(p50s)
	ns.NodeP90 = percentiles(p90s)
	ns.FirstNode = percentiles(secs(c.first))
	ns.LastNode = percentiles(secs(c.last))
	ns.Spread = percentiles(secs(c.spread))
	if e.stats.tipSamples > 0 {
		tips := make([]float64, len(e.nodes))
		for i, nd := range e.nodes {
			tips[i] = nd.tipSum / float64(e.stats.tipSamples)
		}
		slices.Sort(tips)
		ns.TipsPerNode = percentiles(tips)
	}
	return ns
}
