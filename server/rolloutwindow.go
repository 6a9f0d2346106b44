package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
)

// Automatic rollback. While a rollout runs, every node counts, for each of the two commits
// it serves, the app requests, their 5xx answers (errors of stored code answer 500) and
// their latencies over the rollout's sliding window (windowSlices slices of Window/12).
// Once a second it compares them (judge); past the rollout's thresholds it aborts the
// rollout through the store by compare-and-set (publisher.endRollout), with an audit record
// naming the node and why. Nodes judge independently, each on what it served; the first to
// write wins and the others' writes fail their compare, so the rollout is aborted once.

const (
	windowSlices   = 12
	latencyBuckets = 64
	// latencyBase and latencyGrowth make latency bucket i hold latencies up to
	// latencyBase*latencyGrowth^i (100µs to about 2 minutes, each 25% wider).
	latencyBase   = 100 * time.Microsecond
	latencyGrowth = 1.25
	// rollbackCheckEvery is how often a node judges a running rollout.
	rollbackCheckEvery = time.Second
)

// commitWindow counts one commit's app requests over a sliding window. It is safe for
// concurrent use.
type commitWindow struct {
	commit code.ID
	slice  time.Duration
	// mu guards slices.
	mu     sync.Mutex
	slices [windowSlices]windowSlice
}

// windowSlice counts the requests of one slice of time; at is its index (time/slice).
type windowSlice struct {
	at               int64
	requests, errors int
	latency          [latencyBuckets]int32
}

func newCommitWindow(commit code.ID, window time.Duration) *commitWindow {
	return &commitWindow{commit: commit, slice: max(window/windowSlices, time.Millisecond)}
}

// observe records a request answered with status after d, at now.
func (w *commitWindow) observe(now time.Time, status int, d time.Duration) {
	at := now.UnixNano() / int64(w.slice)
	b := latencyBucket(d)
	w.mu.Lock()
	sl := &w.slices[at%windowSlices]
	if sl.at != at {
		*sl = windowSlice{at: at}
	}
	sl.requests++
	if status >= 500 {
		sl.errors++
	}
	sl.latency[b]++
	w.mu.Unlock()
}

// windowSummary is what a window counted.
type windowSummary struct {
	requests, errors int
	p99              time.Duration
}

func (s windowSummary) errorRate() float64 {
	if s.requests == 0 {
		return 0
	}
	return float64(s.errors) / float64(s.requests)
}

// summary sums the slices of the window ending at now.
func (w *commitWindow) summary(now time.Time) windowSummary {
	at := now.UnixNano() / int64(w.slice)
	var sum windowSummary
	var hist [latencyBuckets]int
	w.mu.Lock()
	for i := range w.slices {
		sl := &w.slices[i]
		if sl.at <= at-windowSlices || sl.at > at {
			continue
		}
		sum.requests += sl.requests
		sum.errors += sl.errors
		for b, n := range sl.latency {
			hist[b] += int(n)
		}
	}
	w.mu.Unlock()
	need := int(math.Ceil(0.99 * float64(sum.requests)))
	seen := 0
	for b, n := range hist {
		seen += n
		if seen >= need && sum.requests > 0 {
			sum.p99 = latencyBound(b)
			break
		}
	}
	return sum
}

func latencyBucket(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	b := int(math.Ceil(math.Log(float64(d)/float64(latencyBase)) / math.Log(latencyGrowth)))
	return min(b, latencyBuckets-1)
}

func latencyBound(b int) time.Duration {
	return time.Duration(float64(latencyBase) * math.Pow(latencyGrowth, float64(b)))
}

// rolloutWindows are the windows of the two commits of a running rollout.
type rolloutWindows struct {
	rollout  *api.Rollout
	cur, new *commitWindow
}

// of returns the window of commit, or nil.
func (ws *rolloutWindows) of(commit code.ID) *commitWindow {
	switch {
	case ws == nil:
		return nil
	case ws.new.commit == commit:
		return ws.new
	case ws.cur.commit == commit:
		return ws.cur
	}
	return nil
}

// resetWindows makes the windows match what the node serves: none without a running
// rollout; a window kept as long as its commit and rollout are.
func (s *Server) resetWindows() {
	s.windowsMu.Lock()
	defer s.windowsMu.Unlock()
	cur := s.releases.current.Load()
	c := s.releases.candidate.Load()
	cand := c.serving()
	if cur == nil || cand == nil || cur.commit == cand.commit {
		s.windows.Store(nil)
		return
	}
	old := s.windows.Load()
	same := old != nil && old.rollout.Started.Equal(c.rollout.Started) && old.rollout.Commit == c.rollout.Commit
	ws := &rolloutWindows{rollout: c.rollout}
	window := c.rollout.Thresholds.WithDefaults().Window
	if ws.cur = old.of(cur.commit); !same || ws.cur == nil {
		ws.cur = newCommitWindow(cur.commit, window)
	}
	if ws.new = old.of(cand.commit); !same || ws.new == nil {
		ws.new = newCommitWindow(cand.commit, window)
	}
	s.windows.Store(ws)
}

// judge returns why the rollout's commit must be rolled back, comparing its window (cand)
// with the current release's (cur) against t, or "" if it need not.
func judge(t api.RolloutThresholds, cur, cand windowSummary) string {
	t = t.WithDefaults()
	if cand.requests < t.MinRequests {
		return ""
	}
	base := 0.0
	if cur.requests >= t.MinRequests {
		base = cur.errorRate()
	}
	if rise := 100 * (cand.errorRate() - base); rise > t.MaxErrorRise {
		return fmt.Sprintf("error rate %.1f%% (%d of %d requests) against %.1f%% for the current release (%d of %d): %.1f points above, the threshold is %.1f",
			100*cand.errorRate(), cand.errors, cand.requests, 100*base, cur.errors, cur.requests, rise, t.MaxErrorRise)
	}
	if t.MaxP99Ratio > 0 && cur.requests >= t.MinRequests &&
		float64(cand.p99) > t.MaxP99Ratio*float64(cur.p99) && cand.p99-cur.p99 >= api.RolloutP99Floor {
		return fmt.Sprintf("p99 latency %v over %d requests against %v for the current release over %d: more than %.1fx (and %v) slower",
			cand.p99, cand.requests, cur.p99, cur.requests, t.MaxP99Ratio, api.RolloutP99Floor)
	}
	return ""
}

// watchRollout judges the running rollout every rollbackCheckEvery until ctx ends.
func (s *Server) watchRollout(ctx context.Context) {
	defer s.running.Done()
	tick := time.NewTicker(rollbackCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ws := s.windows.Load()
		c := s.releases.candidate.Load()
		if ws == nil || c.serving() == nil || ws.rollout != c.rollout {
			continue
		}
		now := time.Now()
		if why := judge(c.rollout.Thresholds, ws.cur.summary(now), ws.new.summary(now)); why != "" {
			s.rollback(ctx, c, fmt.Sprintf("rolled back by node %s: %s, over the last %v", s.cfg.Node, why, c.rollout.Thresholds.WithDefaults().Window))
		}
	}
}

// rollback aborts c's rollout through the store, once per stored state: a compare-and-set
// lost to another node (or to a person) means the rollout has changed already.
func (s *Server) rollback(ctx context.Context, c *candidate, reason string) {
	if s.rolledBack.Load() == c.kv.ModRevision {
		return
	}
	rec := auth.AuditRecord{Time: time.Now().UTC(), Action: auth.ActionRolloutAbort, Actor: "node " + s.cfg.Node, Source: s.cfg.Node}
	_, err := s.publisher.endRollout(ctx, rec, c.rollout, c.kv, reason)
	switch {
	case err == nil || errors.Is(err, errRolloutState):
		s.rolledBack.Store(c.kv.ModRevision)
	default:
		s.log.Warn("rolling the rollout back failed; retrying", "commit", c.rollout.Commit, "err", err)
	}
}

// rolloutChanged is the releases' rollout hook: it resets the windows and aborts a running
// rollout whose commit does not build on this node.
func (s *Server) rolloutChanged(c *candidate) {
	s.resetWindows()
	s.metrics.prune(s.releases)
	if c != nil && c.rollout.State == api.RolloutRunning && c.err != nil {
		reason := fmt.Sprintf("rolled back by node %s: commit %s does not build there (its log has the error)", s.cfg.Node, code.ID(c.rollout.Commit).Short())
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.rollback(ctx, c, reason)
		}()
	}
}
