package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/starbase/starbase/api"
)

// serveHealth answers 200 while the node runs: "ok", or "degraded: ..." saying why and what
// to do while the store or the data tier refuses writes for space (the node still serves
// reads), one line for each.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	full := s.store.fullSince()
	for _, st := range full {
		fmt.Fprintf(w, "degraded: %s is full since %s, so %s are refused (507): %s\n",
			st.what, st.since.Format(time.RFC3339), st.refused, st.err)
	}
	if len(full) == 0 {
		w.Write([]byte("ok\n"))
	}
}

// serveReady answers whether a load balancer should send app requests here: 200 while the
// node serves a release (even degraded: reads work), 503 while it has none to serve.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.releases.current.Load() == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: this node has no working release to serve (see /-/status)\n"))
		return
	}
	if full := s.store.fullSince(); len(full) > 0 {
		fmt.Fprintf(w, "ready (degraded: %s is full; see /-/health)\n", full[0].what)
		return
	}
	w.Write([]byte("ready\n"))
}

// self returns what this node serves.
func (s *Server) self() api.Node {
	n := api.Node{Node: s.cfg.Node, Ref: s.cfg.Ref, Started: s.start.UTC(), Updated: time.Now().UTC()}
	s.releases.status(&n)
	return n
}

// Status returns what this node serves and, as far as the store can tell, what every live
// node serves.
func (s *Server) Status() api.Status {
	st := api.Status{Node: s.self()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nodes, err := s.nodes.list(ctx, st.Node)
	if err != nil {
		s.log.Warn("listing nodes failed", "err", err)
		nodes = []api.Node{st.Node}
	}
	st.Nodes = nodes
	return st
}

// serveStatus answers the public /-/status: the status without the problems of failed
// builds, which quote stored code.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, publicStatus(s.Status()))
}

// publicStatus returns st without the problems of any node.
func publicStatus(st api.Status) api.Status {
	st.Problems = nil
	nodes := make([]api.Node, len(st.Nodes))
	for i, n := range st.Nodes {
		n.Problems = nil
		nodes[i] = n
	}
	st.Nodes = nodes
	return st
}

// apiStatus answers GET /-/api/status: the status with the problems of failed builds.
func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.Status())
	return nil
}

// holdForRevision holds a request carrying Starbase-Min-Revision until this node has applied
// that revision. It answers the request itself and returns false when it must not proceed.
func (s *Server) holdForRevision(w http.ResponseWriter, r *http.Request, header string) bool {
	rev, err := strconv.ParseInt(header, 10, 64)
	if err != nil || rev < 0 {
		http.Error(w, fmt.Sprintf("Starbase-Min-Revision must be a store revision (a non-negative integer), got %q", header), http.StatusBadRequest)
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MinRevisionWait)
	defer cancel()
	if err := s.releases.waitApplied(ctx, rev); err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("This node has applied store revision %d and did not reach revision %d within %v; retry, or ask another node.",
			s.releases.applied.Load(), rev, s.cfg.MinRevisionWait), http.StatusServiceUnavailable)
		return false
	}
	return true
}
