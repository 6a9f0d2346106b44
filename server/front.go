package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// IdleTimeout is how long a node keeps an idle keep-alive connection open.
const IdleTimeout = 2 * time.Minute

// FrontConfig says how a node faces the network (see Front).
type FrontConfig struct {
	// HeaderTimeout bounds the reading of a request's header; default DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// TLS, when set, is the configuration the server is to be served with (ServeTLS).
	TLS *tls.Config
	// Conns bound the connections accepted (LimitListener); Conns.Plain is set from TLS.
	Conns ConnLimits
	// Running, when set, tracks each request while it runs.
	Running *Inflight
}

// Front puts h on ln as `starbase serve` does: connections within cfg.Conns, a client that
// trickles its header cut off after cfg.HeaderTimeout (the body has its own deadline,
// Config.BodyTimeout, set per request so that an authorized push may take longer), idle
// keep-alives closed after IdleTimeout, and the requests tracked in cfg.Running. Serve the
// returned server on the returned listener. Every way of serving a node goes through here,
// so that what is measured of one (the benchmarks' servers) is what runs.
func Front(ln net.Listener, h http.Handler, cfg FrontConfig) (*http.Server, net.Listener) {
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	if cfg.Running != nil {
		h = cfg.Running.wrap(h)
	}
	cfg.Conns.Plain = cfg.TLS == nil
	return &http.Server{
		Handler:           h,
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       IdleTimeout,
	}, LimitListener(ln, cfg.Conns)
}

// Inflight tracks the HTTP requests a node is serving, so that a stop can name the ones
// its grace period cut off.
type Inflight struct {
	mu      sync.Mutex
	next    uint64
	running map[uint64]RunningRequest
}

// RunningRequest is a request being served.
type RunningRequest struct {
	Method, Path, Remote string
	Start                time.Time
}

// NewInflight returns an empty Inflight.
func NewInflight() *Inflight { return &Inflight{running: make(map[uint64]RunningRequest)} }

// wrap returns h, tracking each request while it runs.
func (f *Inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.next++
		id := f.next
		f.running[id] = RunningRequest{Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr, Start: time.Now()}
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.running, id)
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// Snapshot returns the running requests, oldest first.
func (f *Inflight) Snapshot() []RunningRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]RunningRequest, 0, len(f.running))
	for _, r := range f.running {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}
