package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/starbase/starbase/store"
)

func testCommitSeveralKeysMakeOneRevision(t *testing.T, s store.Store, p string) {
	before := revision(t, s)
	rev := commit(t, s, nil, store.Put(p+"a", []byte("1")), store.Put(p+"b", []byte("2")), store.Put(p+"c", []byte("3")))
	if rev != before+1 {
		t.Fatalf("commit of 3 keys: got revision %d, want exactly one new revision %d", rev, before+1)
	}
	if got := revision(t, s); got != rev {
		t.Errorf("Revision after commit: got %d, want %d", got, rev)
	}
	for key, value := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		wantKV(t, "Get after commit", get(t, s, p+key, 0), p+key, value, rev, rev)
	}
	last := rev
	for i := range 5 {
		next := put(t, s, p+"a", fmt.Sprint(i))
		if next != last+1 {
			t.Errorf("commit %d: got revision %d, want %d (one more than the previous)", i, next, last+1)
		}
		last = next
	}
}

func testCommitTracksCreateAndModRevision(t *testing.T, s store.Store, p string) {
	k := p + "k"
	created := put(t, s, k, "v1")
	wantKV(t, "after create", get(t, s, k, 0), k, "v1", created, created)

	updated := put(t, s, k, "v2")
	wantKV(t, "after update", get(t, s, k, 0), k, "v2", created, updated)

	deleted := commit(t, s, nil, store.Delete(k))
	if deleted != updated+1 {
		t.Errorf("delete: got revision %d, want %d", deleted, updated+1)
	}
	wantMissing(t, "after delete", get(t, s, k, 0))

	recreated := put(t, s, k, "v3")
	wantKV(t, "after delete and re-create", get(t, s, k, 0), k, "v3", recreated, recreated)
	wantKV(t, "read before the delete", get(t, s, k, updated), k, "v2", created, updated)
}

func testCommitKeysAndValuesAreOpaqueBytes(t *testing.T, s store.Store, p string) {
	values := map[string][]byte{
		p + "empty":           {},
		p + "binary":          {0, 1, 0xfe, 0xff, 0},
		p + "nul\x00in key":   []byte("nul"),
		p + "nul\x00":         []byte("nul at end"),
		p + "\xff\xfe high":   []byte("high bytes"),
		p + "unicode/ключ/キー": []byte("ключ"),
	}
	var ops []store.Op
	for k, v := range values {
		ops = append(ops, store.Put(k, v))
	}
	rev := commit(t, s, nil, ops...)
	for k, v := range values {
		kv := get(t, s, k, 0)
		if kv == nil || kv.Key != k || !bytes.Equal(kv.Value, v) {
			t.Errorf("Get(%q): got %+v, want value %q", k, kv, v)
		}
		if old := get(t, s, k, rev); old == nil || !bytes.Equal(old.Value, v) {
			t.Errorf("Get(%q, %d): got %+v, want value %q", k, rev, old, v)
		}
	}
	res := rangeKeys(t, s, p, store.RangeOptions{})
	if len(res.KVs) != len(values) {
		t.Errorf("Range: got %d keys, want %d", len(res.KVs), len(values))
	}
	for i := 1; i < len(res.KVs); i++ {
		if res.KVs[i-1].Key >= res.KVs[i].Key {
			t.Errorf("Range: key %q comes after %q, want ascending byte order", res.KVs[i].Key, res.KVs[i-1].Key)
		}
	}
}

func testCommitCompareOnModRevision(t *testing.T, s store.Store, p string) {
	k, other := p+"k", p+"other"
	first := put(t, s, k, "v1")
	kv := get(t, s, k, 0)

	second := commit(t, s, []store.Compare{store.Unchanged(k, kv)}, store.Put(k, []byte("v2")), store.Put(other, []byte("x")))
	if second != first+1 {
		t.Errorf("commit with a holding compare: got revision %d, want %d", second, first+1)
	}

	_, err := s.Commit(t.Context(), []store.Compare{store.Unchanged(k, kv)}, []store.Op{store.Put(k, []byte("v3")), store.Put(p+"new", []byte("y"))})
	wantErr(t, "commit with a stale compare", err, store.ErrConflict)
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Key != k {
		t.Errorf("commit with a stale compare: got error %v, want a *store.ConflictError naming %q", err, k)
	}
	if got := revision(t, s); got != second {
		t.Errorf("revision after a conflict: got %d, want %d (unchanged)", got, second)
	}
	wantKV(t, "compared key after a conflict", get(t, s, k, 0), k, "v2", first, second)
	wantMissing(t, "other key of the failed commit", get(t, s, p+"new", 0))

	_, err = s.Commit(t.Context(), []store.Compare{{Key: p + "missing", ModRevision: first}}, []store.Op{store.Put(p+"new", nil)})
	wantErr(t, "commit comparing a missing key to a revision", err, store.ErrConflict)
}

func testCommitCompareOnAbsence(t *testing.T, s store.Store, p string) {
	k := p + "k"
	if store.Unchanged(k, nil) != store.Absent(k) {
		t.Errorf("Unchanged(k, nil) = %+v, want Absent(k) = %+v", store.Unchanged(k, nil), store.Absent(k))
	}
	created := commit(t, s, []store.Compare{store.Absent(k)}, store.Put(k, []byte("v1")))
	wantKV(t, "after create if absent", get(t, s, k, 0), k, "v1", created, created)

	_, err := s.Commit(t.Context(), []store.Compare{store.Absent(k)}, []store.Op{store.Put(k, []byte("v2"))})
	wantErr(t, "create if absent of an existing key", err, store.ErrConflict)
	wantKV(t, "after a failed create", get(t, s, k, 0), k, "v1", created, created)

	kv := get(t, s, k, 0)
	commit(t, s, nil, store.Delete(k))
	_, err = s.Commit(t.Context(), []store.Compare{store.Unchanged(k, kv)}, []store.Op{store.Put(k, []byte("v3"))})
	wantErr(t, "compare on the revision of a deleted key", err, store.ErrConflict)

	again := commit(t, s, []store.Compare{store.Absent(k)}, store.Put(k, []byte("v4")))
	wantKV(t, "create if absent after delete", get(t, s, k, 0), k, "v4", again, again)
}

func testCommitConflictNamesFirstFailingKey(t *testing.T, s store.Store, p string) {
	rev := commit(t, s, nil, store.Put(p+"a", nil), store.Put(p+"b", nil), store.Put(p+"c", nil))
	compares := []store.Compare{
		{Key: p + "a", ModRevision: rev},     // holds
		{Key: p + "c", ModRevision: rev + 1}, // fails
		store.Absent(p + "b"),                // fails
	}
	_, err := s.Commit(t.Context(), compares, []store.Op{store.Put(p+"d", nil)})
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Key != p+"c" {
		t.Errorf("commit with two failing compares: got error %v, want a *store.ConflictError naming the first, %q", err, p+"c")
	}
}

func testCommitWithoutOpsMakesNoRevision(t *testing.T, s store.Store, p string) {
	k := p + "k"
	before := put(t, s, k, "v")
	kv := get(t, s, k, 0)

	rev, err := s.Commit(t.Context(), nil, nil)
	if err != nil || rev != before {
		t.Errorf("empty commit: got (%d, %v), want the current revision (%d, nil)", rev, err, before)
	}
	rev, err = s.Commit(t.Context(), []store.Compare{store.Unchanged(k, kv)}, nil)
	if err != nil || rev != before {
		t.Errorf("commit of a holding compare and no ops: got (%d, %v), want (%d, nil)", rev, err, before)
	}
	_, err = s.Commit(t.Context(), []store.Compare{store.Absent(k)}, nil)
	wantErr(t, "commit of a failing compare and no ops", err, store.ErrConflict)
	if got := revision(t, s); got != before {
		t.Errorf("revision after commits without ops: got %d, want %d", got, before)
	}
}

func testCommitDeleteOfMissingKeyChangesNothing(t *testing.T, s store.Store, p string) {
	before := revision(t, s)
	events := watch(t, s, p, before)

	rev, err := s.Commit(t.Context(), nil, []store.Op{store.Delete(p + "missing")})
	if err != nil || rev != before {
		t.Errorf("commit deleting only a missing key: got (%d, %v), want the current revision (%d, nil)", rev, err, before)
	}
	rev = commit(t, s, nil, store.Delete(p+"missing"), store.Put(p+"k", []byte("v")))
	if rev != before+1 {
		t.Errorf("commit of a put and a missing delete: got revision %d, want %d", rev, before+1)
	}
	wantMissing(t, "deleted missing key", get(t, s, p+"missing", 0))
	wantEvent(t, nextEvent(t, events), rev, change{key: p + "k", value: "v", createRev: rev})
}

func testCommitSameKeyTwiceFails(t *testing.T, s store.Store, p string) {
	before := revision(t, s)
	k := p + "k"
	for _, ops := range [][]store.Op{
		{store.Put(k, []byte("1")), store.Put(k, []byte("2"))},
		{store.Put(k, []byte("1")), store.Delete(k)},
	} {
		if _, err := s.Commit(t.Context(), nil, ops); err == nil {
			t.Errorf("commit naming %q twice: got no error, want one", k)
		}
	}
	wantMissing(t, "key of the failed commits", get(t, s, k, 0))
	if got := revision(t, s); got != before {
		t.Errorf("revision after failed commits: got %d, want %d", got, before)
	}
}

func testCommitBeyondLimitsFailsWhole(t *testing.T, s store.Store, p string) {
	limits := s.Limits()
	if limits.MaxCompares <= 0 || limits.MaxOps <= 0 || limits.MaxBytes <= 0 {
		t.Fatalf("Limits() = %+v, want positive limits", limits)
	}
	before := revision(t, s)

	ops := puts(p+"ops/", limits.MaxOps+1)
	_, err := s.Commit(t.Context(), nil, ops)
	wantErr(t, fmt.Sprintf("commit of %d ops (limit %d)", len(ops), limits.MaxOps), err, store.ErrTooLarge)

	compares := absents(p+"cmp/", limits.MaxCompares+1)
	_, err = s.Commit(t.Context(), compares, puts(p+"ops/", 1))
	wantErr(t, fmt.Sprintf("commit of %d compares (limit %d) and 1 op", len(compares), limits.MaxCompares), err, store.ErrTooLarge)
	_, err = s.Commit(t.Context(), compares, nil)
	wantErr(t, fmt.Sprintf("commit of %d compares (limit %d) and no op", len(compares), limits.MaxCompares), err, store.ErrTooLarge)

	if limits.MaxBytes <= 256<<20 {
		big := []store.Op{store.Put(p+"small", []byte("v")), store.Put(p+"big", make([]byte, limits.MaxBytes))}
		_, err = s.Commit(t.Context(), nil, big)
		wantErr(t, fmt.Sprintf("commit of more than %d bytes", limits.MaxBytes), err, store.ErrTooLarge)
	}

	if got := rangeKeys(t, s, p, store.RangeOptions{Limit: 1}); len(got.KVs) != 0 {
		t.Errorf("keys after too large commits: got %q..., want none", got.KVs[0].Key)
	}
	if got := revision(t, s); got != before {
		t.Errorf("revision after too large commits: got %d, want %d", got, before)
	}
}

// testCommitAtBothCountLimitsSucceeds commits MaxCompares compares and MaxOps ops at once:
// the limits bound each list, not their sum.
func testCommitAtBothCountLimitsSucceeds(t *testing.T, s store.Store, p string) {
	limits := s.Limits()
	before := revision(t, s)
	compares := absents(p+"cmp/", limits.MaxCompares-1)
	compares = append(compares, store.UnmodifiedSince(p, before))
	ops := puts(p+"ops/", limits.MaxOps)
	if size := store.SizeOf(compares, ops); !limits.Allows(size) {
		t.Fatalf("Limits() = %+v does not allow %+v", limits, size)
	}
	rev := commit(t, s, compares, ops...)
	if rev != before+1 {
		t.Errorf("commit at both limits: got revision %d, want %d", rev, before+1)
	}
	res := rangeKeys(t, s, p+"ops/", store.RangeOptions{})
	if len(res.KVs) != len(ops) {
		t.Errorf("keys after the commit at both limits: got %d, want %d", len(res.KVs), len(ops))
	}
}

// puts returns n puts of small values to keys under prefix.
func puts(prefix string, n int) []store.Op {
	ops := make([]store.Op, n)
	for i := range ops {
		ops[i] = store.Put(fmt.Sprintf("%s%06d", prefix, i), []byte("v"))
	}
	return ops
}

// absents returns n compares on the absence of keys under prefix.
func absents(prefix string, n int) []store.Compare {
	compares := make([]store.Compare, n)
	for i := range compares {
		compares[i] = store.Absent(fmt.Sprintf("%s%06d", prefix, i))
	}
	return compares
}
