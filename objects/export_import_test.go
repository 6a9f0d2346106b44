package objects_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/postgres"
	"github.com/starbase/starbase/objects/postgres/pgtest"
	"github.com/starbase/starbase/objects/sqlite"
	"github.com/starbase/starbase/store/bolt"
)

// TestExportImport_RoundTripsBetweenTiers moves the same objects from bolt to SQLite to
// PostgreSQL and back to bolt: every export is byte for byte the first, the objects read
// and find the same on the last tier, the sequences of db.next go on where they were, and
// importing again writes nothing.
func TestExportImport_RoundTripsBetweenTiers(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "data.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv := objects.KV(st)
	lite, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := postgres.Open(t.Context(), pgtest.Shared(t).NewDatabase(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	st2, err := bolt.Open(filepath.Join(t.TempDir(), "data2.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	kv2 := objects.KV(st2)

	c := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers, "boxes.star": boxes,
		"seq.star": "def take(name):\n    return db.next(name)\n"})
	for _, name := range []string{"invoice", "invoice", "invoice", "order.2026"} {
		c.mustCall(t, kv, "seq.star", "take", str(name))
	}
	var ids []starlark.Value
	for i := range 30 {
		ids = append(ids, c.mustCall(t, kv, "app.star", "create", str("c"+string(rune('a'+i%3)))))
	}
	for _, expr := range storable {
		c.mustCall(t, kv, "boxes.star", "save", eval(t, expr))
	}
	c.mustCall(t, kv, "app.star", "incr", ids[0])

	var first bytes.Buffer
	n, err := objects.Export(t.Context(), kv, &first)
	if err != nil || n != 30+len(storable) {
		t.Fatalf("Export from bolt: %d objects, %v; want %d", n, err, 30+len(storable))
	}
	if want := "{\"sequence\":\"invoice\",\"value\":3}\n{\"sequence\":\"order.2026\",\"value\":1}\n"; !strings.HasSuffix(first.String(), want) {
		t.Errorf("the export ends with %q, want the sequences %q", first.String()[max(0, first.Len()-200):], want)
	}
	from := kv
	for _, to := range []objects.Engine{lite, pg, kv2} {
		var exp bytes.Buffer
		if _, err := objects.Export(t.Context(), from, &exp); err != nil {
			t.Fatalf("Export from %s: %v", from.Name(), err)
		}
		if !bytes.Equal(exp.Bytes(), first.Bytes()) {
			t.Fatalf("the export of %s differs from the first", from.Name())
		}
		if n, err := objects.Import(t.Context(), to, bytes.NewReader(exp.Bytes())); err != nil || n != 30+len(storable) {
			t.Fatalf("Import into %s: %d objects, %v", to.Name(), n, err)
		}
		if n, err := objects.Import(t.Context(), to, bytes.NewReader(exp.Bytes())); err != nil || n != 0 {
			t.Fatalf("Import into %s again: %d objects written, %v; want 0", to.Name(), n, err)
		}
		from = to
	}
	if got := toInt(t, c.mustCall(t, kv2, "app.star", "value", ids[0])); got != 1 {
		t.Errorf("after the round trip, counter 0 is %d, want 1", got)
	}
	for _, eng := range []objects.Engine{lite, pg, kv2} {
		if got := toInt(t, c.mustCall(t, eng, "seq.star", "take", str("invoice"))); got != 4 {
			t.Errorf("on %s, db.next(\"invoice\") after the import = %d, want 4", eng.Name(), got)
		}
	}
	// A sequence that has moved on since is not set back.
	if _, err := objects.Import(t.Context(), kv2, strings.NewReader(first.String())); err == nil || !strings.Contains(err.Error(), "sequence invoice is already at 4, the import sets it to 3") {
		t.Errorf("importing again after the sequence moved: got %v, want an error naming the sequence", err)
	}
	const find = `
load("counters.star", "Counter")
def count(name):
    return len(db.find(Counter, name = name))
`
	c2 := newCode(map[string]string{"counters.star": countersV1, "find.star": find})
	for _, eng := range []objects.Engine{lite, pg, kv2} {
		if got := toInt(t, c2.mustCall(t, eng, "find.star", "count", str("ca"))); got != 10 {
			t.Errorf("on %s, find(name = \"ca\") found %d, want 10 (the index entries were imported)", eng.Name(), got)
		}
	}

	for _, bad := range []string{
		`{"id": "x", "class": "a:B", "version": 1, "record": ""}`,
		`{"id": "06h3ri3f5bi6cn8uf9a0ll2g6g", "class": "a:B", "version": 1, "record": "AAAA"}`,
		`{"id": "06h3ri3f5bi6cn8uf9a0ll2g6g", "extra": 1}`,
		`not json`,
		`{"sequence": "no spaces", "value": 1}`,
		`{"sequence": "zero", "value": 0}`,
		`{"sequence": "both", "value": 1, "id": "06h3ri3f5bi6cn8uf9a0ll2g6g"}`,
	} {
		if _, err := objects.Import(t.Context(), lite, strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Import(%s): got %v, want an error naming line 1", bad, err)
		}
	}
}

// TestSequences_ExportAndSnapshotPageThroughMoreThanABatch gives 1.2 batches of sequences
// (ExportBatch is 500) on the KV tier and on SQLite: Export writes a line for each and
// Snapshot (what a backup reads) gives each, by name, with its last number, across the page
// boundary.
func TestSequences_ExportAndSnapshotPageThroughMoreThanABatch(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "data.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lite, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	// db.next locks its sequence: 100 sequences per transaction, the most it may lock.
	c := newCode(map[string]string{"seq.star": `
def take(first):
    for i in range(first, first + 100):
        db.next("s%d" % (1000 + i))
        if i % 7 == 0:
            db.next("s%d" % (1000 + i))
`})
	const n = objects.ExportBatch + 100
	var want []string
	for i := range n {
		value := 1
		if i%7 == 0 {
			value = 2
		}
		want = append(want, fmt.Sprintf(`{"sequence":"s%d","value":%d}`, 1000+i, value))
	}
	for _, eng := range []objects.Engine{objects.KV(st), lite} {
		t.Run(eng.Name(), func(t *testing.T) {
			for first := 0; first < n; first += 100 {
				c.mustCall(t, eng, "seq.star", "take", starlark.MakeInt(first))
			}
			var out bytes.Buffer
			if _, err := objects.Export(t.Context(), eng, &out); err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(out.String()); !slices.Equal(got, want) {
				t.Errorf("export: %d lines, want %d sequences from %s to %s", len(got), len(want), want[0], want[len(want)-1])
			}
			var snap []string
			_, err := objects.Snapshot(t.Context(), eng, func(string, []byte) error { return nil }, func(name string, value int64) error {
				snap = append(snap, fmt.Sprintf(`{"sequence":%q,"value":%d}`, name, value))
				return nil
			})
			if err != nil || !slices.Equal(snap, want) {
				t.Errorf("snapshot: %d sequences, %v; want %d from %s to %s", len(snap), err, len(want), want[0], want[len(want)-1])
			}
		})
	}
}
