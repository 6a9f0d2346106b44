package traceback_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/traceback"
)

// commit is the commit id the test snapshots claim to be.
const commit = code.ID("c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789")

func snapshot(files map[string]string) *runtime.Snapshot {
	snap := memtree.Text(files)
	snap.Commit = commit
	return snap
}

func newLoader(t *testing.T, opts runtime.Options) *runtime.Loader {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// callHandler loads app.star of snap and calls its function name with no arguments.
func callHandler(t *testing.T, l *runtime.Loader, snap *runtime.Snapshot, name string) error {
	t.Helper()
	ctx := context.Background()
	globals, err := l.Load(ctx, snap, "app.star")
	if err != nil {
		t.Fatalf("Load(app.star) = %v", err)
	}
	fn, ok := globals[name].(starlark.Callable)
	if !ok {
		t.Fatalf("app.star defines no function %s", name)
	}
	_, err = l.Call(ctx, snap, fn, nil, nil, runtime.CallOptions{})
	if err == nil {
		t.Fatalf("%s() succeeded, want an error", name)
	}
	return err
}

func checkText(t *testing.T, err error, snap *runtime.Snapshot, want string) *traceback.Traceback {
	t.Helper()
	tb := traceback.New(context.Background(), err, snap)
	want = strings.TrimPrefix(want, "\n")
	if got := tb.String(); got != want {
		t.Errorf("traceback:\n%s\n\nwant:\n%s", got, want)
	}
	return tb
}

func TestNew_HandlerErrorTwoLoadsDeep(t *testing.T) {
	snap := snapshot(map[string]string{
		"app.star": `load("lib/a.star", "total")

def index():
    return total([])
`,
		"lib/a.star": `load("lib/b.star", "mean")

def total(items):
	return mean(items) * len(items)
`,
		"lib/b.star": `def mean(items):
    return sum(items) / len(items)

def sum(items):
    s = 0
    for x in items:
        s += x
    return s
`,
	})
	err := callHandler(t, newLoader(t, runtime.Options{}), snap, "index")
	tb := checkText(t, err, snap, `
Traceback (most recent call last):
  app.star:4:17 in index (commit c0ffee012345)
    return total([])
                ^
  lib/a.star:4:13 in total (commit c0ffee012345)
    return mean(items) * len(items)
               ^
  lib/b.star:2:23 in mean (commit c0ffee012345)
    return sum(items) / len(items)
                      ^
Error: floating-point division by zero`)
	if got := tb.Frames[1]; got.Commit != string(commit) || got.Source != "\treturn mean(items) * len(items)" {
		t.Errorf("frame 1 = %+v, want the full commit and the source line as stored", got)
	}
}

func TestNew_TopLevelErrorKeepsTheLoadFrames(t *testing.T) {
	snap := snapshot(map[string]string{
		"app.star":   "load(\"lib/a.star\", \"A\")\nroutes = {}\n",
		"lib/a.star": "# a\nload(\"lib/b.star\", \"B\")\nA = B\n",
		"lib/b.star": "LIMITS = {\"max\": 3}\nB = LIMITS[\"min\"]\n",
	})
	_, err := newLoader(t, runtime.Options{}).Load(context.Background(), snap, "app.star")
	if err == nil {
		t.Fatal("Load(app.star) succeeded, want lib/b.star's error")
	}
	checkText(t, err, snap, `
Traceback (most recent call last):
  app.star:1:6 in <toplevel> (commit c0ffee012345)
    load("lib/a.star", "A")
         ^
  lib/a.star:2:6 in <toplevel> (commit c0ffee012345)
    load("lib/b.star", "B")
         ^
  lib/b.star:2:11 in <toplevel> (commit c0ffee012345)
    B = LIMITS["min"]
              ^
Error: key "min" not in dict`)
}

func TestNew_TemplateErrorShowsTheTemplateLine(t *testing.T) {
	snap := snapshot(map[string]string{
		"app.star": `def page():
    return render("templates/page.html", title = "Items", items = ["a"])
`,
		"templates/page.html": "<h1>{{.title}}</h1>\n<p>Third: {{index .items 2}}</p>\n",
	})
	l := newLoader(t, runtime.Options{Predeclared: render.New(render.Options{}).Predeclared()})
	err := callHandler(t, l, snap, "page")
	checkText(t, err, snap, `
Traceback (most recent call last):
  app.star:2:18 in page (commit c0ffee012345)
    return render("templates/page.html", title = "Items", items = ["a"])
                 ^
  templates/page.html:2:13 in template "templates/page.html" (commit c0ffee012345)
    <p>Third: {{index .items 2}}</p>
                ^
Error: executing "templates/page.html" at <index .items 2>: error calling index: index out of range: 2`)
}

func TestNew_StepLimitShowsWhereItStopped(t *testing.T) {
	snap := snapshot(map[string]string{
		"app.star": `def spin():
    n = 0
    while True:
        n += 1
`,
	})
	err := callHandler(t, newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 1000}}), snap, "spin")
	if !errors.Is(err, runtime.ErrStepLimit) {
		t.Fatalf("spin() = %v, want ErrStepLimit", err)
	}
	tb := traceback.New(context.Background(), err, snap)
	// The thread stops at whichever step of the loop crosses the limit.
	line := tb.Frames[0].Line
	if line < 3 || line > 4 {
		t.Fatalf("stopped at line %d, want in the loop (lines 3-4)", line)
	}
	src := map[int]string{3: "while True:", 4: "n += 1"}[line]
	caret := strings.Repeat(" ", tb.Frames[0].Col-1-strings.Index(snapLine(snap, line), src)) + "^"
	checkText(t, err, snap, fmt.Sprintf(`
Traceback (most recent call last):
  app.star:%d:%d in spin (commit c0ffee012345)
    %s
    %s
Error: Starlark computation cancelled: step limit exceeded: more than 1000 steps`, line, tb.Frames[0].Col, src, caret))
}

func snapLine(snap *runtime.Snapshot, n int) string {
	b, _ := snap.Blobs.Blob(context.Background(), snap.Tree["app.star"])
	return strings.Split(string(b), "\n")[n-1]
}
