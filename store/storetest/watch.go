package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
)

func testWatchDeliversHistoryThenLive(t *testing.T, s store.Store, p string) {
	w := p + "w/"
	start := revision(t, s)
	r1 := put(t, s, w+"a", "a1")
	put(t, s, p+"other", "x")
	r3 := commit(t, s, nil, store.Put(w+"c", []byte("c1")), store.Delete(w+"a"), store.Put(p+"other", []byte("y")), store.Put(w+"b", []byte("b1")))
	r4 := put(t, s, w+"b", "b2")

	events := watch(t, s, w, start)
	wantEvent(t, nextEvent(t, events), r1, change{key: w + "a", value: "a1", createRev: r1})
	wantEvent(t, nextEvent(t, events), r3,
		change{key: w + "a", deleted: true},
		change{key: w + "b", value: "b1", createRev: r3},
		change{key: w + "c", value: "c1", createRev: r3})
	wantEvent(t, nextEvent(t, events), r4, change{key: w + "b", value: "b2", createRev: r3})

	r5 := commit(t, s, nil, store.Put(w+"d", []byte("d1")), store.Put(w+"a", []byte("a2")))
	wantEvent(t, nextEvent(t, events), r5,
		change{key: w + "a", value: "a2", createRev: r5},
		change{key: w + "d", value: "d1", createRev: r5})

	fromMiddle := watch(t, s, w, r3)
	wantEvent(t, nextEvent(t, fromMiddle), r4, change{key: w + "b", value: "b2"})
	wantEvent(t, nextEvent(t, fromMiddle), r5, change{key: w + "a", value: "a2"}, change{key: w + "d", value: "d1"})
}

func testWatchFromZeroStartsNow(t *testing.T, s store.Store, p string) {
	put(t, s, p+"before", "x")
	events := watch(t, s, p, 0)
	rev := put(t, s, p+"after", "y")
	wantEvent(t, nextEvent(t, events), rev, change{key: p + "after", value: "y"})
}

func testWatchIgnoresOtherPrefixes(t *testing.T, s store.Store, p string) {
	w := p + "a/"
	events := watch(t, s, w, 0)
	put(t, s, p+"ab", "x")
	put(t, s, p+"a", "x")
	put(t, s, p+"b/a/", "x")
	mixed := commit(t, s, nil, store.Put(p+"ab", []byte("y")), store.Put(w+"1", []byte("1")), store.Put(p+"b", []byte("y")))
	marker := put(t, s, w+"2", "2")

	wantEvent(t, nextEvent(t, events), mixed, change{key: w + "1", value: "1"})
	wantEvent(t, nextEvent(t, events), marker, change{key: w + "2", value: "2"})
}

func testWatchDeliversDeletions(t *testing.T, s store.Store, p string) {
	created := put(t, s, p+"k", "v")
	events := watch(t, s, p, created)
	deleted := commit(t, s, nil, store.Delete(p+"k"), store.Delete(p+"missing"))
	wantEvent(t, nextEvent(t, events), deleted, change{key: p + "k", deleted: true})
}

// testWatchLosesNothingWhileCatchingUp starts watches from the past while commits keep
// coming, so that each watch hands over from history to live revisions under load.
func testWatchLosesNothingWhileCatchingUp(t *testing.T, s store.Store, p string) {
	const total = 60
	revs := make(chan int64, total)
	writerDone := make(chan error, 1)
	go func() {
		for i := range total {
			rev, err := s.Commit(t.Context(), nil, []store.Op{store.Put(p+"k", []byte(fmt.Sprint(i)))})
			if err != nil {
				writerDone <- fmt.Errorf("commit %d: %w", i, err)
				return
			}
			revs <- rev
		}
		writerDone <- nil
	}()

	var committed []int64
	var watches []<-chan store.Event
	var froms []int
	for len(committed) < total {
		select {
		case rev := <-revs:
			committed = append(committed, rev)
			if len(committed)%10 == 0 && len(committed) < total {
				// A watch from 5 commits ago: history first, then live, while the writer runs.
				froms = append(froms, len(committed)-5)
				watches = append(watches, watch(t, s, p, committed[len(committed)-5-1]))
			}
		case err := <-writerDone:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("writer stalled after %d commits", len(committed))
		}
	}
	for i, events := range watches {
		for j := froms[i]; j < total; j++ {
			ev := nextEvent(t, events)
			if ev.Err != nil || ev.Revision != committed[j] || len(ev.Changes) != 1 || string(ev.Changes[0].Value) != fmt.Sprint(j) {
				t.Fatalf("watch %d from commit %d: got event %d %s (err %v), want commit %d at revision %d",
					i, froms[i], ev.Revision, formatChanges(ev.Changes), ev.Err, j, committed[j])
			}
		}
	}
}

func testWatchSlowReaderDoesNotBlockCommits(t *testing.T, s store.Store, p string) {
	const total = 100
	start := revision(t, s)
	events := watch(t, s, p, start)
	done := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := s.Commit(t.Context(), nil, []store.Op{store.Put(p+"k", []byte(fmt.Sprint(i)))}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("commit while a watcher does not read: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("%d commits did not finish within %s while a watcher did not read", total, waitTimeout)
	}
	for i := range total {
		wantEvent(t, nextEvent(t, events), start+1+int64(i), change{key: p + "k", value: fmt.Sprint(i)})
	}
}

func testWatchEndsWithContext(t *testing.T, s store.Store, p string) {
	ctx, cancel := context.WithCancel(t.Context())
	events := s.Watch(ctx, p, 0)
	rev := put(t, s, p+"k", "v")
	wantEvent(t, nextEvent(t, events), rev, change{key: p + "k", value: "v"})
	cancel()
	for _, ev := range drain(t, events) {
		if ev.Err != nil {
			t.Errorf("watch ended by its context: got an event with error %v, want none", ev.Err)
		}
	}
}
