package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/gate"
)

// The endpoints the web editor (/-/ui/) needs beyond pull, push, log, diff and revert.

// gateOptions are the options of every run of the validation gate on this node: a push, a
// revert, a ref move and a check judge a tree exactly alike.
func (s *Server) gateOptions(noTests bool) gate.Options {
	return gate.Options{Loader: s.loader, Renderer: s.builder.Renderer, Limits: s.cfg.Limits, NoTests: noTests, Timeout: s.cfg.CheckTimeout, MaxMemory: s.cfg.CheckMemory,
		App: &TestHost{Limits: s.cfg.Limits}}
}

// apiCheck runs the validation gate on a tree, as a push of it would, and reports every
// problem and test result without committing anything. Problems are the answer, not an
// error: the status is 200 either way.
func (s *Server) apiCheck(w http.ResponseWriter, r *http.Request) error {
	var req api.CheckRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Files == nil {
		return fmt.Errorf("%w: a check needs \"files\", the whole tree to check", errBadRequest)
	}
	rep, err := gate.Run(r.Context(), req.Files, s.gateOptions(req.NoTests))
	if err != nil {
		return err
	}
	out := api.CheckResult{OK: len(rep.Problems) == 0, Problems: rep.Problems, Tests: make([]api.TestResult, 0, len(rep.Tests))}
	if out.Problems == nil {
		out.Problems = []api.Problem{}
	}
	for _, t := range rep.Tests {
		tr := api.TestResult{Module: t.Module, Name: t.Name, Line: t.Line, Passed: t.Passed()}
		if !tr.Passed {
			tr.Message = t.Problem.Message
		}
		out.Tests = append(out.Tests, tr)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiErrors lists this node's most recent app errors, newest first: ?n=N (default 50, at
// most maxRecentErrors).
func (s *Server) apiErrors(w http.ResponseWriter, r *http.Request) error {
	n := 50
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > maxRecentErrors {
			return fmt.Errorf("%w: n must be a number from 1 to %d, got %q", errBadRequest, maxRecentErrors, v)
		}
	}
	writeJSON(w, http.StatusOK, s.errors.recent(n))
	return nil
}

// apiError answers the app error of id, if this node still remembers it.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	e, ok := s.errors.find(id)
	if !ok {
		return fmt.Errorf("%w: node %s has no error %q among its last %d; it may have been answered by another node, or the node restarted (its log keeps every error)",
			errUnknownError, s.cfg.Node, id, maxRecentErrors)
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}
