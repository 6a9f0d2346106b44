package objects_test

import (
	"io"
	"path/filepath"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store/bolt"
)

// BenchmarkKV_Export2000ObjectsOf16KiB exports 2,000 objects of 16 KiB each from the KV
// tier on bolt: it lists their keys by pages, then reads each object.
func BenchmarkKV_Export2000ObjectsOf16KiB(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "data.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	kv := objects.KV(st)
	c := newCode(map[string]string{"app.star": `
Doc = model("Doc", fields = {"text": ""})

def seed(n):
    for i in range(n):
        db.put(Doc(text = "x" * 16384))
`})
	for range 4 {
		if _, err := c.call(b.Context(), kv, "app.star", "seed", starlark.MakeInt(500)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if n, err := objects.Export(b.Context(), kv, io.Discard); err != nil || n != 2000 {
			b.Fatalf("Export: %d objects, %v; want 2000", n, err)
		}
	}
}
