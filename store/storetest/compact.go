package storetest

import (
	"errors"
	"testing"

	"github.com/starbase/starbase/store"
)

func testCompactOldRevisionsFailNewOnesWork(t *testing.T, s store.Store, p string) {
	a, b, c := p+"a", p+"b", p+"c"
	r1 := commit(t, s, nil, store.Put(a, []byte("a1")), store.Put(b, []byte("b1")))
	r2 := put(t, s, a, "a2")
	r3 := commit(t, s, nil, store.Delete(b))
	r4 := put(t, s, c, "c1")

	if err := s.Compact(t.Context(), r3); err != nil {
		t.Fatalf("Compact(%d): %v", r3, err)
	}

	for _, rev := range []int64{r1, r2} {
		_, _, err := s.Get(t.Context(), a, rev)
		wantErr(t, "Get below the compaction point", err, store.ErrCompacted)
		_, err = s.Range(t.Context(), p, store.RangeOptions{Revision: rev})
		wantErr(t, "Range below the compaction point", err, store.ErrCompacted)
	}

	wantKV(t, "a at the compaction point (changed before it)", get(t, s, a, r3), a, "a2", r1, r2)
	wantMissing(t, "b at the compaction point (deleted by it)", get(t, s, b, r3))
	wantMissing(t, "c at the compaction point (created after it)", get(t, s, c, r3))
	wantKeys(t, "Range at the compaction point", rangeKeys(t, s, p, store.RangeOptions{Revision: r3}).KVs, a)
	wantKeys(t, "Range after the compaction point", rangeKeys(t, s, p, store.RangeOptions{Revision: r4}).KVs, a, c)
	wantKV(t, "a latest", get(t, s, a, 0), a, "a2", r1, r2)

	events := drain(t, watch(t, s, p, r2))
	if len(events) != 1 || !errors.Is(events[0].Err, store.ErrCompacted) {
		t.Errorf("watch from below the compaction point: got %d events %+v, want one with an error wrapping ErrCompacted, then the channel closed", len(events), events)
	}

	fromCompaction := watch(t, s, p, r3)
	wantEvent(t, nextEvent(t, fromCompaction), r4, change{key: c, value: "c1"})
	r5 := put(t, s, b, "b2")
	wantEvent(t, nextEvent(t, fromCompaction), r5, change{key: b, value: "b2", createRev: r5})

	if err := s.Compact(t.Context(), r2); err != nil {
		t.Errorf("Compact(%d) below the compaction point %d: got %v, want nil (nothing to do)", r2, r3, err)
	}
	if err := s.Compact(t.Context(), r3); err != nil {
		t.Errorf("Compact(%d) again: got %v, want nil (nothing to do)", r3, err)
	}
	wantKV(t, "a at the compaction point after compacting again", get(t, s, a, r3), a, "a2", r1, r2)
}

func testCompactFutureRevisionFails(t *testing.T, s store.Store, p string) {
	current := put(t, s, p+"k", "v")
	wantErr(t, "Compact at the next revision", s.Compact(t.Context(), current+1), store.ErrFutureRevision)
	wantKV(t, "Get after a failed compaction", get(t, s, p+"k", current), p+"k", "v", current, current)
}
