package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/objects"
)

// apiMigrate upgrades the stored objects of a class to the version its module defines in the
// commit this node serves. It is resumable: a run that stops continues where it stopped.
func (s *Server) apiMigrate(w http.ResponseWriter, r *http.Request) error {
	var req api.MigrateRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if !strings.Contains(req.Class, ":") {
		return fmt.Errorf("%w: class %q is not MODULE:CLASS (as counters.star:Counter)", errBadRequest, req.Class)
	}
	rel := s.releases.current.Load()
	if rel == nil || rel.snap == nil {
		return fmt.Errorf("%w: no app is deployed, so no class is defined", errBadRequest)
	}
	visited := 0
	err := objects.Migrate(r.Context(), s.cfg.Data, s.classResolver(rel), req.Class, req.Batch,
		func(done int, cursor string) { visited = done })
	if err != nil {
		return err
	}
	s.log.Info("migrate", "class", req.Class, "commit", rel.commit, "visited", visited, "author", principalOf(r).tok.Name)
	writeJSON(w, http.StatusOK, api.MigrateResult{Class: req.Class, Commit: string(rel.commit), Visited: visited})
	return nil
}
