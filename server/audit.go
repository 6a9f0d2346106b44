package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/store"
)

// auditWriteTimeout bounds the store write of the audit record of a refused request. The
// write does not depend on the request's context: a client that hangs up right after its
// attempt is still recorded.
const auditWriteTimeout = 5 * time.Second

// newAuditRecord starts the audit record of action taken by who through r.
func (s *Server) newAuditRecord(r *http.Request, who principal, action auth.Action) auth.AuditRecord {
	return auditRecord(actorOf(r, who), action)
}

// Bounds on the request text an audit record copies, so that a refused request cannot make
// the node write large records.
const (
	maxAuditMethod = 16
	maxAuditText   = 1024
)

// clip returns s cut to at most n bytes, on a UTF-8 boundary, marked with "..." when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// isRefusal reports whether err refuses a request for want of a credential or a right.
func isRefusal(err error) bool {
	return errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrForbidden) || errors.Is(err, errCSRF)
}

// refuse answers a request refused with err (401 or 403) and records the attempt in the
// audit log (see refusals): the first refusal of a source in an interval gets a record of
// its own, written in a store commit of its own before the answer; the next ones are
// counted and recorded together at the end of the interval. who is whoever the request
// authenticated as, if anyone.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, who principal, err error) {
	status := statusOf(err)
	s.log.Warn("refused API request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
		"token", who.tok.ID, "status", status, "err", err)
	rec := s.newAuditRecord(r, who, auth.ActionRefused)
	rec.Status, rec.Reason = status, clip(err.Error(), maxAuditText)
	if s.refusals.first(sourceOf(r), rec) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWriteTimeout)
		defer cancel()
		if _, werr := s.cfg.Store.Commit(ctx, nil, []store.Op{auth.AuditOp(rec)}); werr != nil {
			s.log.Error("writing the audit record of a refused request", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "err", werr)
		}
	}
	writeError(w, err)
}

// Bounds of the aggregation of refusal records, per interval.
const (
	// DefaultRefusalInterval is the default of Config.RefusalInterval.
	DefaultRefusalInterval = 10 * time.Second
	// maxFirstRefusals bounds the refusals recorded one by one, all sources together.
	maxFirstRefusals = 100
	// maxCountedSources bounds the sources counted one by one; the others share one count.
	maxCountedSources = 1000
)

// refusals aggregates the audit records of refused requests, so that what a source (or
// many) can make the node write is bounded by time, not by requests: per interval, at most
// maxFirstRefusals records written at once (the first refusal of each source, in full)
// and, at the interval's end, at most maxCountedSources+1 records counting the others (one
// per source, one for the sources beyond). A negative interval records every refusal one
// by one. It is safe for concurrent use.
type refusals struct {
	interval time.Duration

	// mu guards the fields below.
	mu     sync.Mutex
	firsts int                      // records written at once in this interval
	counts map[string]*refusalCount // by source
	others refusalCount             // sources beyond maxCountedSources
	nOther map[string]bool          // which sources others counts, up to maxCountedSources
}

// refusalCount is what an interval's refusals of a source that are not recorded one by
// one add up to.
type refusalCount struct {
	n    int
	from time.Time
	last auth.AuditRecord
}

func newRefusals(interval time.Duration) *refusals {
	if interval == 0 {
		interval = DefaultRefusalInterval
	}
	return &refusals{interval: interval, counts: map[string]*refusalCount{}, nOther: map[string]bool{}}
}

// first reports whether rec, a refusal of src, is to be written now; otherwise it is
// counted.
func (rs *refusals) first(src string, rec auth.AuditRecord) bool {
	if rs.interval < 0 {
		return true
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	c := rs.counts[src]
	switch {
	case c == nil && len(rs.counts) < maxCountedSources:
		c = &refusalCount{}
		rs.counts[src] = c
		if rs.firsts < maxFirstRefusals {
			rs.firsts++
			return true
		}
	case c == nil:
		c = &rs.others
		if len(rs.nOther) < maxCountedSources {
			rs.nOther[src] = true
		}
	}
	if c.n == 0 {
		c.from = rec.Time
	}
	c.n++
	c.last = rec
	return false
}

// take returns the records of the refusals counted since the last call, and starts a new
// interval.
func (rs *refusals) take() []auth.AuditRecord {
	rs.mu.Lock()
	counts, others, nOther := rs.counts, rs.others, len(rs.nOther)
	rs.counts, rs.others, rs.nOther, rs.firsts = map[string]*refusalCount{}, refusalCount{}, map[string]bool{}, 0
	rs.mu.Unlock()
	var recs []auth.AuditRecord
	add := func(src string, c refusalCount, detail string) {
		rec := c.last
		rec.Source, rec.Count, rec.Time, rec.Until = src, c.n, c.from, c.last.Time
		rec.Actor, rec.ActorID, rec.Role, rec.Session = "", "", "", false
		rec.Detail = fmt.Sprintf("%d refusal(s) %s between %s and %s, recorded together; the last one's method, path, status and reason are shown",
			c.n, detail, c.from.Format(time.RFC3339), c.last.Time.Format(time.RFC3339))
		recs = append(recs, rec)
	}
	for src, c := range counts {
		if c.n > 0 {
			add(src, *c, "from "+src)
		}
	}
	if others.n > 0 {
		more := ""
		if nOther >= maxCountedSources {
			more = " or more"
		}
		add("*", others, fmt.Sprintf("from %d%s other sources (over the %d counted one by one)", nOther, more, maxCountedSources))
	}
	slices.SortFunc(recs, func(a, b auth.AuditRecord) int { return a.Time.Compare(b.Time) })
	return recs
}

// recordRefusals writes the counted refusals every interval until ctx ends, and once more
// then.
func (s *Server) recordRefusals(ctx context.Context) {
	defer s.running.Done()
	if s.refusals.interval < 0 {
		return
	}
	tick := time.NewTicker(s.refusals.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.writeRefusals()
			return
		case <-tick.C:
			s.writeRefusals()
		}
	}
}

// writeRefusals writes the records of the refusals counted so far, in store commits within
// the store's limits.
func (s *Server) writeRefusals() {
	recs := s.refusals.take()
	maxOps := s.cfg.Store.Limits().MaxOps
	if maxOps <= 0 || maxOps > 100 {
		maxOps = 100
	}
	for len(recs) > 0 {
		n := min(len(recs), maxOps)
		ops := make([]store.Op, n)
		for i, rec := range recs[:n] {
			ops[i] = auth.AuditOp(rec)
		}
		recs = recs[n:]
		ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
		_, err := s.cfg.Store.Commit(ctx, nil, ops)
		cancel()
		if err != nil {
			s.log.Error("writing the audit records of counted refusals", "records", n, "err", err)
		}
	}
}

// tooMany returns the error that answers a request from a source that was refused too
// often, with its Retry-After header set on w. It is logged, not audited: the limit exists
// to bound what a guesser can cost, store writes included.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) error {
	secs := int(math.Ceil(retry.Seconds()))
	s.log.Warn("rate-limited API request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "retry_s", secs)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return fmt.Errorf("%w: too many refused requests from %s; retry in %d s", errRateLimited, sourceOf(r), secs)
}

// pathChanges lists the changed files of diffs as an audit record names them.
func pathChanges(diffs []code.FileDiff) []auth.PathChange {
	out := make([]auth.PathChange, len(diffs))
	for i, d := range diffs {
		out[i] = auth.PathChange{Path: d.Path, Status: string(d.Status)}
	}
	return out
}

// apiAudit answers the newest audit records: ?n=N (default 20) and ?after=KEY for older ones.
func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) error {
	n := 20
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("%w: n must be a number from 1 to 10000, got %q", errBadRequest, v)
		}
	}
	recs, _, err := auth.ReadAudit(r.Context(), s.cfg.Store, auth.AuditQuery{Limit: n, After: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	out := make([]api.AuditRecord, len(recs))
	for i, rec := range recs {
		out[i] = apiAuditRecord(rec)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func apiAuditRecord(rec auth.AuditRecord) api.AuditRecord {
	out := api.AuditRecord{
		Key: rec.Key, Revision: rec.Revision, Time: rec.Time, Action: string(rec.Action),
		Actor: rec.Actor, ActorID: rec.ActorID, Role: string(rec.Role), Session: rec.Session,
		Source: rec.Source, Method: rec.Method, Path: rec.Path, Status: rec.Status, Reason: rec.Reason,
		Count: rec.Count, Until: rec.Until,
		Ref: rec.Ref, Commit: rec.Commit, Parent: rec.Parent, Target: rec.Target, Detail: rec.Detail,
		MorePaths: rec.MorePaths,
	}
	for _, p := range rec.Paths {
		out.Paths = append(out.Paths, api.PathChange{Path: p.Path, Status: p.Status})
	}
	return out
}
