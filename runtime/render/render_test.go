package render_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/decimal"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/traceback"
)

func snapshot(files map[string]string) *runtime.Snapshot {
	snap := memtree.Text(files)
	snap.Commit = "c0ffee0123456789"
	return snap
}

// callPage runs app.star's page() with render predeclared and returns its result.
func callPage(t *testing.T, r *render.Renderer, files map[string]string) (string, error) {
	t.Helper()
	return callPageWith(t, r, files, runtime.Limits{})
}

// callPageWith is callPage on a loader with limits, calling page(args...).
func callPageWith(t *testing.T, r *render.Renderer, files map[string]string, limits runtime.Limits, args ...starlark.Value) (string, error) {
	t.Helper()
	predeclared := r.Predeclared()
	predeclared["decimal"] = decimal.Builtin
	l, err := runtime.New(runtime.Options{Predeclared: predeclared, Limits: limits, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	snap := snapshot(files)
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		return "", err
	}
	v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), args, nil, runtime.CallOptions{})
	if err != nil {
		return "", err
	}
	return string(v.(starlark.String)), nil
}

func TestRender_PassesDataAndEscapesIt(t *testing.T) {
	got, err := callPage(t, render.New(render.Options{}), map[string]string{
		"app.star": `def page():
    return render("templates/list.html", title = "<Items>", items = [1, 2.5, "x&y", None],
                  user = struct(name = "ann"), meta = {"n": 2}, big = 1 << 70, price = decimal("12.50"))
`,
		"templates/base.html": `{{define "row"}}<li>{{.}}</li>{{end}}`,
		"templates/list.html": `<h1>{{.title}}</h1>{{range .items}}{{template "row" .}}{{end}}{{.user.name}} {{.meta.n}} {{.big}} {{.price}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `<h1>&lt;Items&gt;</h1><li>1</li><li>2.5</li><li>x&amp;y</li><li></li>ann 2 1180591620717411303424 12.50`
	if got != want {
		t.Errorf("render = %q, want %q", got, want)
	}
}

func TestRender_ErrorsAreLocated(t *testing.T) {
	cases := []struct {
		name, app, template, want string
	}{
		{"missing template", `render("templates/nope.html")`, "x", `render: no template file "templates/nope.html" in the tree of commit c0ffee012345`},
		{"execution error", `render("templates/t.html", n = 1)`, "a\n  {{.n.x}}", `templates/t.html:2:7: executing "templates/t.html" at <.n.x>: can't evaluate field x`},
		{"unconvertible data", `render("templates/t.html", f = len)`, "x", `render: argument f: a builtin_function_or_method cannot be passed to a template`},
		{"escaping error", `render("templates/t.html", u = "x")`, `{{if .u}}<a href="{{else}}<b>{{end}}`, `templates/t.html:1:6: {{if}} branches end in different contexts`},
		{"ending in an attribute", `render("templates/t.html", u = "x")`, "<p>\n<a href=\"{{.u}}", `templates/t.html:2:1: the template ends inside a quoted attribute value`},
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

func TestParse_RefusesWhatWouldFailOrMislead(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"binary file", map[string]string{"templates/logo.png": "\x89PNG\r\n\x1a\n\x00\x00"},
			[]string{"templates/logo.png: templates/logo.png is not a text file (it is not UTF-8 or has a NUL byte): every file under templates/ is a template; put images, fonts and other binary files under static/"}},
		{"invalid UTF-8", map[string]string{"templates/a.html": "caf\xe9"},
			[]string{"templates/a.html: templates/a.html is not a text file"}},
		{"ends in an attribute", map[string]string{"templates/a.html": "<p>x</p>\n<a href=\"{{.path}}"},
			[]string{"templates/a.html:2:1: the template ends inside a quoted attribute value, opened at or after this point"}},
		{"ends in a tag", map[string]string{"templates/a.html": "<div class=\"x\""},
			[]string{"templates/a.html:1:1: the template ends inside a tag"}},
		{"ends in a script", map[string]string{"templates/a.html": "<script>var x = 1;"},
			[]string{"templates/a.html:1:1: the template ends inside a <script> element"}},
		{"branches end apart", map[string]string{"templates/a.html": "x\n{{if .u}}<a href=\"{{else}}<b>{{end}}"},
			[]string{"templates/a.html:2:6: {{if}} branches end in different contexts"}},
		{"escaping error in a called template", map[string]string{
			"templates/a.html": `{{template "templates/b.html" .}}`,
			"templates/b.html": "{{if .u}}<a href=\"{{else}}<b>{{end}}</a>",
		}, []string{"templates/b.html:1:6: {{if}} branches end in different contexts"}},
		{"a file calling one that failed to escape before it", map[string]string{
			// Escaped in path order: a.html fails first, and html/template then panicked
			// escaping b.html (found by FuzzParse).
			"templates/a.html": "{{if .u}}<a href=\"{{else}}<b>{{end}}",
			"templates/b.html": `{{template "templates/a.html" .}}`,
		}, []string{"templates/a.html:1:6: {{if}} branches end in different contexts"}},
		{"a page's define given in two files", map[string]string{
			"templates/layout.html": `<main>{{template "content" .}}</main>`,
			"templates/a.html":      `{{define "content"}}A{{end}}{{template "templates/layout.html" .}}`,
			"templates/b.html":      "\n  {{define \"content\"}}B{{end}}{{template \"templates/layout.html\" .}}",
		}, []string{`templates/b.html:2:3: template "content" is already defined in templates/a.html: the templates of a tree form one set`}},
		{"a block redefined", map[string]string{
			"templates/z.html": `<main>{{block "content" .}}default{{end}}</main>`,
			"templates/a.html": `{{define "content"}}A{{end}}{{template "templates/z.html" .}}`,
		}, []string{`templates/z.html:1:7: template "content" is already defined in templates/a.html`}},
		{"a define named as a file", map[string]string{
			"templates/a.html": `{{define "templates/b.html"}}A{{end}}`,
			"templates/b.html": `B`,
		}, []string{`templates/b.html:1:1: template "templates/b.html" is already defined in templates/a.html`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for p, src := range tc.files {
				files[p] = []byte(src)
			}
			set, problems := render.Parse(files)
			if set != nil {
				t.Errorf("Parse returned a set along with problems %v", problems)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n  %s\nwant %d starting with:\n  %s", strings.Join(got, "\n  "), len(tc.want), strings.Join(tc.want, "\n  "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParse_LayoutsShareTheirPartsByPath(t *testing.T) {
	files := map[string]string{
		"app.star":              "def page(name):\n    return render(name, title = \"T\")\n",
		"templates/header.html": `<header>{{.title}}</header><main>`,
		"templates/footer.html": `</main><footer>{{block "credits" .}}by us{{end}}</footer>`,
		"templates/a.html":      `{{template "templates/header.html" .}}A{{template "templates/footer.html" .}}`,
		"templates/b.html":      `{{template "templates/header.html" .}}B{{template "templates/footer.html" .}}`,
	}
	for page, want := range map[string]string{
		"templates/a.html": "<header>T</header><main>A</main><footer>by us</footer>",
		"templates/b.html": "<header>T</header><main>B</main><footer>by us</footer>",
	} {
		r := render.New(render.Options{})
		l, err := runtime.New(runtime.Options{Predeclared: r.Predeclared(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		snap := snapshot(files)
		globals, err := l.Load(context.Background(), snap, "app.star")
		if err != nil {
			t.Fatal(err)
		}
		v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), starlark.Tuple{starlark.String(page)}, nil, runtime.CallOptions{})
		l.Close()
		if err != nil || string(v.(starlark.String)) != want {
			t.Errorf("render(%q) = %v, %v, want %q", page, v, err, want)
		}
	}
}

// A render starts with the room of the file's last output (TestRender_StartsWithTheRoomOfTheLastOutput):
// renders of one file whose outputs shrink and grow in turn are each whole, and a render
// whose limit is below the last output's size is still refused over its own limit.
func TestRender_AlternatingSizesAreWholeAndBounded(t *testing.T) {
	r := render.New(render.Options{})
	files := map[string]string{
		"app.star":         "def page(n):\n    return render(\"templates/t.html\", items = range(n))\n",
		"templates/t.html": "{{range .items}}<p>{{.}}</p>{{end}}",
	}
	run := func(limits runtime.Limits, n int) (string, error) {
		return callPageWith(t, r, files, limits, starlark.MakeInt(n))
	}
	want := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "<p>%d</p>", i)
		}
		return b.String()
	}
	for _, n := range []int{3000, 2, 3000, 0, 50} {
		got, err := run(runtime.Limits{}, n)
		if err != nil || got != want(n) {
			t.Fatalf("page(%d) = %d bytes, %v; want %d bytes", n, len(got), err, len(want(n)))
		}
	}
	if _, err := run(runtime.Limits{}, 3000); err != nil {
		t.Fatal(err)
	}
	// 3000 rows are about 30 KB: over a limit of 10 KB for one operation.
	if got, err := run(runtime.Limits{MaxAllocBytes: 10 << 10}, 3000); !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Errorf("page(3000) within 10 KiB per operation, after a page of 30 KB: %d bytes, error %v; want ErrMemoryLimit", len(got), err)
	}
}
