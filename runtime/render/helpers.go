package render

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// Helpers are the functions templates get besides text/template's own (see funcs, which
// bounds their results like the others):
//
//	{{url_path "items" .id "edit"}}         /items/7/edit: each argument one path segment,
//	                                        percent-encoded ("a/b" gives a%2Fb)
//	{{url_query "/search" "q" .q "page" 2}} /search?q=red+shoes&page=2: key and value pairs,
//	                                        in order, each encoded
//	{{date .created}}                       2026-12-04: a time of the time module
//	{{date .created "Jan 2, 2006 15:04"}}   in a Go layout (at most maxLayout bytes)
//	{{.csrf_field}}                         the hidden <input> of the request's CSRF token
//	{{.csrf_token}}                         the token itself
//
// A time of the time module reaches a template as a Go time.Time, so its methods work too
// ({{.created.Year}}, {{.created.Format "15:04"}}); a duration as a time.Duration.
//
// csrf_field and csrf_token are data, not functions: render() adds them to the data of
// every render, from the token the server binds to the request's thread (SetCSRFToken),
// or "" when the request has none (no session). Inside {{range}} or {{with}}, where the dot
// moves, write {{$.csrf_field}}; pass the dot to included templates.

// Names of the CSRF data render() adds; a handler cannot pass data of these names.
const (
	csrfTokenData = "csrf_token"
	csrfFieldData = "csrf_field"
)

// CSRFFormField is the name of the form field csrf_field renders: the field a server that
// checks CSRF tokens reads from a form.
const CSRFFormField = "csrf_token"

// maxLayout bounds the layout of date: a formatted time is at most a few times its layout.
const maxLayout = 256

// csrfLocal is the thread local that holds the request's CSRF token.
const csrfLocal = "starbase.render.csrf_token"

// SetCSRFToken makes token the CSRF token of the request that thread runs: every render()
// of that request offers it to templates as csrf_token and csrf_field. The server calls it
// when it binds a request to a thread (runtime.CallOptions.Bind).
func SetCSRFToken(thread *starlark.Thread, token string) { thread.SetLocal(csrfLocal, token) }

// addCSRF adds the CSRF data of thread's request to data.
func addCSRF(thread *starlark.Thread, data map[string]any) {
	token, _ := thread.Local(csrfLocal).(string)
	data[csrfTokenData] = token
	data[csrfFieldData] = template.HTML("")
	if token != "" {
		data[csrfFieldData] = template.HTML(`<input type="hidden" name="` + CSRFFormField + `" value="` +
			template.HTMLEscapeString(token) + `">`)
	}
}

// helperFuncs returns the helpers, each refusing a result of more than maxOutput bytes.
func helperFuncs(maxOutput int) template.FuncMap {
	tooLarge := func(name string) error {
		return fmt.Errorf("%w: %s would produce more than the %d bytes a render may output (Options.MaxOutput)", ErrOutputTooLarge, name, maxOutput)
	}
	return template.FuncMap{
		"url_path": func(segments ...any) (string, error) {
			if 3*argsSize(segments, int64(maxOutput))+int64(len(segments)) > int64(maxOutput) {
				return "", tooLarge("url_path")
			}
			var b strings.Builder
			for _, s := range segments {
				b.WriteByte('/')
				b.WriteString(url.PathEscape(fmt.Sprint(s)))
			}
			if b.Len() == 0 {
				return "/", nil
			}
			return b.String(), nil
		},
		"url_query": func(base string, pairs ...any) (string, error) {
			if len(pairs)%2 != 0 {
				return "", fmt.Errorf("url_query: %d arguments after the base URL, want key and value pairs", len(pairs))
			}
			if int64(len(base))+3*argsSize(pairs, int64(maxOutput))+2*int64(len(pairs)) > int64(maxOutput) {
				return "", tooLarge("url_query")
			}
			q := make([]string, 0, len(pairs)/2)
			for i := 0; i < len(pairs); i += 2 {
				q = append(q, url.QueryEscape(fmt.Sprint(pairs[i]))+"="+url.QueryEscape(fmt.Sprint(pairs[i+1])))
			}
			if len(q) == 0 {
				return base, nil
			}
			sep := "?"
			if strings.Contains(base, "?") {
				sep = "&"
			}
			return base + sep + strings.Join(q, "&"), nil
		},
		"date": func(t any, layout ...string) (string, error) {
			tt, ok := t.(time.Time)
			if !ok {
				return "", fmt.Errorf("date: got %T, want a time (time.now(), time.time(...), time.parse_time(...))", t)
			}
			switch {
			case len(layout) > 1:
				return "", fmt.Errorf("date: %d layouts, want at most one", len(layout))
			case len(layout) == 0:
				return tt.Format(time.DateOnly), nil
			case len(layout[0]) > maxLayout:
				return "", fmt.Errorf("date: a layout of %d bytes, over the limit of %d", len(layout[0]), maxLayout)
			}
			return tt.Format(layout[0]), nil
		},
	}
}
