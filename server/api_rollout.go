package server

import (
	"net/http"
	"time"

	"github.com/starbase/starbase/api"
)

// apiStartRollout starts a rollout (see publisher.startRollout).
func (s *Server) apiStartRollout(w http.ResponseWriter, r *http.Request) error {
	var req api.RolloutRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	ro, err := s.publisher.startRollout(r.Context(), actorOf(r, principalOf(r)), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.RolloutStatus{Rollout: ro, Percent: ro.Percent(time.Now())})
	return nil
}

// apiPromoteRollout makes the rollout's commit the ref's (see publisher.promoteRollout).
func (s *Server) apiPromoteRollout(w http.ResponseWriter, r *http.Request) error {
	var req api.RolloutAction
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.publisher.promoteRollout(r.Context(), actorOf(r, principalOf(r)), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// apiAbortRollout ends the rollout (see publisher.abortRollout).
func (s *Server) apiAbortRollout(w http.ResponseWriter, r *http.Request) error {
	var req api.RolloutAction
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	ro, err := s.publisher.abortRollout(r.Context(), actorOf(r, principalOf(r)), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.RolloutStatus{Rollout: ro})
	return nil
}

// apiRollout answers GET /-/api/rollout?ref=REF: the stored rollout of the ref (default
// main), its percentage now, and what every live node makes of it.
func (s *Server) apiRollout(w http.ResponseWriter, r *http.Request) error {
	ro, _, err := s.publisher.readRollout(r.Context(), refOrDefault(r.URL.Query().Get("ref")))
	if err != nil {
		return err
	}
	st := api.RolloutStatus{Rollout: ro, Percent: ro.Percent(time.Now())}
	for _, n := range s.Status().Nodes {
		if n.Rollout != nil {
			nr := *n.Rollout
			nr.Node = n.Node
			st.Nodes = append(st.Nodes, nr)
		}
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
