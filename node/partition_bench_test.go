package node_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
)

// BenchmarkPartitionHeal: four validators (in this process, real QUIC on
// loopback) under 300 tx/s from 32 devices posting over HTTP (tips, sign,
// work, post), split 2|2 for TANGLED_BENCH_PARTITION (a duration, default 30s) and
// healed while the devices go on. Reports heal_s, the time from the heal
// until every transaction sent before it is confirmed on every node, the
// tip count's peak after the heal and the beacons' share, under each
// beacon rule.
func BenchmarkPartitionHeal(b *testing.B) {
	split := 30 * time.Second
	if v := os.Getenv("TANGLED_BENCH_PARTITION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("TANGLED_BENCH_PARTITION: %v", err)
		}
		split = d
	}
	for _, rule := range []string{node.BeaconSweep, node.BeaconRounds} {
		b.Run("rule="+rule, func(b *testing.B) {
			for range b.N {
				heal, tips, share := partitionHeal(b, rule, split)
				b.ReportMetric(heal.Seconds(), "heal_s")
				b.ReportMetric(float64(tips), "peak_tips")
				b.ReportMetric(share, "beacon_share")
			}
		})
	}
}

func partitionHeal(b *testing.B, rule string, split time.Duration) (heal time.Duration, peakTips int, beaconShare float64) {
	c := newCluster(b, 4)
	c.beaconRule, c.beaconInterval = rule, node.DefaultBeaconInterval
	c.startAll()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	load := startDeviceLoad(b, ctx, c.members, 32, 300)
	defer load.stop()

	wait := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	wait(3 * time.Second)
	a, z := c.members[:2], c.members[2:]
	for _, m := range a {
		m.gate.Block(z[0].key, z[1].key)
	}
	for _, m := range z {
		m.gate.Block(a[0].key, a[1].key)
	}
	wait(split)
	for _, m := range c.members {
		m.gate.Unblock()
	}
	healed := time.Now()
	before := load.sent()
	poll.Until(b, 5*time.Minute, fmt.Sprintf("all %d transactions sent before the heal confirmed everywhere", len(before)), func() bool {
		for _, m := range c.members {
			st := m.r.n.Ledger().Stats()
			peakTips = max(peakTips, st.Tips)
		}
		for _, m := range c.members {
			l := m.r.n.Ledger()
			for _, id := range before {
				if info, ok := l.Info(id); !ok || !info.Confirmed {
					return false
				}
			}
		}
		return true
	})
	heal = time.Since(healed)
	st := c.members[0].r.n.Ledger().Stats()
	return heal, peakTips, float64(st.Beacons) / float64(st.Transactions)
}

// deviceLoad is devices posting readings over HTTP at a steady total rate,
// spread over a cluster's members: each device gets tips, signs, does the
// work and posts, as a real one does.
type deviceLoad struct {
	stop func() // ends the sends and waits for the devices
	mu   sync.Mutex
	ids  []dag.ID
}

// startDeviceLoad starts devices devices sending rate readings a second in
// total, device i posting to members[i%len(members)], until ctx ends or
// stop is called. A failed send fails tb.
func startDeviceLoad(tb testing.TB, ctx context.Context, members []*member, devices int, rate int) *deviceLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &deviceLoad{}
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(1, 2))
	every := time.Duration(devices) * time.Second / time.Duration(rate)
	for i := range devices {
		_, key, _ := ed25519.GenerateKey(nil)
		dev := client.NewDevice(members[i%len(members)].r.c, key)
		offset := time.Duration(rng.Int64N(int64(every)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(offset)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				t.Reset(every)
				id, err := dev.Send(ctx, dag.KindData, []byte("reading"))
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
						tb.Errorf("device %d: %v", i, err)
					}
					return
				}
				l.mu.Lock()
				l.ids = append(l.ids, id)
				l.mu.Unlock()
			}
		}()
	}
	l.stop = func() { cancel(); wg.Wait() }
	return l
}

// sent returns the IDs the nodes have acknowledged so far.
func (l *deviceLoad) sent() []dag.ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dag.ID(nil), l.ids...)
}
