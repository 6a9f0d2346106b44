package code

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// openStore opens a real bolt store in a temporary directory, closed when the test ends.
func openStore(t testing.TB) store.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return s
}

func newTestRepo(t *testing.T) *Repo {
	t.Helper()
	return NewRepo(openStore(t))
}

// testTime is a fixed commit time, so that tests do not depend on the clock.
var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// mustPush pushes files on top of expected and returns the result.
func mustPush(t *testing.T, r *Repo, expected ID, files map[string]string, message string) PushResult {
	t.Helper()
	res, err := r.Push(context.Background(), PushRequest{
		Ref:      DefaultBranch,
		Files:    byteFiles(files),
		Expected: expected,
		Author:   "ana@example.com",
		Message:  message,
		Time:     testTime,
	})
	if err != nil {
		t.Fatalf("Push(%q): %v", message, err)
	}
	return res
}

func byteFiles(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for p, s := range files {
		out[p] = []byte(s)
	}
	return out
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

func refAt(t *testing.T, r *Repo, name string) ID {
	t.Helper()
	id, _, err := r.Ref(context.Background(), name)
	if err != nil {
		t.Fatalf("Ref(%q): %v", name, err)
	}
	return id
}

// wantFiles checks that commit id holds exactly files.
func wantFiles(t *testing.T, r *Repo, id ID, files map[string]string) {
	t.Helper()
	got, err := r.Files(context.Background(), id)
	if err != nil {
		t.Fatalf("Files(%s): %v", id.Short(), err)
	}
	gotText := make(map[string]string, len(got))
	for p, b := range got {
		gotText[p] = string(b)
	}
	if !maps.Equal(gotText, files) {
		t.Errorf("files of %s = %v, want %v", id.Short(), gotText, files)
	}
}

// limitedStore is a real store that advertises and enforces smaller commit limits, and
// records the size of every commit, to test how Push splits its writes.
type limitedStore struct {
	store.Store
	limits store.Limits

	mu      sync.Mutex // guards commits
	commits []int      // number of operations of each successful commit
}

func (s *limitedStore) Limits() store.Limits { return s.limits }

func (s *limitedStore) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	if err := s.limits.Check(store.SizeOf(compares, ops)); err != nil {
		return 0, err
	}
	rev, err := s.Store.Commit(ctx, compares, ops)
	if err == nil {
		s.mu.Lock()
		s.commits = append(s.commits, len(ops))
		s.mu.Unlock()
	}
	return rev, err
}

// errCrash stands for the process dying at the final store commit of a push.
var errCrash = errors.New("simulated crash")

// crashingStore is a real store whose commits that move a ref fail as if the process had
// died just before them.
type crashingStore struct {
	store.Store
}

func (s crashingStore) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	for _, op := range ops {
		if strings.HasPrefix(op.Key, RefPrefix) {
			return 0, errCrash
		}
	}
	return s.Store.Commit(ctx, compares, ops)
}
