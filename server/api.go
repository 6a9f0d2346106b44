package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/store"
)

// apiRoute is one endpoint of the API and the least role it needs. The login has no role:
// it takes its token in its body.
type apiRoute struct {
	pattern string
	role    auth.Role
	handler http.HandlerFunc
}

// apiRoutes lists every endpoint of the API. The security tests walk this list, so an
// endpoint added here is attacked by them too.
func (s *Server) apiRoutes(g *guard) []apiRoute {
	return []apiRoute{
		{"POST /-/api/push", auth.Developer, s.apiPush},
		{"POST /-/api/revert", auth.Developer, s.apiRevert},
		{"PUT /-/api/refs/{name...}", auth.Developer, s.apiMoveRef},
		{"POST /-/api/migrate", auth.Developer, s.apiMigrate},
		{"GET /-/api/files", auth.Reader, s.apiFiles},
		{"GET /-/api/log", auth.Reader, s.apiLog},
		{"GET /-/api/diff", auth.Reader, s.apiDiff},
		{"POST /-/api/check", auth.Developer, s.apiCheck},
		{"GET /-/api/errors", auth.Developer, s.apiErrors},
		{"GET /-/api/errors/{id}", auth.Developer, s.apiError},
		{"GET /-/api/status", auth.Reader, s.apiStatus},
		{"GET /-/api/tokens", auth.Admin, s.apiTokens},
		{"POST /-/api/tokens", auth.Admin, s.apiCreateToken},
		{"DELETE /-/api/tokens/{id}", auth.Admin, s.apiRevokeToken},
		{"GET /-/api/audit", auth.Admin, s.apiAudit},
		{"GET /-/api/protected-refs", auth.Reader, s.apiProtectedRefs},
		{"PUT /-/api/protected-refs", auth.Admin, s.apiSetProtectedRefs},
		{"POST /-/api/login", "", g.login},
		{"POST /-/api/logout", auth.Reader, g.logout},
		{"GET /-/api/session", auth.Reader, g.apiSession},
	}
}

// apiHandler routes /-/api/. Every endpoint but the login requires a credential (a bearer
// token, or a session cookie and, to change anything, its CSRF token) with a sufficient
// role. No API answer may be cached.
func (s *Server) apiHandler() http.Handler {
	g := newGuard(s)
	mux := http.NewServeMux()
	for _, rt := range s.apiRoutes(g) {
		h := rt.handler
		if rt.role != "" {
			h = g.authorized(rt.role, h)
		}
		mux.HandleFunc(rt.pattern, h)
	}
	mux.HandleFunc("/-/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%w: %s %s", errNoEndpoint, r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// guard authenticates and authorizes API requests. It is safe for concurrent use.
type guard struct {
	s        *Server
	sessions *auth.Sessions
	limiter  *limiter
	ttl      time.Duration
}

func newGuard(s *Server) *guard {
	return &guard{
		s:        s,
		sessions: auth.NewSessions(s.cfg.Store),
		limiter:  newLimiter(s.cfg.AuthBurst, s.cfg.AuthRefill),
		ttl:      s.cfg.SessionTTL,
	}
}

// principal is who a request acts as: a token, reached directly (bearer) or through a
// session cookie.
type principal struct {
	tok auth.Token
	// session is the session id when the request came with a session cookie.
	session string
	sess    auth.Session
}

type principalKey struct{}

// principalOf returns who r acts as (zero outside authorized handlers).
func principalOf(r *http.Request) principal {
	who, _ := r.Context().Value(principalKey{}).(principal)
	return who
}

// authorized wraps h so that it runs only for a credential allowing role:
//
//  1. A source refused too often is answered 429 before its credential is even looked at.
//     Every refusal below counts against its source; a request that gets through does not.
//  2. The credential is a bearer token (Authorization header) or else a session cookie;
//     none, a wrong one, a revoked one or an expired session is refused 401.
//  3. A state-changing request authenticated by cookie must come from the node's own
//     origin and carry the session's CSRF token, or it is refused 403.
//  4. A role below role is refused 403.
//
// Every refusal is written to the audit log before it is answered. Records are read from
// the store on every request, so a revocation applies at once on every node.
func (g *guard) authorized(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		src := sourceOf(r)
		ok, retry := g.limiter.take(src)
		if !ok {
			g.s.tooMany(w, r, retry)
			return
		}
		who, err := g.authenticate(r)
		if err != nil {
			if isRefusal(err) {
				g.s.refuse(w, r, who, err)
				return
			}
			g.limiter.refund(src)
			writeError(w, err)
			return
		}
		if who.session != "" && !safeMethod(r.Method) {
			if err := checkCSRF(r, who.session); err != nil {
				g.s.refuse(w, r, who, err)
				return
			}
		}
		if !who.tok.Role.Allows(role) {
			how := "token"
			if who.session != "" {
				how = fmt.Sprintf("session (capped at %s)", auth.SessionMaxRole)
			}
			g.s.refuse(w, r, who, fmt.Errorf("%w: %s %s needs the %s role, the %s of %q has %s",
				auth.ErrForbidden, r.Method, r.URL.Path, role, how, who.tok.Name, who.tok.Role))
			return
		}
		g.limiter.refund(src)
		// An authorized request may take longer to send (a push of many files).
		limitBody(w, r, g.s.cfg.APIBodyTimeout)
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, who)))
	}
}

// authenticateToken returns the token of secret. A refusal names the id the secret would
// have: for a revoked token that is its id, which the audit log then shows; for a guess it
// names nothing and reveals nothing about any token.
func (g *guard) authenticateToken(ctx context.Context, secret string) (auth.Token, error) {
	tok, err := g.s.tokens.Authenticate(ctx, secret)
	if errors.Is(err, auth.ErrUnauthenticated) {
		err = fmt.Errorf("%w: token %s is unknown or revoked", err, auth.Hash(secret)[:auth.IDLen])
	}
	return tok, err
}

// authenticate returns who r's credential stands for. A request with an Authorization
// header is judged by it alone; otherwise by its session cookie.
func (g *guard) authenticate(r *http.Request) (principal, error) {
	secret, present, err := auth.ParseBearer(r.Header.Get("Authorization"))
	if present {
		if err != nil {
			return principal{}, err
		}
		tok, err := g.authenticateToken(r.Context(), secret)
		return principal{tok: tok}, err
	}
	c, err := r.Cookie(sessionCookieName(r))
	if err != nil {
		return principal{}, auth.ErrUnauthenticated
	}
	tok, sess, err := g.sessions.Authenticate(r.Context(), c.Value)
	if err != nil {
		return principal{}, err
	}
	return principal{tok: tok, session: c.Value, sess: sess}, nil
}

// answer answers err: as a refusal (audited) when it is one, otherwise as an error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, who principal, err error) {
	if isRefusal(err) {
		s.refuse(w, r, who, err)
		return
	}
	writeError(w, err)
}

// checkProtected refuses to let who move ref when ref is protected and who is not an admin.
func (s *Server) checkProtected(ctx context.Context, who principal, ref string) error {
	if who.tok.Role.Allows(auth.Admin) {
		return nil
	}
	protected, err := auth.NewProtection(s.cfg.Store).Protected(ctx, ref)
	if err != nil {
		return err
	}
	if protected {
		return fmt.Errorf("%w: ref %q is protected: only an admin token may move it", auth.ErrForbidden, ref)
	}
	return nil
}

// maxLog bounds the commits one log request returns.
const maxLog = 1000

func (s *Server) apiPush(w http.ResponseWriter, r *http.Request) {
	var req api.PushRequest
	if err := s.decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	ref := refOrDefault(req.Ref)
	who := principalOf(r)
	if err := s.checkProtected(r.Context(), who, ref); err != nil {
		s.answer(w, r, who, err)
		return
	}
	// A stale push is refused before the gate runs the tree's tests, not after.
	if !req.Force {
		current, _, err := s.repo.Ref(r.Context(), ref)
		if err != nil && !errors.Is(err, code.ErrNotFound) {
			writeError(w, err)
			return
		}
		if current != code.ID(req.Expected) {
			writeError(w, &code.StaleError{Ref: ref, Expected: code.ID(req.Expected), Current: current})
			return
		}
	}
	if err := gate.Check(r.Context(), req.Files, s.gateOptions(req.NoTests)); err != nil {
		writeError(w, err)
		return
	}
	var notes []string
	if req.NoTests {
		notes = append(notes, "no-tests")
	}
	res, err := s.commitAudited(r, who, publication{
		action:   auth.ActionCommit,
		ref:      ref,
		files:    req.Files,
		expected: code.ID(req.Expected),
		force:    req.Force,
		message:  req.Message,
		notes:    notes,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("push", "ref", ref, "commit", res.Commit, "changed", res.Changed, "author", who.tok.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, commitResult(res))
}

// apiRevert makes a new commit on the ref whose tree is the target commit's, on top of
// whatever the ref is at.
func (s *Server) apiRevert(w http.ResponseWriter, r *http.Request) {
	var req api.RevertRequest
	if err := s.decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	ref := refOrDefault(req.Ref)
	who := principalOf(r)
	if err := s.checkProtected(ctx, who, ref); err != nil {
		s.answer(w, r, who, err)
		return
	}
	if _, _, err := s.repo.Ref(ctx, ref); err != nil {
		writeError(w, err)
		return
	}
	target, err := s.repo.Resolve(ctx, req.Commit)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := s.repo.Commit(ctx, target)
	if err != nil {
		writeError(w, err)
		return
	}
	files, err := s.gatedFiles(ctx, target)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.commitAudited(r, who, publication{
		action:  auth.ActionRevert,
		ref:     ref,
		files:   files,
		force:   true,
		message: code.RevertMessage(t),
		target:  target,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("revert", "ref", ref, "to", target, "commit", res.Commit, "author", who.tok.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, commitResult(res))
}

// gatedFiles returns the files of commit id once the validation gate passed them: a revert
// or a ref move publishes a stored tree, which must pass the gate as a pushed one does.
func (s *Server) gatedFiles(ctx context.Context, id code.ID) (map[string][]byte, error) {
	files, err := s.repo.Files(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := gate.Check(ctx, files, s.gateOptions(false)); err != nil {
		return nil, err
	}
	return files, nil
}

// apiMoveRef moves the ref {name} to an existing commit by compare-and-set against the
// commit the client expects it at. The move and its audit record are one store commit.
func (s *Server) apiMoveRef(w http.ResponseWriter, r *http.Request) {
	var req api.RefRequest
	if err := decodeJSON(w, r, maxSmallBody, &req); err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	name := r.PathValue("name")
	who := principalOf(r)
	if err := code.ValidateRefName(name); err != nil {
		writeError(w, err)
		return
	}
	if err := s.checkProtected(ctx, who, name); err != nil {
		s.answer(w, r, who, err)
		return
	}
	to, err := s.repo.Resolve(ctx, req.Commit)
	if err != nil {
		writeError(w, err)
		return
	}
	expected := code.ID(req.Expected)
	if expected != "" {
		if err := code.ValidateID(expected); err != nil {
			writeError(w, fmt.Errorf("%w: expected: %v", errBadRequest, err))
			return
		}
	}
	if _, err := s.gatedFiles(ctx, to); err != nil {
		writeError(w, err)
		return
	}
	diffs, err := s.repo.Diff(ctx, expected, to)
	if err != nil && !errors.Is(err, code.ErrNotFound) {
		writeError(w, err)
		return
	}
	rec := s.newAuditRecord(r, who, auth.ActionRefMove)
	rec.Ref, rec.Commit, rec.Parent = name, string(to), string(expected)
	rec.Paths = pathChanges(diffs)
	rev, err := s.repo.SetRef(ctx, name, to, expected, []store.Op{auth.AuditOp(rec)})
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("ref moved", "ref", name, "from", expected, "to", to, "by", who.tok.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, api.CommitResult{Commit: string(to), Parent: string(expected), Revision: rev, Changed: to != expected})
}

// publication is a commit to make on a ref, with what its audit record says about it.
type publication struct {
	action   auth.Action
	ref      string
	files    map[string][]byte
	expected code.ID // the commit the client based its files on ("" = none)
	force    bool    // publish on whatever commit the ref is at
	message  string
	notes    []string
	target   code.ID // for a revert, the commit reverted to
}

// publishAttempts bounds how often a forced publication tries again after a concurrent
// update of its ref.
const publishAttempts = 3

// commitAudited makes p's commit as who, writing its audit record in the same store commit as
// the commit and the ref move, so that neither can exist without the other. The record names
// the new commit, its parent and the changed paths exactly, as the push computes them. A
// forced publication that loses a race with another update tries again on the new parent.
func (s *Server) commitAudited(r *http.Request, who principal, p publication) (code.PushResult, error) {
	req := code.PushRequest{
		Ref: p.ref, Files: p.files, Expected: p.expected, Force: p.force,
		Author: who.tok.Name, Message: p.message, Notes: p.notes,
		Record: func(c code.Commit, parentTree, tree code.Tree) ([]store.Op, error) {
			rec := s.newAuditRecord(r, who, p.action)
			rec.Time, rec.Ref, rec.Commit, rec.Target = c.Time, p.ref, string(c.ID), string(p.target)
			if len(c.Parents) > 0 {
				rec.Parent = string(c.Parents[0])
			}
			rec.Paths = pathChanges(code.DiffTrees(parentTree, tree))
			return []store.Op{auth.AuditOp(rec)}, nil
		},
	}
	for attempt := 1; ; attempt++ {
		res, err := s.repo.Push(r.Context(), req)
		if errors.Is(err, code.ErrConflict) && p.force && attempt < publishAttempts {
			continue
		}
		return res, err
	}
}

func (s *Server) apiFiles(w http.ResponseWriter, r *http.Request) {
	id, err := s.repo.Resolve(r.Context(), queryOr(r, "commit", code.DefaultBranch))
	if err != nil {
		writeError(w, err)
		return
	}
	files, err := s.repo.Files(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Files{Commit: string(id), Files: files})
}

func (s *Server) apiLog(w http.ResponseWriter, r *http.Request) {
	n := 20
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > maxLog {
			writeError(w, fmt.Errorf("%w: n must be a number from 1 to %d, got %q", errBadRequest, maxLog, v))
			return
		}
	}
	from, err := s.repo.Resolve(r.Context(), queryOr(r, "from", code.DefaultBranch))
	if errors.Is(err, code.ErrNotFound) {
		writeJSON(w, http.StatusOK, []api.Commit{})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	commits, err := s.repo.Log(r.Context(), from, n)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]api.Commit, 0, len(commits))
	for _, c := range commits {
		out = append(out, apiCommit(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiDiff writes the unified diff between from and to. Without to, it diffs main; without
// from, it diffs to's first parent (or the empty tree).
func (s *Server) apiDiff(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	to, err := s.repo.Resolve(ctx, queryOr(r, "to", code.DefaultBranch))
	if err != nil {
		writeError(w, err)
		return
	}
	var from code.ID
	if f := r.URL.Query().Get("from"); f != "" {
		if from, err = s.repo.Resolve(ctx, f); err != nil {
			writeError(w, err)
			return
		}
	} else {
		c, err := s.repo.Commit(ctx, to)
		if err != nil {
			writeError(w, err)
			return
		}
		if len(c.Parents) > 0 {
			from = c.Parents[0]
		}
	}
	var b strings.Builder
	if err := s.repo.UnifiedDiff(ctx, from, to, &b); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/x-diff; charset=utf-8")
	w.Write([]byte(b.String()))
}

// decode reads a JSON request body (a push or a revert) strictly, within the push size
// limit.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSON(w, r, s.cfg.MaxPushBytes, v)
}

// decodeJSON reads r's body as exactly one JSON value into v, refusing unknown fields and
// bodies over limit bytes. It is the one decoder of API request bodies.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: the request body exceeds %d bytes", errTooLarge, tooBig.Limit)
		}
		if errors.Is(err, errBodyTimeout) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the request body is empty; send a JSON object", errBadRequest)
		}
		return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the JSON body", errBadRequest)
	}
	return nil
}

func refOrDefault(ref string) string {
	if ref == "" {
		return code.DefaultBranch
	}
	return ref
}

func queryOr(r *http.Request, key, def string) string {
	if v := r.URL.Query().Get(key); v != "" {
		return v
	}
	return def
}

func commitResult(res code.PushResult) api.CommitResult {
	return api.CommitResult{Commit: string(res.Commit), Parent: string(res.Parent), Revision: res.Revision, Changed: res.Changed}
}

func apiCommit(c code.Commit) api.Commit {
	parents := make([]string, len(c.Parents))
	for i, p := range c.Parents {
		parents[i] = string(p)
	}
	return api.Commit{ID: string(c.ID), Tree: string(c.Tree), Parents: parents, Author: c.Author,
		Message: c.Message, Time: c.Time, Notes: c.Notes}
}
