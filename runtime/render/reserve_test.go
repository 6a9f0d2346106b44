package render

import (
	"context"
	"strings"
	"testing"

	"github.com/starbase/starbase/internal/memtree"
)

// A render records the size of its file's output, and the next render of the file starts
// with that much room, but never more than its own limit allows.
func TestRender_StartsWithTheRoomOfTheLastOutput(t *testing.T) {
	ctx := context.Background()
	r := New(Options{})
	snap := memtree.Text(map[string]string{"templates/t.html": "{{range .}}<p>{{.}}</p>{{end}}"})
	snap.Commit = "c0ffee0123456789"
	page, err := r.Render(ctx, snap, "templates/t.html", make([]int, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("<p>0</p>", 3000); page != want {
		t.Fatalf("render = %d bytes, want %d", len(page), len(want))
	}
	ps, err := r.set(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	last := ps.lastSize["templates/t.html"].Load()
	if last != int64(len(page)) {
		t.Fatalf("recorded size %d, want the output's %d", last, len(page))
	}

	out := r.output(ctx, nil)
	out.reserve(last)
	if out.Cap() < len(page) {
		t.Errorf("the next render starts with room for %d bytes, want at least the last output's %d", out.Cap(), len(page))
	}
	limited := r.output(ctx, nil)
	limited.max = 1000
	limited.reserve(last)
	if limited.Cap() > 2*limited.max {
		t.Errorf("a render limited to %d bytes reserved %d, want no more than its limit (and the allocator's rounding)", limited.max, limited.Cap())
	}
}
