package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// The generated test of the gate's promise: it mutates a valid app (its routes, handle,
// templates and models) and, for each mutant, runs the gate as `starbase check` does (its
// own loader) and makes a node face the mutant past the gate. Whatever the gate accepts,
// the node must build and serve (every route answers 200); whatever the node cannot build,
// the gate must have refused.

const fuzzHandlers = `load("lib/m.star", "Counter")

def a(req):
    return "ok"

def opt(req, extra = 1, *, flag = False):
    return "ok"

def star(*args):
    return "ok"

def two(x, y):
    return "ok"

def none():
    return "ok"

def index(req):
    return render("templates/index.html", title = "T", items = [1, 2])

def count(req):
    return str(db.get(db.put(Counter(n = 1))).n)
`

const fuzzIndex = `<!doctype html>
<title>{{.title}}</title>
<ul>{{range .items}}<li>{{.}}</li>{{end}}</ul>
{{template "templates/part.html" .}}
`

const fuzzModel = `Counter = model("Counter", fields = {"n": 0}, indexes = ["n"])
`

var (
	fuzzPatterns = []string{"GET /{$}", "GET /a", "GET /a/{x}", "GET /a/{y}", "POST /a", "/b", "GET /c/{rest...}",
		"GET /d/{x}/{x}", "BAD PATTERN /a", "GET e", "GET /-/x", "GET /f/{$}x", "GET /g/{x}/h", "GET /g/{y}/h", "PUT /a/{x}"}
	fuzzValues   = []string{"a", "a", "a", "opt", "star", "two", "none", "1", "lambda req: \"ok\"", "None"}
	fuzzSnippets = []string{`<a href="{{.title}}`, `"`, `<div`, `</div>`, `{{if .title}}<b>{{end}}`,
		`{{if .title}}<a href="{{else}}<b>{{end}}`, `{{define "content"}}X{{end}}`, `{{template "content" .}}`,
		`{{template "nope"}}`, `<script>`, `</script>`, `<!--`, `-->`, `{{range .items}}{{.}}{{end}}`, `{{.title}}`,
		`{{`, `}}`, `{{end}}`, "\x00", "\xff", `<textarea>`, `{{block "b" .}}d{{end}}`, `<p title='{{.title}}'>`, `{{/* c */}}`}
	fuzzModels = []string{fuzzModel, `Thing = model("Counter", fields = {"n": 0})` + "\n",
		`Counter = model("Counter", fields = {"n": 0}, indexes = ["m"])` + "\n",
		`Counter = model("Counter", fields = {"n": 0}, version = 0)` + "\n",
		`Counter = model("Counter", fields = {"n": 0}, version = 2, migrate = lambda f, v: f)` + "\n",
		`Counter = model("Counter", fields = {"n": 0})` + "\nAlias = Counter\n"}
)

// mutant returns a variant of the valid app, made from r.
func mutant(r *rand.Rand) map[string]string {
	files := map[string]string{
		"templates/index.html": fuzzIndex,
		"templates/part.html":  "<footer>{{.title}}</footer>\n",
		"lib/m.star":           fuzzModel,
	}
	routes := map[string]string{"GET /{$}": "index", "GET /count": "count"}
	for range r.IntN(4) {
		routes[fuzzPatterns[r.IntN(len(fuzzPatterns))]] = fuzzValues[r.IntN(len(fuzzValues))]
	}
	var entries []string
	for p, v := range routes {
		entries = append(entries, fmt.Sprintf("    %q: %s,\n", p, v))
	}
	sort.Strings(entries)
	app := fuzzHandlers + "\nroutes = {\n" + strings.Join(entries, "") + "}\n"
	if r.IntN(4) == 0 {
		app += "handle = " + fuzzValues[r.IntN(len(fuzzValues))] + "\n"
	}
	files["app.star"] = app
	for range r.IntN(3) {
		name := []string{"templates/index.html", "templates/part.html", "templates/other.html"}[r.IntN(3)]
		src := files[name]
		at := r.IntN(len(src) + 1)
		files[name] = src[:at] + fuzzSnippets[r.IntN(len(fuzzSnippets))] + src[at:]
	}
	if r.IntN(3) == 0 {
		files["lib/m.star"] = fuzzModels[r.IntN(len(fuzzModels))]
	}
	return files
}

var wildcard = regexp.MustCompile(`\{([^{}]*)\}`)

// requestOf returns a request that pattern matches.
func requestOf(url, pattern string) *http.Request {
	method, path := "GET", pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		method, path = pattern[:i], pattern[i+1:]
	}
	path = wildcard.ReplaceAllStringFunc(path, func(w string) string {
		switch {
		case w == "{$}":
			return ""
		case strings.HasSuffix(w, "...}"):
			return "v/w"
		}
		return "v"
	})
	req, _ := http.NewRequest(method, url+path, nil)
	return req
}

func TestBuild_WhatTheGateAcceptsEveryNodeBuildsAndServes(t *testing.T) {
	iterations := 160
	if testing.Short() {
		iterations = 40
	}
	n := servertest.Start(t, server.Config{})
	checker, err := runtime.New(runtime.Options{Predeclared: sandbox.Predeclared(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer checker.Close()
	r := rand.New(rand.NewPCG(10, 2026))
	var accepted, refused, refusedByBoth int
	for i := range iterations {
		files := mutant(r)
		gateErr := gate.Check(context.Background(), servertest.Files(files), gate.Options{Loader: checker, NoTests: true})
		commit := pushPastTheGate(t, n, files)
		built := waitDecided(t, n, commit)
		switch {
		case gateErr == nil && !built:
			t.Fatalf("mutant %d passed the gate, but the node does not build it: %+v\n%s", i, n.Server.Status().Problems, dump(files))
		case gateErr == nil:
			accepted++
			for _, pattern := range patternsOf(files["app.star"]) {
				resp, body := n.Do(t, requestOf(n.URL, pattern))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("mutant %d passed the gate and built, but %s answers %d %q\n%s", i, pattern, resp.StatusCode, body, dump(files))
				}
			}
		case !built:
			refusedByBoth++
			fallthrough
		default:
			refused++
		}
	}
	t.Logf("%d mutants: %d accepted (built and served), %d refused by the gate (%d of which the node could not build either)",
		iterations, accepted, refused, refusedByBoth)
	if accepted < iterations/10 || refusedByBoth < iterations/10 {
		t.Errorf("the generator is off balance: %d accepted, %d refused by both of %d", accepted, refusedByBoth, iterations)
	}
}

// waitDecided waits until the node serves commit (true) or reports that it does not build
// (false).
func waitDecided(t *testing.T, n *servertest.Node, commit string) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := n.Server.Status()
		switch {
		case st.Commit == commit:
			return true
		case st.Wanted == commit && !st.Retrying:
			return false
		case time.Now().After(deadline):
			t.Fatalf("the node neither serves nor refuses %s: %+v", commit, st.Node)
		}
		time.Sleep(time.Millisecond)
	}
}

var routeKey = regexp.MustCompile(`(?m)^    "([^"]*)": [^,]*,$`)

// patternsOf returns the route patterns of a mutant's app.star.
func patternsOf(app string) []string {
	var out []string
	for _, m := range routeKey.FindAllStringSubmatch(app, -1) {
		out = append(out, m[1])
	}
	return out
}

func dump(files map[string]string) string {
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "--- %s\n%s\n", p, files[p])
	}
	return b.String()
}
