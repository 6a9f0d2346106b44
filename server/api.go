package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
)

// apiHandler routes /-/api/. Every endpoint requires a bearer token with a sufficient role.
func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /-/api/push", s.authorized(auth.Developer, s.apiPush))
	mux.HandleFunc("POST /-/api/revert", s.authorized(auth.Developer, s.apiRevert))
	mux.HandleFunc("GET /-/api/files", s.authorized(auth.Reader, s.apiFiles))
	mux.HandleFunc("GET /-/api/log", s.authorized(auth.Reader, s.apiLog))
	mux.HandleFunc("GET /-/api/diff", s.authorized(auth.Reader, s.apiDiff))
	mux.HandleFunc("/-/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%w: %s %s", errNoEndpoint, r.Method, r.URL.Path))
	})
	return mux
}

type tokenKey struct{}

// authorized wraps h so that it runs only for a valid token allowing role.
func (s *Server) authorized(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := s.tokens.Authenticate(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			s.log.Warn("refused API request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			writeError(w, err)
			return
		}
		if !tok.Role.Allows(role) {
			s.log.Warn("refused API request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "token", tok.ID, "role", tok.Role)
			writeError(w, fmt.Errorf("%w: %s needs the %s role, token %q has %s", auth.ErrForbidden, r.URL.Path, role, tok.Name, tok.Role))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
	}
}

func actor(r *http.Request) string {
	tok, _ := r.Context().Value(tokenKey{}).(auth.Token)
	return tok.Name
}

func (s *Server) apiPush(w http.ResponseWriter, r *http.Request) {
	var req api.PushRequest
	if err := s.decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	ref := refOrDefault(req.Ref)
	if err := gate.Check(r.Context(), req.Files, gate.Options{Loader: s.loader, NoTests: req.NoTests}); err != nil {
		writeError(w, err)
		return
	}
	var notes []string
	if req.NoTests {
		notes = append(notes, "no-tests")
	}
	res, err := s.repo.Push(r.Context(), code.PushRequest{
		Ref:      ref,
		Files:    req.Files,
		Expected: code.ID(req.Expected),
		Force:    req.Force,
		Author:   actor(r),
		Message:  req.Message,
		Notes:    notes,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("push", "ref", ref, "commit", res.Commit, "changed", res.Changed, "author", actor(r), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, commitResult(res))
}

func (s *Server) apiRevert(w http.ResponseWriter, r *http.Request) {
	var req api.RevertRequest
	if err := s.decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	ref := refOrDefault(req.Ref)
	target, err := s.repo.Resolve(r.Context(), req.Commit)
	if err != nil {
		writeError(w, err)
		return
	}
	files, err := s.repo.Files(r.Context(), target)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := gate.Check(r.Context(), files, gate.Options{Loader: s.loader}); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.repo.Revert(r.Context(), ref, target, actor(r), nil)
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("revert", "ref", ref, "to", target, "commit", res.Commit, "author", actor(r), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, commitResult(res))
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
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			writeError(w, fmt.Errorf("%w: n must be a positive number, got %q", errBadRequest, v))
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

// decode reads a JSON request body strictly, within the push size limit.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxPushBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: the request body exceeds %d bytes", errTooLarge, tooBig.Limit)
		}
		return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, err)
	}
	if dec.More() {
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
