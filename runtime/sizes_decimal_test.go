package runtime_test

import (
	"errors"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/decimal"
	"github.com/starbase/starbase/runtime"
)

// TestSizes_TextOfADecimalIsCountedWhole: str() of values holding decimals is sized by
// the decimals' text (up to about 200 bytes each), not by their method names, so that
// MaxAllocBytes holds: 400 references to a 200-character decimal make 80 KB of text,
// refused under a 64 KiB limit (before, the check counted 37 KB and let it through).
func TestSizes_TextOfADecimalIsCountedWhole(t *testing.T) {
	l := newLoader(t, runtime.Options{
		Limits:      runtime.Limits{MaxAllocBytes: 64 * runtime.KiB},
		Predeclared: starlark.StringDict{"decimal": decimal.Builtin},
	})
	snap := snapshotOf(t, map[string]string{"app.star": `
def text(n):
    d = decimal("1" * 100 + "e100")
    return str([d] * n)
`})
	globals := mustLoad(t, l, snap, "app.star")
	got, err := call(l, t.Context(), snap, globals, "text", runtime.CallOptions{}, starlark.MakeInt(10))
	if s, ok := starlark.AsString(got); err != nil || !ok || len(s) != 10*200+9*2+2 {
		t.Fatalf("str of 10 decimals: %v (%d bytes), want their text", err, len(s))
	}
	if _, err := call(l, t.Context(), snap, globals, "text", runtime.CallOptions{}, starlark.MakeInt(400)); !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Errorf("str of 400 decimals of 200 characters under 64 KiB: %v, want ErrMemoryLimit", err)
	}
}
