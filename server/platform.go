package server

import (
	"net/http"

	"github.com/starbase/starbase/api"
)

// serveHealth answers 200 while the node runs and follows its store.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// Status returns what this node serves.
func (s *Server) Status() api.Status {
	st := api.Status{Node: s.cfg.Node, Ref: s.cfg.Ref, Revision: s.applied.Load(), Started: s.start.UTC()}
	if rel := s.current.Load(); rel != nil {
		st.Commit = string(rel.commit)
		st.Error = errString(rel.loadErr)
	}
	return st
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}
