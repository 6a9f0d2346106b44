package runtime_test

import (
	"context"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/bench/apps"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
)

// BenchmarkPage_Table measures the benchmark app's 100-row table page (bench/apps), the
// handler alone, without HTTP: checked is the Loader (the checks and their fast paths,
// what Starbase runs), plain is go.starlark.net alone on the same source. Their ratio is
// what the checks cost on a real page.
func BenchmarkPage_Table(b *testing.B) {
	files := map[string]string{}
	for path, src := range apps.Starlark(1) {
		files[path] = string(src)
	}
	b.Run("checked", func(b *testing.B) {
		l := newLoader(b, runtime.Options{Predeclared: render.New(render.Options{}).Predeclared()})
		snap := snapshotOf(b, files)
		table := mustLoad(b, l, snap, "app.star")["table"].(starlark.Callable)
		ctx := context.Background()
		args := starlark.Tuple{starlark.None}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Call(ctx, snap, table, args, nil, runtime.CallOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		table := plainGlobals(b, files, "app.star")["table"].(starlark.Callable)
		args := starlark.Tuple{starlark.None}
		b.ReportAllocs()
		for b.Loop() {
			thread := &starlark.Thread{}
			thread.SetMaxExecutionSteps(runtime.DefaultMaxSteps)
			if _, err := starlark.Call(thread, table, args, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// plainGlobals runs module path of files with go.starlark.net alone (no rewriting, no
// checks), loading its dependencies the same way, and returns its frozen globals.
func plainGlobals(tb testing.TB, files map[string]string, path string) starlark.StringDict {
	tb.Helper()
	cache := map[string]starlark.StringDict{}
	var load func(thread *starlark.Thread, module string) (starlark.StringDict, error)
	load = func(thread *starlark.Thread, module string) (starlark.StringDict, error) {
		if g, ok := cache[module]; ok {
			return g, nil
		}
		g, err := starlark.ExecFileOptions(runtime.Dialect(), &starlark.Thread{Load: load}, module, files[module], render.New(render.Options{}).Predeclared())
		if err != nil {
			return nil, err
		}
		g.Freeze()
		cache[module] = g
		return g, nil
	}
	g, err := load(nil, path)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}
