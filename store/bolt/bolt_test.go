package bolt_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/store/storetest"
)

// openTemp opens a store in a new file under t.TempDir and closes it with the test.
func openTemp(t testing.TB) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "data", "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestOpen_ReopenKeepsDataAndRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "starbase.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	first, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k", []byte("v1"))})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	second, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k", []byte("v2")), store.Put("gone", nil)})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := s.Commit(t.Context(), nil, []store.Op{store.Delete("gone")}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := s.Compact(t.Context(), second); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	want, _ := s.Revision(t.Context())
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if got, err := s.Revision(t.Context()); err != nil || got != want {
		t.Errorf("Revision after reopen: got (%d, %v), want %d", got, err, want)
	}
	kv, _, err := s.Get(t.Context(), "k", 0)
	if err != nil || kv == nil || string(kv.Value) != "v2" || kv.CreateRevision != first || kv.ModRevision != second {
		t.Errorf("Get after reopen: got (%+v, %v), want v2 created at %d, modified at %d", kv, err, first, second)
	}
	if kv, _, err := s.Get(t.Context(), "gone", second); err != nil || kv == nil {
		t.Errorf("Get at the compaction point after reopen: got (%+v, %v), want the key", kv, err)
	}
	if _, _, err := s.Get(t.Context(), "k", first); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Get below the compaction point after reopen: got %v, want ErrCompacted", err)
	}
	next, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k", []byte("v3"))})
	if err != nil || next != want+1 {
		t.Errorf("Commit after reopen: got (%d, %v), want revision %d", next, err, want+1)
	}
}

func TestOpen_NewFileStartsAtRevisionOne(t *testing.T) {
	s := openTemp(t)
	if got, err := s.Revision(t.Context()); err != nil || got != 1 {
		t.Errorf("Revision of a new store: got (%d, %v), want 1", got, err)
	}
}

func TestOpen_LockedFileFailsClearly(t *testing.T) {
	s := openTemp(t)
	const timeout = 100 * time.Millisecond
	start := time.Now()
	second, err := bolt.Open(s.Path(), bolt.Options{LockTimeout: timeout})
	if err == nil {
		second.Close()
		t.Fatalf("second Open of %s: got no error, want ErrLocked", s.Path())
	}
	if !errors.Is(err, bolt.ErrLocked) || !strings.Contains(err.Error(), s.Path()) || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("second Open: got %q, want ErrLocked naming the file and the data directory", err)
	}
	if waited := time.Since(start); waited > 100*timeout {
		t.Errorf("second Open waited %s, want about the lock timeout %s", waited, timeout)
	}
}

func TestCommit_RejectsInvalidKeys(t *testing.T) {
	s := openTemp(t)
	if _, err := s.Commit(t.Context(), nil, []store.Op{store.Put("", []byte("v"))}); err == nil || !strings.Contains(err.Error(), "empty key") {
		t.Errorf("Commit of an empty key: got %v, want an error about the empty key", err)
	}
	long := strings.Repeat("k", bolt.MaxKeySize+1)
	if _, err := s.Commit(t.Context(), nil, []store.Op{store.Put(long, nil)}); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Commit of a %d-byte key: got %v, want ErrTooLarge", len(long), err)
	}
	if got, _ := s.Revision(t.Context()); got != 1 {
		t.Errorf("Revision after rejected commits: got %d, want 1", got)
	}
}
