package render

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
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
//	{{csrf_field}}                          the hidden <input> of the request's CSRF token
//	{{csrf_token}}                          the token itself
//
// A time of the time module reaches a template as a Go time.Time, so its methods work too
// ({{.created.Year}}, {{.created.Format "15:04"}}); a duration as a time.Duration.
//
// csrf_field and csrf_token give the token of the request that called render(), from
// Options.CSRFToken, which is called with the request's thread (a render without one, or
// a Renderer without the hook, fails there: "CSRF tokens are not available here"). A
// template function cannot see the execution that calls it (the functions of a parsed set
// are shared by every render), so each returns a mark, a random word fixed for the process
// that html/template leaves unchanged in every context (letters and digits), and the
// render's output, which belongs to one execution, replaces it by the token when it is
// written (output.Write, fillCSRF). The token is asked for once per render, only when a
// template uses it, and must be made of the characters of base64 (it is written after
// html/template's escaping, so it must need none).

// CSRFFormField is the name of the form field csrf_field renders: the field a server that
// checks CSRF tokens reads from a form.
const CSRFFormField = "csrf_token"

// csrfMark is the prefix of the marks csrf_token (csrfMark+"t") and csrf_field
// (csrfMark+"f") return: random, so that no data can forge one.
var csrfMark = func() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "csrf" + hex.EncodeToString(b)
}()

// maxLayout bounds the layout of date: a formatted time is at most a few times its layout.
const maxLayout = 256

// fillCSRF returns p with the CSRF marks replaced by the token of o's request.
func (o *output) fillCSRF(p []byte) ([]byte, error) {
	if o.csrf == nil {
		if o.csrfToken == nil || o.thread == nil {
			return nil, errors.New("csrf_token and csrf_field: CSRF tokens are not available here (only in a render() of a request)")
		}
		token, err := o.csrfToken(o.thread)
		if err != nil {
			return nil, fmt.Errorf("csrf_token: %w", err)
		}
		for i := range len(token) {
			if c := token[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_+/=", c) >= 0) {
				return nil, fmt.Errorf("csrf_token: the token holds %q, want only the characters of base64", c)
			}
		}
		field := `<input type="hidden" name="` + CSRFFormField + `" value="` + token + `">`
		o.csrf = strings.NewReplacer(csrfMark+"t", token, csrfMark+"f", field)
	}
	return []byte(o.csrf.Replace(string(p))), nil
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
		"csrf_token": func() string { return csrfMark + "t" },
		"csrf_field": func() template.HTML { return template.HTML(csrfMark + "f") },
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
