package device_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

var benchRules = pow.Rules{BaseBits: 2}

// benchNetwork is a genesis with one validator and, unless open, one
// authority and the permissioned flag.
func benchNetwork(permissioned bool, rules pow.Rules) (*dagtest.Network, *dagtest.Issuer) {
	net := dagtest.NewNetwork(1, rules)
	owner := &dagtest.Issuer{Key: dagtest.Key("bench-authority"), Rules: benchRules}
	if permissioned {
		net.Genesis.NetworkID = "bench-permissioned"
		net.Genesis.Authorities = []dag.Authority{{Name: "fleet", PublicKey: dagtest.PublicKey(owner.Key), Classes: []string{"sensor"}}}
		net.Genesis.Permissioned = true
	} else {
		net.Genesis.NetworkID = "bench-open"
	}
	return net, owner
}

// ingestStreams builds, for one network, a prefix (one registration per
// device in the authority's chain; in the open network, a transaction of
// a filler key in the same place) and a stream of n signed data
// transactions from the devices in turn. Each device's first transaction
// approves its registration (or filler); every transaction's other parent
// lags lag transactions behind, so parents are attached before their
// children arrive, as for devices that fetch tips from the node.
//
// With a policy, the prefix starts with a class policy that every
// registration (in the same chain) and so every data transaction sees.
func ingestStreams(permissioned bool, pol *policy.Source, devices, n, lag int) (*dagtest.Network, []*dag.Transaction, []*dag.Transaction) {
	net, owner := benchNetwork(permissioned, benchRules)
	root := net.Genesis.ID()
	t := dagtest.GenesisTime.UnixNano()
	var prefix []*dag.Transaction
	last := root
	if pol != nil {
		p := &device.PolicyPayload{Scope: device.ScopeClass, Class: "sensor", Source: pol}
		tx := owner.Issue(dag.KindPolicy, last, last, t, p.Encode())
		prefix = append(prefix, tx)
		last = tx.ID()
	}
	chains := make([]*dagtest.Issuer, devices)
	for i := range chains {
		chains[i] = &dagtest.Issuer{Key: dagtest.Key(fmt.Sprintf("bench-device-%d", i)), Rules: benchRules}
		t += 1000
		var tx *dag.Transaction
		if permissioned {
			reg := device.Registration{Key: dagtest.PublicKey(chains[i].Key), Class: "sensor"}
			tx = owner.Issue(dag.KindRegister, last, last, t, reg.Encode())
		} else {
			tx = owner.Issue(dag.KindData, last, last, t, make([]byte, 34)) // a registration's size
		}
		prefix = append(prefix, tx)
		last = tx.ID()
	}
	stream := make([]*dag.Transaction, 0, n)
	for k := range n {
		i := k % devices
		t += 1000
		lagged := last
		if len(stream) >= lag {
			lagged = stream[len(stream)-lag].ID()
		}
		trunk := lagged
		if chains[i].Seq == 0 {
			trunk = prefix[len(prefix)-devices+i].ID()
		}
		stream = append(stream, chains[i].Issue(dag.KindData, trunk, lagged, t, []byte("reading 21.5C")))
	}
	return net, prefix, stream
}

// BenchmarkIngest compares the ingest pipeline (decode, work, batch
// signature verification, attach, memory store) of a permissioned
// network, whose rule layer judges every transaction, with an open one
// without a rule layer, on streams of the same shape: 60,000 data
// transactions of 8,192 devices. The identity issue's goal: permissioned
// at least 0.8× open; the policy issue's: with a policy judging every
// device transaction (benchPolicy, the thermostat's rule with a rate
// rule), at least 0.8× open.
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []string{"open", "permissioned", "policy"} {
		permissioned := mode != "open"
		var pol *policy.Source
		if mode == "policy" {
			pol = benchPolicy(b)
		}
		b.Run("network="+mode, func(b *testing.B) {
			const submitters, chunk = 16, 256
			net, prefix, stream := ingestStreams(permissioned, pol, 8192, 60_000, submitters*chunk)
			raws := make([][]byte, len(stream))
			for i, tx := range stream {
				raws[i] = tx.Bytes()
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				cfg := dag.Config{Genesis: net.Genesis, Store: storage.NewMemory(), Now: func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }}
				if permissioned {
					cfg.Rules = device.New(*net.Genesis)
				}
				l, err := dag.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.AttachVerified(prefix).Wait(); err != nil {
					b.Fatal(err)
				}
				p, err := dag.NewPipeline(l, dag.PipelineConfig{})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				ran := make(chan error, 1)
				go func() { ran <- p.Run(ctx) }()
				b.StartTimer()
				var wg sync.WaitGroup
				var next atomic.Int64
				for range submitters {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(next.Add(1)-1) * chunk
							if i >= len(raws) {
								return
							}
							for _, r := range p.SubmitMany(ctx, raws[i:min(i+chunk, len(raws))]) {
								if r.Err != nil {
									b.Error(r.Err)
									return
								}
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if st := l.Stats(); st.Transactions != uint64(len(prefix)+len(raws)) {
					b.Fatalf("attached %d of %d", st.Transactions, len(prefix)+len(raws))
				}
				cancel()
				<-ran
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*len(raws))/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// registerMany attaches n registrations (unsigned: AttachVerified trusts
// its caller, and signatures are not what is measured) to l and returns
// the device IDs and keys.
func registerMany(tb testing.TB, l *dag.Ledger, owner *dagtest.Issuer, n int) ([]dag.ID, []dag.PublicKey) {
	owner.Unsigned = true
	ids := make([]dag.ID, 0, n)
	keys := make([]dag.PublicKey, 0, n)
	last := l.Root()
	t := dagtest.GenesisTime.UnixNano()
	batch := make([]*dag.Transaction, 0, 4096)
	flush := func() {
		results, err := l.AttachVerified(batch).Wait()
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range results {
			if r.Status != dag.StatusAttached {
				tb.Fatalf("registration %s: %v", r.Status, r.Err)
			}
		}
		batch = batch[:0]
	}
	var key dag.PublicKey
	for i := range n {
		t += 1000
		key[0], key[1], key[2], key[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		key[31] = 0xde
		reg := device.Registration{Key: key, Class: "sensor", Attributes: []device.Attribute{{Key: "serial", Value: fmt.Sprintf("SN-%08d", i)}}}
		tx := owner.Build(dag.KindRegister, last, last, t, reg.Encode())
		batch = append(batch, tx)
		last = tx.ID()
		ids = append(ids, tx.ID())
		keys = append(keys, key)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	return ids, keys
}

// benchPolicy is the thermostat example's rule, reading the transaction,
// the device and its chain, with a free rate the stream stays within.
func benchPolicy(tb testing.TB) *policy.Source {
	src, err := policy.ParseFile([]byte(`// name: bench
// version: 1
// reads: tx, device, history
// rate: 100/1s growth 1
device.state == "active" && tx.size <= 256 && (history.count == 0 || tx.time - history.last_time >= duration("1ms"))
`))
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkMillionDevices registers 1,000,000 devices in a ledger with the
// registry and reports the memory each costs (ledger and registry
// together, and the registry's share: the same ledger without a rule
// layer holds the same transactions), the cost of looking one up, and
// the time a restart takes to rebuild them from a Badger store.
// Run it alone: go test ./device -run '^$' -bench MillionDevices -benchtime 1x
func BenchmarkMillionDevices(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		// No work: a million solved registrations would measure the solver.
		net, owner := benchNetwork(true, pow.Rules{})
		base := heapInUse()
		plain, err := dag.Open(dag.Config{Genesis: net.Genesis})
		if err != nil {
			b.Fatal(err)
		}
		registerMany(b, plain, &dagtest.Issuer{Key: owner.Key}, n)
		ledgerOnly := heapInUse() - base
		runtime.KeepAlive(plain)
		plain = nil

		base = heapInUse()
		reg := device.New(*net.Genesis)
		dir := b.TempDir()
		store, err := storage.Open(dir, storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		l, err := dag.Open(dag.Config{Genesis: net.Genesis, Rules: reg, Store: store})
		if err != nil {
			b.Fatal(err)
		}
		ids, keys := registerMany(b, l, &dagtest.Issuer{Key: owner.Key}, n)
		withRegistry := heapInUse() - base
		if reg.Len() != n {
			b.Fatalf("%d devices registered", reg.Len())
		}
		b.ReportMetric(float64(withRegistry)/n, "B/device")
		b.ReportMetric(float64(withRegistry-min(withRegistry, ledgerOnly))/n, "registry-B/device")

		rng := rand.New(rand.NewPCG(1, 2))
		const lookups = 200_000
		start := time.Now()
		for range lookups {
			if _, ok := reg.Device(ids[rng.IntN(n)]); !ok {
				b.Fatal("lookup failed")
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/lookups, "ns/lookup-by-id")
		start = time.Now()
		for range lookups {
			if _, ok := reg.LatestControl(keys[rng.IntN(n)]); !ok {
				b.Fatal("lookup failed")
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/lookups, "ns/lookup-by-key")

		digest := reg.Digest()
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
		l, reg = nil, nil
		runtime.GC()
		start = time.Now()
		store, err = storage.Open(dir, storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		reg = device.New(*net.Genesis)
		if _, err := dag.Open(dag.Config{Genesis: net.Genesis, Rules: reg, Store: store}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "restart-s")
		if reg.Len() != n || reg.Digest() != digest {
			b.Fatalf("restart rebuilt %d devices, digest equal: %v", reg.Len(), reg.Digest() == digest)
		}
		_ = store.Close()
		runtime.KeepAlive(l)
	}
}
