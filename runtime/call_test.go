package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/printlog"
)

// jsonLog is a logger writing JSON records to a buffer the test reads.
type jsonLog struct{ buf bytes.Buffer }

func (j *jsonLog) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&j.buf, nil)) }

// records returns the records logged so far.
func (j *jsonLog) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(j.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// printCounts returns how many print lines were logged and the dropped_lines of the
// warnings counting the rest, in order.
func printCounts(t *testing.T, recs []map[string]any) (printed int, dropped []float64) {
	t.Helper()
	for _, rec := range recs {
		switch {
		case rec["source"] == "print" && rec["dropped_lines"] != nil:
			dropped = append(dropped, rec["dropped_lines"].(float64))
		case rec["source"] == "print":
			printed++
		}
	}
	return printed, dropped
}

const printingModule = `
for i in range(50):
    print("top level", i)

def chatty(n):
    for i in range(n):
        print("call", i)
    return n
`

func TestLoader_BoundsThePrintOutputOfAModuleTopLevel(t *testing.T) {
	var log jsonLog
	l := newLoader(t, runtime.Options{Logger: log.logger(), Limits: runtime.Limits{MaxPrintLines: 10}})
	snap := snapshotOf(t, map[string]string{"app.star": printingModule})
	mustLoad(t, l, snap, "app.star")

	recs := log.records(t)
	printed, dropped := printCounts(t, recs)
	if printed != 10 || len(dropped) != 1 || dropped[0] != 40 {
		t.Fatalf("the top level printed 50 lines: got %d logged and drops %v, want 10 logged and one warning counting 40", printed, dropped)
	}
	warning := recs[len(recs)-1]
	if warning["level"] != "WARN" || warning["thread"] != "load app.star" || warning["commit"] != string(snap.Commit) ||
		warning["first_dropped_at"] != "app.star:3:10" {
		t.Errorf("the warning = %v, want level WARN, thread \"load app.star\", the commit and first_dropped_at app.star:3:10", warning)
	}
}

func TestCall_BoundsThePrintOutputOfEachCall(t *testing.T) {
	var log jsonLog
	l := newLoader(t, runtime.Options{Logger: log.logger(), Limits: runtime.Limits{MaxPrintLines: 100}})
	snap := snapshotOf(t, map[string]string{"app.star": printingModule})
	globals := mustLoad(t, l, snap, "app.star")
	log.buf.Reset()

	for range 2 {
		if _, err := call(l, context.Background(), snap, globals, "chatty", runtime.CallOptions{RequestID: "r-7"}, starlark.MakeInt(150)); err != nil {
			t.Fatal(err)
		}
	}
	recs := log.records(t)
	printed, dropped := printCounts(t, recs)
	if printed != 200 || len(dropped) != 2 || dropped[0] != 50 || dropped[1] != 50 {
		t.Fatalf("two calls printed 150 lines each: got %d logged and drops %v, want 200 logged and two warnings counting 50", printed, dropped)
	}
	if w := recs[len(recs)-1]; w["thread"] != "call chatty" || w["request_id"] != "r-7" {
		t.Errorf("the warning = %v, want thread \"call chatty\" and request_id r-7", w)
	}
}

func TestCall_ChargesPrintsToTheCallersBudget(t *testing.T) {
	var log jsonLog
	l := newLoader(t, runtime.Options{Logger: log.logger()})
	snap := snapshotOf(t, map[string]string{"app.star": printingModule})
	globals := mustLoad(t, l, snap, "app.star")
	log.buf.Reset()

	// One budget for two calls, as a server gives each request (and its re-runs).
	budget := printlog.NewBudget(printlog.Options{MaxLines: 30})
	opts := runtime.CallOptions{Prints: budget}
	for range 2 {
		if _, err := call(l, context.Background(), snap, globals, "chatty", opts, starlark.MakeInt(20)); err != nil {
			t.Fatal(err)
		}
	}
	printed, dropped := printCounts(t, log.records(t))
	if printed != 30 || len(dropped) != 0 {
		t.Errorf("two calls of 20 prints on a budget of 30: got %d logged and drops %v, want 30 logged and no warning (the caller reports)", printed, dropped)
	}
	if budget.Dropped() != 10 {
		t.Errorf("the budget dropped %d, want 10", budget.Dropped())
	}
}

func TestCall_TimesOutAfterTimeoutUnlessTheContextEndsFirst(t *testing.T) {
	l := newLoader(t, runtime.Options{Limits: runtime.Limits{Timeout: 50 * time.Millisecond, MaxSteps: 1 << 62}})
	snap := snapshotOf(t, map[string]string{"app.star": "def spin():\n    while True:\n        pass\n"})
	globals := mustLoad(t, l, snap, "app.star")

	t.Run("no deadline: Call's own timeout", func(t *testing.T) {
		start := time.Now()
		_, err := call(l, context.Background(), snap, globals, "spin", runtime.CallOptions{})
		if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), "call ran longer than 50ms") {
			t.Errorf("spin() error = %v, want ErrTimeout saying the call ran longer than 50ms", err)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("spin() was stopped after %v, want about 50ms", took)
		}
	})
	t.Run("a later deadline: Call's own timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := call(l, ctx, snap, globals, "spin", runtime.CallOptions{})
		if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), "call ran longer than 50ms") {
			t.Errorf("spin() error = %v, want ErrTimeout saying the call ran longer than 50ms", err)
		}
	})
	t.Run("an earlier deadline: the caller's", func(t *testing.T) {
		cause := errors.New("the request ran out of time")
		ctx, cancel := context.WithTimeoutCause(context.Background(), 20*time.Millisecond, cause)
		defer cancel()
		_, err := call(l, ctx, snap, globals, "spin", runtime.CallOptions{})
		if !errors.Is(err, runtime.ErrTimeout) || !errors.Is(err, cause) {
			t.Errorf("spin() error = %v, want ErrTimeout wrapping the caller's cause", err)
		}
	})
}

// BenchmarkCall_Overhead measures what Call adds to the function it calls: a builtin that
// does nothing, with a request's locals and deadline, as a server calls a handler.
func BenchmarkCall_Overhead(b *testing.B) {
	l := newLoader(b, runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	snap := snapshotOf(b, map[string]string{"app.star": "x = 1\n"})
	noop := starlark.NewBuiltin("noop", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return starlark.None, nil
	})
	budget := printlog.NewBudget(printlog.Options{})
	// A deadline within Limits.Timeout, as a server sets for each request.
	ctx, cancel := context.WithTimeout(context.Background(), runtime.DefaultTimeout/2)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Call(ctx, snap, noop, nil, nil, runtime.CallOptions{RequestID: "r-1", Prints: budget}); err != nil {
			b.Fatal(err)
		}
	}
}
