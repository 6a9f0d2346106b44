package server

import (
	"container/heap"
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of the authentication rate limit.
const (
	DefaultAuthBurst  = 10
	DefaultAuthRefill = 6 * time.Second
	// defaultMaxBuckets bounds the memory of a limiter (see limiter).
	defaultMaxBuckets = 10000
)

// limiter limits refused requests (failed authentications first) per source with one token
// bucket per source: a bucket holds up to burst attempts and regains one every refill. An
// attempt takes a token before its credential is checked and gives it back when the request
// is let through, so only refusals count, and concurrent guesses cannot overrun the bucket.
// It is safe for concurrent use.
//
// The table of buckets is bounded (maxBuckets) and sticky: a bucket is forgotten only once
// it is full again, which changes nothing (a source without a bucket starts full). When the
// table holds maxBuckets buckets that still remember refusals, a source without a bucket of
// its own takes from one shared overflow bucket: rotating through more addresses than the
// table holds cannot make the limiter forget a source it refused, it only makes the new
// addresses share burst refusals between them. A min-heap ordered by the time each bucket
// will be full finds a forgettable bucket in O(log n).
type limiter struct {
	burst      float64
	refill     time.Duration
	maxBuckets int
	now        func() time.Time // time.Now; tests move it

	// mu guards the fields below.
	mu       sync.Mutex
	buckets  map[string]*bucket
	byFull   bucketHeap // the buckets of the table, soonest full first
	overflow bucket     // shared by sources the full table has no room for
}

// bucket is the state of one source: tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
	full   time.Time // when tokens will be back to burst
	source string
	index  int // in limiter.byFull; -1 for the overflow bucket
}

func newLimiter(burst int, refill time.Duration) *limiter {
	if burst <= 0 {
		burst = DefaultAuthBurst
	}
	if refill <= 0 {
		refill = DefaultAuthRefill
	}
	l := &limiter{burst: float64(burst), refill: refill, maxBuckets: defaultMaxBuckets, now: time.Now, buckets: make(map[string]*bucket)}
	l.overflow = bucket{tokens: l.burst, index: -1}
	return l
}

// level returns b's tokens at now.
func (l *limiter) level(b *bucket, now time.Time) float64 {
	return math.Min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
}

// fullAt returns when b will be full.
func (l *limiter) fullAt(b *bucket) time.Time {
	return b.at.Add(time.Duration((l.burst - b.tokens) * float64(l.refill)))
}

// bucketOf returns the bucket of source, making one (or choosing the overflow bucket) when
// it has none.
func (l *limiter) bucketOf(source string, now time.Time) *bucket {
	if b := l.buckets[source]; b != nil {
		return b
	}
	// Forget the buckets that are full again: they change nothing.
	for len(l.byFull) > 0 && !l.byFull[0].full.After(now) {
		b := heap.Pop(&l.byFull).(*bucket)
		delete(l.buckets, b.source)
	}
	if len(l.buckets) >= l.maxBuckets {
		return &l.overflow
	}
	b := &bucket{tokens: l.burst, at: now, full: now, source: source}
	l.buckets[source] = b
	heap.Push(&l.byFull, b)
	return b
}

// set changes b's tokens as of now, keeping the heap in order.
func (l *limiter) set(b *bucket, tokens float64, now time.Time) {
	b.tokens, b.at = tokens, now
	b.full = l.fullAt(b)
	if b.index >= 0 {
		heap.Fix(&l.byFull, b.index)
	}
}

// take takes a token of source. When the bucket is empty it returns false and how long
// until a token is back.
func (l *limiter) take(source string) (ok bool, retry time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketOf(source, now)
	tokens := l.level(b, now)
	if tokens < 1 {
		return false, time.Duration((1 - tokens) * float64(l.refill))
	}
	l.set(b, tokens-1, now)
	return true, 0
}

// refund gives back the token of an attempt that succeeded.
func (l *limiter) refund(source string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[source]
	if b == nil {
		b = &l.overflow
	}
	l.set(b, math.Min(l.burst, l.level(b, now)+1), now)
}

// bucketHeap orders buckets by the time they will be full.
type bucketHeap []*bucket

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i].full.Before(h[j].full) }
func (h bucketHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *bucketHeap) Push(x any) {
	b := x.(*bucket)
	b.index = len(*h)
	*h = append(*h, b)
}
func (h *bucketHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	b.index = -1
	return b
}

// sourceOf returns the rate-limiting source of r: its remote IP address, or for IPv6 its
// /64 network, which one client usually holds whole. Proxy headers (X-Forwarded-For) are
// not trusted: behind a proxy every client shares the proxy's bucket.
func sourceOf(r *http.Request) string { return sourceOfAddr(r.RemoteAddr) }

// sourceOfAddr returns the source of a remote address (host:port), as sourceOf.
func sourceOfAddr(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
