package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(time.Millisecond) // polling interval, not a synchronisation
	}
}

func TestWatchdog_RunsOnlyWhileExecutionsRun(t *testing.T) {
	l, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	fn := starlark.NewBuiltin("noop", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return starlark.None, nil
	})
	if l.watchdog.running.Load() {
		t.Fatal("the guard runs before any execution")
	}
	for round := range 3 {
		if _, err := l.Call(context.Background(), nil, fn, nil, nil, CallOptions{}); err != nil {
			t.Fatal(err)
		}
		if !l.watchdog.running.Load() {
			t.Fatalf("round %d: the guard does not run after an execution started", round)
		}
		waitFor(t, 5*time.Second, "the guard still runs with no execution", func() bool { return !l.watchdog.running.Load() })
	}
}

func TestWatchdog_RegistersConcurrentExecutionsAndForgetsThemOnReturn(t *testing.T) {
	l, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	release := make(chan struct{})
	started := make(chan struct{}, 64)
	block := starlark.NewBuiltin("block", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		started <- struct{}{}
		<-release
		return starlark.None, nil
	})
	const n = 64
	done := make(chan error, n)
	for range n {
		go func() {
			_, err := l.Call(context.Background(), nil, block, nil, nil, CallOptions{})
			done <- err
		}()
	}
	for range n {
		<-started
	}
	if got := registered(l.watchdog); got != n {
		t.Errorf("%d executions registered while %d run", got, n)
	}
	close(release)
	for range n {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if got := registered(l.watchdog); got != 0 {
		t.Errorf("%d executions registered after all returned, want 0", got)
	}
}

// registered counts the executions in g's registry.
func registered(g *watchdog) int {
	n := 0
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		for e := s.head; e != nil; e = e.next {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

func TestWatchdog_ContextsStillStopExecutionsAfterClose(t *testing.T) {
	l, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: Limits{MaxSteps: 1 << 62}})
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	predeclared := starlark.StringDict{"running": starlark.NewBuiltin("running", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		close(running)
		return starlark.None, nil
	})}
	src := "def spin():\n    running()\n    while True:\n        pass\n"
	globals, err := starlark.ExecFileOptions(&syntax.FileOptions{While: true}, &starlark.Thread{}, "spin.star", src, predeclared)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := l.Call(ctx, nil, globals["spin"].(starlark.Callable), nil, nil, CallOptions{})
		done <- err
	}()
	<-running
	l.Close() // the watchdog's goroutine returns, handing spin over to its context
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCanceled) {
			t.Errorf("spin() after Close and cancel: error %v, want ErrCanceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("spin() still runs 10s after its context was canceled (after Close)")
	}
}

// TestWatchdog_HeaviestSortsOneReadingOfUsages sorts 300 registered executions while
// other goroutines keep changing what they allocated, as running executions do: the order
// heaviest returns is the order of the usages it returns (one reading of each, taken
// before sorting), and the total is their sum. Sorting by figures read during the sort
// gave an order consistent with no reading.
func TestWatchdog_HeaviestSortsOneReadingOfUsages(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := newWatchdog(ctx, 0, slog.New(slog.DiscardHandler))
	start := time.Now()
	var all []*execution
	for i := range 300 {
		e := &execution{ctx: context.Background(), started: start.Add(time.Duration(i%7) * time.Millisecond)}
		e.charged.Store(int64(i % 10 * 1000))
		g.add(e)
		all = append(all, e)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := all[(i*7+w)%len(all)]
				e.charged.Store(int64((i * 7919) % 10000))
				e.steps.Add(1)
			}
		})
	}
	for round := range 200 {
		got, total := g.heaviest()
		var sum int64
		for i, w := range got {
			sum += w.usage
			if i > 0 && (got[i-1].usage < w.usage || got[i-1].usage == w.usage && got[i-1].started.After(w.started)) {
				t.Fatalf("round %d: position %d has usage %d (started %v) after %d (started %v): not the order of the usages returned",
					round, i, w.usage, w.started, got[i-1].usage, got[i-1].started)
			}
		}
		if len(got) != len(all) || sum != total {
			t.Fatalf("round %d: %d executions of total %d, want %d of total %d (their sum)", round, len(got), total, len(all), sum)
		}
	}
	close(stop)
	wg.Wait()
	for _, e := range all {
		g.remove(e)
	}
	cancel()
	g.wait()
}
