package render_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/traceback"
)

type blobs map[code.ID][]byte

func (b blobs) Blob(_ context.Context, id code.ID) ([]byte, error) {
	if c, ok := b[id]; ok {
		return c, nil
	}
	return nil, code.ErrNotFound
}

func snapshot(files map[string]string) *runtime.Snapshot {
	snap := &runtime.Snapshot{Commit: "c0ffee0123456789", Tree: code.Tree{}}
	bs := blobs{}
	for p, src := range files {
		id := code.HashBlob([]byte(src))
		snap.Tree[p] = id
		bs[id] = []byte(src)
	}
	snap.Blobs = bs
	return snap
}

// callPage runs app.star's page() with render predeclared and returns its result.
func callPage(t *testing.T, r *render.Renderer, files map[string]string) (string, error) {
	t.Helper()
	l, err := runtime.New(runtime.Options{Predeclared: r.Predeclared(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	snap := snapshot(files)
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		return "", err
	}
	v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), nil, nil, nil)
	if err != nil {
		return "", err
	}
	return string(v.(starlark.String)), nil
}

func TestRender_PassesDataAndEscapesIt(t *testing.T) {
	got, err := callPage(t, render.New(render.Options{}), map[string]string{
		"app.star": `def page():
    return render("templates/list.html", title = "<Items>", items = [1, 2.5, "x&y", None],
                  user = struct(name = "ann"), meta = {"n": 2}, big = 1 << 70)
`,
		"templates/base.html": `{{define "row"}}<li>{{.}}</li>{{end}}`,
		"templates/list.html": `<h1>{{.title}}</h1>{{range .items}}{{template "row" .}}{{end}}{{.user.name}} {{.meta.n}} {{.big}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `<h1>&lt;Items&gt;</h1><li>1</li><li>2.5</li><li>x&amp;y</li><li></li>ann 2 1180591620717411303424`
	if got != want {
		t.Errorf("render = %q, want %q", got, want)
	}
}

func TestRender_ErrorsAreLocated(t *testing.T) {
	cases := []struct {
		name, app, template, want string
	}{
		{"missing template", `render("templates/nope.html")`, "x", `render: no template "templates/nope.html" in the tree of commit c0ffee012345`},
		{"execution error", `render("templates/t.html", n = 1)`, "a\n  {{.n.x}}", `templates/t.html:2:7: executing "templates/t.html" at <.n.x>: can't evaluate field x`},
		{"unconvertible data", `render("templates/t.html", f = len)`, "x", `render: argument f: a builtin_function_or_method cannot be passed to a template`},
		{"escaping error", `render("templates/t.html", u = "x")`, `{{if .u}}<a href="{{else}}<b>{{end}}`, `templates/t.html:1:6: {{if}} branches end in different contexts`},
		{"unlocated escaping error", `render("templates/t.html", u = "x")`, `<a href="{{.u}}`, `templates/t.html: ends in a non-text context`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := callPage(t, render.New(render.Options{}), map[string]string{
				"app.star":         "def page():\n    return " + tc.app + "\n",
				"templates/t.html": tc.template,
			})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("render error = %v, want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestRender_OutputIsBounded(t *testing.T) {
	_, err := callPage(t, render.New(render.Options{MaxOutput: 100}), map[string]string{
		"app.star":             "def page():\n    return render(\"templates/t.html\", items = range(1000))\n",
		"templates/t.html":     "{{range .items}}<p>{{.}}</p>{{end}}",
		"templates/unused.txt": "{{.}}",
	})
	if !errors.Is(err, render.ErrOutputTooLarge) {
		t.Errorf("render = %v, want ErrOutputTooLarge", err)
	}
}

func TestRender_RefusedAtModuleTopLevel(t *testing.T) {
	_, err := callPage(t, render.New(render.Options{}), map[string]string{
		"app.star":         "HTML = render(\"templates/t.html\")\n",
		"templates/t.html": "x",
	})
	if err == nil || !strings.Contains(err.Error(), "only while handling a request") {
		t.Errorf("render at top level = %v, want a refusal", err)
	}
}

func TestParse_ReportsEveryTemplateProblem(t *testing.T) {
	files := map[string][]byte{
		"templates/a.html": []byte("ok {{.}}\n<p>{{.x}} {{if}}</p>"),
		"templates/b.txt":  []byte("{{template \"missing\"}}"),
		"page.html":        []byte("<p>\n\t{{end}}\n"),
		"app.star":         []byte("{{ not a template }}"),
	}
	_, problems := render.Parse(files)
	var got []string
	for _, p := range problems {
		got = append(got, p.Error())
	}
	want := []string{
		"page.html:2:2: unexpected {{end}}",
		"templates/a.html:2:11: missing value for if",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	delete(files, "page.html")
	files["templates/a.html"] = []byte("fine")
	_, problems = render.Parse(files)
	var se *traceback.SourceError
	if len(problems) != 1 || !errors.As(problems[0], &se) || se.Error() != `templates/b.txt:1:12: no template named "missing": templates are named by their path, such as "templates/a.html", or by {{define}}` {
		t.Errorf("problems = %v, want the missing template named at templates/b.txt:1:12", problems)
	}
}
