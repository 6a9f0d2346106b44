package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	hookOnce sync.Once
	hookPath string
	hookErr  error
)

// hookBinary builds cmd/starbase with the gate's test hook (-tags starbasetesthook): with
// STARBASE_TEST_FORCE_GATE=pass its gate passes every commit, so that a node can be shown
// a commit that does not build. Only these tests build it.
func hookBinary(t *testing.T) string {
	t.Helper()
	bin := binary(t)
	hookOnce.Do(func() {
		hookPath = filepath.Join(filepath.Dir(bin), "starbase-testhook")
		out, err := exec.Command("go", "build", "-tags", "starbasetesthook", "-o", hookPath, ".").CombinedOutput()
		if err != nil {
			hookErr = fmt.Errorf("go build -tags starbasetesthook: %v\n%s", err, out)
		}
	})
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	return hookPath
}

const goodE2EApp = "def a(req):\n    return \"ok\"\n\nroutes = {\"GET /a\": a}\n"

// brokenApps are the examples of issue 10: commits that a node cannot build, each with the
// stored position and message the gate refuses it with.
var brokenApps = []struct {
	name  string
	files map[string]string
	want  string
}{
	{"route to an int", map[string]string{"app.star": "def a(req):\n    return \"ok\"\nroutes = {\"GET /a\": a, \"GET /b\": 1}\n"},
		`app.star:3:24: route "GET /b" must be a function of one parameter, the request`},
	{"invalid pattern", map[string]string{"app.star": "def a(req):\n    return \"ok\"\nroutes = {\"GET /a\": a, \"BAD PATTERN WITH SPACES /a\": a}\n"},
		`app.star:3:24: route "BAD PATTERN WITH SPACES /a": the path must start with "/"`},
	{"conflicting patterns", map[string]string{"app.star": "def a(req):\n    return \"ok\"\nroutes = {\"GET /a\": a, \"GET /a/{x}\": a, \"GET /a/{y}\": a}\n"},
		`app.star:3:41: route "GET /a/{y}" conflicts with route "GET /a/{x}"`},
	{"template ending in an attribute", map[string]string{"app.star": goodE2EApp, "templates/link.html": "<p>\n<a href=\"{{.path}}"},
		`templates/link.html:2:1: the template ends inside a quoted attribute value`},
	{"a define given in two templates", map[string]string{
		"app.star":              goodE2EApp,
		"templates/layout.html": `<main>{{template "content" .}}</main>`,
		"templates/a.html":      `{{define "content"}}A{{end}}{{template "templates/layout.html" .}}`,
		"templates/b.html":      "\n{{define \"content\"}}B{{end}}{{template \"templates/layout.html\" .}}",
	}, `templates/b.html:2:1: template "content" is already defined in templates/a.html`},
	{"binary file under templates", map[string]string{"app.star": goodE2EApp, "templates/logo.png": "\x89PNG\r\n\x1a\n\x00\x00"},
		`templates/logo.png: templates/logo.png is not a text file`},
}

// TestE2E_GateRefusesWhatANodeCannotBuild pushes each example of issue 10 through the built
// binary: each is refused with its stored position, and the node keeps serving. The
// ordinary binary ignores the test hook's variable.
func TestE2E_GateRefusesWhatANodeCannotBuild(t *testing.T) {
	n := startServeBin(t, binary(t), []string{"STARBASE_TEST_FORCE_GATE=pass"}, t.TempDir())
	good := t.TempDir()
	writeTree(t, good, map[string]string{"app.star": goodE2EApp})
	n.cli(t, "push", good, "--wait")
	for _, tc := range brokenApps {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			_, stderr, err := n.try("push", dir, "--force", "--wait")
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Fatalf("push: err=%v stderr=%q, want a refusal containing %q", err, stderr, tc.want)
			}
			if strings.Contains(stderr, ".go:") || strings.Contains(stderr, "registered at") {
				t.Errorf("refusal %q names Go source", stderr)
			}
			if body, _ := n.get(t, "/a"); body != "ok" {
				t.Errorf("GET /a = %q after a refused push, want ok", body)
			}
		})
	}
}

// TestE2E_NodeKeepsItsWorkingReleaseWhenTheGateLetsABrokenCommitThrough forces the gate
// (test hook) to pass each example of issue 10: the node keeps serving the previous
// release, its status says why, and push --wait fails naming the node and the problem.
func TestE2E_NodeKeepsItsWorkingReleaseWhenTheGateLetsABrokenCommitThrough(t *testing.T) {
	n := startServeBin(t, hookBinary(t), []string{"STARBASE_TEST_FORCE_GATE=pass"}, t.TempDir(), "--node", "web1")
	// The warning is logged before the node listens; its stderr is copied apart.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		logs := n.cmd.Stderr.(*lockedWriter).String()
		if strings.Contains(logs, "STARBASE_TEST_FORCE_GATE") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve with the gate forced open did not warn; logs:\n%s", logs)
		}
	}
	good := t.TempDir()
	writeTree(t, good, map[string]string{"app.star": goodE2EApp})
	n.cli(t, "push", good, "--wait")
	_, goodCommit := n.get(t, "/a")
	for _, tc := range brokenApps {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			stdout, stderr, err := n.try("push", dir, "--force", "--wait")
			if err == nil {
				t.Fatalf("push --wait of a commit the node cannot build succeeded: %q", stdout)
			}
			if !strings.Contains(stderr, "node(s) do not serve it because it does not build there") ||
				!strings.Contains(stderr, "web1 (serving "+goodCommit[:12]+")") || !strings.Contains(stderr, tc.want) {
				t.Errorf("push --wait stderr = %q, want it to name web1, what it serves and %q", stderr, tc.want)
			}
			if body, commit := n.get(t, "/a"); body != "ok" || commit != goodCommit {
				t.Errorf("GET /a = %q from %s, want ok from the working release %s", body, commit, goodCommit)
			}
			status := n.cli(t, "status")
			if !strings.Contains(status, goodCommit) || !strings.Contains(status, "does not build on this node") {
				t.Errorf("status = %q, want it to serve %s and say a commit does not build", status, goodCommit)
			}
		})
	}
	// The next commit that builds is served again.
	next := t.TempDir()
	writeTree(t, next, map[string]string{"app.star": strings.Replace(goodE2EApp, `"ok"`, `"ok again"`, 1)})
	n.cli(t, "push", next, "--force", "--wait")
	if body, _ := n.get(t, "/a"); body != "ok again" {
		t.Errorf("GET /a = %q after a good push, want ok again", body)
	}
}
