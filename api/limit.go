package api

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bounds of the limiter maps. An entry costs about 200 bytes, so each map
// stays near 12 MiB however many addresses or keys an attacker uses.
const (
	maxClientLimiters = 1 << 16
	maxIssuerLimiters = 1 << 16
	// sweepEvery is how often idle limiters are dropped when the map is
	// not full.
	sweepEvery = 30 * time.Second
)

// limiters is a bounded set of token buckets, one per key. An entry whose
// bucket has refilled completely is indistinguishable from a new one, so
// dropping it loses nothing; a sweep removes those. When an attacker fills
// the map with keys that are all still draining, arbitrary entries go too
// (they restart with a full bucket): the limit turns soft under that attack
// but memory stays bounded.
type limiters[K comparable] struct {
	// limit and burst are a new bucket's, unless takeAs names others.
	limit rate.Limit
	burst int
	max   int

	mu struct {
		sync.Mutex
		m         map[K]*limiterEntry
		lastSweep time.Time
	}
}

type limiterEntry struct {
	lim *rate.Limiter
	// last use and refill time (see limiters.full); guarded by
	// limiters.mu.
	last time.Time
	full time.Duration
}

// newLimiters returns nil for a negative perSecond: no limit.
func newLimiters[K comparable](perSecond float64, burst, maxEntries int) *limiters[K] {
	if perSecond < 0 {
		return nil
	}
	l := &limiters[K]{
		limit: rate.Limit(perSecond),
		burst: burst,
		max:   maxEntries,
	}
	l.mu.m = make(map[K]*limiterEntry)
	return l
}

// take takes n tokens from key's bucket at now. When they are not there it
// takes nothing and returns how long until they will be.
func (l *limiters[K]) take(key K, n int, now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	return l.takeAs(key, n, now, l.limit, l.burst)
}

// takeAs is take from a bucket of its own rate and burst (an issuer under
// its device's policy). A bucket whose numbers changed since its last use
// keeps its tokens (up to the new burst) and refills at the new rate, so
// a policy change takes effect at once without handing out a fresh burst.
func (l *limiters[K]) takeAs(key K, n int, now time.Time, limit rate.Limit, burst int) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now, limit, burst)
	if e.lim.Limit() != limit || e.lim.Burst() != burst {
		e.lim.SetLimitAt(now, limit)
		e.lim.SetBurstAt(now, burst)
		e.full = refill(limit, burst)
	}
	r := e.lim.ReserveN(now, n)
	if !r.OK() {
		// More than the burst can never pass; Config.validate keeps a
		// full batch within the client burst, so this is defensive.
		return e.full, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// refill is how long an empty bucket of limit and burst takes to fill.
func refill(limit rate.Limit, burst int) time.Duration {
	if limit <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(float64(burst) / float64(limit) * float64(time.Second))
}

// charge takes n tokens from key's bucket at now whether or not they are
// there: the bucket goes into debt, and has refuses the key until it is
// paid off. It is for costs known only after the work was done (junk).
func (l *limiters[K]) charge(key K, n int, now time.Time) {
	if l == nil || n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A reservation beyond the burst is refused outright, so a larger
	// debt is taken in burst-sized steps.
	e := l.entry(key, now, l.limit, l.burst)
	for n > 0 {
		step := min(n, l.burst)
		e.lim.ReserveN(now, step)
		n -= step
	}
}

// has reports whether key's bucket holds at least one token, without
// taking it: a cheap check before reading a batch body whose size decides
// how many tokens it needs.
func (l *limiters[K]) has(key K, now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, found := l.mu.m[key]
	if !found {
		return 0, true
	}
	if tokens := e.lim.TokensAt(now); tokens < 1 {
		return time.Duration((1 - tokens) / float64(e.lim.Limit()) * float64(time.Second)), false
	}
	return 0, true
}

// entry finds or makes key's entry, a new one with limit and burst.
// Called with l.mu held.
func (l *limiters[K]) entry(key K, now time.Time, limit rate.Limit, burst int) *limiterEntry {
	if e, ok := l.mu.m[key]; ok {
		e.last = now
		return e
	}
	if len(l.mu.m) >= l.max || now.Sub(l.mu.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	e := &limiterEntry{lim: rate.NewLimiter(limit, burst), last: now, full: refill(limit, burst)}
	l.mu.m[key] = e
	return e
}

// sweep drops refilled buckets and, if the map is still near its bound,
// arbitrary ones down to 7/8 of it, so that the next O(n) sweep is at
// least max/8 insertions away. Called with l.mu held.
func (l *limiters[K]) sweep(now time.Time) {
	l.mu.lastSweep = now
	for k, e := range l.mu.m {
		if now.Sub(e.last) >= e.full {
			delete(l.mu.m, k)
		}
	}
	target := l.max - l.max/8
	for k := range l.mu.m {
		if len(l.mu.m) <= target {
			break
		}
		delete(l.mu.m, k)
	}
}

func (l *limiters[K]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.m)
}

// clientKey names the client of r for rate limiting. IPv6 clients are
// grouped by /64, the block one subscriber usually holds; limiting single
// IPv6 addresses would let one host take 2^64 buckets.
func clientKey(r *http.Request, trustProxy bool) netip.Addr {
	if trustProxy {
		if a, ok := forwardedFor(r); ok {
			return groupAddr(a)
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return groupAddr(ap.Addr())
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return groupAddr(a)
	}
	// Not an IP connection (a Unix socket): one shared bucket.
	return netip.Addr{}
}

// forwardedFor returns the last address of the X-Forwarded-For headers:
// the one the trusted proxy appended. Earlier ones are the client's to
// choose.
func forwardedFor(r *http.Request) (netip.Addr, bool) {
	values := r.Header.Values("X-Forwarded-For")
	if len(values) == 0 {
		return netip.Addr{}, false
	}
	last := values[len(values)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	last = strings.TrimSpace(last)
	if a, err := netip.ParseAddr(last); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(last); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

func groupAddr(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}
