package dag_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/storage"
)

// snapshot is everything observable about a ledger's state for a set of
// transactions.
type snapshot struct {
	Stats     dag.Stats
	Infos     map[dag.ID]dag.Info
	Confirmed []dag.ID
	Tips      []dag.ID
	Missing   []dag.ID
}

func takeSnapshot(l *dag.Ledger, ids []dag.ID) snapshot {
	s := snapshot{Stats: l.Stats(), Infos: map[dag.ID]dag.Info{}}
	for _, id := range ids {
		if in, ok := l.Info(id); ok {
			s.Infos[id] = in
		}
	}
	s.Confirmed = l.Confirmed(1, s.Stats.Confirmed, nil)
	s.Tips = l.Tips(nil)
	s.Missing = l.Missing(nil)
	sortIDs(s.Tips)
	sortIDs(s.Missing)
	return s
}

func sortIDs(ids []dag.ID) {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j].Compare(ids[j-1]) < 0; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}

func idsOf(txs []*dag.Transaction) []dag.ID {
	ids := make([]dag.ID, len(txs))
	for i, tx := range txs {
		ids[i] = tx.ID()
	}
	return ids
}

func openBadger(t testing.TB, dir string) *storage.Badger {
	t.Helper()
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	return s
}

// TestMetamorphicStores feeds one seeded stream, in seeded disorder (so
// parking and release happen), to a ledger on the memory store and one on
// Badger, and expects the same state from both, and again from each after
// a restart that rebuilds everything from the log.
func TestMetamorphicStores(t *testing.T) {
	net := dagtest.NewNetwork(4, dagtestRules())
	stream := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 21, BeaconEvery: 15, Devices: 16}).Take(1500)
	// Equivocations too: a cloned key signs two different seq-0 readings.
	clone := dagtest.NewIssuer("cloned", dagtestRules())
	twin := *clone
	stream = append(stream,
		clone.Issue(dag.KindData, stream[10].ID(), stream[11].ID(), at(time.Second), []byte("one")),
		twin.Issue(dag.KindData, stream[12].ID(), stream[13].ID(), at(time.Second), []byte("two")))
	rng := rand.New(rand.NewPCG(99, 1))
	order := rng.Perm(len(stream))
	ids := idsOf(stream)

	mem := storage.NewMemory()
	dir := t.TempDir()
	bdg := openBadger(t, dir)
	now := func() time.Time { return dagtest.GenesisTime.Add(24 * time.Hour) }
	lm, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: mem, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: bdg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(order); {
		n := 1 + rng.IntN(64)
		var batch []*dag.Transaction
		for _, k := range order[i:min(i+n, len(order))] {
			batch = append(batch, stream[k])
		}
		i += n
		rm, errM := lm.AttachVerified(batch).Wait()
		rb, errB := lb.AttachVerified(batch).Wait()
		if errM != nil || errB != nil {
			t.Fatalf("Wait: %v / %v", errM, errB)
		}
		if diff := cmp.Diff(rm, rb, cmp.Comparer(func(a, b error) bool { return dag.Code(a) == dag.Code(b) })); diff != "" {
			t.Fatalf("results differ (-memory +badger):\n%s", diff)
		}
	}
	want := takeSnapshot(lm, ids)
	if want.Stats.Transactions != uint64(len(stream)) || want.Stats.Conflicting != 2 {
		t.Fatalf("stats %+v: expected every transaction attached and two conflicting", want.Stats)
	}
	if diff := cmp.Diff(want, takeSnapshot(lb, ids)); diff != "" {
		t.Fatalf("badger ledger differs (-memory +badger):\n%s", diff)
	}
	// Restart both from their logs.
	lm2, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: mem, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, takeSnapshot(lm2, ids)); diff != "" {
		t.Fatalf("memory ledger after replay differs:\n%s", diff)
	}
	if err := bdg.Close(); err != nil {
		t.Fatal(err)
	}
	bdg = openBadger(t, dir)
	defer bdg.Close()
	lb2, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: bdg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, takeSnapshot(lb2, ids)); diff != "" {
		t.Fatalf("badger ledger after reopen differs:\n%s", diff)
	}
}

// TestParkedSurvivesRestart: a parked transaction was acknowledged, so it
// must still be there after a restart and attach when its parent arrives.
func TestParkedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, 1, dagtestRules(), nil)
	s := openBadger(t, dir)
	h.l = h.open(s)
	dev := dagtest.NewIssuer("dev", dagtestRules())
	a := dev.Issue(dag.KindData, h.l.Root(), h.l.Root(), at(time.Second), nil)
	b := dev.Issue(dag.KindData, a.ID(), a.ID(), at(2*time.Second), nil)
	if r := h.attach(b)[0]; r.Status != dag.StatusParked {
		t.Fatalf("b: %+v", r)
	}
	s.Close()
	s = openBadger(t, dir)
	defer s.Close()
	h.l = h.open(s)
	if !h.l.IsParked(b.ID()) {
		t.Fatal("parked transaction lost in restart")
	}
	h.mustAttach(a)
	if in := h.info(b.ID()); in.Arrival != 2 {
		t.Fatalf("b after release: %+v", in)
	}
	got, err := h.l.Transaction(b.ID())
	if err != nil || got.ID() != b.ID() {
		t.Fatalf("Transaction(b) = %v, %v", got, err)
	}
}

const crashEnv = "TANGLED_DAG_CRASH_DIR"

// crashStream is the stream both the crash child and the parent derive.
func crashStream() (*dagtest.Network, []*dag.Transaction) {
	net := dagtest.NewNetwork(1, dagtestRules())
	return net, dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 77, BeaconEvery: 25}).Take(12000)
}

// TestCrashChild is the child half of TestCrashRecovery: it runs the full
// pipeline on Badger and prints the ID of every transaction whose Submit
// returned (that is, was acknowledged as durable).
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestCrashRecovery")
	}
	net, stream := crashStream()
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: func() time.Time { return dagtest.GenesisTime.Add(24 * time.Hour) }})
	if err != nil {
		fmt.Println("ledger:", err)
		os.Exit(3)
	}
	p, err := dag.NewPipeline(l, dag.PipelineConfig{})
	if err != nil {
		os.Exit(3)
	}
	go p.Run(context.Background())
	out := bufio.NewWriter(os.Stdout)
	raws := dagtest.Encode(stream)
	fmt.Fprintln(out, "ready")
	out.Flush()
	for i := 0; i < len(raws); i += 50 {
		for _, r := range p.SubmitMany(context.Background(), raws[i:min(i+50, len(raws))]) {
			if r.Err != nil {
				fmt.Fprintln(out, "error", r.ID, r.Err)
				continue
			}
			fmt.Fprintln(out, "ack", r.ID)
		}
		out.Flush()
	}
	fmt.Fprintln(out, "done")
	out.Flush()
	select {}
}

// TestCrashRecovery kills a process that ingests through the full
// pipeline with SIGKILL at random moments, restarts it on the same data
// directory several times, and checks after each kill that every
// acknowledged transaction is there and the state is consistent: a gapless
// log, every attached transaction's parents attached, and the same state on
// a second replay.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	net, stream := crashStream()
	ids := idsOf(stream)
	rng := rand.New(rand.NewPCG(2026, 11))
	acked := map[dag.ID]bool{}
	for round := range 10 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// The kill clock starts at the first new acknowledgement, so every
		// round kills the child mid-write, not while it starts up or
		// re-offers what it already stored.
		var deadline <-chan time.Time
		finished := false
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				if id, ok := strings.CutPrefix(line, "ack "); ok {
					parsed, err := dag.ParseID(id)
					if err != nil {
						t.Fatalf("child wrote %q", line)
					}
					if !acked[parsed] && deadline == nil {
						deadline = time.After(time.Duration(20+rng.IntN(250)) * time.Millisecond)
					}
					acked[parsed] = true
				} else if line == "done" {
					finished = true
					break read
				} else if strings.HasPrefix(line, "error") || strings.HasPrefix(line, "open") || strings.HasPrefix(line, "ledger") {
					t.Fatalf("child: %s", line)
				}
			case <-deadline:
				break read
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		for range lines { // acknowledgements written before the kill count too
		}

		s := openBadger(t, dir)
		l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: func() time.Time { return dagtest.GenesisTime.Add(24 * time.Hour) }})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for id := range acked {
			if !l.Known(id) {
				t.Fatalf("round %d: acknowledged %s lost", round, id.Short())
			}
		}
		first := takeSnapshot(l, ids)
		for _, in := range first.Infos {
			for _, p := range []dag.ID{in.Trunk, in.Branch} {
				if _, ok := l.Info(p); !ok {
					t.Fatalf("round %d: %s attached without parent %s", round, in.ID.Short(), p.Short())
				}
			}
		}
		if uint64(len(first.Infos)) != first.Stats.Transactions {
			t.Fatalf("round %d: %d infos for %d arrivals", round, len(first.Infos), first.Stats.Transactions)
		}
		s.Close()
		s = openBadger(t, dir)
		l2, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: s, Now: func() time.Time { return dagtest.GenesisTime.Add(24 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, takeSnapshot(l2, ids)); diff != "" {
			t.Fatalf("round %d: second replay differs:\n%s", round, diff)
		}
		s.Close()
		t.Logf("round %d: %d acknowledged, %d stored, finished=%v", round, len(acked), first.Stats.Transactions, finished)
		if finished {
			break
		}
	}
	if len(acked) == 0 {
		t.Fatal("no acknowledgement ever arrived; the test proved nothing")
	}
}
