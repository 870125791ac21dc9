package pow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
)

// MaxBits is the highest difficulty Solve accepts. Expected work is 2^bits
// hashes, so 64 bits is far beyond anything a network can demand; the cap
// exists so that a corrupt or hostile difficulty fails fast instead of
// spinning forever.
const MaxBits = 64

// ErrBits is returned by Solve when the difficulty is outside [0, MaxBits].
var ErrBits = errors.New("pow: difficulty out of range")

// errExhausted means every worker ran off the end of the nonce space without
// a solution. At MaxBits this has probability about 1/e but needs 2^64
// hashes (about 200,000 core-years), so callers never see it in practice.
var errExhausted = errors.New("pow: nonce space exhausted")

// checkEvery is how many hashes a worker computes between looks at the stop
// flag and the context: about 150 µs of work on a server core, so
// cancellation and "another worker won" are noticed promptly, while the
// check costs nothing measurable and the inner loop stays free of atomics
// and channel operations.
const checkEvery = 1 << 10

// inputLen is the length of the hashed message: a 32-byte ID followed by an
// 8-byte nonce.
const inputLen = 32 + 8

// Digest returns BLAKE3-256(id ‖ nonce), the nonce encoded as 8 bytes
// little-endian.
func Digest(id [32]byte, nonce uint64) [32]byte {
	var buf [inputLen]byte
	copy(buf[:32], id[:])
	binary.LittleEndian.PutUint64(buf[32:], nonce)
	return blake3.Sum256(buf[:])
}

// LeadingZeroBits counts the leading zero bits of d, reading d as a
// big-endian number (the most significant bit of d[0] first). An all-zero
// digest has 256.
func LeadingZeroBits(d [32]byte) int {
	for i := 0; i < len(d); i += 8 {
		if w := binary.BigEndian.Uint64(d[i:]); w != 0 {
			return i*8 + bits.LeadingZeros64(w)
		}
	}
	return len(d) * 8
}

// Verify reports whether Digest(id, nonce) has at least bits leading zero
// bits. Any nonce meets a difficulty of zero or less.
func Verify(id [32]byte, nonce uint64, bits int) bool {
	if bits <= 0 {
		return true
	}
	return LeadingZeroBits(Digest(id, nonce)) >= bits
}

// Solve returns a nonce for which Verify(id, nonce, bits) holds. It runs
// workers goroutines (runtime.GOMAXPROCS(0) when workers <= 0); worker i tries
// the nonces i, i+workers, i+2·workers, ..., so no nonce is hashed twice. With
// one worker the result is the smallest valid nonce; with more it is whichever
// valid nonce is found first.
//
// Solve returns ErrBits when bits is outside [0, MaxBits], and an error
// wrapping ctx.Err() when ctx ends before a nonce is found. Every goroutine it
// started has exited by the time it returns.
func Solve(ctx context.Context, id [32]byte, bits int, workers int) (uint64, error) {
	nonce, _, err := solve(ctx, id, bits, workers)
	return nonce, err
}

// solve is Solve that also reports how many hashes were computed, so that
// benchmarks can measure the real solve loop without a counter on its hot
// path.
func solve(ctx context.Context, id [32]byte, bits int, workers int) (nonce, hashes uint64, err error) {
	if bits < 0 || bits > MaxBits {
		return 0, 0, fmt.Errorf("%w: %d bits, want 0 to %d", ErrBits, bits, MaxBits)
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("pow: solve: %w", err)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	s := search{
		id: id,
		// A digest has at least bits leading zero bits exactly when its
		// first 8 bytes, read big-endian, are at most limit. Shifting by
		// 64 yields 0 in Go, so bits == 64 needs no special case.
		limit:  math.MaxUint64 >> bits,
		stride: uint64(workers),
		done:   ctx.Done(),
	}
	var (
		wg    sync.WaitGroup
		total atomic.Uint64
	)
	for i := range workers {
		wg.Go(func() { total.Add(s.scan(uint64(i))) })
	}
	wg.Wait()

	// A nonce found as ctx ended is still valid work; returning it beats
	// throwing it away.
	if s.found.Load() {
		return s.nonce, total.Load(), nil
	}
	if err := ctx.Err(); err != nil {
		return 0, total.Load(), fmt.Errorf("pow: solve: %w", err)
	}
	return 0, total.Load(), errExhausted
}

// search is the state the workers of one solve share.
type search struct {
	id     [32]byte
	limit  uint64
	stride uint64
	done   <-chan struct{}

	// found is set once, by the worker that wins; that worker alone writes
	// nonce, and solve reads it only after all workers have exited.
	found atomic.Bool
	nonce uint64
}

// scan hashes the nonces start, start+stride, ... until it finds a solution,
// another worker does, the context ends or the nonce space runs out. It
// returns the number of hashes it computed.
func (s *search) scan(start uint64) (hashes uint64) {
	var buf [inputLen]byte
	copy(buf[:32], s.id[:])
	last := math.MaxUint64 - s.stride // the highest nonce that can still be advanced
	n := start
	for {
		for range checkEvery {
			binary.LittleEndian.PutUint64(buf[32:], n)
			d := blake3.Sum256(buf[:])
			hashes++
			if binary.BigEndian.Uint64(d[:8]) <= s.limit {
				if s.found.CompareAndSwap(false, true) {
					s.nonce = n
				}
				return hashes
			}
			if n > last {
				return hashes
			}
			n += s.stride
		}
		if s.found.Load() {
			return hashes
		}
		select {
		case <-s.done:
			return hashes
		default:
		}
	}
}
