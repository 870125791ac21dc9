package device_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
)

// randomScenario drives w with n random steps over a few devices:
// registrations, data (often on stale parents, so that much of it does
// not see the latest control action), suspensions, resumptions,
// revocations, transfers, rotations (some to a key other than the
// committed one), clones and notices. It returns every transaction it
// offered, accepted or not, in issue order.
func randomScenario(t *testing.T, w *world, rng *rand.Rand, n int) []*dag.Transaction {
	var offered []*dag.Transaction
	var attached []dag.ID
	authorities := []string{"a1", "a2"}
	type dev struct {
		id    dag.ID
		label string
		key   int // rotations so far
		last  dag.ID
	}
	var devs []*dev
	offer := func(tx *dag.Transaction, is *dagtest.Issuer, saved dagtest.Issuer) bool {
		offered = append(offered, tx)
		results, err := w.ledger.AttachVerified([]*dag.Transaction{tx}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if results[0].Status != dag.StatusAttached {
			*is = saved
			return false
		}
		attached = append(attached, tx.ID())
		w.last = tx.ID()
		return true
	}
	parents := func() (dag.ID, dag.ID) {
		if len(attached) == 0 {
			return w.ledger.Root(), w.ledger.Root()
		}
		pick := func() dag.ID {
			// Mostly recent, sometimes old: old parents leave recent
			// control actions out of the transaction's past.
			back := rng.IntN(min(len(attached), 4))
			if rng.IntN(4) == 0 {
				back = rng.IntN(len(attached))
			}
			return attached[len(attached)-1-back]
		}
		return pick(), pick()
	}
	for step := range n {
		a := authorities[rng.IntN(len(authorities))]
		auth := w.auth[a]
		switch r := rng.IntN(20); {
		case r < 2 || len(devs) == 0:
			label := fmt.Sprintf("r%d", step)
			reg := device.Registration{Key: devicePublicKey(label + "-0"), Class: "sensor"}
			if rng.IntN(2) == 0 {
				h := device.KeyHash(devicePublicKey(label + "-1"))
				reg.NextKeyHash = &h
			}
			trunk, branch := parents()
			saved := *auth
			tx := auth.Issue(dag.KindRegister, trunk, branch, w.now(), reg.Encode())
			if offer(tx, auth, saved) {
				d := &dev{id: tx.ID(), label: label, last: tx.ID()}
				w.chains[label+"-0"] = &dagtest.Issuer{Key: dagtest.Key("device-" + label + "-0"), Rules: w.rules}
				devs = append(devs, d)
			}
		case r < 12:
			d := devs[rng.IntN(len(devs))]
			is := w.chain(fmt.Sprintf("%s-%d", d.label, d.key))
			trunk, branch := parents()
			if is.Seq == 0 && rng.IntN(2) == 0 {
				trunk = d.id
			}
			saved := *is
			offer(is.Issue(dag.KindData, trunk, branch, w.now(), []byte{byte(step)}), is, saved)
		case r < 16:
			d := devs[rng.IntN(len(devs))]
			kind := []dag.Kind{dag.KindSuspend, dag.KindResume, dag.KindRevoke, dag.KindTransfer}[rng.IntN(4)]
			payload := device.LifecyclePayload(d.id)
			if kind == dag.KindTransfer {
				payload = device.TransferPayload(d.id, dagtest.PublicKey(w.authKey[authorities[rng.IntN(2)]]))
			}
			trunk, branch := parents()
			if rng.IntN(2) == 0 {
				trunk = d.last // usually valid: sees the device's state
			}
			saved := *auth
			tx := auth.Issue(kind, trunk, branch, w.now(), payload)
			if offer(tx, auth, saved) {
				d.last = tx.ID()
			}
		case r < 18:
			d := devs[rng.IntN(len(devs))]
			is := w.chain(fmt.Sprintf("%s-%d", d.label, d.key))
			if is.Seq == 0 {
				continue
			}
			next := d.key + 1
			if rng.IntN(4) == 0 {
				next = d.key + 2 // not the committed key, if there is one
			}
			trunk, branch := parents()
			saved := *is
			tx := is.Rotate(dagtest.Key(fmt.Sprintf("device-%s-%d", d.label, next)), nil, trunk, branch, w.now())
			if offer(tx, is, saved) {
				d.key = next
				w.chains[fmt.Sprintf("%s-%d", d.label, d.key)] = is
			}
		case r < 19:
			// A clone: the same key signs a second transaction with the
			// sequence number of the chain's latest.
			d := devs[rng.IntN(len(devs))]
			is := w.chain(fmt.Sprintf("%s-%d", d.label, d.key))
			if is.Seq == 0 {
				continue
			}
			info, ok := w.ledger.Info(is.Prev)
			if !ok {
				continue
			}
			clone := &dagtest.Issuer{Key: is.Key, Rules: is.Rules, Seq: info.Seq, Prev: info.Prev}
			trunk, branch := parents()
			twin := clone.Issue(info.Kind, trunk, branch, w.now(), []byte("clone"))
			if info.Kind == dag.KindRotate {
				continue
			}
			if offer(twin, clone, *clone) && rng.IntN(2) == 0 {
				v := &dagtest.Issuer{Key: w.net.Validators[0], Rules: w.rules}
				if st, ok := w.ledger.IssuerState(dagtest.PublicKey(v.Key), 0); ok {
					v.Seq, v.Prev = st.NextSeq, st.Prev
				}
				offer(v.Issue(dag.KindQuarantine, info.ID, twin.ID(), w.now(), nil), v, *v)
			}
		default:
			// A beacon keeps the validator's chain moving between notices.
			v := &dagtest.Issuer{Key: w.net.Validators[0], Rules: w.rules}
			if st, ok := w.ledger.IssuerState(dagtest.PublicKey(v.Key), 0); ok {
				v.Seq, v.Prev = st.NextSeq, st.Prev
			}
			trunk, branch := parents()
			offer(v.Issue(dag.KindBeacon, trunk, branch, w.now(), nil), v, *v)
		}
	}
	return offered
}

// TestShuffledOrderSameRegistry: the same transactions delivered to four
// ledgers in different orders (parents often after children, so they
// park) give byte-identical registries and the same accepted set as the
// ledger they were issued on.
func TestShuffledOrderSameRegistry(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 10))
			src := newWorld(t, []string{"a1:sensor", "a2:sensor"}, seed%2 == 0)
			txs := randomScenario(t, src, rng, 400)
			want := src.registry.Digest()
			wantAttached := attachedSet(src.ledger, txs)
			counts := map[string]int{}
			for _, tx := range txs {
				counts[tx.Kind.String()]++
			}
			stats := src.ledger.Stats()
			t.Logf("%d offered %v, %d attached, %d devices, %d conflicting", len(txs), counts, len(wantAttached), src.registry.Len(), stats.Conflicting)
			if src.registry.Len() < 5 || len(wantAttached) < len(txs)/2 || len(wantAttached) == len(txs) {
				t.Fatalf("scenario too tame: %d devices, %d of %d attached", src.registry.Len(), len(wantAttached), len(txs))
			}
			for k := range 4 {
				order := slices.Clone(txs)
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				reg := device.New(*src.net.Genesis)
				l, err := dag.Open(dag.Config{Genesis: src.net.Genesis, Rules: reg,
					Now: func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }})
				if err != nil {
					t.Fatal(err)
				}
				for _, tx := range order {
					if _, err := l.AttachVerified([]*dag.Transaction{tx}).Wait(); err != nil {
						t.Fatal(err)
					}
				}
				if got := attachedSet(l, txs); !slices.Equal(got, wantAttached) {
					t.Fatalf("ledger %d attached %d transactions, the source %d", k, len(got), len(wantAttached))
				}
				if got := reg.Digest(); got != want {
					t.Fatalf("ledger %d: registry digest %x, the source's %x", k, got, want)
				}
			}
		})
	}
}

func attachedSet(l *dag.Ledger, txs []*dag.Transaction) []dag.ID {
	var ids []dag.ID
	for _, tx := range txs {
		if _, ok := l.Info(tx.ID()); ok {
			ids = append(ids, tx.ID())
		}
	}
	slices.SortFunc(ids, dag.ID.Compare)
	return slices.Compact(ids)
}
