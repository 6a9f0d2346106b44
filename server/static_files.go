package server

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime/render"
)

// Static files: every file under static/ of the served commit's tree is served at
// /static/PATH, from the store (through the repository's blob cache), never from a disk:
//
//   - its ETag is the blob id, which names its content: it changes exactly when the
//     content does, so If-None-Match gets 304 Not Modified for as long as the file is
//     unchanged, whatever commit serves it;
//   - Cache-Control: no-cache: the URL names a path, not a content, so a cache must ask
//     again each time, and each time it is answered 304 (a few hundred bytes) until the
//     file changes. A file changed by a push is never served stale;
//   - its Content-Type comes from its extension (staticTypes, the same on every node
//     whatever its /etc/mime.types), else is sniffed from its first 512 bytes
//     (http.DetectContentType);
//   - HEAD, Range and If-Range, If-Match and the other conditions are net/http's
//     http.ServeContent, over a bytes.Reader of the blob.
//
// A path with no file under static/ is the app's, as any other: a route, handle(req) or
// 404. A method other than GET or HEAD on a file is 405 with Allow: GET, HEAD.

// staticRoute is the route of static files in metrics.
const staticRoute = "static"

// staticPrefix is the directory of static files in a tree, and their URL prefix. No file
// below it is a template (render.IsTemplate), so the gate passes any content there.
const staticPrefix = render.StaticDir

// staticTypes are the content types of the usual files of a web site, by extension.
var staticTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".html":  "text/html; charset=utf-8",
	".htm":   "text/html; charset=utf-8",
	".txt":   "text/plain; charset=utf-8",
	".csv":   "text/csv; charset=utf-8",
	".xml":   "application/xml",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".avif":  "image/avif",
	".ico":   "image/vnd.microsoft.icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
	".pdf":   "application/pdf",
	".wasm":  "application/wasm",
	".mp4":   "video/mp4",
	".webm":  "video/webm",
	".mp3":   "audio/mpeg",
	".ogg":   "audio/ogg",
	".wav":   "audio/wav",
	".zip":   "application/zip",
}

// staticFile returns the tree path and blob id of the static file r asks for, if rel's
// tree has one.
func staticFile(r *http.Request, rel *release) (string, code.ID, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+staticPrefix)
	if !ok || rest == "" {
		return "", "", false
	}
	p := staticPrefix + rest
	if code.ValidatePath(p) != nil {
		return "", "", false
	}
	id, ok := rel.snap.Tree[p]
	return p, id, ok
}

// serveStatic answers r if it asks for a static file of rel, and reports whether it did.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, rel *release) bool {
	p, id, ok := staticFile(r, rel)
	if !ok {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, fmt.Sprintf("%s is a static file: only GET and HEAD are allowed", r.URL.Path), http.StatusMethodNotAllowed)
		return true
	}
	b, err := rel.snap.Blobs.Blob(r.Context(), id)
	if err != nil {
		s.log.Warn("reading a static file failed", "path", p, "commit", rel.commit, "err", err)
		http.Error(w, fmt.Sprintf("reading %s failed: %v", p, err), statusOf(err))
		return true
	}
	h := w.Header()
	h.Set("ETag", `"`+string(id)+`"`)
	h.Set("Cache-Control", "no-cache")
	if ct, ok := staticTypes[strings.ToLower(path.Ext(p))]; ok {
		h.Set("Content-Type", ct)
	}
	// No name: ServeContent then sniffs a type it was not given, instead of asking the
	// node's mime.types.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	return true
}
