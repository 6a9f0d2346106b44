package server

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/starbase/starbase/runtime/render"
)

// An app's own error pages: a template templates/errors/STATUS.html (404.html, 500.html...)
// in its tree is what the node answers, as HTML, for that status when the platform answers
// it for the app: a path no route matches (404, when app.star has no handle(req), which
// otherwise takes those paths), a wrong method (405), abort(status, message), and a failure
// of stored code (500, or 503 and 409 when the store or the data is at fault; in dev mode
// the traceback page is shown instead). The template gets status, message, path and, for a
// failure, error_id. A client that asks for JSON first (Accept) gets the platform's JSON
// answer instead. A page that fails to render is logged, and the platform's own answer is
// sent.

// errorPagePath is the tree path of the app's page for status.
func errorPagePath(status int) string { return fmt.Sprintf("%serrors/%d.html", render.Dir, status) }

// pageFunc writes the app's own page for an error status with data added to the template's
// status and path, and reports whether it did (the app has one, and the client does not ask
// for JSON first).
type pageFunc func(status int, data map[string]any) bool

// appPages returns the pageFunc of the request r served by rel.
func (s *Server) appPages(w http.ResponseWriter, r *http.Request, rel *release) pageFunc {
	return func(status int, data map[string]any) bool {
		p := errorPagePath(status)
		if _, ok := rel.snap.Tree[p]; !ok || errorFormat(r) == "json" {
			return false
		}
		data["status"], data["path"] = status, r.URL.Path
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.Limits.Timeout)
		defer cancel()
		html, err := s.builder.Renderer.Render(ctx, rel.snap, p, data)
		if err != nil {
			s.log.Warn("the app's error page failed to render; the platform's answer was sent", "page", p, "commit", rel.commit, "err", err)
			return false
		}
		h := w.Header()
		h["Content-Type"] = htmlContentType
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		io.WriteString(w, html)
		return true
	}
}
