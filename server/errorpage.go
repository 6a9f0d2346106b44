package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/traceback"
)

// sourceReadTimeout bounds reading the source lines of a traceback: the request may be
// over, but its error deserves its source.
const sourceReadTimeout = 2 * time.Second

// fail answers a request whose stored code failed, with 500, or 503 or 409 when the store
// or the data, not the code, is at fault (appStatus). The log always gets the whole
// traceback as one structured record, under a new error id and with the request id. The
// client gets the error id and, only in dev mode, the traceback: as JSON when it accepts
// application/json, as an HTML page whose frames link to the editor when it accepts
// text/html, as text otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, rel *release, reqID string, err error) {
	if r.Context().Err() != nil && errors.Is(err, runtime.ErrCanceled) {
		// The client went away: nobody reads an answer, and nothing in the code failed.
		s.log.Info("request canceled by the client", "request_id", reqID, "commit", rel.commit, "path", r.URL.Path)
		return
	}
	status := appStatus(err)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), sourceReadTimeout)
	defer cancel()
	tb := traceback.New(ctx, err, rel.snap)
	errID := newErrorID()
	s.log.LogAttrs(ctx, slog.LevelError, "app error",
		slog.String("error_id", errID), slog.String("request_id", reqID),
		slog.String("commit", string(rel.commit)), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.String("error", tb.Message),
		slog.String("traceback", tb.String()), slog.Any("frames", tb.Frames))
	s.errors.add(appErrorOf(tb, errID, reqID, s.cfg.Node, string(rel.commit), r.Method, r.URL.Path, status))

	h := w.Header()
	h.Set("Cache-Control", "no-store")
	format := errorFormat(r)
	if !s.cfg.Dev {
		if s.appPages(w, r, rel)(status, map[string]any{"message": http.StatusText(status), "error_id": errID}) {
			return
		}
		if format == "json" {
			writeJSON(w, status, appError{Error: "internal error", ErrorID: errID})
			return
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "Internal error (error id %s)\n", errID)
		return
	}
	switch format {
	case "json":
		frames := tb.Frames
		if frames == nil {
			frames = []traceback.Frame{}
		}
		writeJSON(w, status, appError{Error: tb.Message, ErrorID: errID, Frames: frames})
	case "html":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", errorPageCSP)
		w.WriteHeader(status)
		errorPage.Execute(w, newErrorPageData(tb, rel, errID))
	default:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "Internal error in stored code (commit %s, error id %s)\n\n%s\n", rel.commit.Short(), errID, tb)
	}
}

// appError is the JSON answer of a failed app request.
type appError struct {
	Error   string            `json:"error"`
	ErrorID string            `json:"error_id"`
	Frames  []traceback.Frame `json:"frames,omitempty"` // dev mode only
}

// errorFormat picks "json", "html" or "text" from r's Accept header: the first of
// application/json and text/html it lists (with a non-zero q), else text.
func errorFormat(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		switch mt {
		case "application/json":
			return "json"
		case "text/html":
			return "html"
		}
	}
	return "text"
}

// errorPageData is what the dev error page shows.
type errorPageData struct {
	Message string
	Commit  string
	ErrorID string
	Frames  []errorPageFrame
}

type errorPageFrame struct {
	Location string
	Function string
	Link     string // the frame's file and line in the web editor
	Source   string
	Caret    string
}

func newErrorPageData(tb *traceback.Traceback, rel *release, errID string) errorPageData {
	d := errorPageData{Message: tb.Message, Commit: rel.commit.Short(), ErrorID: errID}
	for _, fr := range tb.Frames {
		src, caret := fr.SourceAndCaret()
		d.Frames = append(d.Frames, errorPageFrame{
			Location: fr.Location(), Function: fr.Function, Link: editorLink(fr.Path, fr.Line, fr.Commit),
			Source: src, Caret: caret,
		})
	}
	return d
}

// editorLink returns the web editor's URL of line of the file at path as of commit:
// /-/ui/#/edit/PATH?line=N&commit=C.
func editorLink(path string, line int, commit string) string {
	var query []string
	if line > 0 {
		query = append(query, "line="+strconv.Itoa(line))
	}
	if commit != "" {
		query = append(query, "commit="+url.QueryEscape(commit))
	}
	link := "/-/ui/#/edit/" + (&url.URL{Path: path}).EscapedPath()
	if len(query) > 0 {
		link += "?" + strings.Join(query, "&")
	}
	return link
}

const errorPageStyle = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}` +
	`h1{font-size:1.3em;color:#a00}pre{background:#f6f6f6;padding:.5em 1em;margin:.2em 0 1em;overflow-x:auto}` +
	`.frame a{font-family:ui-monospace,monospace}.fn{color:#555}.meta{color:#777}`

// errorPageCSP lets the page use its own style sheet and nothing else.
var errorPageCSP = func() string {
	sum := sha256.Sum256([]byte(errorPageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// errorPage is the dev-mode 500 page. html/template escapes everything stored code controls.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Error: {{.Message}}</title>
<style>` + errorPageStyle + `</style></head>
<body>
<h1>{{.Message}}</h1>
<p class="meta">Commit {{.Commit}} &middot; error id {{.ErrorID}}</p>
{{if .Frames}}<h2>Traceback (most recent call last)</h2>
{{range .Frames}}<div class="frame"><a href="{{.Link}}">{{.Location}}</a>{{if .Function}} <span class="fn">in {{.Function}}</span>{{end}}
{{if .Source}}<pre>{{.Source}}{{if .Caret}}
{{.Caret}}{{end}}</pre>{{end}}</div>
{{end}}{{end}}</body></html>
`))
