package server_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
	"github.com/starbase/starbase/server"
)

// documentedNames returns the predeclared names SECURITY.md lists in its fenced block
// "Starlark universe: ...", "runtime.Builtins: ...", "sandbox: ...".
func documentedNames(t *testing.T) map[string][]string {
	t.Helper()
	doc, err := os.ReadFile("../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```\nStarlark universe:")
	if !ok {
		t.Fatal("SECURITY.md has no fenced list starting with \"Starlark universe:\"")
	}
	block, _, _ = strings.Cut("Starlark universe:"+block, "```")
	out := map[string][]string{}
	for line := range strings.Lines(block) {
		label, names, ok := strings.Cut(line, ":")
		if ok {
			out[strings.TrimSpace(label)] = strings.Fields(names)
		}
	}
	return out
}

func TestSandbox_PredeclaredNamesAreExactlyTheDocumentedList(t *testing.T) {
	doc := documentedNames(t)
	for label, actual := range map[string]starlark.StringDict{
		"Starlark universe": starlark.Universe,
		"runtime.Builtins":  runtime.Builtins(),
		"sandbox":           sandbox.Predeclared(),
	} {
		got := slices.Sorted(maps.Keys(actual))
		want := slices.Sorted(slices.Values(doc[label]))
		if !slices.Equal(got, want) {
			t.Errorf("%s predeclares %v; SECURITY.md documents %v: update one or the other (and the threat model)", label, got, want)
		}
	}
}

func TestSandbox_StoredCodeCannotReachTheHost(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{}, false)
	good := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'ok'\n"})
	for name, src := range map[string]string{
		"open":            "def handle(req):\n    return open('/etc/passwd').read()\n",
		"os":              "def handle(req):\n    return os.environ['HOME']\n",
		"clock at load":   "STARTED = time.now()\ndef handle(req):\n    return str(STARTED)\n",
		"__import__":      "def handle(req):\n    return __import__('os')\n",
		"exec":            "def handle(req):\n    exec('1')\n    return ''\n",
		"eval":            "def handle(req):\n    return eval('1')\n",
		"getenv":          "def handle(req):\n    return getenv('HOME')\n",
		"load absolute":   "load('/etc/passwd', 'x')\ndef handle(req):\n    return x\n",
		"load outside":    "load('../../auth/tokens.star', 'x')\ndef handle(req):\n    return x\n",
		"load store keys": "load('code/refs/main', 'x')\ndef handle(req):\n    return x\n",
		"db at top level": "X = db.list(None)\ndef handle(req):\n    return ''\n",
	} {
		before := n.revision(t)
		_, err := n.Client.Push(ctx, api.PushRequest{Expected: good.Commit, Files: map[string][]byte{"app.star": []byte(src)}})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: push = %v, want 422 from the validation gate", name, err)
		}
		if after := n.revision(t); after != before {
			t.Errorf("%s: the refused push wrote to the store (%d -> %d)", name, before, after)
		}
	}
	if got := fetch(t, n, "/"); got != "ok" {
		t.Errorf("after the refused pushes the app answers %q, want ok", got)
	}
}
