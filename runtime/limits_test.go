package runtime_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	goruntime "runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

func TestChecks(t *testing.T) {
	runSpecWith(t, "testdata/limits.star", runtime.Options{Limits: runtime.Limits{
		MaxAllocBytes:    runtime.MiB,
		MaxCallDepth:     50,
		MaxResponseBytes: 256 * runtime.KiB,
	}})
}

func TestCall_RefusesAHugeAllocationBeforeMakingIt(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": `
def text():
    s = "x"
    return s * (1 << 30)

def items():
    return [0] * 1000000000
`})
	globals := mustLoad(t, l, snap, "app.star")
	for fn, want := range map[string]string{
		"text":  "app.star:4:14: in text\nError in *: memory limit exceeded: string * int would allocate 1GiB, over the limit of 128MiB for one operation (Limits.MaxAllocBytes)",
		"items": "Error in *: memory limit exceeded: list * int would allocate 14.9GiB",
	} {
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		_, err := call(l, context.Background(), snap, globals, fn, runtime.CallOptions{})
		goruntime.ReadMemStats(&after)
		if !errors.Is(err, runtime.ErrMemoryLimit) {
			t.Fatalf("%s() error = %v, want ErrMemoryLimit", fn, err)
		}
		var eval *starlark.EvalError
		if !errors.As(err, &eval) || !strings.Contains(eval.Backtrace(), want) {
			t.Errorf("%s() backtrace\n%v\ndoes not contain\n%s", fn, err, want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
			t.Errorf("%s() allocated %d bytes before being refused, want almost nothing", fn, grew)
		}
	}
}

func TestLoader_RefusesAugmentedAssignmentItCannotCheck(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": "def f(a, g):\n    a[g()] *= 2\n"})
	err := loadErr(t, l, snap, "app.star")
	wantContains(t, err, "cannot load app.star: app.star:2:12: the target of *= calls a function, so the size of the result cannot be checked")
}

func TestLoader_RefusesGlobalsTooCostlyToFreeze(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": `
def dag(n):
    t = (1,)
    for _ in range(n):
        t = (t, t)
    return t

T = dag(40)  # 80 tuples, 2^40 paths: freezing would run for hours
`})
	start := time.Now()
	err := loadErr(t, l, snap, "app.star")
	if !errors.Is(err, runtime.ErrDepthLimit) {
		t.Errorf("error = %v, want ErrDepthLimit", err)
	}
	wantContains(t, err, "share tuples so deeply that freezing them would visit more than 10000000 values")
	if d := time.Since(start); d > 30*time.Second { // hours if the bound did not hold
		t.Errorf("refusing took %v", d)
	}
}

func TestByteSize_ParsesAndPrintsUnits(t *testing.T) {
	for in, want := range map[string]runtime.ByteSize{
		"512": 512, "512B": 512, "64KiB": 64 << 10, "64k": 64 << 10, "32MiB": 32 << 20, "2G": 2 << 30,
		"1GiB": 1 << 30, "3MB": 3_000_000, "-1": -1,
	} {
		var got runtime.ByteSize
		if err := got.Set(in); err != nil || got != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5MiB", "ten", "99999999999TiB"} {
		var b runtime.ByteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) = %d, want an error", bad, b)
		}
	}
	for in, want := range map[runtime.ByteSize]string{
		900: "900B", 64 << 10: "64KiB", 32 << 20: "32MiB", 3 << 29: "1.5GiB", 2 << 40: "2TiB",
	} {
		if got := in.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}

// hogSource holds a handler that keeps what it allocates, 1 MiB per step, until it is
// stopped, and one that works briefly with little memory.
const hogSource = `
def hog():
    chunks = []
    while True:
        chunks.append("x" * (1 << 20))

def small(n):
    total = 0
    for i in range(n):
        total += len(str(i))
    return total
`

// heapPeak samples the heap of objects (live and garbage) until the test ends and returns
// a function that reports the highest value seen.
func heapPeak(t *testing.T) func() int64 {
	t.Helper()
	var mu sync.Mutex // guards peak
	var peak int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, int64(s[0].Value.Uint64()))
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// heapObjects returns the bytes of heap objects, live or garbage not yet collected.
func heapObjects() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

const guardLimit = 64 * runtime.MiB

func guardedLoader(t *testing.T) (*runtime.Loader, *runtime.Snapshot, starlark.StringDict) {
	t.Helper()
	goruntime.GC() // start from this test's own baseline
	l := newLoader(t, runtime.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: runtime.Limits{MaxHeapBytes: guardLimit, MaxSteps: 1 << 62, Timeout: 30 * time.Second},
	})
	snap := snapshotOf(t, map[string]string{"app.star": hogSource})
	return l, snap, mustLoad(t, l, snap, "app.star")
}

func TestHeapGuard_StopsTheExecutionThatAllocatedTheMost(t *testing.T) {
	peak := heapPeak(t)
	l, snap, globals := guardedLoader(t)

	hogDone := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := call(l, context.Background(), snap, globals, "hog", runtime.CallOptions{})
		hogDone <- err
	}()
	// Meanwhile other executions run, and must all succeed.
	var smallCalls int
	var hogErr error
	for hogErr == nil {
		if _, err := call(l, context.Background(), snap, globals, "small", runtime.CallOptions{}, starlark.MakeInt(1000)); err != nil {
			t.Fatalf("small() failed while the hog ran: %v", err)
		}
		smallCalls++
		select {
		case hogErr = <-hogDone:
		default:
		}
	}
	elapsed := time.Since(start)

	if !errors.Is(hogErr, runtime.ErrMemoryLimit) {
		t.Fatalf("hog() error = %v, want ErrMemoryLimit", hogErr)
	}
	wantContains(t, hogErr, "memory limit exceeded: the live heap of the process is", "over its limit of 64MiB (Limits.MaxHeapBytes), and this execution had allocated the most")
	if got := l.Stats().HeapStops; got != 1 {
		t.Errorf("HeapStops = %d, want 1", got)
	}
	t.Logf("hog stopped after %v; peak heap %s; %d small calls meanwhile", elapsed, runtime.ByteSize(peak()), smallCalls)
	if p := peak(); p > 8*int64(guardLimit) {
		t.Errorf("the heap peaked at %s, want it bounded near the limit of %s", runtime.ByteSize(p), guardLimit)
	}
}

func TestHeapGuard_IgnoresGarbageOfAStoppedExecution(t *testing.T) {
	l, snap, globals := guardedLoader(t)
	if _, err := call(l, context.Background(), snap, globals, "hog", runtime.CallOptions{}); !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Fatalf("hog() error = %v, want ErrMemoryLimit", err)
	}
	// The hog's memory is garbage now, but it is still in the heap until the next
	// collection: a guard that read the whole heap would stop the next, innocent execution.
	if heap := heapObjects(); heap <= int64(guardLimit) {
		t.Fatalf("precondition: the heap holds %s, want the hog's garbage to keep it over %s",
			runtime.ByteSize(heap), guardLimit)
	}
	deadline := time.Now().Add(300 * time.Millisecond) // many ticks of the guard
	for time.Now().Before(deadline) {
		if _, err := call(l, context.Background(), snap, globals, "small", runtime.CallOptions{}, starlark.MakeInt(2000)); err != nil {
			t.Fatalf("small() after the hog was stopped: %v", err)
		}
	}
	if got := l.Stats().HeapStops; got != 1 {
		t.Errorf("HeapStops = %d, want only the hog's", got)
	}
}

func TestLoader_ChecksModuleTopLevels(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{
		"app.star": "load('lib.star', 'X')\n",
		"lib.star": "X = 'x' * (1 << 30)\n",
	})
	err := loadErr(t, l, snap, "app.star")
	if !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Errorf("error = %v, want ErrMemoryLimit", err)
	}
	wantContains(t, err, "cannot load lib.star: lib.star:1:9: memory limit exceeded: string * int would allocate 1GiB")
}

func TestLoader_InsertedChecksKeepDocstrings(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": "def f():\n    \"Says hi.\"\n    return 'hi'\n"})
	f := mustLoad(t, l, snap, "app.star")["f"].(*starlark.Function)
	if got := f.Doc(); got != "Says hi." {
		t.Errorf("Doc() = %q, want %q", got, "Says hi.")
	}
	if got := mustCall(t, l, snap, mustLoad(t, l, snap, "app.star"), "f"); got != starlark.String("hi") {
		t.Errorf("f() = %v, want \"hi\"", got)
	}
}
