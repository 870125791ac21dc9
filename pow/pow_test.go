package pow

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// testID returns a distinct, deterministic ID for each seed.
func testID(seed uint64) [32]byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	return blake3.Sum256(b[:])
}

// seqID is the ID 00 01 02 ... 1f.
func seqID() (id [32]byte) {
	for i := range id {
		id[i] = byte(i)
	}
	return id
}

func TestDigestLayout(t *testing.T) {
	id := seqID()
	const nonce = 0x0102030405060708

	// The streaming hasher takes a different path through the library, and
	// the nonce bytes are spelled out, so this pins the message layout.
	h := blake3.New()
	h.Write(id[:])
	h.Write([]byte{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01})
	var want [32]byte
	copy(want[:], h.Sum(nil))

	if got := Digest(id, nonce); got != want {
		t.Fatalf("Digest = %x, want %x", got, want)
	}
}

// TestDigestGolden guards against any change of the work function: the work
// of existing transactions must never change. The digests were computed with
// an independent implementation (lukechampine.com/blake3 v1.4.1).
func TestDigestGolden(t *testing.T) {
	tests := []struct {
		id    [32]byte
		nonce uint64
		want  string
	}{
		{[32]byte{}, 0, "352bd266dae53c6e6a29244011cfa029813d0ab8434b2a2b830a487d882832ba"},
		{seqID(), math.MaxUint64, "aa86ff41790b526aa329ed7ea27efe9cae4a777a11bebd38bf72ca9982a5f074"},
		{seqID(), 0x0102030405060708, "746e52cc1ef34b76b2ee34fc81de9f6e73bc4fda971548daf7f51f640963c457"},
	}
	for _, tt := range tests {
		got := Digest(tt.id, tt.nonce)
		if hex.EncodeToString(got[:]) != tt.want {
			t.Errorf("Digest(%x, %d) = %x, want %s", tt.id, tt.nonce, got, tt.want)
		}
	}
}

func TestLeadingZeroBits(t *testing.T) {
	with := func(i int, b byte) (d [32]byte) {
		d[i] = b
		return d
	}
	var ones [32]byte
	for i := range ones {
		ones[i] = 0xff
	}
	tests := []struct {
		name string
		d    [32]byte
		want int
	}{
		{"all zero", [32]byte{}, 256},
		{"all ones", ones, 0},
		{"top bit", with(0, 0x80), 0},
		{"low bit of first byte", with(0, 0x01), 7},
		{"second byte", with(1, 0x40), 9},
		{"last bit of first word", with(7, 0x01), 63},
		{"first bit of second word", with(8, 0x80), 64},
		{"third word", with(17, 0x10), 17*8 + 3},
		{"last byte", with(31, 0x02), 254},
		{"last bit", with(31, 0x01), 255},
	}
	for _, tt := range tests {
		if got := LeadingZeroBits(tt.d); got != tt.want {
			t.Errorf("%s: LeadingZeroBits(%x) = %d, want %d", tt.name, tt.d, got, tt.want)
		}
	}
}

func TestVerify(t *testing.T) {
	id := testID(7)
	for nonce := range uint64(64) {
		lz := LeadingZeroBits(Digest(id, nonce))
		for _, bits := range []int{math.MinInt, -1, 0, lz} {
			if !Verify(id, nonce, bits) {
				t.Errorf("Verify(nonce %d, bits %d) = false; digest has %d leading zeros", nonce, bits, lz)
			}
		}
		for _, bits := range []int{lz + 1, 257, math.MaxInt} {
			if Verify(id, nonce, bits) {
				t.Errorf("Verify(nonce %d, bits %d) = true; digest has %d leading zeros", nonce, bits, lz)
			}
		}
	}
}

func TestSolveBits(t *testing.T) {
	for bits := 0; bits <= 16; bits++ {
		id := testID(uint64(bits))
		nonce, err := Solve(context.Background(), id, bits, 0)
		if err != nil {
			t.Fatalf("Solve(bits %d): %v", bits, err)
		}
		if !Verify(id, nonce, bits) {
			t.Errorf("Solve(bits %d) = %d, which does not verify", bits, nonce)
		}
	}
}

func TestSolveWorkers(t *testing.T) {
	const bits = 10
	for _, workers := range []int{-1, 0, 1, 2, 3, 64} {
		t.Run(strconv.Itoa(workers), func(t *testing.T) {
			for seed := range uint64(8) {
				id := testID(100 + seed)
				nonce, err := Solve(context.Background(), id, bits, workers)
				if err != nil {
					t.Fatal(err)
				}
				if !Verify(id, nonce, bits) {
					t.Fatalf("Solve = %d, which does not verify", nonce)
				}
			}
		})
	}
}

// With one worker the nonces are tried in order, so the result is the
// smallest valid nonce: the answer is reproducible.
func TestSolveOneWorkerIsSmallest(t *testing.T) {
	const bits = 8
	for seed := range uint64(16) {
		id := testID(200 + seed)
		nonce, err := Solve(context.Background(), id, bits, 1)
		if err != nil {
			t.Fatal(err)
		}
		for n := range nonce {
			if Verify(id, n, bits) {
				t.Fatalf("seed %d: Solve = %d, but %d is smaller and verifies", seed, nonce, n)
			}
		}
		if !Verify(id, nonce, bits) {
			t.Fatalf("seed %d: Solve = %d, which does not verify", seed, nonce)
		}
	}
}

func TestSolveOutOfRange(t *testing.T) {
	for _, bits := range []int{math.MinInt, -1, MaxBits + 1, 256, math.MaxInt} {
		if _, err := Solve(context.Background(), testID(0), bits, 1); !errors.Is(err, ErrBits) {
			t.Errorf("Solve(bits %d) error = %v, want ErrBits", bits, err)
		}
	}
}

func TestSolveAlreadyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// MaxBits is in range, so the error must come from the context.
	if _, err := Solve(ctx, testID(0), MaxBits, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Solve error = %v, want context.Canceled", err)
	}
}

func TestSolveCancel(t *testing.T) {
	for _, workers := range []int{1, 0, 16} {
		t.Run(strconv.Itoa(workers), func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			type result struct {
				err      error
				returned time.Time
			}
			results := make(chan result, 1)
			go func() {
				_, err := Solve(ctx, testID(1), MaxBits, workers)
				results <- result{err, time.Now()}
			}()

			time.Sleep(20 * time.Millisecond) // let the workers get going
			canceled := time.Now()
			cancel()
			var r result
			select {
			case r = <-results:
			case <-time.After(10 * time.Second):
				t.Fatal("Solve did not return after cancel")
			}
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("Solve error = %v, want context.Canceled", r.err)
			}
			// A worker looks at the context every checkEvery hashes: a
			// millisecond or so, tens under the race detector.
			if d := r.returned.Sub(canceled); d > time.Second {
				t.Errorf("Solve returned %v after cancel", d)
			}
			waitGoroutines(t, before)
		})
	}
}

func TestSolveDeadline(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := Solve(ctx, testID(2), MaxBits, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Solve error = %v, want context.DeadlineExceeded", err)
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails the test unless the goroutine count falls back to
// want. It polls because a goroutine that has signalled completion may
// take a moment to be gone from the count.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines running, want %d: Solve leaked workers", n, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSolveHashCount checks the hash count that BenchmarkSolveParallel
// relies on: one worker finding the smallest nonce n hashed exactly n+1
// times.
func TestSolveHashCount(t *testing.T) {
	id := testID(300)
	nonce, hashes, err := solve(context.Background(), id, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if hashes != nonce+1 {
		t.Fatalf("solve hashed %d times to find nonce %d, want %d", hashes, nonce, nonce+1)
	}
}

// TestScanExhausted covers the end of the nonce space, which no real solve
// can reach.
func TestScanExhausted(t *testing.T) {
	s := search{id: testID(4), limit: 0, stride: 3}
	start := uint64(math.MaxUint64 - 7) // tries MaxUint64-7, -4, -1
	if hashes := s.scan(start); hashes != 3 {
		t.Errorf("scan hashed %d times, want 3", hashes)
	}
	if s.found.Load() {
		t.Errorf("scan found nonce %d under an impossible limit", s.nonce)
	}
}

func TestDigestAllocs(t *testing.T) {
	id := testID(5)
	if n := testing.AllocsPerRun(100, func() { Digest(id, 1) }); n != 0 {
		t.Errorf("Digest allocates %v times, want 0", n)
	}
}

func BenchmarkDigest(b *testing.B) {
	b.ReportAllocs()
	id := testID(6)
	var nonce uint64
	for b.Loop() {
		Digest(id, nonce)
		nonce++
	}
	b.ReportMetric(float64(nonce)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkDigestParallel is the ceiling for BenchmarkSolveParallel: the
// same hashing on every core with no coordination at all.
func BenchmarkDigestParallel(b *testing.B) {
	b.ReportAllocs()
	id := testID(6)
	b.RunParallel(func(pb *testing.PB) {
		var nonce uint64
		for pb.Next() {
			Digest(id, nonce)
			nonce++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkSolveParallel runs the real solve on all cores at 16 bits, so it
// includes starting workers and stopping them when one wins; ns/op is the
// time of one solve.
func BenchmarkSolveParallel(b *testing.B) {
	b.ReportAllocs()
	var seed, hashes uint64
	for b.Loop() {
		_, n, err := solve(context.Background(), testID(seed), 16, 0)
		if err != nil {
			b.Fatal(err)
		}
		seed++
		hashes += n
	}
	b.ReportMetric(float64(hashes)/b.Elapsed().Seconds(), "hashes/s")
}

func BenchmarkVerify(b *testing.B) {
	b.ReportAllocs()
	id := testID(8)
	nonce, err := Solve(context.Background(), id, 12, 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !Verify(id, nonce, 12) {
			b.Fatal("Verify = false")
		}
	}
}
