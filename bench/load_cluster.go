package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tangled-ledger/tangled/node"
)

// Cluster modes, as the report names them.
const (
	ModeChildren  = "child processes"
	ModeInProcess = "in-process"
)

// loadCluster is the running nodes, in this process or as children.
type loadCluster struct {
	mode string
	urls []string // http://127.0.0.1:PORT
	pids []int    // child process IDs; nil in-process
	stop func() []string
}

// startInProcess runs the nodes in this process, each with its own data
// directory and log file. Each dials the ones started before it, so the
// links form a full mesh.
func startInProcess(cfg LoadConfig, dir string, keys []string) (*loadCluster, error) {
	cl := &loadCluster{mode: ModeInProcess}
	type running struct {
		cancel context.CancelFunc
		done   chan error
		log    *os.File
	}
	var nodes []running
	stopAll := func() []string {
		errs := make([]string, len(nodes))
		for i := len(nodes) - 1; i >= 0; i-- {
			nodes[i].cancel()
		}
		for i, n := range nodes {
			if err := <-n.done; err != nil {
				errs[i] = err.Error()
			}
			_ = n.log.Close()
		}
		return errs
	}
	var peers []string
	genesis := filepath.Join(dir, node.GenesisFile)
	for i := range cfg.Nodes {
		logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("node-%d.log", i+1)))
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("bench: %w", err)
		}
		n, err := node.New(node.Config{
			DataDir:        nodeDir(dir, i),
			HTTPAddr:       "127.0.0.1:0",
			P2PAddr:        "127.0.0.1:0",
			Peers:          peers,
			GenesisFile:    genesis,
			KeyFile:        filepath.Join(dir, node.ValidatorKeyFile(i+1)),
			BeaconInterval: cfg.BeaconInterval,
			BeaconRule:     cfg.BeaconRule,
			Logger:         slog.New(slog.NewTextHandler(logFile, nil)),
		})
		if err != nil {
			_ = logFile.Close()
			stopAll()
			return nil, err
		}
		// Run's context is not ctx: the run stops the nodes itself, in
		// order, after it has read their final state.
		nctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(nctx) }()
		nodes = append(nodes, running{cancel, done, logFile})
		peers = append(peers, keys[i]+"@"+n.P2PAddr())
		cl.urls = append(cl.urls, "http://"+n.HTTPAddr())
	}
	cl.stop = stopAll
	return cl, nil
}

// startChildren runs each node as `cfg.Binary node ...` with its output in
// DIR/node-i.log. Ports are picked here (bind to port 0, read it, close)
// and passed explicitly, so the parent knows every address before the
// children start; a port taken in between makes that child fail to start,
// which is reported.
func startChildren(ctx context.Context, cfg LoadConfig, dir string, keys []string) (*loadCluster, error) {
	cl := &loadCluster{mode: ModeChildren}
	var cmds []*exec.Cmd
	var waits []chan error
	var logs []*os.File
	stopAll := func() []string {
		errs := make([]string, len(cmds))
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for i, c := range cmds {
			select {
			case err := <-waits[i]:
				if err != nil {
					errs[i] = err.Error()
				}
			case <-time.After(20 * time.Second):
				_ = c.Process.Kill()
				<-waits[i]
				errs[i] = "did not stop within 20 s of SIGTERM; killed"
			}
			_ = logs[i].Close()
		}
		return errs
	}
	fail := func(err error) (*loadCluster, error) {
		stopAll()
		return nil, err
	}
	var peers []string
	genesis := filepath.Join(dir, node.GenesisFile)
	for i := range cfg.Nodes {
		httpPort, err := freePort("tcp")
		if err != nil {
			return fail(err)
		}
		p2pPort, err := freePort("udp")
		if err != nil {
			return fail(err)
		}
		p2pAddr := "127.0.0.1:" + strconv.Itoa(p2pPort)
		args := []string{"node",
			"--data-dir", nodeDir(dir, i),
			"--http", "127.0.0.1:" + strconv.Itoa(httpPort),
			"--p2p", p2pAddr,
			"--genesis", genesis,
			"--key", filepath.Join(dir, node.ValidatorKeyFile(i+1)),
		}
		if cfg.BeaconInterval > 0 {
			args = append(args, "--beacon-interval", cfg.BeaconInterval.String())
		}
		if cfg.BeaconRule != "" {
			args = append(args, "--beacon-rule", cfg.BeaconRule)
		}
		for _, p := range peers {
			args = append(args, "--peer", p)
		}
		logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("node-%d.log", i+1)))
		if err != nil {
			return fail(fmt.Errorf("bench: %w", err))
		}
		cmd := exec.Command(cfg.Binary, args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// The children's environment must not configure them behind our
		// back (TANGLED_PEER and the like would add to the flags).
		cmd.Env = cleanEnv()
		cmd.SysProcAttr = childProcAttr()
		if err := cmd.Start(); err != nil {
			_ = logFile.Close()
			return fail(fmt.Errorf("bench: starting node %d: %w", i+1, err))
		}
		wait := make(chan error, 1)
		go func() { wait <- cmd.Wait() }()
		cmds, waits, logs = append(cmds, cmd), append(waits, wait), append(logs, logFile)
		cl.pids = append(cl.pids, cmd.Process.Pid)
		url := "http://127.0.0.1:" + strconv.Itoa(httpPort)
		cl.urls = append(cl.urls, url)
		if err := waitHealthy(ctx, url, wait, 30*time.Second); err != nil {
			return fail(fmt.Errorf("bench: node %d (log %s): %w", i+1, logFile.Name(), err))
		}
		peers = append(peers, keys[i]+"@"+p2pAddr)
	}
	cl.stop = stopAll
	return cl, nil
}

// cleanEnv is the environment without TANGLED_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) < 8 || kv[:8] != "TANGLED_" {
			env = append(env, kv)
		}
	}
	return env
}

func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("bench: free udp port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: free tcp port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHealthy polls /healthz until it answers 200, the child exits, or
// the timeout passes.
func waitHealthy(ctx context.Context, url string, exited chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-exited:
			exited <- err // the stopper waits on it too
			return fmt.Errorf("exited during start: %v", err)
		case <-ctx.Done():
			return context.Cause(ctx)
		default:
		}
		resp, err := hc.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no healthy /healthz within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMesh waits until every node reports a connection to every other.
func (cl *loadCluster) waitMesh(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, u := range cl.urls {
			n, err := connectedPeers(ctx, u)
			if err != nil || n < len(cl.urls)-1 {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: the nodes formed no full mesh within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// connectedPeers reads GET /v1/peers; the client package has no call for
// it, as devices do not need one.
func connectedPeers(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/peers", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: GET /v1/peers: %s", resp.Status)
	}
	var body struct {
		Peers []struct {
			State string `json:"state"`
		} `json:"peers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	n := 0
	for _, p := range body.Peers {
		if p.State == "connected" {
			n++
		}
	}
	return n, nil
}

// cpuSeconds reads each child's CPU time; in-process it is nil.
func (cl *loadCluster) cpuSeconds() []float64 {
	if cl.pids == nil {
		return nil
	}
	out := make([]float64, len(cl.pids))
	for i, pid := range cl.pids {
		out[i] = procCPUSeconds(pid)
	}
	return out
}
