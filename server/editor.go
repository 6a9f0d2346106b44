package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/ui"
)

// Editor returns the handler of the editor's own origin (serve --editor-addr, a listener of
// its own): the editor's files under /-/ui/, the API under /-/api/ for the sessions of that
// origin (auth.EditorOrigin), /-/health and /-/status; / leads to the editor, and every
// other path is 404. It never runs or serves stored code (no app, no static files, no
// previews), so no page a developer wrote can run script on this origin, and an admin's
// session here may act as an admin. Sessions of the app's origin (ServeHTTP) are not
// accepted here, nor these there. Every answer carries the security headers and the
// platform's marker, and the access log samples its requests, as on the app's origin.
func (s *Server) Editor() http.Handler { return s.editor }

// editorHandler builds the handler Editor returns, with g the guard of the editor's origin.
func (s *Server) editorHandler(g *guard) http.Handler {
	apiHandler := s.apiHandler(g)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, logged := s.sampleAccess(w)
		if logged != nil {
			defer s.logAccess(logged, r, time.Now())
		}
		w = withSecurityHeaders(w, r)
		limitBody(w, r, s.cfg.BodyTimeout)
		w.Header().Set(api.MarkerHeader, api.MarkerValue)
		switch p := r.URL.Path; {
		case p == "/-/health":
			s.serveHealth(w, r)
		case p == "/-/status":
			s.serveStatus(w, r)
		case strings.HasPrefix(p, "/-/api/"):
			apiHandler.ServeHTTP(w, r)
		case p == "/-/ui" || strings.HasPrefix(p, "/-/ui/"):
			ui.ServeHTTP(w, r)
		case p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, ui.Prefix, http.StatusFound)
		default:
			http.Error(w, "This is the origin of the Starbase editor: it serves the editor at /-/ui/ and the API under /-/api/, never the application, which the node serves on its --addr.", http.StatusNotFound)
		}
	})
}
