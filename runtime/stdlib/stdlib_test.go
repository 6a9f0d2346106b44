package stdlib_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/stdlib"
)

// clock is the request clock the specifications run with.
var clock = time.Date(2024, 2, 29, 13, 45, 30, 500_000_000, time.UTC)

// snapshot returns a snapshot of files, whose commit id is that of its tree: the loader
// keeps what it resolved of a commit by its id.
func snapshot(files map[string]string) *runtime.Snapshot {
	snap := memtree.Text(files)
	var all []byte
	for _, p := range slices.Sorted(maps.Keys(snap.Tree)) {
		all = append(all, p+" "+string(snap.Tree[p])+"\n"...)
	}
	snap.Commit = code.HashBlob(all)
	return snap
}

// logBuffer collects JSON log records; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// newLoader returns a loader whose modules see the stdlib and assert, logging at level
// Debug into the returned buffer.
func newLoader(t *testing.T, limits runtime.Limits) (*runtime.Loader, *logBuffer) {
	t.Helper()
	predeclared := stdlib.Predeclared()
	predeclared["assert"] = gate.Assert()
	logs := &logBuffer{}
	if limits == (runtime.Limits{}) {
		limits = runtime.DefaultLimits()
	}
	l, err := runtime.New(runtime.Options{
		Predeclared: predeclared, Limits: limits,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, logs
}

// call loads app.star of files and calls its function name as a request would, with the
// clock and request id given as the server gives them.
func call(t *testing.T, l *runtime.Loader, files map[string]string, name string) (starlark.Value, error) {
	t.Helper()
	snap := snapshot(files)
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	fn, ok := globals[name].(starlark.Callable)
	if !ok {
		t.Fatalf("app.star has no function %s", name)
	}
	return l.Call(context.Background(), snap, fn, nil, nil, runtime.CallOptions{Now: clock, RequestID: "req-1"})
}

// TestModules runs every test_* function of the specifications in testdata as a subtest.
func TestModules(t *testing.T) {
	files, err := filepath.Glob("testdata/*.star")
	if err != nil || len(files) == 0 {
		t.Fatalf("no specifications in testdata (%v)", err)
	}
	// The specs assert results and refusals, never speed: password hashing at its real cost
	// must not hit the default 10s timeout on a machine loaded many times over its cores.
	limits := runtime.DefaultLimits()
	limits.Timeout, limits.LoadTimeout = 5*time.Minute, 5*time.Minute
	l, _ := newLoader(t, limits)
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			snap := snapshot(map[string]string{"spec.star": string(src)})
			globals, err := l.Load(context.Background(), snap, "spec.star")
			if err != nil {
				t.Fatal(err)
			}
			names := slices.DeleteFunc(globals.Keys(), func(name string) bool { return !strings.HasPrefix(name, "test_") })
			if len(names) == 0 {
				t.Fatalf("%s defines no test_* function", file)
			}
			for _, name := range names {
				t.Run(name, func(t *testing.T) {
					_, err := l.Call(context.Background(), snap, globals[name].(starlark.Callable), nil, nil, runtime.CallOptions{Now: clock})
					if err != nil {
						var eval *starlark.EvalError
						if errors.As(err, &eval) {
							t.Fatal(eval.Backtrace())
						}
						t.Fatal(err)
					}
				})
			}
		})
	}
}

func TestPredeclared_NamesEachModuleOnce(t *testing.T) {
	got := stdlib.Predeclared().Keys()
	want := []string{"base64", "decimal", "hashlib", "hmac", "log", "password", "secrets", "time", "url", "uuid"}
	if !slices.Equal(got, want) {
		t.Errorf("Predeclared() = %q, want %q (update doc.go, sandbox.go and docs/builtins.md together)", got, want)
	}
}

func TestTimeNow_FailsAtTopLevel(t *testing.T) {
	l, _ := newLoader(t, runtime.Limits{})
	_, err := l.Load(context.Background(), snapshot(map[string]string{"app.star": "started = time.now()\n"}), "app.star")
	if !errors.Is(err, stdlib.ErrNoClock) {
		t.Fatalf("load: got %v, want ErrNoClock", err)
	}
	if want := "time.now: no clock at a module's top level: a module's globals are computed once per commit and shared by every request, so they must not depend on the time"; !strings.Contains(err.Error(), want) {
		t.Errorf("load: got %q, want it to say %q", err, want)
	}
	// Parsing, formatting and arithmetic need no clock.
	globals, err := l.Load(context.Background(), snapshot(map[string]string{"app.star": `
EPOCH = time.parse_time("2000-01-01T00:00:00Z")
DAY = 24 * time.hour
LABEL = (EPOCH + DAY).format("Jan 2")
`}), "app.star")
	if err != nil {
		t.Fatal(err)
	}
	if got := globals["LABEL"]; got != starlark.String("Jan 2") {
		t.Errorf("LABEL = %v, want \"Jan 2\"", got)
	}
}

func TestTimeNow_WithoutAClockFails(t *testing.T) {
	l, _ := newLoader(t, runtime.Limits{})
	snap := snapshot(map[string]string{"app.star": "def f():\n    return time.now()\n"})
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Call(context.Background(), snap, globals["f"].(starlark.Callable), nil, nil, runtime.CallOptions{})
	if !errors.Is(err, stdlib.ErrNoClock) {
		t.Fatalf("call: got %v, want ErrNoClock", err)
	}
}

func TestLog_WritesStructuredRecordsTaggedWithTheRequest(t *testing.T) {
	l, logs := newLoader(t, runtime.Limits{})
	_, err := call(t, l, map[string]string{"app.star": `
def handler():
    log.info("signed up", user = "ann", age = 41, ratio = 0.5, admin = False, team = None)
    log.debug("detail")
    log.warning("slow", ms = 1 << 70)
    log.error("failed")
`}, "handler")
	if err != nil {
		t.Fatal(err)
	}
	recs := logs.records(t)
	var got []map[string]any
	for _, r := range recs {
		if r["source"] == "log" {
			got = append(got, r)
		}
	}
	if len(got) != 4 {
		t.Fatalf("got %d log records, want 4: %v", len(got), recs)
	}
	first := got[0]
	want := map[string]any{"level": "INFO", "msg": "signed up", "user": "ann", "age": 41.0, "ratio": 0.5, "admin": false,
		"team": nil, "request_id": "req-1", "module": "app.star", "pos": "app.star:3:13"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("record[%q] = %#v, want %#v (record %v)", k, first[k], v, first)
		}
	}
	for i, level := range []string{"INFO", "DEBUG", "WARN", "ERROR"} {
		if got[i]["level"] != level {
			t.Errorf("record %d: level %v, want %s", i, got[i]["level"], level)
		}
	}
	if got[2]["ms"] != "1180591620717411303424" {
		t.Errorf("a big int field is %#v, want its decimal text", got[2]["ms"])
	}
}

func TestLog_RefusesPlatformFieldsAndStructures(t *testing.T) {
	l, _ := newLoader(t, runtime.Limits{})
	for _, tc := range []struct{ call, want string }{
		{`log.info("x", request_id = "forged")`, `log.info: "request_id" is set by the platform and cannot be a field`},
		{`log.info("x", items = [1])`, "field items is list: a field must be a string, int, float, bool or None"},
		{`log.info(1)`, "got int, want string"},
		{`log.info("x", **{"f%d" % i: i for i in range(33)})`, "33 fields, over the limit of 32"},
	} {
		_, err := call(t, l, map[string]string{"app.star": "def handler():\n    " + tc.call + "\n"}, "handler")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.call, err, tc.want)
		}
	}
}

func TestLog_SharesThePrintBudget(t *testing.T) {
	limits := runtime.DefaultLimits()
	limits.MaxPrintLines = 3
	l, logs := newLoader(t, limits)
	_, err := call(t, l, map[string]string{"app.star": `
def handler():
    for i in range(10):
        log.info("line", i = i)
        print("p")
`}, "handler")
	if err != nil {
		t.Fatal(err)
	}
	var kept, warnings int
	for _, r := range logs.records(t) {
		switch {
		case r["msg"] == "line" || r["msg"] == "p":
			kept++
		case r["level"] == "WARN" && r["dropped_lines"] == 17.0:
			warnings++
		}
	}
	if kept != 3 || warnings != 1 {
		t.Errorf("kept %d records and %d warnings, want 3 and 1 counting 17 dropped: %v", kept, warnings, logs.records(t))
	}
}

// TestLimits_BuiltinsChargeTheExecution checks that each builtin's work counts against the
// limits of the execution that calls it.
func TestLimits_BuiltinsChargeTheExecution(t *testing.T) {
	limits := runtime.DefaultLimits()
	limits.MaxAllocBytes = 1 << 20
	limits.MaxSteps = 500_000
	l, _ := newLoader(t, limits)
	for _, tc := range []struct {
		name, body string
		want       error
	}{
		{"base64 output", `base64.encode("x" * 800000)`, runtime.ErrMemoryLimit},
		{"quote output", `url.quote("é" * 200000)`, runtime.ErrMemoryLimit},
		{"time format output", `time.now().format("1" * 600000)`, runtime.ErrMemoryLimit},
		{"parse_qs pairs", `url.parse_qs("&" * 100000)`, runtime.ErrMemoryLimit},
		{"hashing steps", "\n    s = \"x\" * 900000\n    for i in range(30):\n        hashlib.sha256(s)", runtime.ErrStepLimit},
		{"bcrypt steps", `password.hash("secret")`, runtime.ErrStepLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(t, l, map[string]string{"app.star": "def handler():\n    " + tc.body + "\n"}, "handler")
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// BenchmarkPasswordHash measures one password.hash at stdlib.PasswordCost, called from
// stored code (about 80ms on the development machine: see PasswordCost).
func BenchmarkPasswordHash(b *testing.B) {
	l, err := runtime.New(runtime.Options{Predeclared: stdlib.Predeclared(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	snap := snapshot(map[string]string{"app.star": "def f():\n    return password.hash(\"correct horse\")\n"})
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := l.Call(context.Background(), snap, globals["f"].(starlark.Callable), nil, nil, runtime.CallOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
