package runtime_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

// TestPercentFlags_MatchPython formats every case of testdata/percent_python.json (made by
// Python 3 from percent_python.py) with the % of stored code and compares with Python's
// result.
func TestPercentFlags_MatchPython(t *testing.T) {
	raw, err := os.ReadFile("testdata/percent_python.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Format, Args, Want, Error string
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": `
def format(f, args):
    return f % args
`})
	globals := mustLoad(t, l, snap, "app.star")
	for _, tc := range cases {
		args, err := starlark.Eval(&starlark.Thread{}, "args", tc.Args, starlark.StringDict{"float": starlark.Universe["float"]})
		if err != nil {
			t.Fatalf("args %s: %v", tc.Args, err)
		}
		got, err := call(l, t.Context(), snap, globals, "format", runtime.CallOptions{}, starlark.String(tc.Format), args)
		if tc.Error != "" {
			if err == nil {
				t.Errorf("%q %% %s = %v, want an error (Python: %s)", tc.Format, tc.Args, got, tc.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q %% %s: %v, want %q", tc.Format, tc.Args, err, tc.Want)
			continue
		}
		if s, _ := starlark.AsString(got); s != tc.Want {
			t.Errorf("%q %% %s = %q, want %q (Python's)", tc.Format, tc.Args, s, tc.Want)
		}
	}
}

func TestPercentFlags_RefusesWhatItCannotFormatOrBound(t *testing.T) {
	l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxAllocBytes: runtime.MiB}})
	snap := snapshotOf(t, map[string]string{"app.star": `
def format(f, args):
    return f % args
`})
	globals := mustLoad(t, l, snap, "app.star")
	for _, tc := range []struct {
		format string
		args   starlark.Value
		want   string
	}{
		{"%0999999999d", starlark.MakeInt(1), "memory limit exceeded"},
		{"%.99999999999999999999f", starlark.Float(1), "memory limit exceeded"},
		{"%*d", starlark.Tuple{starlark.MakeInt(3), starlark.MakeInt(1)}, "width given by * is not supported"},
		{"%#f", starlark.Float(1), "# flag of %f is not supported"},
		{"%05d", starlark.String("x"), "%d format requires integer"},
		{"%05d %d", starlark.MakeInt(1), "not enough arguments"},
		{"%05d", starlark.Tuple{starlark.MakeInt(1), starlark.MakeInt(2)}, "too many arguments"},
		{"%05", starlark.MakeInt(1), "incomplete format"},
		{"%05q", starlark.MakeInt(1), "unknown conversion %q"},
	} {
		_, err := call(l, t.Context(), snap, globals, "format", runtime.CallOptions{}, starlark.String(tc.format), tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %% %v: got %v, want an error saying %q", tc.format, tc.args, err, tc.want)
		}
		if tc.want == "memory limit exceeded" && !errors.Is(err, runtime.ErrMemoryLimit) {
			t.Errorf("%q %% %v: got %v, want ErrMemoryLimit", tc.format, tc.args, err)
		}
	}
}
