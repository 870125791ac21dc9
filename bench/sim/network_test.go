package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestNetworkReducesToSingleView: on a complete topology with a constant
// latency h, and the issuer's own view delayed by h too, every node sees
// exactly the single view (the tangle as it was h ago), so the network
// model must make the model engine's choices draw for draw: the same
// summary, series and latencies, and every node confirms each tracked
// transaction at the single view's time (zero spread).
func TestNetworkReducesToSingleView(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nodes   int
		weights Weights
		draw    Draw
	}{
		{"12 equal nodes", 12, Weights{}, DrawDistinct},
		{"zipf nodes", 12, Weights{Zipf: 1}, DrawDistinct},
		{"with replacement", 12, Weights{}, DrawReplacement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := time.Second
			base := Config{Lambda: 30, Delay: ConstantDelay(h), Count: scaled(12_000), Seed: 23, Draw: tc.draw,
				Confirm: Confirm{Issuers: tc.weights.of(tc.nodes), Quorum: 0.6}}
			single, err := Run(withEngine(base, EngineModel))
			if err != nil {
				t.Fatal(err)
			}
			netCfg := base
			netCfg.Network = &Network{Nodes: tc.nodes, Topology: Topology{Kind: "complete"}, Latency: ConstantDelay(h), SelfDelay: h, Weights: tc.weights}
			netCfg.Confirm.Issuers = nil
			net, err := Run(netCfg)
			if err != nil {
				t.Fatal(err)
			}
			ns := net.Summary.Network
			if ns == nil {
				t.Fatal("no network summary")
			}
			if ns.Tracked == 0 || ns.Tracked != single.Summary.Tracked {
				t.Errorf("network tracked %d, single view %d", ns.Tracked, single.Summary.Tracked)
			}
			if ns.ConfirmationLatency.P50 != single.Summary.ConfirmationLatency.P50 || ns.NodeP50.P50 != single.Summary.ConfirmationLatency.P50 {
				t.Errorf("confirmation p50: network %v (nodes' %v), single view %v", ns.ConfirmationLatency, ns.NodeP50, single.Summary.ConfirmationLatency)
			}
			if ns.Spread.P99 != 0 || ns.ConfirmedEverywhere != single.Summary.ConfirmedFraction {
				t.Errorf("spread %v, confirmed everywhere %v; want 0 and the single view's %v", ns.Spread, ns.ConfirmedEverywhere, single.Summary.ConfirmedFraction)
			}
			net.Summary.Network = nil
			for _, r := range []*Result{single, net} {
				r.Summary = r.Summary.Deterministic()
				r.Summary.Engine = ""
			}
			if diff := cmp.Diff(single, net); diff != "" {
				t.Errorf("network model differs from the single view (-single +network):\n%s", diff)
			}
		})
	}
}

// TestManyIssuers: approval weight with 200 equal issuers (beyond the old
// 64-bit mask). Each transaction's issuer is uniform, so after m
// transactions in a cone the expected number of distinct issuers is
// N(1 − (1 − 1/N)^m); passing θ = 0.5 (101 of 200) takes m ≈ 140. So the
// latency of aw:0.5 with 200 issuers is that of cw:140 up to the small
// spread of the distinct count (its sd ≈ 5 issuers ≈ 7 transactions, a
// fraction of a second at λ = 50 once weight grows at about λ per second):
// the medians agree within 5 %.
func TestManyIssuers(t *testing.T) {
	statistical(t)
	n := 200
	want := math.Log(1-101.0/float64(n)) / math.Log(1-1/float64(n))
	base := Config{Lambda: 50, Delay: ConstantDelay(time.Second), Engine: EngineModel, Count: scaled(60_000), Seed: 31}
	aw := base
	aw.Confirm = Confirm{Issuers: Weights{}.of(n), Quorum: 0.5}
	cw := base
	cw.Confirm = Confirm{CWThreshold: int(math.Round(want))}
	a, c := run(t, aw), run(t, cw)
	if a.ConfirmedFraction < 0.99 {
		t.Errorf("aw:0.5 with %d issuers: confirmed %.3f", n, a.ConfirmedFraction)
	}
	within(t, "aw:0.5 p50 / cw p50", a.ConfirmationLatency.P50/c.ConfirmationLatency.P50, 1, 0.05)
}

func withEngine(c Config, e Engine) Config {
	c.Engine = e
	return c
}

// TestNetworkLatency: on a random regular graph a transaction reaches a
// node after a number of hops, so nodes confirm later than the issuer's
// view and at different times; a larger latency delays confirmation in
// proportion, and a tenth of the gossip lost still confirms everything
// (missing parents are requested). Each run is checked against bounds
// that follow from the model, not from its output.
func TestNetworkLatency(t *testing.T) {
	statistical(t)
	run := func(lat time.Duration, loss float64) *NetSummary {
		s := run(t, Config{Lambda: 40, Count: scaled(16_000), Seed: 29, Confirm: Confirm{Quorum: 0.5},
			Network: &Network{Nodes: 50, Topology: Topology{Kind: "regular", Degree: 4}, Latency: ConstantDelay(lat), Loss: loss}})
		if s.Network.ConfirmedEverywhere < 0.99 {
			t.Errorf("latency %v loss %v: confirmed everywhere %.3f, want ≈ 1", lat, loss, s.Network.ConfirmedEverywhere)
		}
		if s.LeftBehindFraction > 1e-3 {
			t.Errorf("latency %v loss %v: left behind %v", lat, loss, s.LeftBehindFraction)
		}
		return s.Network
	}
	fast, slow, lossy := run(100*time.Millisecond, 0), run(200*time.Millisecond, 0), run(100*time.Millisecond, 0.1)
	// A 4-regular graph of 50 nodes has a diameter of about 4-5 hops, so
	// the last node sees a transaction at least 3 hops (0.3 s) after the
	// first neighbour: the spread is positive and below 10 hops.
	if fast.Spread.P50 <= 0.1 || fast.Spread.P50 > 1 {
		t.Errorf("spread p50 %.3fs at 0.1 s a hop, want between 1 and 10 hops", fast.Spread.P50)
	}
	// Everything in the model scales with the latency but λ: twice the
	// latency at the same λ doubles λh, and confirmation by approval
	// weight waits for the quorum's issuers (≈ 0.5·N/λ here) plus the cone
	// growth, so the ratio is between 1 and 2.
	if r := slow.ConfirmationLatency.P50 / fast.ConfirmationLatency.P50; r <= 1.05 || r > 2.1 {
		t.Errorf("p50 at 0.2 s / at 0.1 s a hop = %.3f, want in (1.05, 2.1]", r)
	}
	if lossy.Lost == 0 || lossy.Requests == 0 {
		t.Errorf("loss 0.1: %d lost, %d requests", lossy.Lost, lossy.Requests)
	}
	if got := float64(lossy.Lost) / float64(lossy.Messages); math.Abs(got-0.1) > 0.01 {
		t.Errorf("lost share %.4f, want 0.1", got)
	}
}

func TestIssuersToThreshold(t *testing.T) {
	for _, tc := range []struct {
		weights []float64
		theta   float64
		want    int
	}{
		{[]float64{1, 1, 1}, 2.0 / 3, 3}, // 2/3 is not more than 2/3
		{[]float64{1, 1, 1, 1}, 0.5, 3},
		{Weights{Zipf: 1}.of(100), 0.5, 8},      // H(7)/H(100) = 2.5929/5.1874 < 0.5 < H(8)/H(100)
		{[]float64{10, 1, 1, 1, 1, 1}, 0.6, 1},  // 10/15 passes alone
		{[]float64{10, 1, 1, 1, 1, 1}, 0.75, 3}, // 12/15 > 0.75 > 11/15
	} {
		if got := IssuersToThreshold(tc.weights, tc.theta); got != tc.want {
			t.Errorf("IssuersToThreshold(%v, %v) = %d, want %d", tc.weights, tc.theta, got, tc.want)
		}
	}
}

func TestTopologies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		topo      Topology
		n         int
		minDeg    int
		maxDeg    int
		wantEdges int
	}{
		{Topology{Kind: "complete"}, 10, 9, 9, 45},
		{Topology{Kind: "regular", Degree: 8}, 1000, 8, 8, 4000},
		{Topology{Kind: "regular", Degree: 3}, 10, 3, 3, 15},
		{Topology{Kind: "smallworld", Degree: 4, Rewire: 0}, 20, 4, 4, 40},
		{Topology{Kind: "smallworld", Degree: 6, Rewire: 0.1}, 200, 1, 40, 600},
		{Topology{Kind: "file", Edges: [][2]int32{{0, 1}, {1, 2}, {2, 3}, {1, 0}}}, 4, 1, 2, 3},
	} {
		adj, err := tc.topo.graph(tc.n, rng)
		if err != nil {
			t.Errorf("%s: %v", tc.topo, err)
			continue
		}
		edges := 0
		for v, a := range adj {
			if len(a) < tc.minDeg || len(a) > tc.maxDeg {
				t.Errorf("%s: node %d has degree %d, want %d to %d", tc.topo, v, len(a), tc.minDeg, tc.maxDeg)
			}
			edges += len(a)
		}
		if edges/2 != tc.wantEdges {
			t.Errorf("%s: %d edges, want %d", tc.topo, edges/2, tc.wantEdges)
		}
	}
	if _, err := (Topology{Kind: "file", Edges: [][2]int32{{0, 1}, {2, 3}}}).graph(4, rng); err == nil {
		t.Error("a disconnected file topology was accepted")
	}
}
