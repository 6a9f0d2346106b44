package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// lineWriter collects output and lets a test wait for lines matching a pattern.
type lineWriter struct {
	mu      sync.Mutex // guards buf and changed
	buf     strings.Builder
	changed chan struct{} // closed and replaced on every write
}

func newLineWriter() *lineWriter { return &lineWriter{changed: make(chan struct{})} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitLines waits until the output has at least n lines matching re, and returns them.
func (w *lineWriter) waitLines(t *testing.T, re *regexp.Regexp, n int) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		var matches []string
		for _, line := range strings.Split(w.buf.String(), "\n") {
			if re.MatchString(line) {
				matches = append(matches, line)
			}
		}
		changed := w.changed
		w.mu.Unlock()
		if len(matches) >= n {
			return matches
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("waited for %d lines matching %s; output:\n%s", n, re, w.String())
		}
	}
}

var commitLine = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestPushWatch_PushesEachSaveAndReportsRefusals(t *testing.T) {
	srv := servertest.Start(t, server.Config{})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"app.star":      "def index(req):\n    return \"v1\"\nroutes = {\"GET /\": index}\n",
		"app_test.star": "def test_ok():\n    pass\n",
	})

	stdout, stderr := newLineWriter(), newLineWriter()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCmd()
		cmd.SetOut(stdout)
		cmd.SetErr(stderr)
		cmd.SetArgs([]string{"push", "--watch", "--debounce", "150ms", "--server", srv.URL, "--token", servertest.AdminToken, dir})
		done <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	first := stdout.waitLines(t, commitLine, 1)[0]
	assertMain(t, srv, first, "app.star", "def index(req):\n    return \"v1\"\nroutes = {\"GET /\": index}\n")

	// A save that breaks the tree is refused with its problems, and main stays.
	writeTree(t, dir, map[string]string{"app.star": "def index(req)\n"})
	stderr.waitLines(t, regexp.MustCompile(`^  app.star:2:1: got newline, want ':'$`), 1)
	if lines := stdout.waitLines(t, commitLine, 1); len(lines) != 1 {
		t.Errorf("a refused push printed a commit: %v", lines)
	}
	assertMain(t, srv, first, "app.star", "def index(req):\n    return \"v1\"\nroutes = {\"GET /\": index}\n")

	// A burst of saves (several files, a new directory) is one push holding all of them;
	// dot-directories are not part of it.
	files := map[string]string{
		"app.star":       "load(\"lib/a.star\", \"A\")\ndef index(req):\n    return A\nroutes = {\"GET /\": index}\n",
		"lib/a.star":     "load(\"lib/b.star\", \"B\")\nA = \"v2\" + B\n",
		"lib/b.star":     "B = \"!\"\n",
		".git/HEAD":      "ref: refs/heads/main\n",
		"lib/.swap.star": "junk",
	}
	for _, p := range []string{"lib/b.star", "lib/a.star", ".git/HEAD", "lib/.swap.star", "app.star"} {
		writeTree(t, dir, map[string]string{p: files[p]})
	}
	second := stdout.waitLines(t, commitLine, 2)[1]
	got, err := srv.Client.Files(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Commit != second || len(got.Files) != 4 || string(got.Files["lib/b.star"]) != files["lib/b.star"] ||
		string(got.Files["app.star"]) != files["app.star"] {
		t.Errorf("main = %s with %d files, want %s with app.star, app_test.star, lib/a.star and lib/b.star", got.Commit, len(got.Files), second)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("push --watch returned %v on cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("push --watch did not stop when its context was canceled")
	}
	done <- nil // for the cleanup
}

func assertMain(t *testing.T, srv *servertest.Node, commit, path, content string) {
	t.Helper()
	got, err := srv.Client.Files(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Commit != commit || string(got.Files[path]) != content {
		t.Errorf("main = %s with %s = %q, want %s with %q", got.Commit, path, got.Files[path], commit, content)
	}
}

func TestIgnoredPath_SkipsDotfilesAndDotDirectories(t *testing.T) {
	dir := filepath.Join(os.TempDir(), "app")
	for path, want := range map[string]bool{
		dir:                                 false,
		filepath.Join(dir, "app.star"):      false,
		filepath.Join(dir, "lib", "a.star"): false,
		filepath.Join(dir, ".starbase", "state.json"): true,
		filepath.Join(dir, ".git"):                    true,
		filepath.Join(dir, "lib", ".a.star.swp"):      true,
		filepath.Join(dir, "lib", ".hidden", "x"):     true,
	} {
		if got := ignoredPath(dir, path); got != want {
			t.Errorf("ignoredPath(%s) = %v, want %v", path, got, want)
		}
	}
}
