package render

import (
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"text/template/parse"
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
// a Renderer without the hook, fails there: "CSRF tokens are not available here"). The
// token is asked for once per render, only when a template uses it.
//
// The functions of a parsed set are shared by every execution of it, and a template
// function cannot see the execution that calls it; so a set whose templates call
// csrf_token or csrf_field is not executed itself: each render takes a copy of it whose
// two functions read the render's output (csrfCopy), used by one render at a time and
// kept for the next ones. The token is therefore an ordinary value of the execution:
// html/template escapes it for the context it is written in (an attribute, a URL, a
// script), and whatever a template does with it ({{slice csrf_token 4}},
// {{printf "%x" csrf_token}}) is done with the request's own token. Nothing is replaced
// in the output afterwards, so no data, whatever it holds, can become another user's
// token (TestRender_CSRFTokenIsAValueOfItsRenderInEveryContext).

// CSRFFormField is the name of the form field csrf_field renders: the field a server that
// checks CSRF tokens reads from a form.
const CSRFFormField = "csrf_token"

// maxLayout bounds the layout of date: a formatted time is at most a few times its layout.
const maxLayout = 256

// errNoCSRF is the error of csrf_token and csrf_field where no request's token is known.
var errNoCSRF = errors.New("csrf_token and csrf_field: CSRF tokens are not available here (only in a render() of a request)")

// csrfToken returns the token of o's request, asking Options.CSRFToken once.
func (o *output) csrfToken() (string, error) {
	if !o.csrfAsked {
		o.csrfAsked = true
		if o.csrfHook == nil || o.thread == nil {
			o.csrfErr = errNoCSRF
		} else if o.csrf, o.csrfErr = o.csrfHook(o.thread); o.csrfErr != nil {
			o.csrfErr = fmt.Errorf("csrf_token: %w", o.csrfErr)
		}
	}
	return o.csrf, o.csrfErr
}

// csrfField returns the hidden input of the token of o's request.
func (o *output) csrfField() (template.HTML, error) {
	token, err := o.csrfToken()
	if err != nil {
		return "", err
	}
	return template.HTML(`<input type="hidden" name="` + CSRFFormField + `" value="` + template.HTMLEscapeString(token) + `">`), nil
}

// csrfCopy is a copy of a parsed set whose csrf_token and csrf_field give the token of
// out, the render executing it (see above). A copy is used by one render at a time: out
// is set by the render that took the copy, before it executes, and read on its goroutine.
type csrfCopy struct {
	set *template.Template
	out *output
}

// maxIdleCopies bounds the copies of a set kept between renders: as many as renders of
// it ran at once, up to this many.
const maxIdleCopies = 16

// newCSRFCopy clones pristine, a set that was never executed (html/template clones only
// those), with the CSRF functions of the copy. The copy escapes each of its templates
// when first executed.
func newCSRFCopy(pristine *template.Template) (*csrfCopy, error) {
	set, err := pristine.Clone()
	if err != nil {
		return nil, fmt.Errorf("render: copying the templates: %w", err)
	}
	c := &csrfCopy{set: set}
	set.Funcs(template.FuncMap{
		"csrf_token": func() (string, error) { return c.out.csrfToken() },
		"csrf_field": func() (template.HTML, error) { return c.out.csrfField() },
	})
	return c, nil
}

// callsCSRF reports whether a template of set calls csrf_token or csrf_field.
func callsCSRF(set *template.Template) bool {
	calls := false
	for _, t := range set.Templates() {
		if t.Tree == nil {
			continue
		}
		walk(t.Tree.Root, func(n parse.Node) {
			if id, ok := n.(*parse.IdentifierNode); ok && (id.Ident == "csrf_token" || id.Ident == "csrf_field") {
				calls = true
			}
		})
	}
	return calls
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
		// Only renders of a csrfCopy call these; its own replace them.
		"csrf_token": func() (string, error) { return "", errNoCSRF },
		"csrf_field": func() (template.HTML, error) { return "", errNoCSRF },
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
