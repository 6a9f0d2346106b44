package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
)

// testConcurrentIncrementsReadsAndWatch runs compare-and-set writers on one counter while
// readers check that every snapshot is consistent and a watcher sees every revision.
//
// Each increment writes the counter and two pair keys to the same number in one commit, so
// any read at one revision must see the pair equal, and the watch must deliver the numbers
// 1..writers*increments in order, each in one event of three changes.
func testConcurrentIncrementsReadsAndWatch(t *testing.T, s store.Store, p string) {
	const writers, increments, readers = 4, 20, 2
	counter, pairA, pairB := p+"counter", p+"pair/a", p+"pair/b"
	start := revision(t, s)
	events := watch(t, s, p, start)

	var mu sync.Mutex // guards revs
	revs := map[int64]int{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range increments {
				rev, n, err := increment(t, s, counter, pairA, pairB)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				if other, dup := revs[rev]; dup {
					t.Errorf("writer %d: commit of %d got revision %d, which the commit of %d already got", w, n, rev, other)
				}
				revs[rev] = n
				mu.Unlock()
			}
		})
	}

	stop := make(chan struct{})
	var readersWG sync.WaitGroup
	for r := range readers {
		readersWG.Go(func() {
			for reads := 0; ; reads++ {
				select {
				case <-stop:
					if reads == 0 {
						t.Errorf("reader %d made no read", r)
					}
					return
				default:
				}
				if err := checkPair(t, s, p, pairA, pairB); err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
			}
		})
	}

	const total = writers * increments
	last := start
	watched := make([]int64, 0, total)
	for n := 1; n <= total; n++ {
		ev := nextEvent(t, events)
		want := strconv.Itoa(n)
		if ev.Err != nil || ev.Revision <= last || len(ev.Changes) != 3 ||
			ev.Changes[0].Key != counter || ev.Changes[1].Key != pairA || ev.Changes[2].Key != pairB ||
			string(ev.Changes[0].Value) != want || string(ev.Changes[1].Value) != want || string(ev.Changes[2].Value) != want {
			t.Fatalf("watch event %d: got revision %d %s (err %v), want a revision after %d setting all three keys to %s",
				n, ev.Revision, formatChanges(ev.Changes), ev.Err, last, want)
		}
		last = ev.Revision
		watched = append(watched, ev.Revision)
	}
	wg.Wait()
	close(stop)
	readersWG.Wait()

	for i, rev := range watched {
		if n, ok := revs[rev]; !ok || n != i+1 {
			t.Errorf("watch event %d has revision %d, which no commit of %d returned", i+1, rev, i+1)
		}
	}

	if kv := get(t, s, counter, 0); kv == nil || string(kv.Value) != strconv.Itoa(total) {
		t.Errorf("counter after %d writers x %d increments: got %v, want %d", writers, increments, kv, total)
	}
	if len(revs) != total {
		t.Errorf("distinct commit revisions: got %d, want %d", len(revs), total)
	}
	for rev, n := range revs {
		kv := get(t, s, counter, rev)
		if kv == nil || string(kv.Value) != strconv.Itoa(n) || kv.ModRevision != rev {
			t.Errorf("counter at revision %d: got %v, want %d modified at %d", rev, kv, n, rev)
		}
	}
}

// increment adds one to the counter with compare-and-set, retrying on conflict, and writes
// the pair keys along; it returns the revision and the new value.
func increment(t *testing.T, s store.Store, counter, pairA, pairB string) (int64, int, error) {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		kv, _, err := s.Get(t.Context(), counter, 0)
		if err != nil {
			return 0, 0, fmt.Errorf("get counter: %w", err)
		}
		n := 0
		if kv != nil {
			if n, err = strconv.Atoi(string(kv.Value)); err != nil {
				return 0, 0, fmt.Errorf("counter holds %q: %w", kv.Value, err)
			}
		}
		n++
		v := []byte(strconv.Itoa(n))
		rev, err := s.Commit(t.Context(), []store.Compare{store.Unchanged(counter, kv)},
			[]store.Op{store.Put(counter, v), store.Put(pairA, v), store.Put(pairB, v)})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("commit %d: %w", n, err)
		}
		return rev, n, nil
	}
	return 0, 0, fmt.Errorf("no increment succeeded within %s", waitTimeout)
}

// checkPair reads the pair keys in one Range, then each with Get at the revision of the Range
// and at the one before it, and reports any snapshot that shows them different.
func checkPair(t *testing.T, s store.Store, p, pairA, pairB string) error {
	res, err := s.Range(t.Context(), p+"pair/", store.RangeOptions{})
	if err != nil {
		return fmt.Errorf("range: %w", err)
	}
	if len(res.KVs) == 1 || (len(res.KVs) == 2 && string(res.KVs[0].Value) != string(res.KVs[1].Value)) {
		return fmt.Errorf("range at revision %d: got %s, want both pair keys equal", res.Revision, formatChanges(changesOf(res.KVs)))
	}
	for _, rev := range []int64{res.Revision, res.Revision - 1} {
		if rev < 1 {
			continue // revision 0 would mean "the latest", read twice: not one snapshot
		}
		a, _, errA := s.Get(t.Context(), pairA, rev)
		b, _, errB := s.Get(t.Context(), pairB, rev)
		if err := errors.Join(errA, errB); err != nil {
			return fmt.Errorf("get at revision %d: %w", rev, err)
		}
		if (a == nil) != (b == nil) || (a != nil && (string(a.Value) != string(b.Value) || a.ModRevision != b.ModRevision)) {
			return fmt.Errorf("get at revision %d: got %v and %v, want the pair equal", rev, a, b)
		}
	}
	return nil
}

func changesOf(kvs []store.KeyValue) []store.Change {
	changes := make([]store.Change, len(kvs))
	for i, kv := range kvs {
		changes[i].KeyValue = kv
	}
	return changes
}
