package render

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
)

// TestFrozen_IsDetectedWithoutMutating checks the probe of cacheable against the pinned
// go.starlark.net: a frozen list or dict is recognised, and probing an unfrozen one leaves
// it as it was (and still mutable).
func TestFrozen_IsDetectedWithoutMutating(t *testing.T) {
	list := starlark.NewList([]starlark.Value{starlark.MakeInt(1)})
	dict := starlark.NewDict(1)
	if err := dict.SetKey(starlark.String("a"), starlark.MakeInt(1)); err != nil {
		t.Fatal(err)
	}
	if cacheable(list) || cacheable(dict) {
		t.Fatal("an unfrozen list or dict was taken for frozen")
	}
	if list.Len() != 1 || dict.Len() != 1 {
		t.Fatalf("probing changed the values: list %s, dict %s", list, dict)
	}
	if err := list.Append(starlark.MakeInt(2)); err != nil {
		t.Fatalf("after the probe the list is not mutable: %v", err)
	}
	if err := dict.SetKey(starlark.String("b"), starlark.MakeInt(2)); err != nil {
		t.Fatalf("after the probe the dict is not mutable: %v", err)
	}
	list.Freeze()
	dict.Freeze()
	if !cacheable(list) || !cacheable(dict) {
		t.Fatal("a frozen list or dict was not recognised")
	}
	if cacheable(starlark.Tuple{starlark.MakeInt(1)}) || cacheable(starlark.String("s")) {
		t.Fatal("only lists and dicts are kept")
	}
}

// TestRender_ReusesTheConversionOfFrozenDataOnly checks that rendering a module's frozen
// rows twice converts them once and renders the same, that data built per call is
// converted at every call (a mutation shows), and that a kept conversion is still
// charged: under a MaxAllocBytes it exceeds, the render is refused every time.
func TestRender_ReusesTheConversionOfFrozenDataOnly(t *testing.T) {
	files := map[string]string{
		"templates/p.html": `{{range .rows}}<i>{{.name}}</i>{{end}}|{{range .fresh}}{{.}}{{end}}`,
		"app.star": `
ROWS = [{"name": "a<b"}, {"name": "c"}]
def page(n):
    fresh = [str(i) for i in range(n)]
    return render("templates/p.html", rows = ROWS, fresh = fresh)
`,
	}
	r := New(Options{})
	newLoader := func(limits runtime.Limits) *runtime.Loader {
		l, err := runtime.New(runtime.Options{Predeclared: r.Predeclared(), Limits: limits, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	run := func(l *runtime.Loader, n int) (string, error) {
		snap := &runtime.Snapshot{Commit: "c0ffee0123456789", Tree: code.Tree{}}
		bs := mapBlobs{}
		for p, src := range files {
			id := code.HashBlob([]byte(src))
			snap.Tree[p], bs[id] = id, []byte(src)
		}
		snap.Blobs = bs
		g, err := l.Load(context.Background(), snap, "app.star")
		if err != nil {
			t.Fatal(err)
		}
		v, err := l.Call(context.Background(), snap, g["page"].(starlark.Callable), starlark.Tuple{starlark.MakeInt(n)}, nil, runtime.CallOptions{})
		if err != nil {
			return "", err
		}
		return string(v.(starlark.String)), nil
	}
	l := newLoader(runtime.Limits{})
	for i, want := range []string{"<i>a&lt;b</i><i>c</i>|012", "<i>a&lt;b</i><i>c</i>|0123"} {
		got, err := run(l, 3+i)
		if err != nil || got != want {
			t.Fatalf("render %d = %q, %v, want %q", i, got, err, want)
		}
	}
	r.frozen.mu.Lock()
	kept := len(r.frozen.entries)
	r.frozen.mu.Unlock()
	if kept != 1 {
		t.Fatalf("%d conversions kept, want 1 (ROWS; fresh is not frozen)", kept)
	}
	// A kept conversion is charged as a new one would be: with MaxAllocBytes 4096, ROWS
	// (260 bytes) and fresh of 150 strings (3,964 bytes, which alone would pass) exceed
	// the limit together, also once ROWS's conversion is kept.
	small := newLoader(runtime.Limits{MaxAllocBytes: 4096})
	if _, err := run(small, 3); err != nil {
		t.Fatalf("render with 3 fresh strings under 4096 bytes: %v", err)
	}
	if _, err := run(small, 150); !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Fatalf("render of 4,224 bytes of data under 4096 = %v, want ErrMemoryLimit", err)
	}
}

type mapBlobs map[code.ID][]byte

func (b mapBlobs) Blob(_ context.Context, id code.ID) ([]byte, error) {
	if c, ok := b[id]; ok {
		return c, nil
	}
	return nil, code.ErrNotFound
}
