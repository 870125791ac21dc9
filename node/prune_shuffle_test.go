package node_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// deviceStream is a permissioned network's history: an authority
// registers devices, the devices post data on recent parents, three
// validators beacon every few transactions, and the authority suspends
// one device and revokes another half-way.
func deviceStream(t *testing.T, n int) (*dag.Genesis, []*dag.Transaction) {
	t.Helper()
	rules := pow.Rules{BaseBits: 2}
	net := dagtest.NewNetwork(3, rules)
	auth := dagtest.NewIssuer("authority", rules)
	auth.Unsigned = true
	net.Genesis.Authorities = []dag.Authority{{Name: "a1", PublicKey: dagtest.PublicKey(auth.Key), Classes: []string{"sensor"}}}
	net.Genesis.Permissioned = true
	rng := rand.New(rand.NewPCG(5, 6))
	at := dagtest.GenesisTime.UnixNano()
	var out []*dag.Transaction
	recent := []dag.ID{net.Genesis.ID()}
	emit := func(tx *dag.Transaction) *dag.Transaction {
		out = append(out, tx)
		recent = append(recent, tx.ID())
		return tx
	}
	parents := func() (dag.ID, dag.ID) {
		lo := max(len(recent)-16, 0)
		return recent[lo+rng.IntN(len(recent)-lo)], recent[lo+rng.IntN(len(recent)-lo)]
	}
	next := func() int64 { at += int64(time.Millisecond); return at }
	type dev struct {
		is   *dagtest.Issuer
		reg  dag.ID
		id   dag.ID
		done bool
	}
	var devs []*dev
	for i := range 8 {
		is := dagtest.NewIssuer("sensor-"+string(rune('a'+i)), rules)
		is.Unsigned = true
		reg := device.Registration{Key: dagtest.PublicKey(is.Key), Class: "sensor"}
		tr, br := parents()
		r := emit(auth.Issue(dag.KindRegister, tr, br, next(), reg.Encode()))
		devs = append(devs, &dev{is: is, reg: r.ID(), id: r.ID()})
	}
	var beacons []*dagtest.Issuer
	for _, key := range net.Validators {
		beacons = append(beacons, &dagtest.Issuer{Key: key, Rules: rules, Unsigned: true})
	}
	for k := range n {
		d := devs[rng.IntN(len(devs))]
		if !d.done {
			tr, br := parents()
			if d.is.Seq == 0 {
				tr = d.reg // the registration in the first one's past
			}
			emit(d.is.Issue(dag.KindData, tr, br, next(), []byte{byte(k), byte(k >> 8)}))
		}
		if k == n/2 {
			for i, kind := range []dag.Kind{dag.KindSuspend, dag.KindRevoke} {
				tr, br := parents()
				emit(auth.Issue(kind, tr, br, next(), devs[i].id[:]))
				devs[i].done = true
			}
		}
		if k%10 == 9 {
			for _, b := range beacons {
				tr, br := parents()
				emit(b.Issue(dag.KindBeacon, tr, br, next(), nil))
			}
		}
	}
	return net.Genesis, out
}

// TestShuffledDeliveryWithPruning delivers one device history in several
// locally shuffled orders (each transaction at most 64 places from its
// own) to ledgers with the device registry, on the memory store without
// pruning and on Badger pruning everything issued 300 ms (about 230
// transactions) before the newest delivered one after every chunk: the
// registry digest, the number confirmed and every verdict on what is still
// known must agree with the in-order, unpruned ledger's.
func TestShuffledDeliveryWithPruning(t *testing.T) {
	g, stream := deviceStream(t, 3000)
	now := func() time.Time { return dagtest.GenesisTime.Add(1000 * time.Hour) }
	open := func(s dag.Store, budget int64) (*dag.Ledger, *device.Registry) {
		r := device.New(*g)
		l, err := dag.Open(dag.Config{Genesis: g, Store: s, Rules: r, Now: now, MemoryBudget: budget})
		if err != nil {
			t.Fatal(err)
		}
		return l, r
	}
	feed := func(l *dag.Ledger, order []*dag.Transaction, prune bool) {
		var newest int64
		for i := 0; i < len(order); i += 64 {
			chunk := order[i:min(i+64, len(order))]
			if _, err := l.AttachVerified(chunk).Wait(); err != nil {
				t.Fatal(err)
			}
			for _, tx := range chunk {
				newest = max(newest, tx.Time)
			}
			if prune {
				if _, err := l.Prune(newest-int64(300*time.Millisecond), 0, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	ref, refReg := open(storage.NewMemory(), -1)
	feed(ref, stream, false)
	want := refReg.Digest()
	if st := ref.Stats(); st.Confirmed < len(stream)*3/4 {
		t.Fatalf("reference confirmed %d of %d", st.Confirmed, len(stream))
	}
	for seed := range uint64(3) {
		order := append([]*dag.Transaction(nil), stream...)
		rng := rand.New(rand.NewPCG(seed, 99))
		for i := 0; i < len(order); i += 64 {
			w := order[i:min(i+64, len(order))]
			rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
		}
		for _, prune := range []bool{false, true} {
			var l *dag.Ledger
			var reg *device.Registry
			var s *storage.Badger
			dir := t.TempDir()
			if prune {
				var err error
				if s, err = storage.Open(dir, storage.Options{}); err != nil {
					t.Fatal(err)
				}
				l, reg = open(s, 50*400)
			} else {
				l, reg = open(storage.NewMemory(), -1)
			}
			feed(l, order, prune)
			if got := reg.Digest(); got != want {
				t.Errorf("seed %d, pruning %v: registry digest differs", seed, prune)
			}
			if w, g := ref.Stats().Confirmed, l.Stats().Confirmed; w != g {
				t.Errorf("seed %d, pruning %v: %d confirmed, want %d", seed, prune, g, w)
			}
			known := 0
			for _, tx := range stream {
				got, ok := l.Info(tx.ID())
				wantInfo, _ := ref.Info(tx.ID())
				if !ok {
					if !prune || !wantInfo.Confirmed {
						t.Fatalf("seed %d, pruning %v: %s unknown", seed, prune, tx.ID().Short())
					}
					continue
				}
				known++
				if got.Confirmed != wantInfo.Confirmed || got.Conflicting != wantInfo.Conflicting { // RuledOut is local by design
					t.Fatalf("seed %d, pruning %v: %s differs: %+v, want %+v", seed, prune, tx.ID().Short(), got, wantInfo)
				}
			}
			if prune {
				if s.Pruned() < uint64(len(stream))/3 {
					t.Errorf("seed %d: pruned only %d of %d", seed, s.Pruned(), len(stream))
				}
				// A restart replays what pruning kept: the same registry.
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				var err error
				if s, err = storage.Open(dir, storage.Options{}); err != nil {
					t.Fatal(err)
				}
				l, reg = open(s, 50*400)
				if got := reg.Digest(); got != want {
					t.Errorf("seed %d: registry digest differs after a restart of the pruned store", seed)
				}
				if w, g := ref.Stats().Confirmed, l.Stats().Confirmed; g > w {
					t.Errorf("seed %d: %d confirmed after the restart, more than the reference's %d", seed, g, w)
				}
				s.Close()
			}
		}
	}
}
