package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/starbase/starbase/runtime"
)

func TestChecks_CannotBeBypassed(t *testing.T) {
	runSpecWith(t, "testdata/bypass.star", runtime.Options{Limits: runtime.Limits{MaxAllocBytes: runtime.MiB}})
}

// iterationAttacks are expressions that iterate a lazy sequence of 2^50 elements inside
// one call of a builtin, where the interpreter counts no steps and sees no cancellation.
// Each element counts as a step.
var iterationAttacks = map[string]string{
	"max":                  "max(range(1 << 50))",
	"min":                  "min(range(1 << 50))",
	"all":                  "all(range(1, 1 << 50))",
	"any":                  "any([0] * (1 << 21))", // no lazy sequence is all false: this one is 2M elements
	"set.intersection":     "set([-1]).intersection(range(1 << 50))",
	"set.difference":       "set([-1]).difference(range(1 << 50))",
	"set.issubset":         "set([-1]).issubset(range(1 << 50))",
	"getattr set.issubset": "getattr(set([-1]), 'issubset')(range(1 << 50))",
	"set.issubset stored":  "[f(range(1 << 50)) for f in [set([-1]).issubset]]",
}

func TestChecks_IteratingBuiltinsCountSteps(t *testing.T) {
	l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 1 << 20}})
	for name, expr := range iterationAttacks {
		t.Run(name, func(t *testing.T) {
			snap := snapshotOf(t, map[string]string{"app.star": "def f():\n    return " + expr + "\n"})
			start := time.Now()
			_, err := call(l, context.Background(), snap, mustLoad(t, l, snap, "app.star"), "f", runtime.CallOptions{})
			if !errors.Is(err, runtime.ErrStepLimit) {
				t.Fatalf("%s = %v, want ErrStepLimit", expr, err)
			}
			wantContains(t, err, "step limit exceeded: more than 1048576 steps")
			// The error says the steps stopped it; the bound only catches a run left unbounded.
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("%s was stopped after %v, want well under a second", expr, d)
			}
		})
	}
}

func TestChecks_IteratingBuiltinsStopAtTheTimeout(t *testing.T) {
	l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 1 << 62, Timeout: 200 * time.Millisecond}})
	snap := snapshotOf(t, map[string]string{"app.star": "def f():\n    return max(range(1 << 60))\n"})
	start := time.Now()
	_, err := call(l, context.Background(), snap, mustLoad(t, l, snap, "app.star"), "f", runtime.CallOptions{})
	if !errors.Is(err, runtime.ErrTimeout) {
		t.Fatalf("max(range(1 << 60)) = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("stopped after %v, want soon after the 200ms timeout", d)
	}
}
