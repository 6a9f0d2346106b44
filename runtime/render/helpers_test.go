package render_test

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/stdlib"
)

// renderWithToken runs app.star's page(), with render and the standard library, with
// token as every request's CSRF token (none if ""); calls counts the hook's calls.
func renderWithToken(t *testing.T, files map[string]string, token string) (html string, calls int, err error) {
	t.Helper()
	opts := render.Options{}
	if token != "" {
		opts.CSRFToken = func(th *starlark.Thread) (string, error) {
			if th == nil {
				t.Error("the CSRF hook was called without the request's thread")
			}
			calls++
			return token, nil
		}
	}
	r := render.New(opts)
	names := stdlib.Predeclared()
	maps.Copy(names, r.Predeclared())
	l, err := runtime.New(runtime.Options{Predeclared: names, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snap := snapshot(files)
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), nil, nil, runtime.CallOptions{Now: time.Now()})
	if err != nil {
		return "", calls, err
	}
	return string(v.(starlark.String)), calls, nil
}

func TestRender_CSRFFieldIsTheRequestsToken(t *testing.T) {
	files := map[string]string{
		"app.star":            "def page():\n    return render(\"templates/form.html\", items = [1, 2])\n",
		"templates/form.html": `<form method="post">{{csrf_field}}{{range .items}}<a href="/x?t={{csrf_token}}">{{csrf_token}}</a>{{end}}</form>`,
		"templates/none.html": `<p>no form</p>`,
	}
	got, calls, err := renderWithToken(t, files, "tok-en_1+/=")
	field := `<input type="hidden" name="csrf_token" value="tok-en_1+/=">`
	link := `<a href="/x?t=tok-en_1+/=">tok-en_1+/=</a>`
	if want := `<form method="post">` + field + link + link + `</form>`; err != nil || got != want || calls != 1 {
		t.Errorf("with a token: render = %q, %v, %d calls of the hook\nwant %q and one call", got, err, calls, want)
	}

	files["app.star"] = "def page():\n    return render(\"templates/none.html\")\n"
	if _, calls, err := renderWithToken(t, files, "tok"); err != nil || calls != 0 {
		t.Errorf("a page without a form: %v, %d calls of the hook, want none (the token is asked for only when used)", err, calls)
	}

	files["app.star"] = "def page():\n    return render(\"templates/form.html\", items = [])\n"
	if _, _, err := renderWithToken(t, files, ""); err == nil || !strings.Contains(err.Error(), "CSRF tokens are not available here") ||
		!strings.Contains(err.Error(), "(rendering templates/form.html)") {
		t.Errorf("without the hook: %v, want an error naming the template, saying tokens are not available", err)
	}
	if _, _, err := renderWithToken(t, files, `a"b`); err == nil || !strings.Contains(err.Error(), "want only the characters of base64") {
		t.Errorf("a token needing escaping: %v, want it refused", err)
	}
}

func TestRender_HelpersRefuseWhatTheyCannotUse(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{url_query "/s" "q"}}`: "url_query: 1 arguments after the base URL, want key and value pairs",
		`{{date .n}}`:            "date: got int64, want a time",
		`{{date .t "a" "b"}}`:    "date: 2 layouts, want at most one",
		`{{date .t "` + strings.Repeat("2", 300) + `"}}`: "date: a layout of 300 bytes, over the limit of 256",
	} {
		files := map[string]string{
			"app.star":         "def page():\n    return render(\"templates/t.html\", n = 1, t = time.time(year = 2000))\n",
			"templates/t.html": tmpl,
		}
		_, _, err := renderWithToken(t, files, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: render = %v, want an error containing %q", tmpl, err, want)
		}
	}
	if _, problems := render.Parse(map[string][]byte{"templates/t.html": []byte(`{{url_nope 1}}{{url_path 1}}`)}); len(problems) != 1 ||
		!strings.Contains(problems[0].Error(), `function "url_nope" not defined`) {
		t.Errorf("Parse of an unknown function = %v, want it refused (and the helpers known)", problems)
	}
}
