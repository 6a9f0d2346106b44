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

// renderWithToken runs app.star's page(), with render and the standard library, on a
// thread bound to the CSRF token if not "".
func renderWithToken(t *testing.T, files map[string]string, token string) (string, error) {
	t.Helper()
	r := render.New(render.Options{})
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
	v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), nil, nil, runtime.CallOptions{
		Now: time.Now(),
		Bind: func(th *starlark.Thread) {
			if token != "" {
				render.SetCSRFToken(th, token)
			}
		},
	})
	if err != nil {
		return "", err
	}
	return string(v.(starlark.String)), nil
}

func TestRender_CSRFFieldIsTheRequestsToken(t *testing.T) {
	files := map[string]string{
		"app.star":            "def page():\n    return render(\"templates/form.html\", items = [1])\n",
		"templates/form.html": `<form method="post">{{.csrf_field}}{{range .items}}{{$.csrf_field}}{{end}}</form>{{.csrf_token}}`,
	}
	got, err := renderWithToken(t, files, `tok"<en`)
	field := `<input type="hidden" name="csrf_token" value="tok&#34;&lt;en">`
	if want := `<form method="post">` + field + field + `</form>tok&#34;&lt;en`; err != nil || got != want {
		t.Errorf("with a token: render = %q, %v\nwant %q", got, err, want)
	}
	got, err = renderWithToken(t, files, "")
	if want := `<form method="post"></form>`; err != nil || got != want {
		t.Errorf("without a token: render = %q, %v, want %q", got, err, want)
	}
	files["app.star"] = "def page():\n    return render(\"templates/form.html\", csrf_token = \"mine\")\n"
	if _, err := renderWithToken(t, files, "tok"); err == nil || !strings.Contains(err.Error(), "csrf_token is the request's own") {
		t.Errorf("render(csrf_token = ...) = %v, want it refused", err)
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
		_, err := renderWithToken(t, files, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: render = %v, want an error containing %q", tmpl, err, want)
		}
	}
	if _, problems := render.Parse(map[string][]byte{"templates/t.html": []byte(`{{url_nope 1}}{{url_path 1}}`)}); len(problems) != 1 ||
		!strings.Contains(problems[0].Error(), `function "url_nope" not defined`) {
		t.Errorf("Parse of an unknown function = %v, want it refused (and the helpers known)", problems)
	}
}
