package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/code"
)

// Previews: /-/preview/COMMIT/PATH runs the app of any stored commit (a full id or a unique
// prefix), on or off a ref, on PATH, against the live data, for a developer: the request
// needs a developer's token or session, as a push does (the guard audits refusals; a
// state-changing request by session needs its CSRF token). The app sees PATH, and none of
// the platform's credentials (forApp), as any app request; its answer carries
// Starbase-Commit like any other. A preview changes nothing of what other requests are
// served: its releases are kept apart (previewCache), outside the rollout's split, windows
// and per-commit metrics.

const previewPrefix = "/-/preview/"

// maxPreviews bounds the preview releases a node keeps built.
const maxPreviews = 4

// previewCache holds the releases of the last previewed commits. It is safe for concurrent
// use.
type previewCache struct {
	// mu guards served, the releases by commit, and order, least recently used first.
	mu     sync.Mutex
	served map[code.ID]*servedRelease
	order  []code.ID
}

func newPreviewCache() *previewCache { return &previewCache{served: map[code.ID]*servedRelease{}} }

func (pc *previewCache) get(commit code.ID) *servedRelease {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	sr := pc.served[commit]
	if sr != nil {
		pc.touch(commit)
	}
	return sr
}

func (pc *previewCache) put(sr *servedRelease) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if _, ok := pc.served[sr.rel.commit]; !ok && len(pc.order) >= maxPreviews {
		delete(pc.served, pc.order[0])
		pc.order = pc.order[1:]
	}
	pc.served[sr.rel.commit] = sr
	pc.touch(sr.rel.commit)
}

// touch moves commit to the end of order; mu is held.
func (pc *previewCache) touch(commit code.ID) {
	for i, c := range pc.order {
		if c == commit {
			pc.order = append(pc.order[:i], pc.order[i+1:]...)
			break
		}
	}
	pc.order = append(pc.order, commit)
}

// servePreview answers /-/preview/COMMIT/PATH (see above).
func (s *Server) servePreview(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, previewPrefix)
	prefix, path, _ := strings.Cut(rest, "/")
	commit, err := s.repo.Resolve(r.Context(), prefix)
	if err != nil {
		return err
	}
	sr := s.previews.get(commit)
	if sr == nil {
		rel := s.releases.held(commit)
		if rel == nil {
			if rel, err = s.releases.build(r.Context(), commit, 0); err != nil {
				return fmt.Errorf("%w: commit %s does not build: %v", errBadRequest, commit.Short(), err)
			}
		}
		sr = &servedRelease{rel: rel, commitHeader: []string{string(rel.commit)}, resolver: s.classResolver(rel)}
		s.previews.put(sr)
	}
	// The answer is the app's, not the platform's.
	w.Header().Del(api.MarkerHeader)
	app := r.Clone(r.Context())
	app.URL.Path, app.URL.RawPath = "/"+path, ""
	app.RequestURI = app.URL.RequestURI()
	s.serveRelease(w, forApp(app), sr)
	return nil
}
