package runtime_test

import (
	"context"
	"fmt"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
)

// BenchmarkLoad_CacheHit measures a request's Load of app.star of a 50-module app that is
// already loaded: the common case.
func BenchmarkLoad_CacheHit(b *testing.B) {
	l := newLoader(b, runtime.Options{})
	snap := snapshotOf(b, appOf50(nil))
	mustLoad(b, l, snap, "app.star")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Load(ctx, snap, "app.star"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad_NewCommitSameModules measures the first Load of a new commit whose modules
// are all cached: resolving the graph (hashing every module key) without running anything.
func BenchmarkLoad_NewCommitSameModules(b *testing.B) {
	l := newLoader(b, runtime.Options{})
	snap := snapshotOf(b, appOf50(nil))
	mustLoad(b, l, snap, "app.star")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		next := *snap
		next.Commit = code.ID(fmt.Sprintf("%s-%d", snap.Commit, i))
		if _, err := l.Load(ctx, &next, "app.star"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad_Miss measures loading a 50-module app after a change to a leaf: compiling
// the leaf and running it and the 5 modules that depend on it.
func BenchmarkLoad_Miss(b *testing.B) {
	l := newLoader(b, runtime.Options{})
	mustLoad(b, l, snapshotOf(b, appOf50(nil)), "app.star")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		snap := snapshotOf(b, appOf50(map[int]int{37: 1000 + i}))
		b.StartTimer()
		if _, err := l.Load(ctx, snap, "app.star"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCall measures calling a small handler that builds a response.
func BenchmarkCall(b *testing.B) {
	l := newLoader(b, runtime.Options{})
	snap := snapshotOf(b, map[string]string{"app.star": `
def handle(name):
    return response("Hello, %s!" % name, headers = {"Cache-Control": "no-store"})
`})
	handle := mustLoad(b, l, snap, "app.star")["handle"].(starlark.Callable)
	ctx := context.Background()
	args := starlark.Tuple{starlark.String("Ada")}
	opts := runtime.CallOptions{RequestID: "r-1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Call(ctx, snap, handle, args, nil, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// checkedWorkloads are loops dominated by the operations the checks guard: integer
// arithmetic (+ and * are checked unless an operand is a literal), string building, and
// function calls (each enters a check of the call depth).
var checkedWorkloads = map[string]string{
	"arithmetic": `
def run():
    t = 0
    for i in range(10000):
        t = t + i * i
    return t
`,
	"strings": `
def run():
    parts = []
    for i in range(2000):
        parts.append("%d:%s" % (i, str(i) + "x"))
    return ",".join(parts)
`,
	// One workload per fast path of format.go, each 1,000 operations on a page's values.
	"fast_percent": `
def run():
    for i in range(1000):
        s = "<td>%d</td><td>%s</td>" % (i, "name")
    return s
`,
	"fast_format": `
def run():
    for i in range(1000):
        s = "<td>{}</td><td>{}</td>".format(i, "name")
    return s
`,
	"fast_concat": `
def run():
    a, b = "name", "$12.00"
    for i in range(1000):
        s = "<tr><td>" + a + "</td><td>" + b + "</td></tr>"
    return s
`,
	"fast_str": `
def run():
    for i in range(1000):
        s = str(i * 7)
    return s
`,
	"fast_join": `
def run():
    parts = ["<td>", "name", "</td>", "<td>", "12", "</td>"]
    for i in range(1000):
        s = "".join(parts)
    return s
`,
	"fast_replace": `
def run():
    for i in range(1000):
        s = "Item 5 <f & co>".replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;")
    return s
`,
	"fast_list_methods": `
def run():
    for i in range(1000):
        l = []
        l.append(i)
        l.insert(0, i)
    return l
`,
	"calls": `
def add(a, b):
    return a - (-b)

def run():
    t = 0
    for i in range(10000):
        t = add(t, i)
    return t
`,
}

// BenchmarkChecks measures the cost of the memory and depth checks: each workload runs
// once compiled by the Loader (checked) and once by go.starlark.net alone (plain), both
// with a step limit.
func BenchmarkChecks(b *testing.B) {
	for name, src := range checkedWorkloads {
		b.Run(name+"/checked", func(b *testing.B) {
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
		b.Run(name+"/plain", func(b *testing.B) {
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
}
