package storetest

import (
	"testing"
	"time"

	"github.com/starbase/starbase/store"
)

// RunHold checks that a revision held by store.HoldHistory on holder is not compacted by a
// store.Retainer on other until the hold is released, and is compacted then. holder and
// other are the same store for a backend of one process (bolt); two clients of one cluster
// (etcd) stand for two nodes, one taking a backup, the other compacting.
func RunHold(t *testing.T, holder, other store.Store) {
	ctx := t.Context()
	p := uniquePrefix(t)
	key := p + "k"
	held := put(t, holder, key, "v1")
	release, err := store.HoldHistory(ctx, holder, held, "storetest")
	if err != nil {
		t.Fatalf("HoldHistory(%d): %v", held, err)
	}
	defer release()

	clock := time.Unix(1e9, 0)
	r := &store.Retainer{Store: other, Window: time.Minute, Now: func() time.Time { return clock }}
	// tick samples the revision after a write, then moves the clock past the window, so
	// that every tick would compact up to the write before it.
	tick := func() int64 {
		t.Helper()
		put(t, other, key, "later")
		rev, err := r.Tick(ctx)
		if err != nil {
			t.Fatalf("Tick: %v", err)
		}
		clock = clock.Add(2 * time.Minute)
		return rev
	}
	tick()
	if rev := tick(); rev != held {
		t.Errorf("a tick with revision %d held compacted at %d, want the held revision", held, rev)
	}
	tick()
	wantKV(t, "the key at the held revision after three ticks", get(t, other, key, held), key, "v1", held, held)

	release()
	release() // twice does nothing more
	if rev := tick(); rev <= held {
		t.Errorf("a tick once the hold was released compacted at %d, want past the held revision %d", rev, held)
	}
	_, _, err = other.Get(ctx, key, held)
	wantErr(t, "Get at the revision once held, after the next tick", err, store.ErrCompacted)
}
