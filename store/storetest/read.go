package storetest

import (
	"fmt"
	"testing"

	"github.com/starbase/starbase/store"
)

func testGetMissingKeyIsNil(t *testing.T, s store.Store, p string) {
	old := put(t, s, p+"other", "v")
	current := put(t, s, p+"other", "v2")
	kv, at, err := s.Get(t.Context(), p+"missing", 0)
	if err != nil || kv != nil || at != current {
		t.Errorf("Get of a missing key: got (%v, %d, %v), want (nil, %d, nil)", kv, at, err, current)
	}
	kv, at, err = s.Get(t.Context(), p+"missing", old)
	if err != nil || kv != nil || at != old {
		t.Errorf("Get of a missing key at revision %d: got (%v, %d, %v), want (nil, %d, nil)", old, kv, at, err, old)
	}
}

func testRangeMissingPrefixIsEmpty(t *testing.T, s store.Store, p string) {
	current := put(t, s, p+"other/k", "v")
	res, err := s.Range(t.Context(), p+"missing/", store.RangeOptions{})
	if err != nil || len(res.KVs) != 0 || res.More || res.Revision != current {
		t.Errorf("Range of a missing prefix: got (%+v, %v), want no keys at revision %d", res, err, current)
	}
	res, err = s.Range(t.Context(), p+"missing/", store.RangeOptions{Limit: 1, After: p + "missing/a"})
	if err != nil || len(res.KVs) != 0 || res.More {
		t.Errorf("Range of a missing prefix with a limit: got (%+v, %v), want no keys", res, err)
	}
}

func testReadOldRevisionSeesOldSnapshot(t *testing.T, s store.Store, p string) {
	a, b, c := p+"a", p+"b", p+"c"
	r1 := commit(t, s, nil, store.Put(a, []byte("a1")), store.Put(b, []byte("b1")))
	r2 := commit(t, s, nil, store.Put(a, []byte("a2")), store.Put(c, []byte("c1")))
	r3 := commit(t, s, nil, store.Delete(b))
	r4 := put(t, s, p+"unrelated", "x")

	wantKV(t, "a at r1", get(t, s, a, r1), a, "a1", r1, r1)
	wantKV(t, "b at r1", get(t, s, b, r1), b, "b1", r1, r1)
	wantMissing(t, "c at r1 (created later)", get(t, s, c, r1))

	wantKV(t, "a at r2", get(t, s, a, r2), a, "a2", r1, r2)
	wantKV(t, "b at r2 (deleted later)", get(t, s, b, r2), b, "b1", r1, r1)
	wantKV(t, "c at r2", get(t, s, c, r2), c, "c1", r2, r2)

	wantMissing(t, "b at r3", get(t, s, b, r3))
	wantMissing(t, "b at r4", get(t, s, b, r4))
	wantMissing(t, "b latest", get(t, s, b, 0))
	wantKV(t, "a at r4 (changed before)", get(t, s, a, r4), a, "a2", r1, r2)

	wantKeys(t, "Range at r1", rangeKeys(t, s, p, store.RangeOptions{Revision: r1}).KVs, a, b)
	wantKeys(t, "Range at r2", rangeKeys(t, s, p, store.RangeOptions{Revision: r2}).KVs, a, b, c)
	wantKeys(t, "Range at r3", rangeKeys(t, s, p, store.RangeOptions{Revision: r3}).KVs, a, c)
	wantKeys(t, "Range latest", rangeKeys(t, s, p, store.RangeOptions{}).KVs, a, c, p+"unrelated")

	kvs := rangeKeys(t, s, p, store.RangeOptions{Revision: r2}).KVs
	if len(kvs) == 3 {
		wantKV(t, "Range at r2, a", &kvs[0], a, "a2", r1, r2)
		wantKV(t, "Range at r2, b", &kvs[1], b, "b1", r1, r1)
		wantKV(t, "Range at r2, c", &kvs[2], c, "c1", r2, r2)
	}
}

func testReadFutureRevisionFails(t *testing.T, s store.Store, p string) {
	current := put(t, s, p+"k", "v")
	_, _, err := s.Get(t.Context(), p+"k", current+1)
	wantErr(t, "Get at the next revision", err, store.ErrFutureRevision)
	_, err = s.Range(t.Context(), p, store.RangeOptions{Revision: current + 1})
	wantErr(t, "Range at the next revision", err, store.ErrFutureRevision)
	wantKV(t, "Get at the current revision", get(t, s, p+"k", current), p+"k", "v", current, current)
}

func testRangeOrdersKeysAndIsolatesPrefixes(t *testing.T, s store.Store, p string) {
	keys := []string{"a/2", "a/10", "ab", "a/1", "a", "a/", "a/b/c", "b/1", "a0"}
	var ops []store.Op
	for _, k := range keys {
		ops = append(ops, store.Put(p+k, []byte(k)))
	}
	commit(t, s, nil, ops...)

	res := rangeKeys(t, s, p+"a/", store.RangeOptions{})
	wantKeys(t, `Range "a/"`, res.KVs, p+"a/", p+"a/1", p+"a/10", p+"a/2", p+"a/b/c")
	if res.More {
		t.Errorf(`Range "a/" without a limit: More is set`)
	}
	for _, kv := range res.KVs {
		if string(kv.Value) != kv.Key[len(p):] {
			t.Errorf("Range: key %q has value %q, want %q", kv.Key, kv.Value, kv.Key[len(p):])
		}
	}
	wantKeys(t, "Range of the whole prefix", rangeKeys(t, s, p, store.RangeOptions{}).KVs,
		p+"a", p+"a/", p+"a/1", p+"a/10", p+"a/2", p+"a/b/c", p+"a0", p+"ab", p+"b/1")
	wantKeys(t, `Range "a/b"`, rangeKeys(t, s, p+"a/b", store.RangeOptions{}).KVs, p+"a/b/c")
	wantKeys(t, `Range "b/1" (a key is its own prefix)`, rangeKeys(t, s, p+"b/1", store.RangeOptions{}).KVs, p+"b/1")
}

func testRangePagesWithAfterAndLimit(t *testing.T, s store.Store, p string) {
	var ops []store.Op
	var keys []string
	for i := range 7 {
		k := fmt.Sprintf("%sk%d", p, i)
		keys = append(keys, k)
		ops = append(ops, store.Put(k, []byte("v")))
	}
	commit(t, s, nil, append(ops, store.Put(p+"l", []byte("outside the paged prefix")))...)
	prefix := p + "k"

	first := rangeKeys(t, s, prefix, store.RangeOptions{Limit: 3})
	wantKeys(t, "page 1", first.KVs, keys[0:3]...)
	if !first.More {
		t.Errorf("page 1: More is not set, want set")
	}
	// A commit between pages must not show in later pages read at the first page's revision.
	commit(t, s, nil, store.Put(p+"k3a", []byte("new")), store.Delete(keys[5]))

	second := rangeKeys(t, s, prefix, store.RangeOptions{Revision: first.Revision, After: keys[2], Limit: 3})
	wantKeys(t, "page 2", second.KVs, keys[3:6]...)
	if !second.More {
		t.Errorf("page 2: More is not set, want set")
	}
	third := rangeKeys(t, s, prefix, store.RangeOptions{Revision: first.Revision, After: keys[5], Limit: 3})
	wantKeys(t, "page 3", third.KVs, keys[6])
	if third.More {
		t.Errorf("page 3 (the last): More is set, want not set")
	}

	exact := rangeKeys(t, s, prefix, store.RangeOptions{Revision: first.Revision, After: keys[3], Limit: 3})
	wantKeys(t, "page that ends exactly at the last key", exact.KVs, keys[4:7]...)
	if exact.More {
		t.Errorf("page that ends exactly at the last key: More is set, want not set")
	}
	wantKeys(t, "After a key that does not exist", rangeKeys(t, s, prefix, store.RangeOptions{Revision: first.Revision, After: p + "k4x"}).KVs, keys[5:7]...)
	wantKeys(t, "After the last key", rangeKeys(t, s, prefix, store.RangeOptions{Revision: first.Revision, After: keys[6]}).KVs)

	latest := rangeKeys(t, s, prefix, store.RangeOptions{After: keys[3], Limit: 2})
	wantKeys(t, "latest page after the change", latest.KVs, p+"k3a", keys[4])
	if !latest.More {
		t.Errorf("latest page after the change: More is not set, want set")
	}
	wantKeys(t, "latest last page", rangeKeys(t, s, prefix, store.RangeOptions{After: keys[4], Limit: 2}).KVs, keys[6])
}

func testRangeKeysOnlyLeavesValuesOut(t *testing.T, s store.Store, p string) {
	commit(t, s, nil, store.Put(p+"a", []byte("first")), store.Put(p+"b", []byte("second")))
	old := commit(t, s, nil, store.Put(p+"b", []byte("second, changed")))
	commit(t, s, nil, store.Put(p+"c", []byte("third")))
	for _, at := range []int64{0, old} {
		full := rangeKeys(t, s, p, store.RangeOptions{Revision: at})
		keys := rangeKeys(t, s, p, store.RangeOptions{Revision: at, KeysOnly: true})
		if len(keys.KVs) != len(full.KVs) || keys.Revision != full.Revision {
			t.Fatalf("KeysOnly at %d: %d keys at revision %d, want %d at %d", at, len(keys.KVs), keys.Revision, len(full.KVs), full.Revision)
		}
		for i, kv := range keys.KVs {
			want := full.KVs[i]
			if kv.Key != want.Key || kv.ModRevision != want.ModRevision || kv.CreateRevision != want.CreateRevision || kv.Value != nil {
				t.Errorf("KeysOnly at %d: %+v, want %q with revisions %d/%d and no value", at, kv, want.Key, want.CreateRevision, want.ModRevision)
			}
		}
	}
	page := rangeKeys(t, s, p, store.RangeOptions{KeysOnly: true, Limit: 1, After: p + "a"})
	if len(page.KVs) != 1 || page.KVs[0].Key != p+"b" || !page.More || page.KVs[0].Value != nil {
		t.Errorf("KeysOnly page after a: %+v, want b with More and no value", page)
	}
}
