package storetest

import (
	"errors"
	"testing"

	"github.com/starbase/starbase/store"
)

func testCloseEndsWatchesAndOperations(t *testing.T, s store.Store, p string) {
	events := watch(t, s, p, 0)
	rev := put(t, s, p+"k", "v")
	wantEvent(t, nextEvent(t, events), rev, change{key: p + "k", value: "v"})

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, ev := range drain(t, events) {
		if ev.Err != nil && !errors.Is(ev.Err, store.ErrClosed) {
			t.Errorf("watch ended by Close: got an event with error %v, want none or ErrClosed", ev.Err)
		}
	}
	_, _, err := s.Get(t.Context(), p+"k", 0)
	wantErr(t, "Get after Close", err, store.ErrClosed)
	_, err = s.Commit(t.Context(), nil, []store.Op{store.Put(p+"k", nil)})
	wantErr(t, "Commit after Close", err, store.ErrClosed)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}
