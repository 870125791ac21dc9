package bench_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// benchNetwork writes a dagtest network's genesis and validator key into
// dir, so pre-signed dagtest streams are valid on a node started there.
func benchNetwork(tb testing.TB, dir string, rules pow.Rules) *dagtest.Network {
	tb.Helper()
	net := dagtest.NewNetwork(1, rules)
	data, err := json.Marshal(net.Genesis)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, node.GenesisFile), data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := client.SaveKey(filepath.Join(dir, node.ValidatorKeyFile(1)), net.Validators[0], true); err != nil {
		tb.Fatal(err)
	}
	return net
}

// startNode runs an in-process node on loopback until the benchmark ends.
func startNode(tb testing.TB, dir string) (*node.Node, *client.Client) {
	tb.Helper()
	n, err := node.New(node.Config{
		DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0",
		GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Wall-clock checks: the streams are issued in 2026-01 virtual
		// time, which is in the past.
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	c, err := client.New("http://"+n.HTTPAddr(), client.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return n, c
}

// httpStream is a pre-signed stream for HTTP ingest: parents lag behind by
// more than the requests in flight and devices are many, as in
// BenchmarkIngest.
func httpStream(net *dagtest.Network, n int) []*dag.Transaction {
	return dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 3, Devices: 8192, BeaconEvery: -1, Lag: 8192}).Take(n)
}

// BenchmarkNodeHTTP measures HTTP ingest of pre-signed transactions into a
// real node on loopback (client and node share the machine's 2 cores):
// one transaction per request over keep-alive connections from 64
// goroutines, and batches of 256 from 8 goroutines. Each acknowledgement
// means durable.
func BenchmarkNodeHTTP(b *testing.B) {
	const total = 60_000
	rules := pow.Rules{BaseBits: 1}
	b.Run("mode=single", func(b *testing.B) {
		benchHTTP(b, rules, total, 256, 1)
	})
	b.Run("mode=batch256", func(b *testing.B) {
		benchHTTP(b, rules, total, 8, 256)
	})
}

func benchHTTP(b *testing.B, rules pow.Rules, total, workers, batch int) {
	probe := b.TempDir()
	stream := httpStream(benchNetwork(b, probe, rules), total)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		benchNetwork(b, dir, rules)
		_, c := startNode(b, dir)
		var next atomic.Int64
		var wg sync.WaitGroup
		ctx := context.Background()
		b.StartTimer()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(int64(batch))) - batch
					if i >= len(stream) {
						return
					}
					chunk := stream[i:min(i+batch, len(stream))]
					if batch == 1 {
						if _, err := c.Post(ctx, chunk[0]); err != nil {
							b.Error(err)
							return
						}
						continue
					}
					if err := postBatchRetrying(ctx, c, chunk); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		info, err := c.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.Counts.Transactions < uint64(total) {
			b.Fatalf("node holds %d of %d", info.Counts.Transactions, total)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkConfirmationLatency measures, on a single-node network, the time
// from a device starting to send a reading (tips, signing, work at the
// default 12 bits, post) to the node's confirmed event for it, at a steady
// 200 readings per second from 20 devices.
func BenchmarkConfirmationLatency(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		rules := pow.DefaultRules()
		rules.FreePerWindow = 1000 // each device sends 10/s here
		if _, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "latency", Difficulty: &rules}); err != nil {
			b.Fatal(err)
		}
		n, err := node.New(node.Config{
			DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0",
			GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		c, err := client.New("http://"+n.HTTPAddr(), client.Options{})
		if err != nil {
			b.Fatal(err)
		}
		stream, err := c.Subscribe(ctx, client.EventFilter{})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var sendTimes []time.Duration
		sent := map[dag.ID]time.Time{}
		confirmedAt := map[dag.ID]time.Time{}
		go func() {
			for {
				ev, err := stream.Next()
				if err != nil {
					return
				}
				if ev.Kind == "confirmed" {
					mu.Lock()
					confirmedAt[ev.ID] = time.Now()
					mu.Unlock()
				}
			}
		}()
		const devices, perDevice = 20, 50
		var wg sync.WaitGroup
		for d := range devices {
			key, _ := client.GenerateKey()
			dev := client.NewDevice(c, key)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ticker := time.NewTicker(100 * time.Millisecond)
				defer ticker.Stop()
				time.Sleep(time.Duration(d) * 5 * time.Millisecond)
				for i := range perDevice {
					<-ticker.C
					t0 := time.Now()
					id, err := dev.Send(ctx, dag.KindData, []byte(fmt.Sprintf("device %d reading %d", d, i)))
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					sent[id] = t0
					sendTimes = append(sendTimes, time.Since(t0))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			all := true
			for id := range sent {
				if _, ok := confirmedAt[id]; !ok {
					all = false
					break
				}
			}
			mu.Unlock()
			if all || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		stream.Close()
		cancel()
		<-done
		mu.Lock()
		var lat []time.Duration
		for id, t0 := range sent {
			if t1, ok := confirmedAt[id]; ok {
				lat = append(lat, t1.Sub(t0))
			}
		}
		unconfirmed := len(sent) - len(lat)
		mu.Unlock()
		slices.Sort(lat)
		if len(lat) == 0 {
			b.Fatal("nothing confirmed")
		}
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(unconfirmed), "unconfirmed")
		slices.Sort(sendTimes)
		b.ReportMetric(float64(sendTimes[len(sendTimes)/2].Microseconds())/1000, "send-p50-ms")
	}
}

const rssChildEnv = "TANGLED_BENCH_NODE_DIR"

// TestRSSChild is the node process of BenchmarkNodeRSS.
func TestRSSChild(t *testing.T) {
	dir := os.Getenv(rssChildEnv)
	if dir == "" {
		t.Skip("child process of BenchmarkNodeRSS")
	}
	n, err := node.New(node.Config{
		DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0",
		GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("listening", n.HTTPAddr())
	_ = n.Run(context.Background())
}

// rssKiB reads a process's resident set size.
func rssKiB(pid int) int64 { return procStatusKiB(pid, "VmRSS:") }

// anonKiB reads a process's anonymous resident memory: the heap and stacks,
// without the store's memory-mapped files, which the kernel can drop.
func anonKiB(pid int) int64 { return procStatusKiB(pid, "RssAnon:") }

func procStatusKiB(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// BenchmarkNodeRSS runs a node as a child process and feeds it
// TANGLED_BENCH_TXS (default 1,000,000) transactions over HTTP in batches,
// sampling the child's resident set size; it reports the peak and the
// final value. The generator signs in this process as it goes, so the
// achieved rate is bounded by signing here, not by the node.
func BenchmarkNodeRSS(b *testing.B) {
	total := ledgerSize()
	for b.Loop() {
		dir := b.TempDir()
		net := benchNetwork(b, dir, pow.Rules{BaseBits: 1})
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), rssChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var addr string
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr = a
				break
			}
		}
		if addr == "" {
			b.Fatal("node child did not start")
		}
		c, err := client.New("http://"+addr, client.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var peak, peakAnon atomic.Int64
		sampling := make(chan struct{})
		go func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-sampling:
					return
				case <-t.C:
					if r := rssKiB(cmd.Process.Pid); r > peak.Load() {
						peak.Store(r)
					}
					if r := anonKiB(cmd.Process.Pid); r > peakAnon.Load() {
						peakAnon.Store(r)
					}
				}
			}
		}()
		gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 9, Devices: 8192, BeaconEvery: -1, Lag: 8192})
		ctx := context.Background()
		t0 := time.Now()
		batches := make(chan []*dag.Transaction, 4)
		go func() {
			for sent := 0; sent < total; sent += 4096 {
				batches <- gen.Take(min(4096, total-sent))
			}
			close(batches)
		}()
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for txs := range batches {
					for i := 0; i < len(txs); i += 512 {
						if err := postBatchRetrying(ctx, c, txs[i:min(i+512, len(txs))]); err != nil {
							b.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(t0)
		time.Sleep(time.Second)
		final := rssKiB(cmd.Process.Pid)
		close(sampling)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.ReportMetric(float64(peak.Load())/1024, "peak-rss-MiB")
		b.ReportMetric(float64(peakAnon.Load())/1024, "peak-anon-MiB")
		b.ReportMetric(float64(final)/1024, "final-rss-MiB")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "tx/s")
	}
}

// postBatchRetrying posts a batch as a gateway would: what the node sheds
// with 429 (back-pressure while Badger flushes or compacts) is posted again
// after the node's Retry-After.
func postBatchRetrying(ctx context.Context, c *client.Client, txs []*dag.Transaction) error {
	for attempt := 0; len(txs) > 0; attempt++ {
		results, err := c.PostBatch(ctx, txs)
		if err != nil {
			if !client.IsRetryable(err) || attempt > 100 {
				return err
			}
			time.Sleep(retryDelay(err))
			continue
		}
		var again []*dag.Transaction
		var last error
		for i, r := range results {
			if err := r.Err(); err != nil {
				if !client.IsRetryable(err) {
					return err
				}
				again, last = append(again, txs[i]), err
			}
		}
		if len(again) > 0 {
			if attempt > 100 {
				return last
			}
			time.Sleep(retryDelay(last))
		}
		txs = again
	}
	return nil
}

func retryDelay(err error) time.Duration {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter
	}
	return 100 * time.Millisecond
}
