package render_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
)

// renderWith loads app.star on a loader with limits and render predeclared, calls its
// page(), and returns the result, the error and how long the call took.
func renderWith(t *testing.T, r *render.Renderer, limits runtime.Limits, files map[string]string) (string, error, time.Duration) {
	t.Helper()
	l, err := runtime.New(runtime.Options{Predeclared: r.Predeclared(), Limits: limits, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	snap := snapshot(files)
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), nil, nil, runtime.CallOptions{})
	elapsed := time.Since(start)
	if err != nil {
		return "", err, elapsed
	}
	return string(v.(starlark.String)), nil, elapsed
}

func page(call string) string { return "def page():\n    return " + call + "\n" }

func TestRender_ChargesTheDataToTheAllocationLimit(t *testing.T) {
	limits := runtime.Limits{MaxAllocBytes: 8 * runtime.MiB}
	cases := map[string]string{
		// 16M elements were 384 MiB of []any before a single byte of output.
		"long range": `render("t.html", x = range(1 << 24))`,
		// 40 references, 2^40 paths: the conversion visited each path.
		"shared structure": `render("t.html", x = shared(40))`,
		// One 1 MiB string a thousand times is 1000 MiB of text to print.
		"repeated string": `render("t.html", x = ["x" * (1 << 20)] * 1000)`,
		"dict of strings": `render("t.html", x = {str(i): "y" * 1024 for i in range(10000)})`,
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after goruntime.MemStats
			goruntime.ReadMemStats(&before)
			_, err, elapsed := renderWith(t, render.New(render.Options{}), limits, map[string]string{
				"app.star": page(call) + "def shared(n):\n    l = ['abc']\n    for _ in range(n):\n        l = [l, l]\n    return l\n",
				"t.html":   "{{.x}}",
			})
			goruntime.ReadMemStats(&after)
			if !errors.Is(err, runtime.ErrMemoryLimit) {
				t.Fatalf("render = %v, want ErrMemoryLimit", err)
			}
			if !strings.Contains(err.Error(), "memory limit exceeded: render() of its data would allocate") ||
				!strings.Contains(err.Error(), "over the limit of 8MiB for one operation (Limits.MaxAllocBytes)") {
				t.Errorf("error = %v, want it to name render's data and the limit", err)
			}
			// The call itself builds at most 10 MiB of Starlark values (the dict case).
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 48<<20 {
				t.Errorf("the refused render allocated %s", runtime.ByteSize(grew))
			}
			if elapsed > 30*time.Second {
				t.Errorf("refusing took %v", elapsed)
			}
		})
	}
}

func TestRender_StopsAtTheRequestsDeadline(t *testing.T) {
	limits := runtime.Limits{Timeout: 200 * time.Millisecond, MaxSteps: 1 << 62}
	for name, tmpl := range map[string]string{
		"range over an int":     "{{range 300000000}}{{end}}",
		"nested ranges of data": "{{range .x}}{{range $.x}}{{range $.x}}{{end}}{{end}}{{end}}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err, elapsed := renderWith(t, render.New(render.Options{}), limits, map[string]string{
				"app.star": page(`render("t.html", x = range(3000))`),
				"t.html":   tmpl,
			})
			if !errors.Is(err, runtime.ErrTimeout) {
				t.Fatalf("render = %v, want ErrTimeout", err)
			}
			if elapsed > 30*time.Second {
				t.Errorf("the render stopped after %v, want soon after the 200ms timeout", elapsed)
			}
		})
	}
}

func TestRender_CountsIterationsAndTemplateCallsAsSteps(t *testing.T) {
	// 2^30 template calls without a single range: each template calls the next twice.
	var calls strings.Builder
	for i := range 30 {
		calls.WriteString(`{{define "t` + strconv.Itoa(i) + `"}}{{template "t` + strconv.Itoa(i+1) + `"}}{{template "t` + strconv.Itoa(i+1) + `"}}{{end}}`)
	}
	calls.WriteString(`{{define "t30"}}{{end}}{{template "t0"}}`)
	for name, tmpl := range map[string]string{
		"range over an int": "{{range 300000000}}{{end}}",
		"template calls":    calls.String(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err, elapsed := renderWith(t, render.New(render.Options{}), runtime.Limits{MaxSteps: 1 << 18}, map[string]string{
				"app.star": page(`render("t.html")`),
				"t.html":   tmpl,
			})
			if !errors.Is(err, runtime.ErrStepLimit) {
				t.Fatalf("render = %v, want ErrStepLimit", err)
			}
			if elapsed > 30*time.Second {
				t.Errorf("the render stopped after %v", elapsed)
			}
		})
	}
}

func TestRender_OutputIsBoundedByTheAllocationLimit(t *testing.T) {
	_, err, _ := renderWith(t, render.New(render.Options{}), runtime.Limits{MaxAllocBytes: runtime.MiB}, map[string]string{
		"app.star": page(`render("t.html", x = range(10000))`),
		"t.html":   "{{range .x}}<p>" + strings.Repeat("some text ", 10) + "{{.}}</p>{{end}}",
	})
	if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "render() output would allocate") {
		t.Errorf("render = %v, want ErrMemoryLimit for its output", err)
	}
}

func TestRender_TextFunctionsAreBounded(t *testing.T) {
	r := render.New(render.Options{MaxOutput: 1 << 20})
	for name, tmpl := range map[string]string{
		"print":           "{{if print .s .s .s .s .s .s .s .s .s .s}}{{end}}",
		"println":         "{{$x := println .s .s .s .s .s .s .s .s .s .s}}",
		"printf":          `{{$x := printf "%v%v%v%v%v%v%v%v%v%v" .s .s .s .s .s .s .s .s .s .s}}`,
		"printf indexed":  `{{$x := printf "%[1]v%[1]v%[1]v%[1]v%[1]v%[1]v%[1]v%[1]v%[1]v%[1]v" .s}}`,
		"printf width":    `{{$x := printf "%1000000v" .list}}`,
		"printf star":     `{{$x := printf "%*d" 1000000 .list}}`,
		"html":            "{{$x := html .s .s .s .s .s .s .s .s .s .s}}",
		"js":              "{{$x := js .quotes}}",
		"urlquery":        "{{$x := urlquery .s .s .s .s .s .s .s .s .s .s}}",
		"printf of print": `{{$x := printf "%q" (print .s)}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err, _ := renderWith(t, r, runtime.Limits{}, map[string]string{
				"app.star": page(`render("t.html", s = "x" * (200 * 1024), list = range(100), quotes = "<" * (300 * 1024))`),
				"t.html":   tmpl,
			})
			if !errors.Is(err, render.ErrOutputTooLarge) || !strings.Contains(err.Error(), "would produce more than the 1048576 bytes a render may output") {
				t.Errorf("render = %v, want ErrOutputTooLarge from the function", err)
			}
		})
	}
	got, err, _ := renderWith(t, r, runtime.Limits{}, map[string]string{
		"app.star": page(`render("t.html", n = 3, s = "a<b", l = [1, "x"], f = 2.5)`),
		"t.html":   `{{print .n .n}}|{{println .s}}|{{printf "%03d-%q-%v-%.1f" .n .s .l .f}}|{{html .s}}|{{js .s}}|{{urlquery .s}}|{{printf "%d"}}`,
	})
	want := "3 3|a&lt;b\n|003-&#34;a&lt;b&#34;-[1 x]-2.5|a&lt;b|a\\u003Cb|a%3Cb|%!d(MISSING)"
	if err != nil || got != want {
		t.Errorf("render = %q, %v; want %q", got, err, want)
	}
}

func TestRender_BigIntegersAreTheirDigits(t *testing.T) {
	// A *big.Int handed templates its methods: {{.n.Lsh .n 4000000000}} made 500 MB.
	_, err, _ := renderWith(t, render.New(render.Options{}), runtime.Limits{}, map[string]string{
		"app.star": page(`render("t.html", n = 1 << 70)`),
		"t.html":   "{{.n.Add .n .n}}",
	})
	if err == nil || !strings.Contains(err.Error(), "can't evaluate field Add") {
		t.Errorf("render = %v, want the method refused", err)
	}
}

func TestParse_RefusesTemplatesWithoutABound(t *testing.T) {
	nested := func(open, close string, n int) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"direct recursion", map[string]string{"t.html": "a\n{{define \"r\"}}{{if .}}{{template \"r\" .}}{{end}}{{end}}"},
			`t.html:2:34: template "r" includes itself ("r" -> "r"): recursive templates are not allowed`},
		{"recursion through another file", map[string]string{
			"templates/a.html": `{{template "templates/b.html" .}}`,
			"templates/b.html": `x {{template "templates/a.html" .}}`,
		}, `templates/b.html:1:14: template "templates/a.html" includes itself ("templates/a.html" -> "templates/b.html" -> "templates/a.html")`},
		{"nested ranges", map[string]string{"t.html": nested("{{range .}}", "{{end}}", 9)},
			`t.html:1:9: template "t.html" nests {{range}} 9 levels deep (counting the templates it calls), over the limit of 8`},
		{"nested ranges through a call", map[string]string{
			"t.html":           nested("{{range .}}", "{{end}}", 2) + nested("{{range .}}", "{{end}}", 4)[:44] + `{{template "x"}}` + strings.Repeat("{{end}}", 4),
			"templates/x.html": `{{define "x"}}` + nested("{{range .}}", "{{end}}", 5) + `{{end}}`,
		}, `t.html:1:45: template "t.html" nests {{range}} 9 levels deep`},
		{"nested ifs", map[string]string{"t.html": nested("{{if .}}", "{{end}}", 101)},
			`t.html:1:6: template "t.html" nests 101 levels of if, range, with and {{template}} (counting the templates it calls), over the limit of 100`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for p, src := range tc.files {
				files[p] = []byte(src)
			}
			_, problems := render.Parse(files)
			if len(problems) != 1 || !strings.Contains(problems[0].Error(), tc.want) {
				t.Errorf("problems = %v, want one containing %q", problems, tc.want)
			}
		})
	}
	ok := map[string][]byte{"t.html": []byte(nested("{{range .}}", "{{end}}", 8) + nested("{{if .}}", "{{end}}", 90) +
		`{{define "a"}}{{template "b"}}{{template "b"}}{{end}}{{define "b"}}b{{end}}{{template "a"}}`)}
	if _, problems := render.Parse(ok); len(problems) != 0 {
		t.Errorf("problems = %v, want none within the limits", problems)
	}
}
