package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"
)

// shutdownMargin is added to the request timeout to make the default grace period: a request
// that started just before the stop has its whole timeout to finish, plus time to send its
// answer.
const shutdownMargin = 5 * time.Second

// inflight tracks the HTTP requests a node is serving, so that a stop can name the ones its
// grace period cut off.
type inflight struct {
	mu      sync.Mutex
	next    uint64
	running map[uint64]running
}

type running struct {
	method, path, remote string
	start                time.Time
}

func newInflight() *inflight { return &inflight{running: make(map[uint64]running)} }

// wrap returns h, tracking each request while it runs.
func (f *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.next++
		id := f.next
		f.running[id] = running{method: r.Method, path: r.URL.Path, remote: r.RemoteAddr, start: time.Now()}
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.running, id)
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// snapshot returns the running requests, oldest first.
func (f *inflight) snapshot() []running {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]running, 0, len(f.running))
	for _, r := range f.running {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// stopServing shuts the servers down (the app's and, with --editor-addr, the editor's): they
// stop accepting connections, wait up to grace for the running requests to finish, then
// close what is left and log each request cut off. A stop is clean (nil) in both cases;
// only a failure to close a listener is an error.
func stopServing(servers []*http.Server, f *inflight, grace time.Duration, logger *slog.Logger) error {
	n := len(f.snapshot())
	logger.Info("stopping: no new connections; waiting for running requests", "running", n, "grace", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	errs := make(chan error, len(servers))
	for _, hs := range servers {
		go func() { errs <- hs.Shutdown(ctx) }()
	}
	var err error
	for range servers {
		if e := <-errs; e != nil && (err == nil || errors.Is(err, context.DeadlineExceeded)) {
			err = e
		}
	}
	if err == nil {
		logger.Info("stopped: every request finished")
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	left := f.snapshot()
	for _, r := range left {
		logger.Warn("request cut off at the end of the shutdown grace period",
			"method", r.method, "path", r.path, "remote", r.remote, "running", time.Since(r.start).Round(time.Millisecond).String())
	}
	logger.Warn("stopped with requests running: their connections were closed", "cut_off", len(left), "grace", grace.String())
	for _, hs := range servers {
		hs.Close()
	}
	return nil
}
