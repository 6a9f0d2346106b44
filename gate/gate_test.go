package gate_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
)

func newLoader(t testing.TB) *runtime.Loader {
	t.Helper()
	l, err := runtime.New(runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func toBytes(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		out[k] = []byte(v)
	}
	return out
}

// run runs the gate on files and returns the report.
func run(t *testing.T, files map[string]string, opts gate.Options) *gate.Report {
	t.Helper()
	if opts.Loader == nil {
		opts.Loader = newLoader(t)
	}
	rep, err := gate.Run(context.Background(), toBytes(files), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func problems(rep *gate.Report) []string {
	out := []string{}
	for _, p := range rep.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestCheck_ReportsEveryProblemAtItsPosition(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "syntax error",
			files: map[string]string{"app.star": "def index(req)\n    return 'x'\n"},
			want:  []string{"app.star:2:1: got newline, want ':'"},
		},
		{
			name:  "every undefined name",
			files: map[string]string{"app.star": "x = y\n\ndef f():\n    return zz\n"},
			want:  []string{"app.star:1:5: undefined: y", "app.star:4:12: undefined: zz"},
		},
		{
			name: "load of a missing module",
			files: map[string]string{
				"app.star":          "x = 1\nload(\"util.star\", \"u\")\n",
				"lib/util.star":     "u = 1\n",
				"lib/template.html": "<p>ok</p>",
			},
			want: []string{`app.star:2:6: load: no module "util.star" in the tree (paths are relative to the tree root); did you mean "lib/util.star"?`},
		},
		{
			name: "load of a path that is no module",
			files: map[string]string{
				"app.star":   "load(\"../up.star\", \"a\")\nload(\"data.json\", \"b\")\n",
				"data.json":  "{}",
				"other.star": "load(\"/abs.star\", \"c\")\n",
			},
			want: []string{
				`app.star:1:6: load: "../up.star" is not a valid module path: it has a ".." element; paths must stay inside the tree`,
				`app.star:2:6: load: "data.json" is not a Starlark module: module paths end in .star`,
				`other.star:1:6: load: "/abs.star" is not a valid module path: it is absolute; use a path relative to the tree root`,
			},
		},
		{
			name: "loaded name not defined",
			files: map[string]string{
				"app.star":   "load(\"lib/a.star\", \"total\", \"count\", n = \"nme\")\n",
				"lib/a.star": "def totals(xs):\n    return 0\nname = 'a'\ncount = 1\n",
			},
			want: []string{
				`app.star:1:21: load: lib/a.star does not define "total"; did you mean "totals"?`,
				`app.star:1:43: load: lib/a.star does not define "nme"; did you mean "name"?`,
			},
		},
		{
			name: "load cycle",
			files: map[string]string{
				"app.star":   "load(\"lib/a.star\", \"a\")\n",
				"lib/a.star": "load(\"lib/b.star\", \"b\")\na = b\n",
				"lib/b.star": "x = 1\nload(\"lib/a.star\", \"a\")\nb = 2\n",
			},
			want: []string{"lib/b.star:2:6: load cycle: lib/a.star -> lib/b.star -> lib/a.star (modules cannot load each other; move what they share to a third module)"},
		},
		{
			name: "top-level error, reported once at the failing module",
			files: map[string]string{
				"app.star":   "load(\"lib/a.star\", \"A\")\n",
				"lib/a.star": "load(\"lib/b.star\", \"ratio\")\nA = ratio(1, 0)\n",
				"lib/b.star": "def ratio(a, b):\n    return a // b\n",
			},
			want: []string{"lib/b.star:2:14: floored division by zero (called by the top level of lib/a.star at lib/a.star:2:10)"},
		},
		{
			name: "template problems",
			files: map[string]string{
				"app.star":            "routes = {}\n",
				"templates/page.html": "<h1>{{.title}}</h1>\n<p>{{.body</p>\n",
				"templates/list.html": "<ul>\n  {{template \"templates/item.html\" .}}\n</ul>\n",
				"pages/about.html":    "{{if .x}}\n",
				"static/raw.html":     "{{if .x}} is served as it is, not a template\n",
			},
			want: []string{
				"pages/about.html:2:1: unexpected EOF",
				"templates/page.html:2:4: bad character U+003C '<'",
			},
		},
		{
			name: "template naming a template that does not exist",
			files: map[string]string{
				"templates/list.html": "<ul>\n  {{template \"templates/item.html\" .}}\n</ul>\n",
				"templates/row.html":  "<li>{{.}}</li>",
			},
			want: []string{`templates/list.html:2:14: no template named "templates/item.html": templates are named by their path, such as "templates/list.html", or by {{define}}`},
		},
		{
			name: "failing tests",
			files: map[string]string{
				"lib/math.star": "def add(a, b):\n    return a + b\n",
				"lib/math_test.star": `load("lib/math.star", "add")

def test_add():
    assert.eq(add(1, 2), 4)

def test_passes():
    assert.eq(add(1, 2), 3)

def test_none():
    add(1, None)
`,
			},
			want: []string{
				"lib/math_test.star:4:14: test_add failed: assert.eq: got 3, want 4",
				"lib/math_test.star:10:8: test_none failed: unknown binary op: int + NoneType (at lib/math.star:2:14)",
			},
		},
		{
			name: "test module loaded by an app module",
			files: map[string]string{
				"app.star":      "load(\"app_test.star\", \"helper\")\nroutes = {}\n",
				"app_test.star": "helper = 1\n",
			},
			want: []string{`app.star:1:6: load: "app_test.star" is a test module; only test modules can load test modules`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := run(t, tc.files, gate.Options{})
			got := problems(rep)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			err := gate.Check(context.Background(), toBytes(tc.files), gate.Options{Loader: newLoader(t)})
			var gerr *gate.Error
			if !errors.As(err, &gerr) || len(gerr.Problems) != len(tc.want) {
				t.Errorf("Check = %v, want a *gate.Error with the %d problems", err, len(tc.want))
			}
		})
	}
}

func TestCheck_AcceptsAGoodTreeAndRunsItsTests(t *testing.T) {
	files := map[string]string{
		"app.star":            "load(\"lib/math.star\", \"add\")\ndef index(req):\n    return str(add(1, 2))\nroutes = {\"GET /\": index}\n",
		"lib/math.star":       "def add(a, b):\n    return a + b\n",
		"templates/page.html": "{{define \"row\"}}<li>{{.}}</li>{{end}}<ul>{{range .}}{{template \"row\" .}}{{end}}</ul>",
		"lib/math_test.star": `load("lib/math.star", "add")

def test_zeta():
    assert.eq(add(2, 2), 4)
    assert.ne(add(2, 2), 5)

def test_alpha():
    assert.true(add(1, 1) == 2)
    assert.false(add(1, 1) == 3)
    assert.contains([1, 2], add(1, 1))
    msg = assert.fails(lambda: add(1, None), "unknown binary op")
    assert.eq(msg, "unknown binary op: int + NoneType")

def helper():
    fail("not a test")
`,
	}
	if err := gate.Check(context.Background(), toBytes(files), gate.Options{Loader: newLoader(t)}); err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
	rep := run(t, files, gate.Options{})
	var names []string
	for _, r := range rep.Tests {
		if !r.Passed() {
			t.Errorf("%s %s failed: %v", r.Module, r.Name, r.Err)
		}
		names = append(names, r.Module+":"+r.Name)
	}
	if got, want := strings.Join(names, " "), "lib/math_test.star:test_zeta lib/math_test.star:test_alpha"; got != want {
		t.Errorf("tests run = %s, want %s (definition order, helpers skipped)", got, want)
	}
}

func TestAssert_FailuresNameWhatDiffers(t *testing.T) {
	cases := []struct{ call, want string }{
		{`assert.eq([1], [2], "lists")`, "assert.eq: got [1], want [2]: lists"},
		{`assert.ne("a", "a")`, `assert.ne: got "a", which it must not be`},
		{`assert.true(0)`, "assert.true: got 0, want a true value"},
		{`assert.false("x")`, `assert.false: got "x", want a false value`},
		{`assert.contains({"a": 1}, "b")`, `assert.contains: "b" is not in {"a": 1}`},
		{`assert.fails(lambda: 1)`, "assert.fails: lambda did not fail"},
		{`assert.fails(lambda: fail("boom"), "bang")`, `assert.fails: lambda failed with "fail: boom", which does not match "bang"`},
	}
	for _, tc := range cases {
		t.Run(tc.call, func(t *testing.T) {
			rep := run(t, map[string]string{"x_test.star": "def test_it():\n    " + tc.call + "\n"}, gate.Options{})
			want := "x_test.star:2:" // the assert call's line, whatever its column
			if len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0].String(), want) ||
				rep.Problems[0].Message != "test_it failed: "+tc.want {
				t.Errorf("problems = %v, want one at %s saying %q", problems(rep), want, "test_it failed: "+tc.want)
			}
		})
	}
}

func TestCheck_NoTestsSkipsOnlyTheTests(t *testing.T) {
	failing := map[string]string{
		"app.star":      "x = 1\nroutes = {}\n",
		"app_test.star": "def test_x():\n    assert.eq(1, 2)\n",
	}
	if err := gate.Check(context.Background(), toBytes(failing), gate.Options{Loader: newLoader(t), NoTests: true}); err != nil {
		t.Errorf("Check(NoTests) of a tree with a failing test = %v, want nil", err)
	}
	broken := map[string]string{
		"app.star":      "x = 1\nroutes = {}\n",
		"app_test.star": "load(\"app.star\", \"y\")\ndef test_x():\n    assert.eq(1, nope)\n",
	}
	rep := run(t, broken, gate.Options{NoTests: true})
	want := []string{`app_test.star:1:19: load: app.star does not define "y"`, "app_test.star:3:18: undefined: nope"}
	if got := problems(rep); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems with NoTests = %q, want %q", got, want)
	}
	if len(rep.Tests) != 0 {
		t.Errorf("NoTests ran %d tests", len(rep.Tests))
	}
}

func TestRun_RunSelectsTests(t *testing.T) {
	files := map[string]string{
		"a_test.star": "def test_one():\n    pass\ndef test_two():\n    fail('two')\n",
		"b_test.star": "def test_one():\n    pass\n",
	}
	rep := run(t, files, gate.Options{Run: regexp.MustCompile(`^a_test.star:.*one`)})
	if len(rep.Tests) != 1 || rep.Tests[0].Module != "a_test.star" || rep.Tests[0].Name != "test_one" || len(rep.Problems) != 0 {
		t.Errorf("Run = %+v, want only a_test.star:test_one, passing", rep)
	}
}

func TestRun_StepLimitStopsATest(t *testing.T) {
	files := map[string]string{"loop_test.star": "def test_spin():\n    while True:\n        pass\n"}
	rep := run(t, files, gate.Options{Limits: runtime.Limits{MaxSteps: 10_000}})
	if len(rep.Tests) != 1 || !errors.Is(rep.Tests[0].Err, runtime.ErrStepLimit) {
		t.Fatalf("tests = %+v, want test_spin stopped by the step limit", rep.Tests)
	}
	if got := problems(rep); len(got) != 1 || !strings.HasPrefix(got[0], "loop_test.star:") ||
		!strings.Contains(got[0], "test_spin failed: Starlark computation cancelled: step limit exceeded: more than 10000 steps") {
		t.Errorf("problems = %q, want test_spin stopped by the step limit", got)
	}
}

func TestRun_TestPrintsGoToTheLogger(t *testing.T) {
	var log strings.Builder
	files := map[string]string{"p_test.star": "def test_p():\n    print('hello from a test')\n"}
	run(t, files, gate.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if !strings.Contains(log.String(), "hello from a test") || !strings.Contains(log.String(), "p_test.star:2:10") {
		t.Errorf("log = %q, want the print with its position", log.String())
	}
}

func TestRun_TestModulesSeeTheSandboxNames(t *testing.T) {
	l, err := runtime.New(runtime.Options{Predeclared: sandbox.Predeclared(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	files := map[string]string{
		"models.star":      "Note = model(\"Note\", fields = {\"text\": \"\"})\n",
		"models_test.star": "load(\"models.star\", \"Note\")\n\ndef test_model():\n    assert.true(Note != None)\n    assert.true(model != None)\n",
	}
	rep := run(t, files, gate.Options{Loader: l})
	if len(rep.Problems) != 0 || len(rep.Tests) != 1 || !rep.Tests[0].Passed() {
		t.Errorf("Run = problems %q, tests %+v; want test_model to pass", problems(rep), rep.Tests)
	}
}

func TestRun_TestsSeeTheFixedTestClock(t *testing.T) {
	files := map[string]string{
		"clock.star":      "def stamp():\n    return time.now().format(\"2006-01-02 15:04:05 MST\")\n",
		"clock_test.star": "load(\"clock.star\", \"stamp\")\n\ndef test_clock():\n    assert.eq(stamp(), \"2000-01-01 00:00:00 UTC\")\n",
	}
	l, err := runtime.New(runtime.Options{Predeclared: sandbox.Predeclared(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rep := run(t, files, gate.Options{Loader: l})
	if len(rep.Problems) != 0 || len(rep.Tests) != 1 || !rep.Tests[0].Passed() {
		t.Errorf("Run = problems %q, tests %+v; want test_clock to pass", problems(rep), rep.Tests)
	}
	if want := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); !gate.TestClock.Equal(want) {
		t.Errorf("TestClock = %v, want %v (the documented clock of tests)", gate.TestClock, want)
	}
}
