package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/runtime"
)

// snapshotOf returns a snapshot of files (path -> source) whose commit id is derived from
// the tree, as a real commit's would be.
func snapshotOf(t testing.TB, files map[string]string) *runtime.Snapshot {
	t.Helper()
	snap := memtree.Text(files)
	var listing []string
	for path, id := range snap.Tree {
		listing = append(listing, path+" "+string(id))
	}
	sort.Strings(listing)
	snap.Commit = code.HashBlob([]byte(strings.Join(listing, "\n")))
	return snap
}

// newLoader returns a Loader closed when the test ends.
func newLoader(t testing.TB, opts runtime.Options) *runtime.Loader {
	t.Helper()
	l, err := runtime.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// runLog records the modules whose top level ran, through Options.OnModuleRun.
type runLog struct {
	mu   sync.Mutex // guards runs
	runs []string
}

func (r *runLog) record(path string, _ code.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, path)
}

// take returns the sorted runs recorded since the last take.
func (r *runLog) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	runs := r.runs
	r.runs = nil
	slices.Sort(runs)
	return runs
}

func mustLoad(t testing.TB, l *runtime.Loader, snap *runtime.Snapshot, path string) starlark.StringDict {
	t.Helper()
	globals, err := l.Load(context.Background(), snap, path)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	return globals
}

func mustCall(t testing.TB, l *runtime.Loader, snap *runtime.Snapshot, globals starlark.StringDict, fn string, args ...starlark.Value) starlark.Value {
	t.Helper()
	v, err := call(l, context.Background(), snap, globals, fn, runtime.CallOptions{}, args...)
	if err != nil {
		t.Fatalf("%s(): %v", fn, err)
	}
	return v
}

func call(l *runtime.Loader, ctx context.Context, snap *runtime.Snapshot, globals starlark.StringDict, fn string, opts runtime.CallOptions, args ...starlark.Value) (starlark.Value, error) {
	f, ok := globals[fn].(starlark.Callable)
	if !ok {
		return nil, fmt.Errorf("module has no function %q", fn)
	}
	return l.Call(ctx, snap, f, args, nil, opts)
}

// loadErr loads path and returns its error, failing the test if it succeeds or if the
// error is not a *runtime.LoadError.
func loadErr(t *testing.T, l *runtime.Loader, snap *runtime.Snapshot, path string) error {
	t.Helper()
	_, err := l.Load(context.Background(), snap, path)
	if err == nil {
		t.Fatalf("Load(%q) succeeded, want an error", path)
	}
	var le *runtime.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Load(%q) error %T %q is not a *runtime.LoadError", path, err, err)
	}
	return err
}

func wantContains(t *testing.T, err error, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(err.Error(), sub) {
			t.Errorf("error %q does not contain %q", err, sub)
		}
	}
}

func TestLoader_LoadsModulesByTreePath(t *testing.T) {
	snap := snapshotOf(t, map[string]string{
		"lib/text/slug.star": "def slugify(s):\n    return s.lower().replace(' ', '-')\n",
		"lib/util.star":      "load('lib/text/slug.star', 'slugify')\nTITLE = slugify('Hello World')\n",
		"app.star":           "load('lib/util.star', 'TITLE')\nload('lib/text/slug.star', 'slugify')\nboth = TITLE + '/' + slugify('A B')\n",
	})
	l := newLoader(t, runtime.Options{})
	globals := mustLoad(t, l, snap, "app.star")
	if got, want := globals["both"], starlark.String("hello-world/a-b"); got != want {
		t.Errorf("both = %v, want %v", got, want)
	}
}

// appOf50 returns an app of 50 modules forming a binary tree of loads: module i loads
// modules 2i+1 and 2i+2, module 0 is app.star. Each module's total is its own value plus
// its children's totals; values[i] overrides module i's own value (default i).
func appOf50(values map[int]int) map[string]string {
	const n = 50
	name := func(i int) string {
		if i == 0 {
			return "app.star"
		}
		return fmt.Sprintf("mods/m%02d.star", i)
	}
	files := map[string]string{}
	for i := range n {
		own, ok := values[i]
		if !ok {
			own = i
		}
		var src strings.Builder
		sum := fmt.Sprint(own)
		for _, c := range []int{2*i + 1, 2*i + 2} {
			if c < n {
				fmt.Fprintf(&src, "load(%q, t%d = 'total')\n", name(c), c)
				sum += fmt.Sprintf(" + t%d", c)
			}
		}
		fmt.Fprintf(&src, "total = %s\n", sum)
		files[name(i)] = src.String()
	}
	return files
}

func TestLoader_ReloadsOnlyChangedModules(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{OnModuleRun: runs.record})

	v1 := snapshotOf(t, appOf50(nil))
	if got, want := mustLoad(t, l, v1, "app.star")["total"], starlark.MakeInt(49*50/2); got != want {
		t.Fatalf("v1 total = %v, want %v", got, want)
	}
	if got := len(runs.take()); got != 50 {
		t.Fatalf("first load ran %d modules, want all 50", got)
	}

	// Module 37 is a leaf; its loads lead to app.star through 18, 8, 3 and 1.
	v2 := snapshotOf(t, appOf50(map[int]int{37: 1037}))
	if got, want := mustLoad(t, l, v2, "app.star")["total"], starlark.MakeInt(49*50/2+1000); got != want {
		t.Errorf("v2 total = %v, want %v", got, want)
	}
	want := []string{"app.star", "mods/m01.star", "mods/m03.star", "mods/m08.star", "mods/m18.star", "mods/m37.star"}
	if got := runs.take(); !slices.Equal(got, want) {
		t.Errorf("after changing m37, ran %q, want exactly %q", got, want)
	}

	// Both commits stay loadable without running anything: requests still on v1 finish on v1.
	if got, want := mustLoad(t, l, v1, "app.star")["total"], starlark.MakeInt(49*50/2); got != want {
		t.Errorf("v1 total after v2 = %v, want %v", got, want)
	}
	if got := mustLoad(t, l, v1, "mods/m18.star")["total"]; got == nil {
		t.Errorf("mods/m18.star of v1 has no total")
	}
	if got := runs.take(); len(got) != 0 {
		t.Errorf("reloading cached commits ran %q, want nothing", got)
	}
}

func TestLoader_SharesUnchangedModulesAcrossCommits(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{OnModuleRun: runs.record})
	lib := "def f():\n    return 1\n"
	v1 := snapshotOf(t, map[string]string{"lib.star": lib, "app.star": "load('lib.star', 'f')\n"})
	v2 := snapshotOf(t, map[string]string{"lib.star": lib, "app.star": "load('lib.star', 'f')\nx = 2\n", "other.star": ""})
	f1 := mustLoad(t, l, v1, "lib.star")["f"]
	mustLoad(t, l, v2, "app.star")
	if got, want := runs.take(), []string{"app.star", "lib.star"}; !slices.Equal(got, want) {
		t.Errorf("runs = %q, want %q (v2 shares lib.star of v1)", got, want)
	}
	if f2 := mustLoad(t, l, v2, "lib.star")["f"]; f1 != f2 {
		t.Errorf("lib.star's f differs between commits with the same lib.star: want one shared instance")
	}
}

func TestLoader_RunsSharedDependencyOnce(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{OnModuleRun: runs.record})
	snap := snapshotOf(t, map[string]string{
		"app.star": "load('b.star', 'b')\nload('c.star', 'c')\nsame = b == c\n",
		"b.star":   "load('d.star', 'd')\nb = d\n",
		"c.star":   "load('d.star', 'd')\nc = d\n",
		"d.star":   "d = struct(n = 1)\n",
	})
	if got := mustLoad(t, l, snap, "app.star")["same"]; got != starlark.True {
		t.Errorf("b.star and c.star see different instances of d.star")
	}
	if got, want := runs.take(), []string{"app.star", "b.star", "c.star", "d.star"}; !slices.Equal(got, want) {
		t.Errorf("runs = %q, want %q (a diamond is not a cycle; d.star runs once)", got, want)
	}
}

func TestLoader_ReportsCycles(t *testing.T) {
	snap := snapshotOf(t, map[string]string{
		"app.star":  "load('a.star', 'a')\n",
		"a.star":    "load('b.star', 'b')\na = 1\n",
		"b.star":    "x = 1\nload('a.star', 'a')\nb = 2\n",
		"self.star": "load('self.star', 'y')\nx = 1\n",
	})
	l := newLoader(t, runtime.Options{})
	for _, tc := range []struct{ path, want string }{
		{"app.star", "a.star -> b.star -> a.star (load statements at a.star:1:6, b.star:2:6)"},
		{"b.star", "b.star -> a.star -> b.star (load statements at b.star:2:6, a.star:1:6)"},
		{"self.star", "self.star -> self.star (load statements at self.star:1:6)"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			err := loadErr(t, l, snap, tc.path)
			if !errors.Is(err, runtime.ErrCycle) {
				t.Errorf("error %q does not wrap ErrCycle", err)
			}
			wantContains(t, err, tc.want)
		})
	}
}

func TestLoader_ReportsMissingModule(t *testing.T) {
	snap := snapshotOf(t, map[string]string{
		"app.star":      "load('lib/util.star', 'f')\n",
		"lib/util.star": "\n\nload('lib/gone.star', 'g')\nf = g\n",
	})
	l := newLoader(t, runtime.Options{})
	err := loadErr(t, l, snap, "app.star")
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("error %q does not wrap ErrNotFound", err)
	}
	wantContains(t, err, "lib/util.star:3:6: cannot load lib/gone.star: module not found in the tree of commit "+snap.Commit.Short())

	var le *runtime.LoadError
	errors.As(err, &le)
	if le.Path != "app.star" || le.Commit != snap.Commit || le.Pos.String() != "app.star:1:6" {
		t.Errorf("outer LoadError = {%q, %q, %v}, want {app.star, %q, app.star:1:6}", le.Path, le.Commit, le.Pos, snap.Commit)
	}

	err = loadErr(t, l, snap, "nothing.star")
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Load(nothing.star) error %q does not wrap ErrNotFound", err)
	}
}

func TestLoader_RejectsPathsOutsideTree(t *testing.T) {
	for _, tc := range []struct {
		load string
		want error
	}{
		{"../x.star", code.ErrInvalidPath},
		{"/x.star", code.ErrInvalidPath},
		{"lib/../x.star", code.ErrInvalidPath},
		{"./x.star", code.ErrInvalidPath},
		{"templates/page.html", runtime.ErrNotModule},
	} {
		t.Run(tc.load, func(t *testing.T) {
			snap := snapshotOf(t, map[string]string{
				"app.star":            fmt.Sprintf("x = 1\nload(%q, 'y')\n", tc.load),
				"x.star":              "y = 1\n",
				"templates/page.html": "y = 1\n",
			})
			l := newLoader(t, runtime.Options{})
			err := loadErr(t, l, snap, "app.star")
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q does not wrap %v", err, tc.want)
			}
			wantContains(t, err, "app.star:2:6: cannot load "+tc.load)

			err = loadErr(t, l, snap, tc.load)
			if !errors.Is(err, tc.want) {
				t.Errorf("Load(%q) error %q does not wrap %v", tc.load, err, tc.want)
			}
		})
	}
}

func TestLoader_ErrorKeepsInnerBacktrace(t *testing.T) {
	snap := snapshotOf(t, map[string]string{
		"app.star":         "load('lib/mid.star', 'm')\n",
		"lib/mid.star":     "load('lib/bad.star', 'b')\nm = b\n",
		"lib/bad.star":     "def div(a, b):\n    return a // b\n\nb = div(1, 0)\n",
		"lib/syntax.star":  "def f(:\n",
		"uses_syntax.star": "load('lib/syntax.star', 'f')\n",
	})
	l := newLoader(t, runtime.Options{})

	err := loadErr(t, l, snap, "app.star")
	want := "cannot load app.star: app.star:1:6: cannot load lib/mid.star: lib/mid.star:1:6: cannot load lib/bad.star: lib/bad.star:2:14: floored division by zero"
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	var eval *starlark.EvalError
	if !errors.As(err, &eval) {
		t.Fatalf("error %q does not wrap a *starlark.EvalError", err)
	}
	bt := eval.Backtrace()
	for _, frame := range []string{"lib/bad.star:4:8: in <toplevel>", "lib/bad.star:2:14: in div"} {
		if !strings.Contains(bt, frame) {
			t.Errorf("backtrace\n%s\nlacks frame %q", bt, frame)
		}
	}
	var chain []string
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		if le, ok := e.(*runtime.LoadError); ok {
			chain = append(chain, le.Path+"@"+le.Pos.String())
			if le.Commit != snap.Commit {
				t.Errorf("LoadError of %s has commit %q, want %q", le.Path, le.Commit, snap.Commit)
			}
		}
	}
	if want := []string{"app.star@app.star:1:6", "lib/mid.star@lib/mid.star:1:6", "lib/bad.star@<invalid>"}; !slices.Equal(chain, want) {
		t.Errorf("LoadError chain = %q, want %q", chain, want)
	}

	err = loadErr(t, l, snap, "uses_syntax.star")
	wantContains(t, err, "uses_syntax.star:1:6: cannot load lib/syntax.star: lib/syntax.star:1:8: got ':', want ')'")
}

func TestLoader_DoesNotCacheFailedLoads(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{OnModuleRun: runs.record})
	snap := snapshotOf(t, map[string]string{
		"app.star": "load('lib.star', 'x')\n",
		"lib.star": "x = 1\nfail('boom')\n",
	})
	for attempt := 1; attempt <= 2; attempt++ {
		err := loadErr(t, l, snap, "app.star")
		wantContains(t, err, "lib.star:2:5: fail: boom")
		if got, want := runs.take(), []string{"lib.star"}; !slices.Equal(got, want) {
			t.Errorf("attempt %d ran %q, want %q (a failure must not be cached)", attempt, got, want)
		}
	}
}

func TestLoader_RetriesAfterBlobReadFailure(t *testing.T) {
	snap := snapshotOf(t, map[string]string{"app.star": "x = 1\n"})
	blobs := snap.Blobs.(memtree.Blobs)
	id := snap.Tree["app.star"]
	src := blobs[id]
	delete(blobs, id)
	l := newLoader(t, runtime.Options{})
	err := loadErr(t, l, snap, "app.star")
	wantContains(t, err, "cannot load app.star: read blob "+id.Short())

	blobs[id] = src
	mustLoad(t, l, snap, "app.star")
}

func TestLoader_RejectsBlobWithWrongContent(t *testing.T) {
	snap := snapshotOf(t, map[string]string{"app.star": "x = 1\n"})
	snap.Blobs.(memtree.Blobs)[snap.Tree["app.star"]] = []byte("x = 2\n")
	l := newLoader(t, runtime.Options{})
	if err := loadErr(t, l, snap, "app.star"); !errors.Is(err, runtime.ErrBadBlob) {
		t.Errorf("error %q does not wrap ErrBadBlob", err)
	}
}

func TestLoader_RunsEachModuleOnceUnderConcurrentFirstLoads(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{OnModuleRun: runs.record})
	snap := snapshotOf(t, map[string]string{
		"app.star": "load('lib.star', 'n')\ntotal = n + 1\n",
		// Some work, so that the goroutines overlap the run.
		"lib.star": "def work():\n    n = 0\n    for i in range(20000):\n        n += i\n    return 0\nn = work()\n",
	})
	const goroutines = 50
	start := make(chan struct{})
	results := make(chan starlark.Value, goroutines)
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			<-start
			g, err := l.Load(context.Background(), snap, "app.star")
			if err != nil {
				errs <- err
				return
			}
			results <- g["total"]
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(results)
	for err := range errs {
		t.Errorf("Load: %v", err)
	}
	for v := range results {
		if v != starlark.MakeInt(1) {
			t.Errorf("total = %v, want 1", v)
		}
	}
	if got, want := runs.take(), []string{"app.star", "lib.star"}; !slices.Equal(got, want) {
		t.Errorf("%d concurrent first loads ran %q, want each module exactly once: %q", goroutines, got, want)
	}
}

// gate is a pair of builtins for tests that must act while Starlark runs, without sleeping:
// started() reports that the thread got there, wait() blocks until the test releases it.
type gate struct {
	started, release chan struct{}
	once             sync.Once
}

func newGate() *gate {
	return &gate{started: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) builtins() starlark.StringDict {
	return starlark.StringDict{
		"started": starlark.NewBuiltin("started", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			g.once.Do(func() { close(g.started) })
			return starlark.None, nil
		}),
		"wait": starlark.NewBuiltin("wait", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			<-g.release
			return starlark.None, nil
		}),
	}
}

func TestLoader_RunOutlivesAWaiterThatGivesUp(t *testing.T) {
	g := newGate()
	var runs runLog
	l := newLoader(t, runtime.Options{Predeclared: g.builtins(), OnModuleRun: runs.record})
	snap := snapshotOf(t, map[string]string{"slow.star": "started()\nwait()\nx = 1\n"})

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := l.Load(ctx, snap, "slow.star")
		first <- err
	}()
	<-g.started
	cancel()
	if err := <-first; !errors.Is(err, runtime.ErrCanceled) {
		t.Errorf("canceled Load error = %v, want ErrCanceled", err)
	}

	second := make(chan error, 1)
	go func() {
		_, err := l.Load(context.Background(), snap, "slow.star")
		second <- err
	}()
	close(g.release)
	if err := <-second; err != nil {
		t.Errorf("second Load: %v", err)
	}
	if got := runs.take(); !slices.Equal(got, []string{"slow.star"}) {
		t.Errorf("runs = %q, want one run of slow.star shared by both loads", got)
	}
}

func TestLoader_StopsModuleTopLevelAtLimits(t *testing.T) {
	snap := snapshotOf(t, map[string]string{
		"app.star":  "load('spin.star', 'x')\n",
		"spin.star": "x = []\nwhile True:\n    x.append(1)\n    x.pop()\n",
	})
	t.Run("steps", func(t *testing.T) {
		l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 10_000}})
		err := loadErr(t, l, snap, "app.star")
		if !errors.Is(err, runtime.ErrStepLimit) {
			t.Errorf("error %q does not wrap ErrStepLimit", err)
		}
		wantContains(t, err, "cannot load app.star: app.star:1:6: cannot load spin.star: spin.star:",
			": Starlark computation cancelled: step limit exceeded: more than 10000 steps")
		var eval *starlark.EvalError
		if !errors.As(err, &eval) {
			t.Errorf("error %q does not wrap the *starlark.EvalError", err)
		}
	})
	t.Run("time", func(t *testing.T) {
		l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 1 << 62, LoadTimeout: 20 * time.Millisecond}})
		err := loadErr(t, l, snap, "app.star")
		if !errors.Is(err, runtime.ErrTimeout) {
			t.Errorf("error %q does not wrap ErrTimeout", err)
		}
	})
}

func TestCall_StopsInfiniteLoopAtStepLimit(t *testing.T) {
	l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 100_000}})
	snap := snapshotOf(t, map[string]string{"app.star": "def spin():\n    while True:\n        pass\n"})
	_, err := call(l, context.Background(), snap, mustLoad(t, l, snap, "app.star"), "spin", runtime.CallOptions{})
	if !errors.Is(err, runtime.ErrStepLimit) {
		t.Fatalf("error = %v, want ErrStepLimit", err)
	}
	var eval *starlark.EvalError
	if !errors.As(err, &eval) {
		t.Fatalf("error %q does not wrap the *starlark.EvalError", err)
	}
	if bt := eval.Backtrace(); !strings.Contains(bt, "app.star:1:1: in spin") {
		t.Errorf("backtrace\n%s\ndoes not show the function that ran the loop", bt)
	}
}

func TestCall_StopsWhenContextCanceled(t *testing.T) {
	g := newGate()
	l := newLoader(t, runtime.Options{Predeclared: g.builtins(), Limits: runtime.Limits{MaxSteps: 1 << 62}})
	snap := snapshotOf(t, map[string]string{"app.star": "def spin():\n    started()\n    while True:\n        pass\n"})
	globals := mustLoad(t, l, snap, "app.star")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := call(l, ctx, snap, globals, "spin", runtime.CallOptions{})
		done <- err
	}()
	<-g.started
	cancel()
	err := <-done
	if !errors.Is(err, runtime.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want ErrCanceled wrapping context.Canceled", err)
	}
	var eval *starlark.EvalError
	if !errors.As(err, &eval) {
		t.Errorf("error %q does not wrap the *starlark.EvalError", err)
	}
}

func TestCall_StopsAtDeadline(t *testing.T) {
	snap := snapshotOf(t, map[string]string{"app.star": "def spin():\n    while True:\n        pass\n"})
	t.Run("Timeout", func(t *testing.T) {
		l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 1 << 62, Timeout: 20 * time.Millisecond}})
		_, err := call(l, context.Background(), snap, mustLoad(t, l, snap, "app.star"), "spin", runtime.CallOptions{})
		if !errors.Is(err, runtime.ErrTimeout) {
			t.Errorf("error = %v, want ErrTimeout", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 1 << 62}})
		globals := mustLoad(t, l, snap, "app.star")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := call(l, ctx, snap, globals, "spin", runtime.CallOptions{})
		if !errors.Is(err, runtime.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want ErrTimeout wrapping context.DeadlineExceeded", err)
		}
	})
	t.Run("already ended", func(t *testing.T) {
		l := newLoader(t, runtime.Options{})
		globals := mustLoad(t, l, snap, "app.star")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := call(l, ctx, snap, globals, "spin", runtime.CallOptions{}); !errors.Is(err, runtime.ErrCanceled) {
			t.Errorf("error = %v, want ErrCanceled", err)
		}
	})
}

func TestCall_CannotMutateModuleGlobals(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{
		"app.star": "load('lib.star', 'seen')\ncache = {}\n\ndef remember():\n    cache['k'] = 1\n\ndef note():\n    seen.append(1)\n",
		"lib.star": "seen = []\n",
	})
	globals := mustLoad(t, l, snap, "app.star")
	for fn, want := range map[string]string{
		"remember": "cannot insert into frozen hash table",
		"note":     "cannot append to frozen list",
	} {
		_, err := call(l, context.Background(), snap, globals, fn, runtime.CallOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s() error = %v, want %q", fn, err, want)
		}
	}
}

func TestCall_PassesLocalsAndLogsPrint(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	probe := starlark.StringDict{"request_user": starlark.NewBuiltin("request_user", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		if runtime.ThreadSnapshot(thread) == nil {
			return nil, fmt.Errorf("no request here")
		}
		return starlark.String(thread.Local("user").(string)), nil
	})}
	l := newLoader(t, runtime.Options{Logger: logger, Predeclared: probe})
	snap := snapshotOf(t, map[string]string{
		"app.star":  "print('loading')\ndef who():\n    print('hi', request_user())\n    return request_user()\n",
		"init.star": "u = request_user()\n",
	})
	globals := mustLoad(t, l, snap, "app.star")
	got, err := call(l, context.Background(), snap, globals, "who", runtime.CallOptions{RequestID: "r-42", Bind: func(t *starlark.Thread) { t.SetLocal("user", "ada") }})
	if err != nil || got != starlark.String("ada") {
		t.Errorf("who() = %v, %v; want \"ada\"", got, err)
	}
	for _, want := range []string{
		`msg=loading source=print module=app.star pos=app.star:1:6`,
		`msg="hi ada" source=print module=app.star pos=app.star:3:10 commit=` + string(snap.Commit) + ` request_id=r-42`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log\n%s\nlacks %q", logs.String(), want)
		}
	}
	err = loadErr(t, l, snap, "init.star")
	wantContains(t, err, "no request here")
}

func TestLoader_ReadsBytecodeFromDiskCache(t *testing.T) {
	dir := t.TempDir()
	snap := snapshotOf(t, appOf50(nil))
	first := newLoader(t, runtime.Options{CacheDir: dir})
	mustLoad(t, first, snap, "app.star")
	if s := first.Stats(); s.Compiles != 50 || s.DiskHits != 0 {
		t.Errorf("first loader: %d compiles, %d disk hits; want 50, 0", s.Compiles, s.DiskHits)
	}

	second := newLoader(t, runtime.Options{CacheDir: dir})
	if got, want := mustLoad(t, second, snap, "app.star")["total"], starlark.MakeInt(49*50/2); got != want {
		t.Errorf("total from cached bytecode = %v, want %v", got, want)
	}
	if s := second.Stats(); s.Compiles != 0 || s.DiskHits != 50 {
		t.Errorf("second loader on the same dir: %d compiles, %d disk hits; want 0, 50", s.Compiles, s.DiskHits)
	}
}

func TestLoader_RecoversFromCorruptCacheFiles(t *testing.T) {
	for name, corrupt := range map[string]func([]byte) []byte{
		"flipped payload byte": func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
		"truncated":            func(b []byte) []byte { return b[:len(b)/2] },
		"empty":                func([]byte) []byte { return nil },
		"garbage":              func([]byte) []byte { return []byte("not bytecode at all") },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			snap := snapshotOf(t, map[string]string{"app.star": "def f():\n    return 42\n"})
			mustLoad(t, newLoader(t, runtime.Options{CacheDir: dir}), snap, "app.star")
			files, _ := filepath.Glob(filepath.Join(dir, "*.starc"))
			if len(files) != 1 {
				t.Fatalf("cache dir holds %q, want one .starc file", files)
			}
			data, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files[0], corrupt(data), 0o644); err != nil {
				t.Fatal(err)
			}

			var logs strings.Builder
			l := newLoader(t, runtime.Options{CacheDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if got := mustCall(t, l, snap, mustLoad(t, l, snap, "app.star"), "f"); got != starlark.MakeInt(42) {
				t.Errorf("f() = %v, want 42", got)
			}
			if s := l.Stats(); s.Compiles != 1 || s.DiskHits != 0 {
				t.Errorf("%d compiles, %d disk hits; want 1, 0", s.Compiles, s.DiskHits)
			}
			if !strings.Contains(logs.String(), "discarding bytecode cache file") {
				t.Errorf("log\n%s\ndoes not report the discarded file", logs.String())
			}

			third := newLoader(t, runtime.Options{CacheDir: dir})
			mustLoad(t, third, snap, "app.star")
			if s := third.Stats(); s.DiskHits != 1 {
				t.Errorf("after recovery: %d disk hits, want 1 (the file must have been rewritten)", s.DiskHits)
			}
		})
	}
}

func TestLoader_EvictsLeastRecentlyUsedModules(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{MaxModules: 2, OnModuleRun: runs.record})
	snap := snapshotOf(t, map[string]string{"a.star": "", "b.star": "", "c.star": ""})
	for _, p := range []string{"a.star", "b.star", "a.star", "c.star", "a.star", "b.star"} {
		mustLoad(t, l, snap, p)
	}
	// b.star was the least recently used when c.star came in.
	if got, want := runs.take(), []string{"a.star", "b.star", "b.star", "c.star"}; !slices.Equal(got, want) {
		t.Errorf("runs = %q, want %q", got, want)
	}
}

func TestCall_ReturnsPanicOfBuiltinAsError(t *testing.T) {
	buggy := starlark.StringDict{"buggy": starlark.NewBuiltin("buggy", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		panic("bug in a Go builtin")
	})}
	l := newLoader(t, runtime.Options{Predeclared: buggy, Logger: slog.New(slog.DiscardHandler)})
	snap := snapshotOf(t, map[string]string{"app.star": "def f():\n    buggy()\n", "init.star": "buggy()\n"})
	_, err := call(l, context.Background(), snap, mustLoad(t, l, snap, "app.star"), "f", runtime.CallOptions{})
	wantContains(t, err, "internal error in call f: panic: bug in a Go builtin")
	wantContains(t, loadErr(t, l, snap, "init.star"), "panic: bug in a Go builtin")
}

func TestLoader_RejectsMissingSnapshot(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	for _, snap := range []*runtime.Snapshot{nil, {Tree: code.Tree{}}} {
		if _, err := l.Load(context.Background(), snap, "app.star"); err == nil {
			t.Errorf("Load(%v) succeeded, want an error", snap)
		}
	}
}

func TestNew_RejectsRedefinedBuiltin(t *testing.T) {
	_, err := runtime.New(runtime.Options{Predeclared: starlark.StringDict{"json": starlark.None}})
	if err == nil || !strings.Contains(err.Error(), `redefines the builtin "json"`) {
		t.Errorf("New error = %v, want it to name the redefined builtin", err)
	}
}

func TestLoader_FailsAfterClose(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": "def f():\n    return 1\n"})
	globals := mustLoad(t, l, snap, "app.star")
	l.Close()
	if _, err := l.Load(context.Background(), snap, "app.star"); !errors.Is(err, runtime.ErrClosed) {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}
	if _, err := call(l, context.Background(), snap, globals, "f", runtime.CallOptions{}); !errors.Is(err, runtime.ErrClosed) {
		t.Errorf("Call after Close: %v, want ErrClosed", err)
	}
}

func TestDialect(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	ok := snapshotOf(t, map[string]string{"app.star": `
s = set([1, 2])
def fact(n):
    return 1 if n < 2 else n * fact(n - 1)
steps = []
while len(steps) < 3:
    steps.append(len(steps))
if len(steps) == 3:
    f = fact(5)
`})
	if got := mustLoad(t, l, ok, "app.star")["f"]; got != starlark.MakeInt(120) {
		t.Errorf("f = %v, want 120", got)
	}
	reassign := snapshotOf(t, map[string]string{"app.star": "x = 1\nx = 2\n"})
	wantContains(t, loadErr(t, l, reassign, "app.star"), "app.star:2:1: cannot reassign global x declared at app.star:1:1")
}
