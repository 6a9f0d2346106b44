package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadResult is what one load run measured.
type loadResult struct {
	Requests int64         // answered requests, whatever their status
	Failed   int64         // connection errors, non-2xx answers and answers check refused
	Elapsed  time.Duration // the run's wall time
	P50, P99 time.Duration // latency percentiles of answered requests
	First    error         // the first failure, if any (Go load generator only)
}

// RPS is answered requests per second.
func (r loadResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// loadGen drives GET requests at a URL with a fixed number of keep-alive connections, each
// sending its next request as soon as the previous answer is read (closed loop), for a
// fixed duration.
type loadGen interface {
	run(ctx context.Context, target string, d time.Duration) (loadResult, error)
	String() string
}

// goLoad is the built-in load generator: one goroutine per connection writing raw
// HTTP/1.1 requests and parsing answers with net/http's reader, recording every latency.
// A run lasts its duration, and longer if minAnswers requests were not answered by then.
// check, if set, sees every answer and refuses it by returning an error. Requests are GETs
// unless method is set; header and body are sent with every request.
type goLoad struct {
	conns      int
	minAnswers int
	check      func(status int, header http.Header, body []byte) error
	method     string
	header     map[string]string
	body       []byte
}

// request returns the bytes of the request g sends to u.
func (g goLoad) request(u *url.URL) []byte {
	var b strings.Builder
	method := g.method
	if method == "" {
		method = http.MethodGet
	}
	b.WriteString(method + " " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: starbase-bench\r\n")
	for _, k := range slices.Sorted(maps.Keys(g.header)) {
		b.WriteString(k + ": " + g.header[k] + "\r\n")
	}
	if len(g.body) > 0 || method != http.MethodGet {
		b.WriteString("Content-Length: " + strconv.Itoa(len(g.body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(g.body)
	return []byte(b.String())
}

func (g goLoad) String() string { return fmt.Sprintf("Go load generator, %d connections", g.conns) }

// failures counts the failed requests of a run and keeps the first failure.
type failures struct {
	mu    sync.Mutex // guards first and count
	first error
	count int64
}

func (f *failures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	if f.first == nil {
		f.first = err
	}
}

func (g goLoad) run(ctx context.Context, target string, d time.Duration) (loadResult, error) {
	u, err := url.Parse(target)
	if err != nil {
		return loadResult{}, err
	}
	reqBytes := g.request(u)
	var (
		fails failures
		all   []time.Duration
		res   loadResult
	)
	// Phases follow each other until minAnswers requests were answered, each twice as long
	// as the one before: on a loaded machine a toy duration may end before the first answer,
	// which measures nothing.
	for phase := d; ; phase *= 2 {
		lats, elapsed := g.phase(ctx, u.Host, reqBytes, phase, &fails)
		all = append(all, lats...)
		res.Elapsed += elapsed
		if len(all) >= g.minAnswers || ctx.Err() != nil {
			break
		}
	}
	slices.Sort(all)
	res.Requests, res.Failed, res.First = int64(len(all)), fails.count, fails.first
	res.P50, res.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return res, nil
}

// phase sends requests on g.conns connections for d and returns the latencies of the
// answered ones and the phase's wall time.
func (g goLoad) phase(ctx context.Context, host string, req []byte, d time.Duration, fails *failures) ([]time.Duration, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		wg    sync.WaitGroup
		lats  = make([][]time.Duration, g.conns)
		start = time.Now()
	)
	for i := range g.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[i] = g.worker(ctx, host, req, fails)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for i := range lats {
		all = append(all, lats[i]...)
	}
	return all, elapsed
}

// worker runs one connection until ctx ends. It returns the latencies of answered requests.
// ctx must have a deadline: it bounds every read and write.
func (g goLoad) worker(ctx context.Context, host string, req []byte, fails *failures) []time.Duration {
	lats := make([]time.Duration, 0, 4096)
	fail := fails.add
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	deadline, _ := ctx.Deadline()
	// over says the run has ended, so that an error is the cut-off at the deadline, not a
	// failure (the context's timer may fire a moment after the connection's deadline).
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(deadline) }
	dialer := net.Dialer{Timeout: 5 * time.Second}
	for !over() {
		if conn == nil {
			c, err := dialer.DialContext(ctx, "tcp", host)
			if err != nil {
				if !over() {
					fail(err)
					time.Sleep(time.Millisecond) // back off from a refusing port
				}
				continue
			}
			c.SetDeadline(deadline) // an answer still awaited at the end is not counted
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		t0 := time.Now()
		resp, body, err := roundTrip(conn, br, req)
		if err != nil {
			if !over() {
				fail(err)
			}
			conn.Close()
			conn = nil
			continue
		}
		lats = append(lats, time.Since(t0))
		if resp.StatusCode/100 != 2 {
			fail(fmt.Errorf("status %d: %.200s", resp.StatusCode, body))
		} else if g.check != nil {
			if err := g.check(resp.StatusCode, resp.Header, body); err != nil {
				fail(err)
			}
		}
		if resp.Close {
			conn.Close()
			conn = nil
		}
	}
	return lats
}

func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (*http.Response, []byte, error) {
	if _, err := conn.Write(req); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

// wrkLoad runs wrk with one thread (the other core serves), sending header with every
// request.
type wrkLoad struct {
	path   string
	conns  int
	header map[string]string
}

func (w wrkLoad) String() string { return fmt.Sprintf("wrk, 1 thread, %d connections", w.conns) }

func (w wrkLoad) run(ctx context.Context, target string, d time.Duration) (loadResult, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-t1", "-c" + strconv.Itoa(w.conns), "-d" + strconv.Itoa(secs) + "s", "--latency"}
	for _, k := range slices.Sorted(maps.Keys(w.header)) {
		args = append(args, "-H", k+": "+w.header[k])
	}
	cmd := exec.CommandContext(ctx, w.path, append(args, target)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	return parseWrk(string(out))
}

var (
	wrkTotal   = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),`)
	wrkPct     = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads the summary wrk prints with --latency.
func parseWrk(out string) (loadResult, error) {
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return loadResult{}, fmt.Errorf("wrk printed no request count:\n%s", out)
	}
	var r loadResult
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.Elapsed = wrkDuration(m[2], m[3])
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		d := wrkDuration(p[2], p[3])
		if p[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.Failed += n
	}
	if m := wrkSockErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.Failed += n
		}
	}
	if r.P50 == 0 || r.Elapsed == 0 {
		return r, fmt.Errorf("wrk printed no latency distribution:\n%s", out)
	}
	return r, nil
}

func wrkDuration(num, unit string) time.Duration {
	f, _ := strconv.ParseFloat(num, 64)
	scale := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[unit]
	return time.Duration(f * float64(scale))
}

// percentile returns the q-quantile of sorted (nearest rank), 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// failedText describes a load run's failures for the report: "" when none.
func (r loadResult) failedText() string {
	if r.Failed == 0 {
		return ""
	}
	s := fmt.Sprintf("%d failed", r.Failed)
	if r.First != nil {
		s += fmt.Sprintf(" (first: %s)", strings.TrimSpace(r.First.Error()))
	}
	return s
}
