package bolt_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
)

func TestWatch_OfAClosedStoreDeliversErrClosed(t *testing.T) {
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var events []store.Event
	for ev := range s.Watch(t.Context(), "", 0) {
		events = append(events, ev)
	}
	if len(events) != 1 || !errors.Is(events[0].Err, store.ErrClosed) {
		t.Errorf("watch of a closed store: got %+v, want one event with ErrClosed", events)
	}
}

func TestClose_DoesNotWaitForAWatcherThatDoesNotRead(t *testing.T) {
	s := openTemp(t)
	events := s.Watch(t.Context(), "k", 0)
	for i := range 10 {
		if _, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k", []byte(fmt.Sprint(i)))}); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a watcher had unread events")
	}
	// Whatever was in flight may still arrive; then the channel must be closed.
	for range events {
	}
}

// A watcher whose position falls below a compaction ends with ErrCompacted after the events
// it could still read, rather than skipping revisions.
func TestWatch_CompactionPassingASlowWatcherEndsIt(t *testing.T) {
	s := openTemp(t)
	start, _ := s.Revision(t.Context())
	const commits = 300 // more than one batch of the watcher
	var last int64
	for i := range commits {
		rev, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k", []byte(fmt.Sprint(i)))})
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		last = rev
	}
	events := s.Watch(t.Context(), "k", start)
	if err := s.Compact(t.Context(), last); err != nil {
		t.Fatalf("Compact: %v", err)
	}

	var got []store.Event
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-events:
			if !ok {
				done = true
				break
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("watch still open after %d events", len(got))
		}
	}
	if len(got) == 0 || !errors.Is(got[len(got)-1].Err, store.ErrCompacted) {
		t.Fatalf("watch passed by a compaction: got %d events, want the last to carry ErrCompacted", len(got))
	}
	for i, ev := range got[:len(got)-1] {
		if ev.Err != nil || ev.Revision != start+1+int64(i) {
			t.Fatalf("event %d: got revision %d (err %v), want %d", i, ev.Revision, ev.Err, start+1+int64(i))
		}
	}
	if len(got)-1 >= commits {
		t.Errorf("watch passed by a compaction delivered all %d revisions, want it to stop at the compaction", commits)
	}
}
