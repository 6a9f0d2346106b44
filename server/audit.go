package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
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
	return auth.AuditRecord{
		Time:    time.Now().UTC(),
		Action:  action,
		Actor:   who.tok.Name,
		ActorID: who.tok.ID,
		Role:    who.tok.Role,
		Session: who.session != "",
		Source:  r.RemoteAddr,
		Method:  clip(r.Method, maxAuditMethod),
		Path:    clip(r.URL.Path, maxAuditText),
	}
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
// audit log, in a store commit of its own, before answering. who is whoever the request
// authenticated as, if anyone.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, who principal, err error) {
	status := statusOf(err)
	s.log.Warn("refused API request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
		"token", who.tok.ID, "status", status, "err", err)
	rec := s.newAuditRecord(r, who, auth.ActionRefused)
	rec.Status, rec.Reason = status, clip(err.Error(), maxAuditText)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditWriteTimeout)
	defer cancel()
	if _, werr := s.cfg.Store.Commit(ctx, nil, []store.Op{auth.AuditOp(rec)}); werr != nil {
		s.log.Error("writing the audit record of a refused request", "method", r.Method, "path", r.URL.Path,
			"remote", r.RemoteAddr, "err", werr)
	}
	writeError(w, err)
}

// tooMany answers a request from a source that was refused too often. It is logged, not
// audited: the limit exists to bound what a guesser can cost, store writes included.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	secs := int(math.Ceil(retry.Seconds()))
	s.log.Warn("rate-limited API request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "retry_s", secs)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, fmt.Errorf("%w: too many refused requests from %s; retry in %d s", errRateLimited, sourceOf(r), secs))
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
func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	n := 20
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			writeError(w, fmt.Errorf("%w: n must be a number from 1 to 10000, got %q", errBadRequest, v))
			return
		}
	}
	recs, _, err := auth.ReadAudit(r.Context(), s.cfg.Store, auth.AuditQuery{Limit: n, After: r.URL.Query().Get("after")})
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]api.AuditRecord, len(recs))
	for i, rec := range recs {
		out[i] = apiAuditRecord(rec)
	}
	writeJSON(w, http.StatusOK, out)
}

func apiAuditRecord(rec auth.AuditRecord) api.AuditRecord {
	out := api.AuditRecord{
		Key: rec.Key, Revision: rec.Revision, Time: rec.Time, Action: string(rec.Action),
		Actor: rec.Actor, ActorID: rec.ActorID, Role: string(rec.Role), Session: rec.Session,
		Source: rec.Source, Method: rec.Method, Path: rec.Path, Status: rec.Status, Reason: rec.Reason,
		Ref: rec.Ref, Commit: rec.Commit, Parent: rec.Parent, Target: rec.Target, Detail: rec.Detail,
		MorePaths: rec.MorePaths,
	}
	for _, p := range rec.Paths {
		out.Paths = append(out.Paths, api.PathChange{Path: p.Path, Status: p.Status})
	}
	return out
}
