package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Defaults of the connection limits (see ConnLimits and Config.BodyTimeout).
const (
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerSource = 128
	DefaultHeaderTimeout     = 10 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	DefaultAPIBodyTimeout    = 5 * time.Minute
	// refusalLogEvery bounds how often refused connections are logged: a count per
	// interval, not a line per connection.
	refusalLogEvery = 10 * time.Second
	// maxLingering bounds the refused connections kept open at once for a moment, so that
	// their client reads the refusal rather than a reset.
	maxLingering = 64
)

// ConnLimits bound the connections a listener accepts (see LimitListener).
type ConnLimits struct {
	// Max is the most connections open at once; default DefaultMaxConns.
	Max int
	// PerSource is the most connections open at once from one source (an IPv4 address,
	// an IPv6 /64, as sourceOf); default DefaultMaxConnsPerSource.
	PerSource int
	// Plain says the connections carry plain HTTP, so a refusal can be answered with a
	// 503 that says why; over TLS a refused connection is only closed.
	Plain bool
	// Logger receives, at most every 10 s, the number of connections refused since.
	Logger *slog.Logger
}

// LimitListener returns ln accepting at most limits.Max connections at once, and
// limits.PerSource from one source: a connection over either limit is refused as soon as
// it is accepted (answered 503 over plain HTTP, closed over TLS), and counted in the log.
// A refused connection costs no goroutine of the server and no request. The limits bound
// file descriptors and goroutines held by idle or slow connections; they do not bound what
// each connection does (HTTP/2 multiplexes up to 250 requests on one), which the request
// limits do.
func LimitListener(ln net.Listener, limits ConnLimits) net.Listener {
	if limits.Max <= 0 {
		limits.Max = DefaultMaxConns
	}
	if limits.PerSource <= 0 {
		limits.PerSource = DefaultMaxConnsPerSource
	}
	if limits.Logger == nil {
		limits.Logger = slog.New(slog.DiscardHandler)
	}
	return &limitListener{Listener: ln, limits: limits, perSource: map[string]int{}, lingering: make(chan struct{}, maxLingering)}
}

type limitListener struct {
	net.Listener
	limits    ConnLimits
	lingering chan struct{} // a token per refused connection being answered

	// mu guards the fields below.
	mu        sync.Mutex
	open      int
	perSource map[string]int
	refused   int       // since lastLog
	lastLog   time.Time // when refusals were last logged
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOfAddr(c.RemoteAddr().String())
		if why := l.admit(src); why != "" {
			l.refuse(c, src, why)
			continue
		}
		return &limitedConn{Conn: c, l: l, src: src}, nil
	}
}

// admit counts a new connection from src, or returns why it is refused.
func (l *limitListener) admit(src string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.limits.Max:
		return fmt.Sprintf("the node has %d connections open, its limit (--max-conns)", l.open)
	case l.perSource[src] >= l.limits.PerSource:
		return fmt.Sprintf("%s has %d connections open, the limit per source (--max-conns-per-source)", src, l.perSource[src])
	}
	l.open++
	l.perSource[src]++
	return ""
}

func (l *limitListener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perSource[src]--; l.perSource[src] <= 0 {
		delete(l.perSource, src)
	}
}

// refuse closes c, answering 503 first over plain HTTP, and logs refusals at most every
// refusalLogEvery.
func (l *limitListener) refuse(c net.Conn, src, why string) {
	l.mu.Lock()
	l.refused++
	now := time.Now()
	if now.Sub(l.lastLog) >= refusalLogEvery {
		l.limits.Logger.Warn("refused connections over the connection limits", "count", l.refused,
			"since", l.lastLog, "last_source", src, "last_reason", why)
		l.refused, l.lastLog = 0, now
	}
	l.mu.Unlock()
	if !l.limits.Plain {
		c.Close()
		return
	}
	select {
	case l.lingering <- struct{}{}:
	default:
		c.Close() // too many being answered already
		return
	}
	go func() {
		defer func() { <-l.lingering }()
		defer c.Close()
		msg := "Too many connections: " + why + ". Close idle connections and retry.\n"
		c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s", len(msg), msg)
		// Read what the client sent, briefly, so that closing does not reset the
		// connection before it reads the answer.
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// limitedConn releases its place when closed.
type limitedConn struct {
	net.Conn
	l    *limitListener
	src  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}

// errBodyTimeout is returned when a request body does not arrive within its deadline.
var errBodyTimeout = errors.New("request body too slow")

// limitBody gives the body of r a read deadline: it must arrive within d of now, or reads
// fail with errBodyTimeout. The deadline is lifted once the body has been read to its end
// (the server then watches the connection for the client going away, and a deadline would
// cancel the request); after any other error it stays, so that the server's discarding the
// rest of the body after the answer is bounded too. A request without a body gets no deadline. Nothing is done when the
// connection does not support deadlines.
func limitBody(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || d <= 0 {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return
	}
	if b, ok := r.Body.(*deadlineBody); ok {
		b.timeout = d
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: d}
}

// deadlineBody is a request body under a read deadline.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF && !b.done:
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline stays: the server then discards the rest of the body under it.
		err = fmt.Errorf("%w: the request body did not arrive within %v (--body-timeout); send it faster", errBodyTimeout, b.timeout)
	}
	return n, err
}
