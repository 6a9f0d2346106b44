package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// TestRewrite_ShrinksTheFileAndKeepsEveryKeyAndRevision: after history is compacted, a
// rewrite returns the freed pages to the file system, and the store reads as before.
func TestRewrite_ShrinksTheFileAndKeepsEveryKeyAndRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "starbase.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 2000)
	var last int64
	for i := range 300 {
		if last, err = s.Commit(t.Context(), nil, []store.Op{store.Put(fmt.Sprintf("k%d", i%3), value)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Compact(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	want, err := s.Range(t.Context(), "", store.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	before, after, err := bolt.Rewrite(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrite: %d -> %d bytes", before, after)
	if after*2 > before {
		t.Errorf("rewrite: %d -> %d bytes, want at least halved", before, after)
	}
	s, err = bolt.Open(path, bolt.Options{Verify: true})
	if err != nil {
		t.Fatalf("Open after rewrite: %v", err)
	}
	defer s.Close()
	got, err := s.Range(t.Context(), "", store.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != want.Revision || len(got.KVs) != len(want.KVs) {
		t.Fatalf("after rewrite: %d keys at revision %d, want %d at %d", len(got.KVs), got.Revision, len(want.KVs), want.Revision)
	}
	for i := range got.KVs {
		if got.KVs[i].Key != want.KVs[i].Key || got.KVs[i].ModRevision != want.KVs[i].ModRevision {
			t.Errorf("key %d after rewrite: %+v, want %+v", i, got.KVs[i], want.KVs[i])
		}
	}
	if _, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k0", nil)}); err != nil {
		t.Errorf("commit after rewrite: %v", err)
	}
}
