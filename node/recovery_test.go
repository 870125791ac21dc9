package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/node"
)

// TestSuccessiveCrashesUnderLoad: four validators under 300 tx/s from
// devices posting over HTTP; the two with the largest keys run as child
// processes. The largest is killed with SIGKILL and restarted at once, and
// 2 s later the second-largest too. Issue 16 measured a 17.7 s stall of
// confirmation in this scenario, when a restarted node's redials lost the
// duplicate-connection tie-break until QUIC's idle timeout. With one of
// four down the others hold more than 2/3 of the weight, so confirmation
// must go on: the longest gap between confirmations on a surviving node
// stays under 2 s, and every restarted node has its three peers back
// within a few heartbeats. Under each beacon rule.
func TestSuccessiveCrashesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, rule := range []string{node.BeaconSweep, node.BeaconRounds} {
		t.Run(rule, func(t *testing.T) { successiveCrashes(t, rule) })
	}
}

// crashChild is a validator running as a child process (TestCrashChild).
type crashChild struct {
	m    *member
	addr string // its fixed UDP address
	env  []string
	cmd  *exec.Cmd
	http string
}

func successiveCrashes(t *testing.T, rule string) {
	c := newCluster(t, 4)
	c.beaconRule, c.beaconInterval = rule, node.DefaultBeaconInterval
	byKey := slices.Clone(c.members)
	slices.SortFunc(byKey, func(a, b *member) int { return -strings.Compare(a.key.String(), b.key.String()) })
	children := []*crashChild{{m: byKey[0]}, {m: byKey[1]}}
	inProcess := byKey[2:]
	for _, ch := range children {
		ch.addr = freeUDPAddr(t)
	}
	pin := func(m *member, addr string) string { return m.key.String() + "@" + addr }
	for i, m := range inProcess {
		m.peers = []string{pin(children[0].m, children[0].addr), pin(children[1].m, children[1].addr)}
		for _, prev := range inProcess[:i] {
			m.peers = append(m.peers, pin(prev, prev.p2p))
		}
		c.start(m)
	}
	for i, ch := range children {
		peers := []string{pin(inProcess[0], inProcess[0].p2p), pin(inProcess[1], inProcess[1].p2p), pin(children[1-i].m, children[1-i].addr)}
		ch.env = []string{crashEnv + "_P2P=" + ch.addr, crashEnv + "_KEY=" + ch.m.keyFile,
			crashEnv + "_PEER=" + strings.Join(peers, ","), crashEnv + "_DATA=" + ch.m.name,
			crashEnv + "_BEACON=" + node.DefaultBeaconInterval.String(), crashEnv + "_RULE=" + rule}
		ch.cmd, ch.http = startCrashChild(t, c.dir, ch.env...)
	}
	defer func() {
		for _, ch := range children {
			_ = ch.cmd.Process.Signal(syscall.SIGKILL)
			_ = ch.cmd.Wait()
		}
	}()
	for _, ch := range children {
		poll.Until(t, 20*time.Second, ch.m.name+" has its three peers", func() bool { return connectedPeers(ch.http, time.Time{}) == 3 })
	}
	c.waitMesh(inProcess)

	watched := inProcess[0].r.n.Ledger()
	var mu sync.Mutex
	var confirmedAt []time.Time
	unsubscribe := watched.Subscribe(func(e dag.Event) {
		if e.Kind == dag.EventConfirmed && e.Info.Kind == dag.KindData {
			mu.Lock()
			confirmedAt = append(confirmedAt, time.Now())
			mu.Unlock()
		}
	})
	defer unsubscribe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := startDeviceLoad(t, ctx, inProcess, 32, 300)
	defer load.stop()

	pause(3 * time.Second)
	first := time.Now()
	for i, ch := range children {
		if i > 0 {
			pause(time.Until(first.Add(2 * time.Second)))
		}
		_ = ch.cmd.Process.Signal(syscall.SIGKILL)
		_ = ch.cmd.Wait()
		killed := time.Now()
		ch.cmd, ch.http = startCrashChild(t, c.dir, ch.env...)
		poll.Until(t, 20*time.Second, ch.m.name+" has its three peers back", func() bool { return connectedPeers(ch.http, killed) == 3 })
		t.Logf("%s (key rank %d of 4) killed and restarted: all three peers back after %v", ch.m.name, i+1, time.Since(killed).Round(time.Millisecond))
	}
	pause(5 * time.Second)
	end := time.Now()
	load.stop()
	sent := load.sent()
	poll.Until(t, 30*time.Second, fmt.Sprintf("all %d readings confirmed", len(sent)), func() bool {
		for _, id := range sent {
			if info, ok := watched.Info(id); !ok || !info.Confirmed {
				return false
			}
		}
		return true
	})

	mu.Lock()
	times := slices.Clone(confirmedAt)
	mu.Unlock()
	from := first.Add(-time.Second)
	var stall time.Duration
	last := from
	for _, at := range times {
		if at.Before(from) {
			continue
		}
		if at.After(end) {
			break
		}
		stall = max(stall, at.Sub(last))
		last = at
	}
	stall = max(stall, end.Sub(last))
	t.Logf("longest gap between confirmations on %s from a second before the first kill until 5 s after the second: %v", inProcess[0].name, stall.Round(time.Millisecond))
	if stall > 2*time.Second {
		t.Fatalf("confirmation stalled for %v with at most one of four validators down", stall)
	}
}

// freeUDPAddr is a loopback UDP address nothing listens on now.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	return udp.LocalAddr().String()
}

// connectedPeers is how many peers the node at httpAddr reports connected
// since after (zero: any time); -1 when it does not answer.
func connectedPeers(httpAddr string, after time.Time) int {
	resp, err := http.Get("http://" + httpAddr + "/v1/peers")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var body struct {
		Peers []api.Peer `json:"peers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return -1
	}
	n := 0
	for _, p := range body.Peers {
		if p.State == string(network.StateConnected) && p.ConnectedAt != nil && p.ConnectedAt.After(after) {
			n++
		}
	}
	return n
}

// pause waits out a step of a scenario's schedule (not a condition: those
// are polled).
func pause(d time.Duration) {
	if d > 0 {
		<-time.After(d)
	}
}

// TestRestartCatchesUpWithWhatItMissed: a validator (a child process) of
// four is killed under 300 tx/s, stays down for 4 s and restarts; bulk
// sync must bring it what it missed, at most 1.5 times that plus the
// followed cursor's margin (issue 16 measured restarts that pulled 87,622
// transactions to fill gaps of about 11,000), and it must catch up.
func TestRestartCatchesUpWithWhatItMissed(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	c := newCluster(t, 4)
	c.beaconInterval = node.DefaultBeaconInterval
	ch := &crashChild{m: c.members[3], addr: freeUDPAddr(t)}
	inProcess := c.members[:3]
	pin := func(m *member, addr string) string { return m.key.String() + "@" + addr }
	var peers []string
	for i, m := range inProcess {
		m.peers = []string{pin(ch.m, ch.addr)}
		for _, prev := range inProcess[:i] {
			m.peers = append(m.peers, pin(prev, prev.p2p))
		}
		c.start(m)
		peers = append(peers, pin(m, m.p2p))
	}
	ch.env = []string{crashEnv + "_P2P=" + ch.addr, crashEnv + "_KEY=" + ch.m.keyFile,
		crashEnv + "_PEER=" + strings.Join(peers, ","), crashEnv + "_DATA=" + ch.m.name,
		crashEnv + "_BEACON=" + node.DefaultBeaconInterval.String()}
	ch.cmd, ch.http = startCrashChild(t, c.dir, ch.env...)
	defer func() {
		_ = ch.cmd.Process.Signal(syscall.SIGKILL)
		_ = ch.cmd.Wait()
	}()
	poll.Until(t, 20*time.Second, "the child has its three peers", func() bool { return connectedPeers(ch.http, time.Time{}) == 3 })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := startDeviceLoad(t, ctx, inProcess, 32, 300)
	defer load.stop()
	pause(3 * time.Second)

	held := childTransactions(t, ch.http)
	_ = ch.cmd.Process.Signal(syscall.SIGKILL)
	_ = ch.cmd.Wait()
	pause(4 * time.Second)
	ledger := inProcess[0].r.n.Ledger()
	missed := ledger.Stats().Transactions - held
	ch.cmd, ch.http = startCrashChild(t, c.dir, ch.env...)
	poll.Until(t, 30*time.Second, "the restarted child catches up", func() bool {
		return childTransactions(t, ch.http) >= held+missed && childMetric(t, ch.http, "tangled_sync_active") == 0
	})
	received := uint64(childMetric(t, ch.http, "tangled_sync_received_transactions_total"))
	// The child misses what arrives until it is back in step too (its
	// restart and replay take seconds under the race detector): count
	// the gap up to now.
	down := missed
	missed = ledger.Stats().Transactions - held
	const margin = 2 * network.DefaultSyncThreshold
	t.Logf("down 4 s under 300 tx/s: missed %d while down and %d until caught up, received %d by bulk sync (the cursor's margin is %d)", down, missed, received, margin)
	if received > missed*3/2+margin {
		t.Fatalf("missed %d, bulk sync brought %d: want at most 1.5x plus %d", missed, received, margin)
	}
	if received < missed/2 {
		t.Fatalf("missed %d, bulk sync brought only %d: the rest came one request at a time", missed, received)
	}
}

// childTransactions is the child's counts.transactions (GET /v1/info).
func childTransactions(t *testing.T, httpAddr string) uint64 {
	resp, err := http.Get("http://" + httpAddr + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Counts struct {
			Transactions uint64 `json:"transactions"`
		} `json:"counts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info.Counts.Transactions
}

// childMetric reads one unlabelled series from the child's /metrics.
func childMetric(t *testing.T, httpAddr, name string) float64 {
	f, ok := scrape(t, "http://"+httpAddr)[name]
	if !ok || len(f.GetMetric()) != 1 {
		t.Fatalf("/metrics has no single %s", name)
	}
	m := f.GetMetric()[0]
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

// TestPartitionHealsUnderLoad: four validators, two of them child
// processes, split 2|2 (one in-process node and one child on each side)
// for 30 s (10 s under the race detector, which also loosens the bound)
// under 300 tx/s, then healed
// while the devices go on. Neither side can confirm during the split;
// after the heal every transaction sent before it must be confirmed
// within 10 s (issue 16 measured 50 s), timed on the two in-process
// nodes, one per side, and sampled on the children afterwards.
func TestPartitionHealsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	split := 30 * time.Second
	if raceEnabled {
		split = 10 * time.Second
	}
	c := newCluster(t, 4)
	c.beaconInterval = node.DefaultBeaconInterval
	a1, b1 := c.members[0], c.members[2]
	a2 := &crashChild{m: c.members[1], addr: freeUDPAddr(t)}
	b2 := &crashChild{m: c.members[3], addr: freeUDPAddr(t)}
	pin := func(m *member, addr string) string { return m.key.String() + "@" + addr }
	a1.peers = []string{pin(a2.m, a2.addr), pin(b2.m, b2.addr)}
	c.start(a1)
	b1.peers = []string{pin(a1, a1.p2p), pin(a2.m, a2.addr), pin(b2.m, b2.addr)}
	c.start(b1)
	for _, side := range []struct {
		ch, other *crashChild
		cut       []*member
	}{{a2, b2, []*member{b1, b2.m}}, {b2, a2, []*member{a1, a2.m}}} {
		ch := side.ch
		ch.env = []string{crashEnv + "_P2P=" + ch.addr, crashEnv + "_KEY=" + ch.m.keyFile,
			crashEnv + "_PEER=" + strings.Join([]string{pin(a1, a1.p2p), pin(b1, b1.p2p), pin(side.other.m, side.other.addr)}, ","),
			crashEnv + "_DATA=" + ch.m.name, crashEnv + "_BEACON=" + node.DefaultBeaconInterval.String(),
			crashEnv + "_CUT=" + side.cut[0].key.String() + "," + side.cut[1].key.String()}
	}
	for _, ch := range []*crashChild{a2, b2} {
		ch.cmd, ch.http = startCrashChild(t, c.dir, ch.env...)
	}
	defer func() {
		for _, ch := range []*crashChild{a2, b2} {
			_ = ch.cmd.Process.Signal(syscall.SIGKILL)
			_ = ch.cmd.Wait()
		}
	}()
	for _, ch := range []*crashChild{a2, b2} {
		poll.Until(t, 20*time.Second, ch.m.name+" has its three peers", func() bool { return connectedPeers(ch.http, time.Time{}) == 3 })
	}
	c.waitMesh([]*member{a1, b1})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := startDeviceLoad(t, ctx, []*member{a1, b1}, 32, 300)
	defer load.stop()
	pause(2 * time.Second)

	a1.gate.Block(b1.key, b2.m.key)
	b1.gate.Block(a1.key, a2.m.key)
	for _, ch := range []*crashChild{a2, b2} {
		if err := ch.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	cut := time.Now()
	confirmedAtCut := a1.r.n.Ledger().Stats().Confirmed
	pause(split)
	confirmedAtHeal := a1.r.n.Ledger().Stats().Confirmed
	a1.gate.Unblock()
	b1.gate.Unblock()
	for _, ch := range []*crashChild{a2, b2} {
		if err := ch.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
	}
	healed := time.Now()
	before := load.sent()
	pending := slices.Clone(before)
	poll.Until(t, 2*time.Minute, fmt.Sprintf("all %d readings sent before the heal confirmed on %s and %s", len(before), a1.name, b1.name), func() bool {
		pending = slices.DeleteFunc(pending, func(id dag.ID) bool {
			for _, m := range []*member{a1, b1} {
				if info, ok := m.r.n.Ledger().Info(id); !ok || !info.Confirmed {
					return false
				}
			}
			return true
		})
		return len(pending) == 0
	})
	took := time.Since(healed)
	// The children answer over HTTP, one status at a time (slow under the
	// race detector): they are checked after the clock stopped, for the
	// newest 200 readings sent before the heal and a seeded sample of 300
	// of the others.
	sample := slices.Clone(before[max(0, len(before)-200):])
	older := before[:len(before)-len(sample)]
	rng := rand.New(rand.NewPCG(7, 8))
	for range min(300, len(older)) {
		sample = append(sample, older[rng.IntN(len(older))])
	}
	for _, ch := range []*crashChild{a2, b2} {
		rest := sample
		poll.Until(t, time.Minute, ch.m.name+" confirmed them too", func() bool {
			rest = rest[childConfirmedPrefix(ch.http, rest):]
			return len(rest) == 0
		})
	}
	t.Logf("split 2|2 for %v under 300 tx/s (confirmed on %s: %d at the split, %d at the heal); after the heal all %d readings sent before it were confirmed on the in-process two in %v (and then a sample of 500 found confirmed on the children)",
		healed.Sub(cut).Round(time.Second), a1.name, confirmedAtCut, confirmedAtHeal, len(before), took.Round(time.Millisecond))
	// The goal is 10 s; the race detector slows all four nodes several
	// times over, so under it the bound only catches a heal that stalls.
	bound := 10 * time.Second
	if raceEnabled {
		bound = 40 * time.Second
	}
	if took > bound {
		t.Fatalf("the heal took %v to confirm everything; the bound is %v (the goal: under 10 s)", took, bound)
	}
}

// childConfirmedPrefix is how many of ids, from the first, the child
// reports confirmed (the caller polls for the rest).
func childConfirmedPrefix(httpAddr string, ids []dag.ID) int {
	for i, id := range ids {
		resp, err := http.Get("http://" + httpAddr + "/v1/transactions/" + id.String())
		if err != nil {
			return i
		}
		var st struct {
			Status string `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || st.Status != "confirmed" {
			return i
		}
	}
	return len(ids)
}
