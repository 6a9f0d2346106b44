package server

import (
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
	// maxBuckets bounds the memory of a limiter: past it, the buckets closest to full (the
	// least useful to keep) are forgotten.
	maxBuckets = 10000
)

// limiter limits refused requests (failed authentications first) per source with one token
// bucket per source: a bucket holds up to burst attempts and regains one every refill. An
// attempt takes a token before its credential is checked and gives it back when the request
// is let through, so only refusals count, and concurrent guesses cannot overrun the bucket.
// Since every refusal is audited, the limit also bounds the store writes a source can cause.
// It is safe for concurrent use.
type limiter struct {
	burst  float64
	refill time.Duration

	// mu guards buckets.
	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket is the state of one source: tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, refill time.Duration) *limiter {
	if burst <= 0 {
		burst = DefaultAuthBurst
	}
	if refill <= 0 {
		refill = DefaultAuthRefill
	}
	return &limiter{burst: float64(burst), refill: refill, buckets: make(map[string]*bucket)}
}

// level returns b's tokens at now.
func (l *limiter) level(b *bucket, now time.Time) float64 {
	return math.Min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
}

// take takes a token of source. When the bucket is empty it returns false and how long
// until a token is back.
func (l *limiter) take(source string) (ok bool, retry time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[source]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[source] = b
	}
	tokens := l.level(b, now)
	if tokens < 1 {
		return false, time.Duration((1 - tokens) * float64(l.refill))
	}
	b.tokens, b.at = tokens-1, now
	return true, 0
}

// refund gives back the token of an attempt that succeeded.
func (l *limiter) refund(source string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[source]; b != nil {
		b.tokens, b.at = math.Min(l.burst, l.level(b, now)+1), now
	}
}

// makeRoom forgets buckets when there are maxBuckets: first the full ones (forgetting them
// changes nothing), then, if none is full, the fullest.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.buckets) < maxBuckets {
		return
	}
	var fullest string
	most := -1.0
	for src, b := range l.buckets {
		level := l.level(b, now)
		if level >= l.burst {
			delete(l.buckets, src)
			continue
		}
		if level > most {
			fullest, most = src, level
		}
	}
	if len(l.buckets) >= maxBuckets {
		delete(l.buckets, fullest)
	}
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
