package storetest

import (
	"errors"
	"testing"

	"github.com/starbase/starbase/store"
)

// wantRangeConflict checks that err is a conflict naming key.
func wantRangeConflict(t *testing.T, what string, err error, key string) {
	t.Helper()
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Key != key {
		t.Errorf("%s: got error %v, want a *store.ConflictError naming %q", what, err, key)
	}
}

func testCommitRangeCompareHoldsWhileNothingInItChanges(t *testing.T, s store.Store, p string) {
	first := commit(t, s, nil, store.Put(p+"r/a", []byte("1")), store.Put(p+"r/b", []byte("2")))
	second := put(t, s, p+"r/c", "3")

	for _, rev := range []int64{second, second + 5} {
		commit(t, s, []store.Compare{store.UnmodifiedSince(p+"r/", rev)}, store.Put(p+"out", []byte("x")))
	}
	// At first, r/c (created at second) is newer than the compare's revision.
	_, err := s.Commit(t.Context(), []store.Compare{store.UnmodifiedSince(p+"r/", first)}, []store.Op{store.Put(p+"out", []byte("y"))})
	wantRangeConflict(t, "range compare at a revision before a creation in it", err, p+"r/c")
	if got := get(t, s, p+"out", 0); got == nil || string(got.Value) != "x" {
		t.Errorf("key written by the failed commit: got %+v, want the value x of the commits that held", got)
	}
}

func testCommitRangeCompareFailsOnCreationOrModification(t *testing.T, s store.Store, p string) {
	commit(t, s, nil, store.Put(p+"r/a", []byte("1")), store.Put(p+"r/b", []byte("2")))

	snapshot := revision(t, s)
	put(t, s, p+"r/b", "changed")
	_, err := s.Commit(t.Context(), []store.Compare{store.UnmodifiedSince(p+"r/", snapshot)}, []store.Op{store.Put(p+"w", nil)})
	wantRangeConflict(t, "range compare after a modification in the range", err, p+"r/b")

	snapshot = revision(t, s)
	put(t, s, p+"r/0 new", "created")
	_, err = s.Commit(t.Context(), []store.Compare{store.UnmodifiedSince(p+"r/", snapshot)}, []store.Op{store.Put(p+"w", nil)})
	wantRangeConflict(t, "range compare after a creation in the range", err, p+"r/0 new")

	// Among single-key compares, the first failing compare is named, whatever its kind.
	snapshot = revision(t, s)
	put(t, s, p+"r/a", "changed")
	a := get(t, s, p+"r/a", 0)
	compares := []store.Compare{store.Unchanged(p+"r/a", a), store.UnmodifiedSince(p+"r/", snapshot), store.Absent(p + "r/a")}
	_, err = s.Commit(t.Context(), compares, []store.Op{store.Put(p+"w", nil)})
	wantRangeConflict(t, "a holding key compare, then a failing range compare, then a failing key compare", err, p+"r/a")
	wantMissing(t, "key written by the failed commits", get(t, s, p+"w", 0))
}

func testCommitRangeCompareDoesNotSeeDeletions(t *testing.T, s store.Store, p string) {
	commit(t, s, nil, store.Put(p+"r/a", []byte("1")), store.Put(p+"r/b", []byte("2")))
	snapshot := revision(t, s)
	commit(t, s, nil, store.Delete(p+"r/a"))
	rev := commit(t, s, []store.Compare{store.UnmodifiedSince(p+"r/", snapshot)}, store.Put(p+"w", nil))
	wantKV(t, "key written under a range compare after a deletion in the range", get(t, s, p+"w", 0), p+"w", "", rev, rev)

	// A key deleted and created again is a creation.
	put(t, s, p+"r/a", "again")
	_, err := s.Commit(t.Context(), []store.Compare{store.UnmodifiedSince(p+"r/", snapshot)}, []store.Op{store.Put(p+"w", []byte("2"))})
	wantRangeConflict(t, "range compare after a deletion and a re-creation", err, p+"r/a")
}

func testCommitRangeCompareCoversExactlyItsRange(t *testing.T, s store.Store, p string) {
	// Keys around the range [r/b, KeyAfter(r/d)), which holds r/b, r/c and r/d.
	keys := []string{p + "r/a", p + "r/b", p + "r/c", p + "r/d", p + "r/d\x00", p + "r/e", p + "r", p + "rr"}
	for _, k := range keys {
		put(t, s, k, "v")
	}
	inside := map[string]bool{p + "r/b": true, p + "r/c": true, p + "r/d": true}
	for _, k := range keys {
		snapshot := revision(t, s)
		put(t, s, k, "changed")
		c := store.RangeUnmodifiedSince(p+"r/b", store.KeyAfter(p+"r/d"), snapshot)
		if c.Covers(k) != inside[k] {
			t.Errorf("%+v.Covers(%q) = %v, want %v", c, k, c.Covers(k), inside[k])
		}
		_, err := s.Commit(t.Context(), []store.Compare{c}, nil)
		if inside[k] {
			wantRangeConflict(t, "range compare after a change of "+k, err, k)
		} else if err != nil {
			t.Errorf("range compare after a change of %q, outside the range: %v", k, err)
		}
	}
	// A prefix's range holds its keys only (r/ is not r nor rr).
	snapshot := revision(t, s)
	put(t, s, p+"r", "changed")
	put(t, s, p+"rr", "changed")
	if _, err := s.Commit(t.Context(), []store.Compare{store.UnmodifiedSince(p+"r/", snapshot)}, nil); err != nil {
		t.Errorf("range compare on the prefix r/ after changes of r and rr: %v", err)
	}
}

func testCommitRangeCompareAtZeroRequiresAnEmptyRange(t *testing.T, s store.Store, p string) {
	rev := commit(t, s, []store.Compare{store.UnmodifiedSince(p+"r/", 0)}, store.Put(p+"r/a", []byte("1")))
	wantKV(t, "key created under a range compare at 0", get(t, s, p+"r/a", 0), p+"r/a", "1", rev, rev)
	_, err := s.Commit(t.Context(), []store.Compare{store.UnmodifiedSince(p+"r/", 0)}, []store.Op{store.Put(p+"r/b", nil)})
	wantRangeConflict(t, "range compare at 0 on a range that holds a key", err, p+"r/a")
}

func testCommitRangeCompareToEndOfKeys(t *testing.T, s store.Store, p string) {
	put(t, s, p+"a", "v")
	snapshot := put(t, s, p+"z", "v")
	// Nothing sorts after p+"z" but keys of this store written before: the range holds.
	c := store.Compare{Key: p + "z", End: store.EndOfKeys, ModRevision: snapshot}
	if !c.Covers(p+"z\xff\xff") || c.Covers(p+"a") {
		t.Errorf("%+v covers %q: %v, %q: %v; want true, false", c, p+"z\xff\xff", c.Covers(p+"z\xff\xff"), p+"a", c.Covers(p+"a"))
	}
	commit(t, s, []store.Compare{c}, store.Put(p+"a", []byte("changed before the range")))
	put(t, s, p+"z\xff\xff", "v")
	_, err := s.Commit(t.Context(), []store.Compare{c}, nil)
	wantRangeConflict(t, "range compare to the end of the keys after a creation far after its key", err, p+"z\xff\xff")
	if got := store.PrefixEnd("a\xff\xff"); got != "b" {
		t.Errorf(`PrefixEnd("a\xff\xff") = %q, want "b"`, got)
	}
	for _, prefix := range []string{"", "\xff", "\xff\xff"} {
		if got := store.PrefixEnd(prefix); got != store.EndOfKeys {
			t.Errorf("PrefixEnd(%q) = %q, want EndOfKeys", prefix, got)
		}
	}
}

func testCommitInvalidComparesFailWhole(t *testing.T, s store.Store, p string) {
	before := revision(t, s)
	for _, c := range []store.Compare{
		{Key: ""},
		{Key: p + "b", End: p + "a", ModRevision: before},
		{Key: p + "a", End: p + "a", ModRevision: before},
		{Key: p + "a", ModRevision: -1},
	} {
		if c.Check() == nil {
			t.Errorf("%+v.Check() = nil, want an error", c)
		}
		_, err := s.Commit(t.Context(), []store.Compare{c}, []store.Op{store.Put(p+"w", nil)})
		if err == nil || errors.Is(err, store.ErrConflict) {
			t.Errorf("commit with the invalid compare %+v: got %v, want an error that is no conflict", c, err)
		}
	}
	wantMissing(t, "key of the refused commits", get(t, s, p+"w", 0))
	if got := revision(t, s); got != before {
		t.Errorf("revision after refused commits: got %d, want %d", got, before)
	}
}
