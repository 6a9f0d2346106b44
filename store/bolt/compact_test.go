package bolt

import (
	"fmt"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/starbase/starbase/store"
)

// TestCompact_RemovesOldVersionsAndRecordsFromTheFile looks inside the file: compaction must
// free the space of history, not only hide it.
func TestCompact_RemovesOldVersionsAndRecordsFromTheFile(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "starbase.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	commit := func(ops ...store.Op) int64 {
		t.Helper()
		rev, err := s.Commit(t.Context(), nil, ops)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		return rev
	}
	for i := range 10 {
		commit(store.Put("kept", []byte(fmt.Sprint(i))), store.Put("gone", nil))
	}
	commit(store.Delete("gone"))
	commit(store.Put("untouched", nil))
	last := commit(store.Put("kept", []byte("last")))

	if err := s.Compact(t.Context(), last-1); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		versions := tx.Bucket(versionsBucket)
		if n := countKeys(versions.Bucket([]byte("kept"))); n != 2 {
			t.Errorf("versions of a key changed before and after the compaction point: got %d, want 2", n)
		}
		if n := countKeys(versions.Bucket([]byte("untouched"))); n != 1 {
			t.Errorf("versions of a key written once before the compaction point: got %d, want 1", n)
		}
		if versions.Bucket([]byte("gone")) != nil {
			t.Errorf("versions of a key deleted before the compaction point: still there, want none")
		}
		if n := countKeys(tx.Bucket(revisionsBucket)); n != 2 {
			t.Errorf("revision records at or after the compaction point: got %d, want 2", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countKeys(b *bbolt.Bucket) int {
	if b == nil {
		return 0
	}
	n := 0
	b.ForEach(func(k, v []byte) error { n++; return nil })
	return n
}
