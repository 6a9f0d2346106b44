package runtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

// json.decode recursed once per level of nesting: 2 MB of "[" overflowed the Go stack and
// killed the process. The text's shape is checked first, in one linear pass.
func TestJSONDecode_RefusesTooDeepOrTooLongNumbersWithoutCrashing(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	snap := snapshotOf(t, map[string]string{"app.star": `
def decode(s):
    return json.decode(s)

def decode_default(s):
    return json.decode(s, default = "fallback")
`})
	globals := mustLoad(t, l, snap, "app.star")
	deep := strings.Repeat("[", 2_000_000)
	for _, tc := range []struct {
		in   string
		want error
		msg  string
	}{
		{deep, runtime.ErrDepthLimit, "json.decode: arrays and objects nest more than 1000 levels deep at byte 1000 (runtime.MaxJSONDepth)"},
		{strings.Repeat(`{"a":`, 1001) + "1" + strings.Repeat("}", 1001), runtime.ErrDepthLimit, "nest more than 1000 levels deep"},
		{"[" + strings.Repeat("7", 4301) + "]", runtime.ErrMemoryLimit, "json.decode: the number at byte 1 has more than 4300 digits (runtime.MaxJSONDigits)"},
	} {
		_, err := call(l, context.Background(), snap, globals, "decode", runtime.CallOptions{}, starlark.String(tc.in))
		if !errors.Is(err, tc.want) {
			t.Errorf("json.decode(%.20q...) error = %v, want %v", tc.in, err, tc.want)
			continue
		}
		wantContains(t, err, tc.msg)
		// With a default, a text refused is like any text the decoder refuses.
		if got := mustCall(t, l, snap, globals, "decode_default", starlark.String(tc.in)); got != starlark.String("fallback") {
			t.Errorf("json.decode(..., default = \"fallback\") = %v, want the default", got)
		}
	}
	// At the limits, and with brackets, braces and digits inside strings, it decodes.
	for _, ok := range []string{
		strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
		"[" + strings.Repeat("7", 4300) + "]",
		`["` + strings.Repeat("[{", 5000) + strings.Repeat("9", 5000) + `\"[["]`,
	} {
		if _, err := call(l, context.Background(), snap, globals, "decode", runtime.CallOptions{}, starlark.String(ok)); err != nil {
			t.Errorf("json.decode(%.30q...) = %v, want a value", ok, err)
		}
	}
}

// A chain of binary operators parses into a tree as deep as the chain is long; the
// rewriter, resolver and compiler recursed once per level, and 3 million terms killed the
// process. A module nested more than runtime.MaxSyntaxDepth levels is refused at the
// first node past the limit, and so is every kind of chain the parser builds in a loop.
func TestLoader_RefusesSyntaxNestedTooDeepWithItsPosition(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	for name, src := range map[string]string{
		"plus":  "a = 1\nx = a" + strings.Repeat(" + a", 200_000) + "\n",
		"index": "a = [1]\nx = a" + strings.Repeat("[0]", 5000) + "\n",
		"dots":  "a = struct(b = 1)\nx = a" + strings.Repeat(".b", 5000) + "\n",
		"calls": "f = len\nx = f" + strings.Repeat("()", 5000) + "\n",
		"and":   "a = 1\nx = a" + strings.Repeat(" and a", 5000) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			snap := snapshotOf(t, map[string]string{"app.star": src})
			err := loadErr(t, l, snap, "app.star")
			wantContains(t, err, "cannot load app.star: app.star:2:", "nest more than 1000 levels deep here (runtime.MaxSyntaxDepth)")
		})
	}
	// 3 million terms (6 MB) are refused before parsing.
	snap := snapshotOf(t, map[string]string{"app.star": "a = 1\nx = a" + strings.Repeat(" + a", 3_000_000) + "\n"})
	wantContains(t, loadErr(t, l, snap, "app.star"), "app.star:1:1: the module is 11.4MiB, over the limit of 1MiB for one module (runtime.MaxModuleSourceBytes)")
	// 900 terms are fine.
	snap = snapshotOf(t, map[string]string{"app.star": "a = 1\nx = a" + strings.Repeat(" + a", 900) + "\n"})
	if got := mustLoad(t, l, snap, "app.star")["x"]; got.String() != "901" {
		t.Errorf("x = %v, want 901", got)
	}
}

// Every syntax tree the parser accepts is either refused with a position or walked by
// the rewriter, resolver and compiler without crashing.
func FuzzParseModule(f *testing.F) {
	for _, seed := range []string{
		"x = 1\n", "def f(a, *b, **c):\n    return [a for a in b if a] + c\n",
		"x = a" + strings.Repeat(" + a", 2000) + "\n", "x = (((((((1)))))))\n",
		"x = lambda a: a[1:2:3].b(c)\n", "load('a.star', 'b')\n",
	} {
		f.Add(seed)
	}
	l, err := runtime.New(runtime.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	f.Fuzz(func(t *testing.T, src string) {
		snap := snapshotOf(t, map[string]string{"m.star": src})
		_, _ = l.Load(context.Background(), snap, "m.star")
	})
}

// json.decode either decodes or refuses, whatever the text.
func FuzzJSONDecode(f *testing.F) {
	for _, seed := range []string{`{"a": [1, 2.5, "x", null, true]}`, `[[[[]]]]`, `"\"[["`, strings.Repeat("[", 1200), "1" + strings.Repeat("0", 5000)} {
		f.Add(seed)
	}
	l, err := runtime.New(runtime.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	snap := snapshotOf(f, map[string]string{"app.star": "def decode(s):\n    return json.decode(s, default = None)\n"})
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := l.Call(context.Background(), snap, globals["decode"].(starlark.Callable), starlark.Tuple{starlark.String(s)}, nil, runtime.CallOptions{}); err != nil {
			t.Fatalf("json.decode(%q, default = None): %v", s, err)
		}
	})
}
