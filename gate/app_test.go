package gate_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
)

// sandboxLoader returns a loader with the names a node's loader has (render, model, db).
func sandboxLoader(t *testing.T) *runtime.Loader {
	t.Helper()
	l, err := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler), Predeclared: sandbox.Predeclared()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

const handlers = "def a(req):\n    return \"ok\"\n\ndef two(x, y):\n    return x\n"

// TestCheck_RefusesWhatANodeCannotBuild: every example of issue 10 that a node could not
// serve, refused at the stored line, with no path of the machine that built Starbase.
func TestCheck_RefusesWhatANodeCannotBuild(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"route to an int", map[string]string{"app.star": "def a(req):\n    return \"ok\"\nroutes = {\"GET /a\": a, \"GET /b\": 1}\n"},
			[]string{`app.star:3:24: route "GET /b" must be a function of one parameter, the request (def index(req): ...), got int`}},
		{"invalid pattern", map[string]string{"app.star": handlers + "routes = {\n    \"BAD PATTERN WITH SPACES /a\": a,\n}\n"},
			[]string{`app.star:7:5: route "BAD PATTERN WITH SPACES /a": the path must start with "/"`}},
		{"invalid wildcard", map[string]string{"app.star": handlers + "routes = {\"GET /a/{x\": a}\n"},
			[]string{`app.star:6:11: route "GET /a/{x" is not a valid pattern: at offset 7: bad wildcard segment (must end with '}')`}},
		{"conflicting patterns", map[string]string{"app.star": handlers + "routes = {\n    \"GET /a/{x}\": a,\n    \"GET /a/{y}\": a,\n}\n"},
			[]string{`app.star:8:5: route "GET /a/{y}" conflicts with route "GET /a/{x}": GET /a/{y} matches the same requests as GET /a/{x}`}},
		{"handler of two parameters", map[string]string{"app.star": handlers + "routes = {\"GET /\": two}\n"},
			[]string{`app.star:6:11: route "GET /" must be a function of one parameter, the request: two (app.star:4:1) requires 2 (x, y)`}},
		{"handler of none", map[string]string{"app.star": "def none():\n    return 1\nroutes = {\"GET /\": none}\n"},
			[]string{`app.star:3:11: route "GET /" must be a function of one parameter, the request: none (app.star:1:1) takes none`}},
		{"platform path", map[string]string{"app.star": handlers + "routes = {\"GET /-/x\": a}\n"},
			[]string{`app.star:6:11: route "GET /-/x": paths under /-/ are reserved for the platform`}},
		{"handle not a function", map[string]string{"app.star": "handle = 3\n"},
			[]string{`app.star:1:1: handle must be a function of one parameter`}},
		{"routes not a dict", map[string]string{"app.star": "routes = [1]\n"},
			[]string{`app.star:1:1: routes must be a dict of pattern to function, got list`}},
		{"neither routes nor handle", map[string]string{"app.star": "x = 1\n"},
			[]string{`app.star: app.star defines neither routes nor handle`}},
		{"routes built in a loop", map[string]string{"app.star": handlers + "routes = {}\nfor p in [\"GET /a\", \"GET /b\"]:\n    routes[p] = 1\n"},
			[]string{`app.star:7:11: route "GET /a" must be a function`, `app.star:7:21: route "GET /b" must be a function`}},
		{"template ending in an attribute", map[string]string{
			"app.star": handlers + "routes = {\"GET /a\": a}\n", "templates/link.html": "<p>\n<a href=\"{{.path}}",
		}, []string{`templates/link.html:2:1: the template ends inside a quoted attribute value`}},
		{"a define given in two files", map[string]string{
			"app.star":              handlers + "routes = {\"GET /a\": a}\n",
			"templates/layout.html": `<main>{{block "content" .}}{{end}}</main>`,
			"templates/a.html":      `{{define "content"}}A{{end}}{{template "templates/layout.html" .}}`,
			"templates/b.html":      `{{define "content"}}B{{end}}{{template "templates/layout.html" .}}`,
		}, []string{
			`templates/b.html:1:1: template "content" is already defined in templates/a.html`,
			`templates/layout.html:1:7: template "content" is already defined in templates/a.html`,
		}},
		{"binary file under templates", map[string]string{
			"app.star": handlers + "routes = {\"GET /a\": a}\n", "templates/logo.png": "\x89PNG\r\n\x1a\n\x00",
		}, []string{`templates/logo.png: templates/logo.png is not a text file`}},
		{"model bound to another name", map[string]string{
			"app.star":       "load(\"lib/m.star\", \"Thing\")\n" + handlers + "routes = {\"GET /a\": a}\n",
			"lib/m.star":     "Thing = model(\"Counter\", fields = {\"n\": 0})\n",
			"lib/alias.star": "Counter = model(\"Counter\", fields = {\"n\": 0})\nAlias = Counter\n",
		}, []string{`lib/m.star:1:1: model "Counter" is bound to the global Thing: stored objects name their class lib/m.star:Counter`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(run(t, tc.files, gate.Options{Loader: sandboxLoader(t)}))
			if len(got) != len(tc.want) {
				t.Fatalf("problems:\n  %s\nwant %d starting with:\n  %s", strings.Join(got, "\n  "), len(tc.want), strings.Join(tc.want, "\n  "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], tc.want[i])
				}
				if strings.Contains(got[i], ".go:") || strings.Contains(got[i], "registered at") {
					t.Errorf("problem %d = %q names Go source", i, got[i])
				}
			}
		})
	}
}

func TestCheck_AcceptsHandlersOfOneParameterInAnyForm(t *testing.T) {
	files := map[string]string{"app.star": `
def plain(req):
    return "a"
def defaults(req, extra = 1):
    return "b"
def varargs(*args):
    return "c"
def optional(req = None, *, flag = False):
    return "d"
def handle(req, **kwargs):
    return "e"
routes = {"GET /a": plain, "GET /b": defaults, "GET /c": varargs, "GET /d": optional, "GET /e": len}
`}
	if got := problems(run(t, files, gate.Options{Loader: sandboxLoader(t)})); len(got) != 0 {
		t.Errorf("problems = %q, want none", got)
	}
}
