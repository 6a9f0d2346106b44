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
)

// apiRoute is one endpoint of the API and the least role it needs. The login has no role:
// it takes its token in its body.
type apiRoute struct {
	pattern string
	role    auth.Role
	handler apiFunc
}

// apiFunc is an API endpoint. It writes its answer when it succeeds; when it fails it
// writes nothing and returns the error, which serveAPI answers.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// serveAPI adapts h to net/http. It is the one place where the error of an endpoint becomes
// its answer: a refusal (no credential, no right) is audited (see refuse), any other error
// is answered as an api.Error with the status statusOf gives it.
func (s *Server) serveAPI(h apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.answer(w, r, principalOf(r), err)
		}
	}
}

// apiRoutes lists every endpoint of the API. The security tests walk this list, so an
// endpoint added here is attacked by them too.
func (s *Server) apiRoutes(g *guard) []apiRoute {
	return []apiRoute{
		{"POST /-/api/push", auth.Developer, s.apiPush},
		{"POST /-/api/revert", auth.Developer, s.apiRevert},
		{"PUT /-/api/refs/{name...}", auth.Developer, s.apiMoveRef},
		{"POST /-/api/rollout", auth.Developer, s.apiStartRollout},
		{"GET /-/api/rollout", auth.Reader, s.apiRollout},
		{"POST /-/api/rollout/promote", auth.Developer, s.apiPromoteRollout},
		{"POST /-/api/rollout/abort", auth.Developer, s.apiAbortRollout},
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
		{"GET /-/api/backup", auth.Admin, s.apiBackup},
		{"GET /-/api/protected-refs", auth.Reader, s.apiProtectedRefs},
		{"PUT /-/api/protected-refs", auth.Admin, s.apiSetProtectedRefs},
		{"POST /-/api/app-secret/rotate", auth.Admin, s.apiRotateAppSecret},
		{"POST /-/api/login", "", g.login},
		{"POST /-/api/logout", auth.Reader, g.logout},
		{"GET /-/api/session", auth.Reader, g.apiSession},
	}
}

// apiHandler routes /-/api/. Every endpoint but the login requires a credential (a bearer
// token, or a session cookie and, to change anything, its CSRF token) with a sufficient
// role. No API answer may be cached.
func (s *Server) apiHandler(g *guard) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.apiRoutes(g) {
		h := s.serveAPI(rt.handler)
		if rt.role != "" {
			h = g.authorized(rt.role, h)
		}
		h = s.ops.observeAPI(rt.pattern, h)
		mux.HandleFunc(rt.pattern, h)
	}
	mux.HandleFunc("/-/api/", s.serveAPI(func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%w: %s %s", errNoEndpoint, r.Method, r.URL.Path)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// guard authenticates and authorizes the API requests of one origin: the app's or the
// editor's (auth.SessionOrigin), which decides the name of its session cookie, the sessions
// it accepts and their highest role. It is safe for concurrent use.
type guard struct {
	s        *Server
	sessions *auth.Sessions
	limiter  *limiter
	ttl      time.Duration
	origin   auth.SessionOrigin
}

// newGuard returns the guard of the app's origin.
func newGuard(s *Server) *guard {
	return &guard{
		s:        s,
		sessions: auth.NewSessions(s.cfg.Store),
		limiter:  newLimiter(s.cfg.AuthBurst, s.cfg.AuthRefill),
		ttl:      s.cfg.SessionTTL,
		origin:   auth.AppOrigin,
	}
}

// forEditor returns the guard of the editor's origin: the same sessions and the same
// limit on refusals per source, for the editor's sessions.
func (g *guard) forEditor() *guard {
	e := *g
	e.origin = auth.EditorOrigin
	return &e
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
//  2. The credential is a bearer token (Authorization header) or else the session cookie
//     of the guard's origin; none, a wrong one, a revoked one, an expired session, a
//     session of the other origin, or two session cookies are refused 401.
//  3. A state-changing request authenticated by cookie must come from the node's own
//     origin and carry the session's CSRF token, or it is refused 403. On the editor's
//     origin, so must any request authenticated by cookie that a browser says comes from
//     elsewhere (see checkEditorFetch).
//  4. A role below role is refused 403.
//
// Every refusal is written to the audit log before it is answered. Records are read from
// the store on every request, so a revocation applies at once on every node.
func (g *guard) authorized(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		src := sourceOf(r)
		ok, retry := g.limiter.take(src)
		if !ok {
			writeError(w, g.s.tooMany(w, r, retry))
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
		if who.session != "" {
			err := g.checkEditorFetch(r)
			if err == nil && !safeMethod(r.Method) {
				err = checkCSRF(r, who.session)
			}
			if err != nil {
				g.s.refuse(w, r, who, err)
				return
			}
		}
		if !who.tok.Role.Allows(role) {
			how := "token"
			if who.session != "" {
				how = fmt.Sprintf("session (on the %s's origin, capped at %s)", g.origin, g.origin.MaxRole())
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
	cookies := r.CookiesNamed(g.cookieName(r))
	switch len(cookies) {
	case 0:
		return principal{}, auth.ErrUnauthenticated
	case 1:
	default:
		// Only a script can make a second one (document.cookie, with another path): a
		// page of the app's origin fixing the session of the editor's, for example.
		return principal{}, fmt.Errorf("%w: the request carries %d %s cookies; clear this site's cookies and log in again",
			auth.ErrUnauthenticated, len(cookies), g.cookieName(r))
	}
	id := cookies[0].Value
	tok, sess, err := g.sessions.Authenticate(r.Context(), id, g.origin)
	if err != nil {
		return principal{}, err
	}
	return principal{tok: tok, session: id, sess: sess}, nil
}

// answer answers err: as a refusal (audited) when it is one, otherwise as an error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, who principal, err error) {
	if isRefusal(err) {
		s.refuse(w, r, who, err)
		return
	}
	writeError(w, err)
}

// maxLog bounds the commits one log request returns.
const maxLog = 1000

// apiPush commits the pushed files (see publisher.push).
func (s *Server) apiPush(w http.ResponseWriter, r *http.Request) error {
	var req api.PushRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.publisher.push(r.Context(), actorOf(r, principalOf(r)), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// apiRevert makes a new commit on the ref whose tree is the target commit's, on top of
// whatever the ref is at (see publisher.revert).
func (s *Server) apiRevert(w http.ResponseWriter, r *http.Request) error {
	var req api.RevertRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.publisher.revert(r.Context(), actorOf(r, principalOf(r)), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// apiMoveRef moves the ref {name} to an existing commit by compare-and-set against the
// commit the client expects it at (see publisher.moveRef).
func (s *Server) apiMoveRef(w http.ResponseWriter, r *http.Request) error {
	req := refMove{ref: r.PathValue("name")}
	if err := decodeJSON(w, r, maxSmallBody, &req.RefRequest); err != nil {
		return err
	}
	res, err := s.publisher.moveRef(r.Context(), actorOf(r, principalOf(r)), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) apiFiles(w http.ResponseWriter, r *http.Request) error {
	id, err := s.repo.Resolve(r.Context(), queryOr(r, "commit", code.DefaultBranch))
	if err != nil {
		return err
	}
	files, err := s.repo.Files(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Files{Commit: string(id), Files: files})
	return nil
}

func (s *Server) apiLog(w http.ResponseWriter, r *http.Request) error {
	n := 20
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > maxLog {
			return fmt.Errorf("%w: n must be a number from 1 to %d, got %q", errBadRequest, maxLog, v)
		}
	}
	from, err := s.repo.Resolve(r.Context(), queryOr(r, "from", code.DefaultBranch))
	if errors.Is(err, code.ErrNotFound) && !errors.Is(err, code.ErrDropped) {
		writeJSON(w, http.StatusOK, []api.Commit{})
		return nil
	}
	if err != nil {
		return err
	}
	commits, err := s.repo.Log(r.Context(), from, n)
	if err != nil {
		return err
	}
	out := make([]api.Commit, 0, len(commits))
	for _, c := range commits {
		out = append(out, apiCommit(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiDiff writes the unified diff between from and to. Without to, it diffs main; without
// from, it diffs to's first parent (or the empty tree).
func (s *Server) apiDiff(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	to, err := s.repo.Resolve(ctx, queryOr(r, "to", code.DefaultBranch))
	if err != nil {
		return err
	}
	var from code.ID
	if f := r.URL.Query().Get("from"); f != "" {
		if from, err = s.repo.Resolve(ctx, f); err != nil {
			return err
		}
	} else {
		c, err := s.repo.Commit(ctx, to)
		if err != nil {
			return err
		}
		if len(c.Parents) > 0 {
			from = c.Parents[0]
		}
	}
	var b strings.Builder
	if err := s.repo.UnifiedDiff(ctx, from, to, &b); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/x-diff; charset=utf-8")
	w.Write([]byte(b.String()))
	return nil
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

func queryOr(r *http.Request, key, def string) string {
	if v := r.URL.Query().Get(key); v != "" {
		return v
	}
	return def
}

func apiCommit(c code.Commit) api.Commit {
	parents := make([]string, len(c.Parents))
	for i, p := range c.Parents {
		parents[i] = string(p)
	}
	return api.Commit{ID: string(c.ID), Tree: string(c.Tree), Parents: parents, Author: c.Author,
		Message: c.Message, Time: c.Time, Notes: c.Notes}
}
