package render_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
)

// The CSRF benchmarks render a page of 100 rows through render(), as a request does: with
// a form and its CSRF field in every row, and the same page with no CSRF function, whose
// cost must not depend on how CSRF tokens are given to templates.

func BenchmarkRender_FormsWithCSRF(b *testing.B) {
	benchRender(b, `<table>{{range .rows}}<tr><td>{{.name}}</td><td><form method="post" action="/rows/{{.id}}">{{csrf_field}}<button>Delete</button></form></td></tr>{{end}}</table>`)
}

func BenchmarkRender_RowsWithoutCSRF(b *testing.B) {
	benchRender(b, `<table>{{range .rows}}<tr><td>{{.name}}</td><td><form method="post" action="/rows/{{.id}}"><button>Delete</button></form></td></tr>{{end}}</table>`)
}

// benchRender renders tmpl with 100 rows once per iteration, in one request's thread.
func benchRender(b *testing.B, tmpl string) {
	b.Helper()
	r := render.New(render.Options{CSRFToken: func(*starlark.Thread) (string, error) { return "0a1b2c3dSGVsbG8tV29ybGRfdG9rZW4tb2YtcmVxdWVzdA", nil }})
	l, err := runtime.New(runtime.Options{Predeclared: r.Predeclared(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	snap := snapshot(map[string]string{
		"app.star": "rows = [{\"id\": i, \"name\": \"row %d\" % i} for i in range(100)]\n" +
			"def page():\n    return render(\"templates/t.html\", rows = rows)\n",
		"templates/t.html": tmpl,
	})
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		b.Fatal(err)
	}
	page := globals["page"].(starlark.Callable)
	b.ReportAllocs()
	for b.Loop() {
		v, err := l.Call(context.Background(), snap, page, nil, nil, runtime.CallOptions{Now: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		if s := string(v.(starlark.String)); !strings.Contains(s, "row 99") {
			b.Fatalf("render = %.200q..., want 100 rows", s)
		}
	}
}
