package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// writeTree writes files under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runCLI runs the starbase command with args and returns its stdout, stderr and error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// brokenTree has a problem for each check of the gate.
var brokenTree = map[string]string{
	"app.star":            "load(\"lib/util.star\", \"slug\", \"title\")\nload(\"lib/missing.star\", \"x\")\nroutes = {}\n",
	"lib/util.star":       "def slug(s):\n    return s.lower().replace(\" \", \"-\")\n\ndef tittle(s):\n    return s.title()\n",
	"lib/util_test.star":  "load(\"lib/util.star\", \"slug\")\n\ndef test_slug():\n    assert.eq(slug(\"A B\"), \"a_b\")\n",
	"lib/cycle_a.star":    "load(\"lib/cycle_b.star\", \"b\")\na = 1\n",
	"lib/cycle_b.star":    "load(\"lib/cycle_a.star\", \"a\")\nb = 1\n",
	"lib/syntax.star":     "def f(:\n    pass\n",
	"templates/page.html": "<p>{{.title</p>\n",
}

var brokenTreeProblems = []string{
	`app.star:1:32: load: lib/util.star does not define "title"; did you mean "tittle"?`,
	`app.star:2:6: load: no module "lib/missing.star" in the tree (paths are relative to the tree root)`,
	"lib/cycle_b.star:1:6: load cycle: lib/cycle_a.star -> lib/cycle_b.star -> lib/cycle_a.star (modules cannot load each other; move what they share to a third module)",
	"lib/syntax.star:1:8: got ':', want ')'",
	`lib/util_test.star:4:14: test_slug failed: assert.eq: got "a-b", want "a_b"`,
	"templates/page.html:1:4: bad character U+003C '<'",
}

func TestCheck_ListsEveryProblemAndExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, brokenTree)
	out, _, err := runCLI(t, "check", dir)
	if err == nil || err.Error() != dir+": 6 problem(s)" {
		t.Errorf("check error = %v, want %q", err, dir+": 6 problem(s)")
	}
	if got, want := out, strings.Join(brokenTreeProblems, "\n")+"\n"; got != want {
		t.Errorf("check printed:\n%s\nwant:\n%s", got, want)
	}

	out, _, err = runCLI(t, "check", "--no-tests", dir)
	if err == nil || strings.Contains(out, "test_slug") {
		t.Errorf("check --no-tests = %v, %q: want the other problems, not the test's", err, out)
	}
}

func TestCheck_PassesAGoodTree(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"app.star":           "load(\"lib/util.star\", \"slug\")\nroutes = {}\n",
		"lib/util.star":      "def slug(s):\n    return s.lower()\n",
		"lib/util_test.star": "load(\"lib/util.star\", \"slug\")\ndef test_slug():\n    assert.eq(slug(\"A\"), \"a\")\n",
		".starbase/junk":     "not part of the tree",
	})
	out, _, err := runCLI(t, "check", dir)
	if err != nil || out != "ok: 3 files\n" {
		t.Errorf("check = %q, %v; want ok: 3 files", out, err)
	}
}

func TestCheck_AgreesWithTheServerGate(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	dir := t.TempDir()
	writeTree(t, dir, brokenTree)
	out, _, _ := runCLI(t, "check", dir)

	_, err := srv.Client.Push(context.Background(), api.PushRequest{Files: servertest.Files(brokenTree)})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 422 {
		t.Fatalf("push = %v, want HTTP 422", err)
	}
	var fromServer []string
	for _, p := range ce.Body.Problems {
		fromServer = append(fromServer, p.String())
	}
	if got, want := strings.TrimSuffix(out, "\n"), strings.Join(fromServer, "\n"); got != want {
		t.Errorf("starbase check:\n%s\nserver gate:\n%s", got, want)
	}
}

var elapsedRE = regexp.MustCompile(`\(\d+\.\d\ds\)`)

func TestTest_PrintsEachTestAndASummary(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"lib/util.star": "def slug(s):\n    return s.lower().replace(\" \", \"-\")\n",
		"lib/util_test.star": `load("lib/util.star", "slug")

def test_lower():
    assert.eq(slug("AB"), "ab")

def test_spaces():
    assert.eq(slug("a b"), "a_b")
`,
		"other_test.star": "def test_other():\n    assert.true(True)\n",
	})
	out, _, err := runCLI(t, "test", dir)
	if !errors.Is(err, errTestsFailed) {
		t.Errorf("test error = %v, want errTestsFailed", err)
	}
	want := `PASS lib/util_test.star:test_lower (T)
FAIL lib/util_test.star:test_spaces (T)
    Traceback (most recent call last):
      lib/util_test.star:7:14 in test_spaces
        assert.eq(slug("a b"), "a_b")
                 ^
    Error: assert.eq: got "a-b", want "a_b"
PASS other_test.star:test_other (T)
2 passed, 1 failed
`
	if got := elapsedRE.ReplaceAllString(out, "(T)"); got != want {
		t.Errorf("test printed:\n%s\nwant:\n%s", got, want)
	}

	out, _, err = runCLI(t, "test", dir, "-run", "lower|other")
	want = "PASS lib/util_test.star:test_lower (T)\nPASS other_test.star:test_other (T)\n2 passed, 0 failed\n"
	if got := elapsedRE.ReplaceAllString(out, "(T)"); err != nil || got != want {
		t.Errorf("test -run = %q, %v; want\n%s", got, err, want)
	}

	if _, _, err := runCLI(t, "test", dir, "-run", "("); err == nil || !strings.Contains(err.Error(), "-run") {
		t.Errorf("test -run ( = %v, want an invalid pattern error", err)
	}
}

func TestTest_ReportsProblemsOtherThanTests(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"app.star":      "x = undefined_name\n",
		"app_test.star": "def test_ok():\n    pass\n",
	})
	out, _, err := runCLI(t, "test", dir)
	want := "PASS app_test.star:test_ok (T)\napp.star:1:5: undefined: undefined_name\n1 passed, 0 failed\n"
	if got := elapsedRE.ReplaceAllString(out, "(T)"); err == nil || got != want {
		t.Errorf("test = %q, %v; want an error and\n%s", got, err, want)
	}
}
