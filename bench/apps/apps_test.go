package apps_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/starbase/starbase/bench/apps"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
)

// pages are the benchmark app's pages; json says the body is compared as JSON.
var pages = []struct {
	path string
	json bool
}{{"/hello/Ada", true}, {"/table", false}, {"/render", false}}

// TestVersions_AnswerAlike checks that the Starlark, Go and Flask versions of the app give
// the same answers, so that the benchmarks compare servers doing the same work.
func TestVersions_AnswerAlike(t *testing.T) {
	srv, err := server.NewStatic(context.Background(), server.Config{Node: "test", Logger: discard()}, apps.Starlark(7))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	starlark := answers(t, srv)
	goAnswers := answers(t, apps.Go(7))
	for _, pg := range pages {
		same(t, pg.path, pg.json, "Starlark", starlark[pg.path], "Go", goAnswers[pg.path])
	}
	// The doctype, title, <table> and header lines, a line per row, and </table>.
	if got, want := strings.Count(starlark["/table"], "\n"), apps.Rows+5; got != want {
		t.Errorf("/table has %d lines, want %d", got, want)
	}

	t.Run("Flask", func(t *testing.T) {
		flask := flaskAnswers(t, apps.Flask(7))
		for _, pg := range pages {
			same(t, pg.path, pg.json, "Starlark", starlark[pg.path], "Flask", flask[pg.path])
		}
	})
}

// TestLayered_ReRunsOnlyTheChangedModuleAndItsDependents checks the shape the reload
// benchmark relies on: a leaf change re-runs 3 modules, a core change every module.
func TestLayered_ReRunsOnlyTheChangedModuleAndItsDependents(t *testing.T) {
	const n = 60
	l, err := runtime.New(runtime.Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	load := func(files map[string][]byte) uint64 {
		t.Helper()
		before := l.Stats().ModuleRuns
		if _, err := l.Load(context.Background(), memtree.Snapshot(files), "app.star"); err != nil {
			t.Fatal(err)
		}
		return l.Stats().ModuleRuns - before
	}
	first := apps.Layered(n, 1, 1, 1)
	if len(first) != n {
		t.Errorf("Layered(%d) has %d files, want %d", n, len(first), n)
	}
	for _, c := range []struct {
		name  string
		files map[string][]byte
		want  uint64
	}{
		{"first load", first, n},
		{"same files", apps.Layered(n, 1, 1, 1), 0},
		{"leaf changed", apps.Layered(n, 1, 2, 1), 3},
		{"core changed", apps.Layered(n, 1, 2, 2), n},
	} {
		if got := load(c.files); got != c.want {
			t.Errorf("%s: %d modules run, want %d", c.name, got, c.want)
		}
	}
}

// answers GETs every page from h and returns the bodies, failing unless each is 200.
func answers(t *testing.T, h http.Handler) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, pg := range pages {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pg.path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", pg.path, rec.Code, rec.Body)
		}
		out[pg.path] = rec.Body.String()
	}
	return out
}

// flaskAnswers runs the Flask app with Flask's test client, skipping the test where Python
// or Flask is missing.
func flaskAnswers(t *testing.T, app string) map[string]string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if err := exec.Command(python, "-c", "import flask").Run(); err != nil {
		t.Skipf("%s cannot import flask", python)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, text := range apps.FlaskTemplates() {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(python, "-c", `
import json, sys
from app import app
c = app.test_client()
out = {}
for path in sys.argv[1:]:
    r = c.get(path)
    assert r.status_code == 200, (path, r.status_code)
    out[path] = r.get_data(as_text=True)
print(json.dumps(out))
`, pages[0].path, pages[1].path, pages[2].path)
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the Flask app: %v\n%s", err, stderrOf(err))
	}
	out := map[string]string{}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("Flask answers %q: %v", b, err)
	}
	return out
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// same compares two answers of path: as JSON values, or byte for byte.
func same(t *testing.T, path string, asJSON bool, aName, a, bName, b string) {
	t.Helper()
	if !asJSON {
		if a != b {
			t.Errorf("GET %s: %s answered\n%s\nbut %s answered\n%s", path, aName, a, bName, b)
		}
		return
	}
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("GET %s: %s answered %q: %v", path, aName, a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("GET %s: %s answered %q: %v", path, bName, b, err)
	}
	if !reflect.DeepEqual(va, vb) {
		t.Errorf("GET %s: %s answered %s but %s answered %s", path, aName, a, bName, b)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
