package runtime_test

import (
	"context"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

// BenchmarkWork_LargestAdmittedOperation measures the longest single operation of each
// kind that the checks of hashing and comparison admit (close to
// runtime.MaxOperationVisits): how far past its deadline a request can run, since the
// interpreter sees the deadline only between instructions.
func BenchmarkWork_LargestAdmittedOperation(b *testing.B) {
	for name, body := range map[string]string{
		// dag(20): 2^21 tuples and as many integers, 4M visits.
		"hash":    "d = {}\n    d[T] = 1",
		"compare": "return W == W2",
		"in":      "return W in [W2]",
		"sorted":  "return sorted(L)",
	} {
		b.Run(name, func(b *testing.B) {
			l := newLoader(b, runtime.Options{})
			snap := snapshotOf(b, map[string]string{"app.star": workPrelude + `
T = dag(20)
W, W2 = wide(20, 4), wide(20, 4)  # 20^5 = 3.2M paths each
L = list(range(2000000, 0, -1))
def run():
    ` + body + "\n"})
			run := mustLoad(b, l, snap, "app.star")["run"].(starlark.Callable)
			ctx := context.Background()
			for b.Loop() {
				if _, err := l.Call(ctx, snap, run, nil, nil, runtime.CallOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWork_Lookups measures the cost of the checks on a loop of comparisons, index
// reads and writes and membership tests, compiled by the Loader (checked) and by
// go.starlark.net alone (plain).
func BenchmarkWork_Lookups(b *testing.B) {
	src := `
def run():
    d = {}
    l = list(range(100))
    t = 0
    i = 0
    n = 10000
    while i < n:
        k = l[i % 100]
        d[k] = i
        if k in d and d[k] >= t:
            t = d[k]
        i = i + 1
    return t
`
	b.Run("checked", func(b *testing.B) {
		l := newLoader(b, runtime.Options{})
		snap := snapshotOf(b, map[string]string{"app.star": src})
		run := mustLoad(b, l, snap, "app.star")["run"].(starlark.Callable)
		ctx := context.Background()
		for b.Loop() {
			if _, err := l.Call(ctx, snap, run, nil, nil, runtime.CallOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		globals, err := starlark.ExecFileOptions(runtime.Dialect(), &starlark.Thread{}, "app.star", src, nil)
		if err != nil {
			b.Fatal(err)
		}
		run := globals["run"].(starlark.Callable)
		for b.Loop() {
			thread := &starlark.Thread{}
			thread.SetMaxExecutionSteps(runtime.DefaultMaxSteps)
			if _, err := starlark.Call(thread, run, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
