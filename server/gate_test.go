package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// goodApp is the tree each refused push tries to replace.
var goodApp = map[string]string{
	"app.star":            "load(\"lib/greet.star\", \"greet\")\n\ndef index(req):\n    return greet(\"v1\")\n\nroutes = {\"GET /\": index}\n",
	"lib/greet.star":      "def greet(who):\n    return \"hello \" + who\n",
	"lib/greet_test.star": "load(\"lib/greet.star\", \"greet\")\n\ndef test_greet():\n    assert.eq(greet(\"x\"), \"hello x\")\n",
}

// withChanges returns goodApp with files changed (an empty content removes the file).
func withChanges(files map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range goodApp {
		out[k] = v
	}
	for k, v := range files {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func TestServer_GateRefusesEachProblemAndMainStaysUnchanged(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	good := n.Deploy(t, goodApp)

	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"syntax error", map[string]string{"lib/greet.star": "def greet(who)\n    return who\n"},
			[]string{"lib/greet.star:2:1: got newline, want ':'"}},
		{"undefined name", map[string]string{"lib/greet.star": "def greet(who):\n    return hello + who\n"},
			[]string{"lib/greet.star:2:12: undefined: hello"}},
		{"load of a missing module", map[string]string{"app.star": "load(\"lib/greeting.star\", \"greet\")\nroutes = {}\n"},
			[]string{`app.star:1:6: load: no module "lib/greeting.star" in the tree (paths are relative to the tree root)`}},
		{"loaded name not defined", map[string]string{"app.star": "load(\"lib/greet.star\", \"greeet\")\nroutes = {}\n"},
			[]string{`app.star:1:25: load: lib/greet.star does not define "greeet"; did you mean "greet"?`}},
		{"load cycle", map[string]string{"lib/greet.star": "load(\"app.star\", \"routes\")\ndef greet(who):\n    return who\n"},
			[]string{"lib/greet.star:1:6: load cycle: app.star -> lib/greet.star -> app.star (modules cannot load each other; move what they share to a third module)"}},
		{"top-level error", map[string]string{"lib/greet.star": "PREFIX = {\"en\": \"hello \"}[\"fr\"]\ndef greet(who):\n    return PREFIX + who\n"},
			[]string{`lib/greet.star:1:26: key "fr" not in dict`}},
		{"template that does not parse", map[string]string{"templates/page.html": "<ul>\n{{range .items}}<li>{{.}}</li>\n</ul>\n"},
			[]string{"templates/page.html:4:1: unexpected EOF"}},
		{"failing test", map[string]string{"lib/greet.star": "def greet(who):\n    return \"hi \" + who\n"},
			[]string{`lib/greet_test.star:4:14: test_greet failed: assert.eq: got "hi x", want "hello x"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Client.Push(context.Background(), api.PushRequest{Files: servertest.Files(withChanges(tc.files)), Expected: good})
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity {
				t.Fatalf("push = %v, want HTTP 422", err)
			}
			var got []string
			for _, p := range ce.Body.Problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			assertServes(t, n, good)
		})
	}
}

func TestServer_NoTestsSkipsOnlyTheTestsAndIsRecorded(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	good := n.Deploy(t, goodApp)
	ctx := context.Background()

	broken := withChanges(map[string]string{"lib/greet.star": "def greet(who)\n"})
	_, err := n.Client.Push(ctx, api.PushRequest{Files: servertest.Files(broken), Expected: good, NoTests: true})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity {
		t.Fatalf("push of a syntax error with no_tests = %v, want HTTP 422", err)
	}
	assertServes(t, n, good)

	failingTest := withChanges(map[string]string{"lib/greet.star": "def greet(who):\n    return \"hi \" + who\n"})
	res, err := n.Client.Push(ctx, api.PushRequest{Files: servertest.Files(failingTest), Expected: good, NoTests: true})
	if err != nil {
		t.Fatalf("push of a failing test with no_tests = %v, want it accepted", err)
	}
	commits, err := n.Client.Log(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) != 1 || commits[0].ID != res.Commit || strings.Join(commits[0].Notes, ",") != "no-tests" {
		t.Errorf("log = %+v, want commit %s noted no-tests", commits, res.Commit)
	}
}

// assertServes checks that main is still commit and that the node serves it.
func assertServes(t *testing.T, n *servertest.Node, commit string) {
	t.Helper()
	files, err := n.Client.Files(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if files.Commit != commit {
		t.Errorf("main = %s after a refused push, want %s", files.Commit, commit)
	}
	if got := n.Server.Status().Commit; got != commit {
		t.Errorf("node serves %s after a refused push, want %s", got, commit)
	}
	if resp, body := getAccepting(t, n, "/", ""); resp.StatusCode != 200 || body != "hello v1" {
		t.Errorf("GET / = %d %q after a refused push, want hello v1", resp.StatusCode, body)
	}
}
