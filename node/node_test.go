package node_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/network"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// testRules keep device work cheap (256 hashes) and the rate rule on, with
// room for the crash test's flat-out devices.
var testRules = pow.Rules{BaseBits: 8, PayloadBytesPerBit: 512, RateWindow: 10 * time.Second, FreePerWindow: 1000, BitsPerExcess: 1, MaxBits: 24}

// testNetwork writes a one-validator genesis with cheap work into dir.
func testNetwork(t testing.TB, dir string) (genesis, key string) {
	t.Helper()
	if _, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "test", Difficulty: &testRules}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, node.GenesisFile), filepath.Join(dir, node.ValidatorKeyFile(1))
}

type running struct {
	n    *node.Node
	c    *client.Client
	stop func() error
}

func start(t testing.TB, cfg node.Config) *running {
	t.Helper()
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.BeaconInterval == 0 {
		cfg.BeaconInterval = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	c, err := client.New("http://"+n.HTTPAddr(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return &running{n: n, c: c, stop: stop}
}

func newKey(t testing.TB) ed25519.PrivateKey {
	key, err := client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestEndToEnd is the newcomer's path through the real node: start a
// development network, post a reading with the client, wait for it to be
// confirmed, read it back; restart on the same data directory and read it
// again.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	r := start(t, node.Config{DataDir: dir})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	info, err := r.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Node.Validator || len(info.Network.Validators) != 1 {
		t.Fatalf("development node is not its network's validator: %+v", info)
	}
	devKey := newKey(t)
	dev := client.NewDevice(r.c, devKey)
	id, err := dev.Send(ctx, dag.KindData, []byte("temperature=21.5"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	st, err := r.c.WaitConfirmed(ctx, id)
	if err != nil {
		t.Fatalf("WaitConfirmed: %v", err)
	}
	if st.Status != client.StateConfirmed || string(st.Transaction.Payload) != "temperature=21.5" {
		t.Fatalf("status %+v", st)
	}
	second, err := dev.Send(ctx, dag.KindData, []byte("temperature=21.7"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Same data directory: the development network and the ledger are
	// reused.
	r2 := start(t, node.Config{DataDir: dir})
	info2, err := r2.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info2.Network.GenesisID != info.Network.GenesisID {
		t.Fatal("restart created a new network")
	}
	st, err = r2.c.Transaction(ctx, id)
	if err != nil || st.Status != client.StateConfirmed {
		t.Fatalf("after restart: %+v, %v", st, err)
	}
	// The second reading was acknowledged before shutdown; it confirms
	// after the restart, and the device's chain continues.
	if _, err := r2.c.WaitConfirmed(ctx, second); err != nil {
		t.Fatalf("second reading after restart: %v", err)
	}
	third, err := client.NewDevice(r2.c, devKey).Send(ctx, dag.KindData, []byte("temperature=21.9"))
	if err != nil {
		t.Fatalf("device continuing its chain after restart: %v", err)
	}
	if st, err := r2.c.WaitConfirmed(ctx, third); err != nil || st.Transaction.Seq != 2 {
		t.Fatalf("third: %+v, %v", st, err)
	}
}

// TestRejectionsChangeNothing posts malformed, unsigned, under-worked,
// oversize, future-dated and duplicate transactions to a real node and
// checks each documented code and that the ledger is unchanged.
func TestRejectionsChangeNothing(t *testing.T) {
	dir := t.TempDir()
	genesis, key := testNetwork(t, dir)
	r := start(t, node.Config{DataDir: dir, GenesisFile: genesis, KeyFile: key})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + r.n.HTTPAddr()

	devKey := newKey(t)
	dev := client.NewDevice(r.c, devKey)
	good, err := dev.Send(ctx, dag.KindData, []byte("ok"))
	if err != nil {
		t.Fatal(err)
	}
	// The node's beacons confirm it and bring it under a final checkpoint
	// of the audit log (a checkpoint transaction); once they have, the
	// node issues nothing more on its own, so only the requests below
	// could change the counts.
	var last uint64
	var stableSince time.Time
	poll.Until(t, 10*time.Second, "the first reading confirmed, checkpointed and the node quiet", func() bool {
		f, _, ok := r.n.AuditLog().Latest()
		i, err := r.n.AuditLog().IndexOf(good)
		n := r.n.Ledger().Stats().Transactions
		if !ok || err != nil || i >= f.Size || n != last {
			last, stableSince = n, time.Time{}
			return false
		}
		if stableSince.IsZero() {
			stableSince = time.Now()
		}
		return time.Since(stableSince) > 300*time.Millisecond
	})
	tips, err := r.c.Tips(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(payload []byte, at time.Time) *dag.Transaction {
		tx := &dag.Transaction{Kind: dag.KindData, Trunk: tips.Trunk, Branch: tips.Branch, Time: at.UnixNano(), Payload: payload}
		tx.Sign(newKey(t))
		return tx
	}
	solve := func(tx *dag.Transaction) *dag.Transaction {
		if err := r.c.Solve(ctx, tx, testRules.Required(len(tx.Payload), 0)); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	// A flipped signature bit changes the ID, so the work is solved after
	// decoding the altered bytes.
	forgedRaw := fresh([]byte("forged"), time.Now()).Bytes()
	forgedRaw[len(forgedRaw)-20] ^= 0xff
	unsigned, err := dag.Decode(forgedRaw, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	unsigned = solve(unsigned)
	underWorked := fresh([]byte("lazy"), time.Now())
	for pow.Verify(underWorked.ID(), underWorked.Nonce, testRules.BaseBits) {
		underWorked.Nonce++
	}
	oversize := solve(fresh(make([]byte, dag.DefaultMaxPayload+1), time.Now()))
	future := solve(fresh([]byte("tomorrow"), time.Now().Add(24*time.Hour)))
	goodTx, err := r.c.Transaction(ctx, good)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		body   []byte
		ctype  string
		status int
		code   string
	}{
		{"malformed", []byte("definitely not a transaction"), "application/octet-stream", 400, "malformed"},
		{"malformed json", []byte(`{"version":1,`), "application/json", 400, "malformed"},
		{"unsigned", unsigned.Bytes(), "application/octet-stream", 422, "bad_signature"},
		{"under-worked", underWorked.Bytes(), "application/octet-stream", 422, "insufficient_work"},
		{"oversize", oversize.Bytes(), "application/octet-stream", 413, "payload_too_large"},
		{"future-dated", future.Bytes(), "application/octet-stream", 422, "future_time"},
		{"duplicate", goodTx.Transaction.Bytes(), "application/octet-stream", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, err := r.c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(base+"/v1/transactions", c.ctype, bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || (c.code != "" && !strings.Contains(string(body), `"code":"`+c.code+`"`)) {
				t.Fatalf("status %d body %s; want %d %s", resp.StatusCode, body, c.status, c.code)
			}
			after, err := r.c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if before.Counts.Transactions != after.Counts.Transactions || before.Counts.Parked != after.Counts.Parked {
				t.Fatalf("counts changed: %+v -> %+v", before.Counts, after.Counts)
			}
		})
	}
}

// crashEnv tells the test binary to run as TestCrashChild's node process.
const crashEnv = "TANGLED_NODE_CRASH_DIR"

// TestCrashChild is the child half of TestCrashRestarts: a node on the
// given data directory that prints its HTTP address and runs until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestCrashRestarts")
	}
	cfg := node.Config{
		DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0",
		GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
		BeaconInterval: 20 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if p2p := os.Getenv(crashEnv + "_P2P"); p2p != "" {
		// A peering child (TestKilledNodeRejoinsAtOnce): its own data
		// directory and key, a fixed UDP address, one pinned peer.
		// TestSuccessiveCrashesUnderLoad runs several: each names its
		// data directory, its peers (comma-separated) and its beacons.
		cfg.DataDir = filepath.Join(dir, cmp.Or(os.Getenv(crashEnv+"_DATA"), "child-data"))
		cfg.KeyFile = os.Getenv(crashEnv + "_KEY")
		cfg.P2PAddr = p2p
		cfg.Peers = strings.Split(os.Getenv(crashEnv+"_PEER"), ",")
		if os.Getenv(crashEnv+"_DEFAULTS") == "" {
			cfg.Network = network.Config{HeartbeatInterval: 200 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}
		}
		if v := os.Getenv(crashEnv + "_BEACON"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				fmt.Println("error", err)
				os.Exit(3)
			}
			cfg.BeaconInterval = d
		}
		cfg.BeaconRule = os.Getenv(crashEnv + "_RULE")
		cfg.API = api.Config{ClientRate: -1, IssuerRate: -1}
		if cut := os.Getenv(crashEnv + "_CUT"); cut != "" {
			// TestPartitionHealsUnderLoad: SIGUSR1 cuts the links to the
			// named keys (the other side), SIGUSR2 heals them.
			cutLinks(&cfg, strings.Split(cut, ","))
		}
	}
	n, err := node.New(cfg)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("listening", n.HTTPAddr())
	if err := n.Run(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
}

// cutLinks wraps cfg's transport in a gate that SIGUSR1 closes to the
// given keys and SIGUSR2 opens again.
func cutLinks(cfg *node.Config, keys []string) {
	var other []dag.PublicKey
	for _, k := range keys {
		var key dag.PublicKey
		if err := key.UnmarshalText([]byte(k)); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		other = append(other, key)
	}
	gates := make(chan *network.Gate, 1)
	cfg.WrapTransport = func(tr network.Transport) network.Transport {
		g := network.NewGate(tr)
		gates <- g
		return g
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		g := <-gates
		for s := range sig {
			if s == syscall.SIGUSR1 {
				g.Block(other...)
			} else {
				g.Unblock()
			}
		}
	}()
}

// startCrashChild starts TestCrashChild on dir in a child process and
// returns it with its HTTP address.
func startCrashChild(t *testing.T, dir string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), crashEnv+"="+dir), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var addr string
	for sc.Scan() {
		line := sc.Text()
		if a, ok := strings.CutPrefix(line, "listening "); ok {
			addr = a
			break
		}
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
	}
	if addr == "" {
		_ = cmd.Wait()
		t.Fatal("child did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return cmd, addr
}

// TestCrashRestarts runs the node in a child process under steady ingest
// from several devices, kills it with SIGKILL at random moments (ten
// times), restarts it on the same data directory, and checks after each
// restart that every transaction that got a 202 is there and that the node
// keeps confirming.
func TestCrashRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	testNetwork(t, dir)
	rng := rand.New(rand.NewPCG(25, 11))
	acked := map[dag.ID]bool{}
	var mu sync.Mutex
	devices := make([]*client.Device, 6)
	keys := make([]ed25519.PrivateKey, len(devices))
	for i := range keys {
		keys[i] = newKey(t)
	}
	const rounds = 10
	for round := range rounds {
		cmd, addr := startCrashChild(t, dir)
		c, err := client.New("http://"+addr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}

		// Everything acknowledged before the last kill is still there.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		mu.Lock()
		for id := range acked {
			if _, err := c.Transaction(ctx, id); err != nil {
				mu.Unlock()
				t.Fatalf("round %d: acknowledged %s lost: %v", round, id.Short(), err)
			}
		}
		mu.Unlock()
		// And the node keeps confirming: a new reading confirms.
		probe, err := client.NewDevice(c, newKey(t)).Send(ctx, dag.KindData, []byte(fmt.Sprintf("probe %d", round)))
		if err != nil {
			t.Fatalf("round %d: probe: %v", round, err)
		}
		if _, err := c.WaitConfirmed(ctx, probe); err != nil {
			t.Fatalf("round %d: probe not confirmed: %v", round, err)
		}
		cancel()

		// Steady ingest, then a kill at a random moment.
		ingest, stopIngest := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range devices {
			// A device restarts with the process that holds it, as a real
			// one would: it learns its chain head from the node.
			devices[i] = client.NewDevice(c, keys[i])
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ingest.Err() == nil; k++ {
					id, err := devices[i].Send(ingest, dag.KindData, []byte(fmt.Sprintf("r%d d%d n%d", round, i, k)))
					if err != nil {
						return
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		stopIngest()
		wg.Wait()
		c.CloseIdleConnections()
		mu.Lock()
		t.Logf("round %d: %d acknowledged so far", round, len(acked))
		mu.Unlock()
	}
	if len(acked) < rounds {
		t.Fatalf("only %d acknowledgements in %d rounds: the test proved little", len(acked), rounds)
	}
}
