package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// The crash test runs its writer in a child process (this test binary,
// re-executed) so that it can kill it with SIGKILL at a random moment.
const (
	crashDirEnv  = "TANGLED_STORAGE_CRASH_DIR"
	crashSeedEnv = "TANGLED_STORAGE_CRASH_SEED"
	crashCycles  = 8
)

// crashOptions make the child's bigger write sets split into several
// Badger transactions and rotate memtables and value-log files often.
var crashOptions = Options{
	MemTableSize:     2 << 20,
	BlockCacheSize:   1 << 20,
	IndexCacheSize:   1 << 20,
	ValueLogFileSize: 8 << 20,
}

// crashSize is the body size of transaction k: varied, deterministic.
func crashSize(k uint64) int { return 100 + int(k%400) }

// TestCrash kills a writing child process repeatedly and checks, after
// each kill, that the store holds every acknowledged transaction, intact,
// as a gapless prefix, with a consistent parking lot.
//
// The child commits write sets that attach arrivals head+1..head+m, unpark
// those of them that were parked, and park the next few arrivals. So the
// parking lot is always exactly the arrivals just above the head: a parked
// copy of an attached transaction, or a hole, would mean that Unparked and
// Attached were not applied together.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped with -short")
	}
	dir := t.TempDir()
	seed := *testSeed
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var acked uint64
	for cycle := range crashCycles {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			crashDirEnv+"="+dir,
			crashSeedEnv+"="+strconv.FormatUint(seed*1000+uint64(cycle), 10))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()

		// Most kills hit the write loop; some hit Open and its recovery.
		var kill <-chan time.Time
		duringOpen := rng.IntN(5) == 0
		delay := time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		if duringOpen {
			delay = time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
			kill = time.After(delay)
		}
		started, commits := time.Now(), 0
		killed := false
		var output strings.Builder // the child's other lines, for a failure report
		for !killed {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("cycle %d: child exited before it was killed: %v\n%s%s", cycle, cmd.Wait(), output.String(), stderr.String())
				}
				if n, ok := parseLine(line, "ack "); ok {
					acked = max(acked, n)
					commits++
				} else if _, ok := parseLine(line, "ready "); ok {
					if kill == nil {
						kill = time.After(delay)
					}
				} else {
					output.WriteString(line + "\n")
				}
			case <-kill:
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("cycle %d: child silent for 10 s\n%s%s", cycle, output.String(), stderr.String())
			}
		}
		// What the child printed before it died was acknowledged.
		for line := range lines {
			if n, ok := parseLine(line, "ack "); ok {
				acked = max(acked, n)
				commits++
			}
		}
		_ = cmd.Wait()

		s, err := Open(dir, crashOptions)
		if err != nil {
			// The files and their sizes tell which Badger step was cut short.
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if info, err := e.Info(); err == nil {
					t.Logf("%s: %d bytes", e.Name(), info.Size())
				}
			}
			t.Fatalf("cycle %d: reopen after kill (during open %v, delay %v): %v", cycle, duringOpen, delay, err)
		}
		head, parkedHi, err := checkCrashLog(s)
		if cerr := s.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if head < acked {
			t.Fatalf("cycle %d: store ends at arrival %d, but %d was acknowledged", cycle, head, acked)
		}
		t.Logf("cycle %d: killed after %v (during open: %v), %d acks; store holds 1..%d (acked %d), %d parked",
			cycle, time.Since(started).Round(time.Millisecond), duringOpen, commits, head, acked, parkedHi-head)
	}
}

func parseLine(line, prefix string) (uint64, bool) {
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// checkCrashLog checks the invariants of the child's log and returns its
// head and the highest parked arrival (head if none is parked).
func checkCrashLog(s *Badger) (head, parkedHi uint64, err error) {
	var parked []uint64
	err = s.Replay(
		func(arrival uint64, raw []byte) error {
			if arrival != head+1 {
				return fmt.Errorf("arrival %d follows %d", arrival, head)
			}
			head = arrival
			if !bytes.Equal(raw, txBytes(arrival, crashSize(arrival))) {
				return fmt.Errorf("arrival %d holds the wrong bytes (%d bytes)", arrival, len(raw))
			}
			return nil
		},
		func(raw []byte) error {
			if len(raw) < 8 {
				return fmt.Errorf("parked body of %d bytes", len(raw))
			}
			k := binary.BigEndian.Uint64(raw)
			if !bytes.Equal(raw, txBytes(k, crashSize(k))) {
				return fmt.Errorf("parked %d holds the wrong bytes", k)
			}
			parked = append(parked, k)
			return nil
		})
	if err != nil {
		return 0, 0, err
	}
	slices.Sort(parked)
	for i, k := range parked {
		if k != head+1+uint64(i) {
			return 0, 0, fmt.Errorf("parked %v, want the arrivals right above the head %d", parked, head)
		}
	}
	return head, head + uint64(len(parked)), nil
}

// TestCrashChild is the writer that TestCrash kills; on its own it skips.
// It prints "ready <head>" once the store is open and checked, then
// "ack <arrival>" after each Commit returns.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	seed, err := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, crashOptions)
	if err != nil {
		t.Fatal(err)
	}
	head, parkedHi, err := checkCrashLog(s)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ready %d\n", head)

	rng := rand.New(rand.NewPCG(seed, head))
	// The parent kills the child within a second; the deadline only stops
	// an orphan.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		var m uint64
		switch r := rng.IntN(100); {
		case r < 70:
			m = 1 + rng.Uint64N(64)
		case r < 95:
			m = 65 + rng.Uint64N(960)
		default:
			m = 1025 + rng.Uint64N(7000) // split under crashOptions
		}
		p := rng.Uint64N(33)
		w := &dag.WriteSet{}
		for k := head + 1; k <= head+m; k++ {
			w.Attached = append(w.Attached, dag.StoredTransaction{Arrival: k, ID: txID(k), Raw: txBytes(k, crashSize(k))})
			if k <= parkedHi {
				w.Unparked = append(w.Unparked, txID(k))
			}
		}
		for k := head + m + 1; k <= head+m+p; k++ {
			w.Parked = append(w.Parked, dag.StoredTransaction{ID: txID(k), Raw: txBytes(k, crashSize(k))})
		}
		if err := s.Commit(w); err != nil {
			t.Fatal(err)
		}
		head, parkedHi = head+m, max(parkedHi, head+m+p)
		fmt.Printf("ack %d\n", head)
	}
	s.Close()
}
