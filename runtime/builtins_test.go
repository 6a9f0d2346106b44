package runtime_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

// specBuiltins are the assertions used by the .star specifications under testdata.
func specBuiltins() starlark.StringDict {
	return starlark.StringDict{
		"expect_eq": starlark.NewBuiltin("expect_eq", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var got, want starlark.Value
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &got, &want); err != nil {
				return nil, err
			}
			if eq, err := starlark.Equal(got, want); err != nil || !eq {
				return nil, fmt.Errorf("got %s, want %s", got, want)
			}
			return starlark.None, nil
		}),
		"expect_error": starlark.NewBuiltin("expect_error", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var fn starlark.Callable
			var want string
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &fn, &want); err != nil {
				return nil, err
			}
			_, err := starlark.Call(thread, fn, nil, nil)
			switch {
			case err == nil:
				return nil, fmt.Errorf("%s succeeded, want error containing %q", fn.Name(), want)
			case !strings.Contains(err.Error(), want):
				return nil, fmt.Errorf("error %q does not contain %q", err, want)
			}
			return starlark.None, nil
		}),
	}
}

// runSpec runs every test_* function of the .star file as a subtest.
func runSpec(t *testing.T, file string) {
	t.Helper()
	runSpecWith(t, file, runtime.Options{})
}

// runSpecWith runs every test_* function of the .star file as a subtest, on a loader built
// with opts and the spec builtins.
func runSpecWith(t *testing.T, file string, opts runtime.Options) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	opts.Predeclared = specBuiltins()
	// The specs assert what is refused and why, never how fast: no spec expects a timeout,
	// and a machine loaded many times over its cores must not turn a slow pass into one.
	if opts.Limits.Timeout == 0 {
		opts.Limits.Timeout = 5 * time.Minute
	}
	if opts.Limits.LoadTimeout == 0 {
		opts.Limits.LoadTimeout = 5 * time.Minute
	}
	l := newLoader(t, opts)
	snap := snapshotOf(t, map[string]string{"spec.star": string(src)})
	globals := mustLoad(t, l, snap, "spec.star")
	names := slices.DeleteFunc(globals.Keys(), func(name string) bool { return !strings.HasPrefix(name, "test_") })
	if len(names) == 0 {
		t.Fatalf("%s defines no test_* function", file)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if _, err := l.Call(context.Background(), snap, globals[name].(starlark.Callable), nil, nil, runtime.CallOptions{}); err != nil {
				if eval, ok := err.(*starlark.EvalError); ok {
					t.Fatal(eval.Backtrace())
				}
				t.Fatal(err)
			}
		})
	}
}

func TestResponse(t *testing.T) { runSpec(t, "testdata/response.star") }
func TestCookies(t *testing.T)  { runSpec(t, "testdata/cookies.star") }

func TestResponse_GoFields(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": `r = response(b"ok", status = 201, headers = [("X-A", "1"), ("X-A", "2")], content_type = "text/plain")`})
	r, ok := mustLoad(t, l, snap, "app.star")["r"].(*runtime.Response)
	if !ok {
		t.Fatalf("r is not a *runtime.Response")
	}
	want := runtime.Response{Body: "ok", Status: 201, Headers: [][2]string{{"X-A", "1"}, {"X-A", "2"}}, ContentType: "text/plain"}
	if r.Body != want.Body || r.Status != want.Status || !slices.Equal(r.Headers, want.Headers) || r.ContentType != want.ContentType {
		t.Errorf("response = %+v, want %+v", *r, want)
	}
}

func TestBuiltins_AreTheDocumentedNames(t *testing.T) {
	got := runtime.Builtins().Keys()
	if want := []string{"delete_cookie", "json", "math", "redirect", "response", "set_cookie", "struct"}; !slices.Equal(got, want) {
		t.Errorf("Builtins() = %q, want %q (update the list in builtins.go and this test together)", got, want)
	}
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": `
p = struct(x = 1, y = 2)
s = json.encode({"a": [p.x, p.y]})
r = math.floor(2.5)
`})
	globals := mustLoad(t, l, snap, "app.star")
	if got := globals["s"]; got != starlark.String(`{"a":[1,2]}`) {
		t.Errorf("s = %v", got)
	}
	if got := globals["r"]; got != starlark.MakeInt(2) {
		t.Errorf("r = %v", got)
	}
}
