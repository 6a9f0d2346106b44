// Package storetest is the conformance suite of [store.Store]: the executable form of the
// contract in package store. Every backend's tests call [Run].
//
// The suite never assumes absolute revision numbers, only their order and that a commit
// which changes something makes exactly one new revision; each subtest works under its own
// random key prefix. So a backend whose subtests share one database (an etcd cluster, whose
// revisions start wherever other users left them) passes it as long as nothing else writes
// while a subtest runs. Subtests run one after another.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
)

// waitTimeout bounds every wait for a watch event or a goroutine; the suite fails rather
// than hangs when a backend loses an event.
const waitTimeout = 10 * time.Second

// Run runs the whole contract against fresh stores from open, one per subtest. open
// registers the cleanup of what it opens (t.Cleanup); the cleanup must tolerate a store that
// the suite has closed already.
//
// Where the comments of package store leave a case open, the suite settles it:
//   - a commit that changes nothing (no ops, or only deletions of missing keys) makes no
//     revision and returns the current one, but its compares are still checked;
//   - a commit naming one key in two ops fails and writes nothing (etcd refuses it too);
//   - a commit may hold MaxCompares compares and MaxOps ops at once (not their sum);
//   - a range compare is checked against the latest versions at commit time; a range that
//     failed is named by a key of it that was created or modified after the revision;
//   - Get and Range at a revision report that revision, not the current one;
//   - Watch from fromRev needs revision fromRev itself retained: fromRev below the
//     compaction point ends with ErrCompacted, fromRev at it works;
//   - Watch with fromRev 0 covers every commit that starts after Watch returns;
//   - the changes of a watch event are in key order, and a deletion has ModRevision set to
//     the deleting revision;
//   - Compact at or below the compaction point does nothing and returns nil, above the
//     current revision it fails with ErrFutureRevision;
//   - after Close, operations fail with ErrClosed, watches close (an Err event, if any,
//     wraps ErrClosed) and a second Close returns nil.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s store.Store, p string)
	}{
		{"Get_MissingKeyIsNil", testGetMissingKeyIsNil},
		{"Range_MissingPrefixIsEmpty", testRangeMissingPrefixIsEmpty},
		{"Commit_SeveralKeysMakeOneRevision", testCommitSeveralKeysMakeOneRevision},
		{"Commit_TracksCreateAndModRevision", testCommitTracksCreateAndModRevision},
		{"Commit_KeysAndValuesAreOpaqueBytes", testCommitKeysAndValuesAreOpaqueBytes},
		{"Commit_CompareOnModRevision", testCommitCompareOnModRevision},
		{"Commit_CompareOnAbsence", testCommitCompareOnAbsence},
		{"Commit_ConflictNamesFirstFailingKey", testCommitConflictNamesFirstFailingKey},
		{"Commit_WithoutOpsMakesNoRevision", testCommitWithoutOpsMakesNoRevision},
		{"Commit_DeleteOfMissingKeyChangesNothing", testCommitDeleteOfMissingKeyChangesNothing},
		{"Commit_SameKeyTwiceFails", testCommitSameKeyTwiceFails},
		{"Commit_BeyondLimitsFailsWhole", testCommitBeyondLimitsFailsWhole},
		{"Commit_AtBothCountLimitsSucceeds", testCommitAtBothCountLimitsSucceeds},
		{"Commit_RangeCompareHoldsWhileNothingInItChanges", testCommitRangeCompareHoldsWhileNothingInItChanges},
		{"Commit_RangeCompareFailsOnCreationOrModification", testCommitRangeCompareFailsOnCreationOrModification},
		{"Commit_RangeCompareDoesNotSeeDeletions", testCommitRangeCompareDoesNotSeeDeletions},
		{"Commit_RangeCompareCoversExactlyItsRange", testCommitRangeCompareCoversExactlyItsRange},
		{"Commit_RangeCompareAtZeroRequiresAnEmptyRange", testCommitRangeCompareAtZeroRequiresAnEmptyRange},
		{"Commit_RangeCompareToEndOfKeys", testCommitRangeCompareToEndOfKeys},
		{"Commit_InvalidComparesFailWhole", testCommitInvalidComparesFailWhole},
		{"Read_OldRevisionSeesOldSnapshot", testReadOldRevisionSeesOldSnapshot},
		{"Read_FutureRevisionFails", testReadFutureRevisionFails},
		{"Range_OrdersKeysAndIsolatesPrefixes", testRangeOrdersKeysAndIsolatesPrefixes},
		{"Range_PagesWithAfterAndLimit", testRangePagesWithAfterAndLimit},
		{"Range_KeysOnlyLeavesValuesOut", testRangeKeysOnlyLeavesValuesOut},
		{"Watch_DeliversHistoryThenLive", testWatchDeliversHistoryThenLive},
		{"Watch_FromZeroStartsNow", testWatchFromZeroStartsNow},
		{"Watch_IgnoresOtherPrefixes", testWatchIgnoresOtherPrefixes},
		{"Watch_DeliversDeletions", testWatchDeliversDeletions},
		{"Watch_LosesNothingWhileCatchingUp", testWatchLosesNothingWhileCatchingUp},
		{"Watch_SlowReaderDoesNotBlockCommits", testWatchSlowReaderDoesNotBlockCommits},
		{"Watch_EndsWithContext", testWatchEndsWithContext},
		{"Compact_OldRevisionsFailNewOnesWork", testCompactOldRevisionsFailNewOnesWork},
		{"Compact_FutureRevisionFails", testCompactFutureRevisionFails},
		{"Concurrent_IncrementsReadsAndWatch", testConcurrentIncrementsReadsAndWatch},
		{"Close_EndsWatchesAndOperations", testCloseEndsWatchesAndOperations},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.test(t, s, uniquePrefix(t))
		})
	}
}

// uniquePrefix returns a key prefix no other subtest or run uses.
func uniquePrefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	name := t.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return fmt.Sprintf("storetest/%s-%s/", name, hex.EncodeToString(b[:]))
}

// commit commits and fails the test on error.
func commit(t *testing.T, s store.Store, compares []store.Compare, ops ...store.Op) int64 {
	t.Helper()
	rev, err := s.Commit(t.Context(), compares, ops)
	if err != nil {
		t.Fatalf("Commit(%v, %v): %v", compares, opKeys(ops), err)
	}
	return rev
}

// put sets key to value and returns the new revision.
func put(t *testing.T, s store.Store, key, value string) int64 {
	t.Helper()
	return commit(t, s, nil, store.Put(key, []byte(value)))
}

// revision returns the current revision.
func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(t.Context())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

// get reads key at rev and checks the revision the read reports.
func get(t *testing.T, s store.Store, key string, rev int64) *store.KeyValue {
	t.Helper()
	kv, at, err := s.Get(t.Context(), key, rev)
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", key, rev, err)
	}
	if rev != 0 && at != rev {
		t.Errorf("Get(%q, %d) read at revision %d, want %d", key, rev, at, rev)
	}
	return kv
}

// rangeKeys reads the keys under prefix and checks the revision the read reports.
func rangeKeys(t *testing.T, s store.Store, prefix string, opts store.RangeOptions) store.RangeResult {
	t.Helper()
	res, err := s.Range(t.Context(), prefix, opts)
	if err != nil {
		t.Fatalf("Range(%q, %+v): %v", prefix, opts, err)
	}
	if opts.Revision != 0 && res.Revision != opts.Revision {
		t.Errorf("Range(%q, %+v) read at revision %d, want %d", prefix, opts, res.Revision, opts.Revision)
	}
	return res
}

// wantKV checks that got is key with value, created at createRev and last changed at modRev.
func wantKV(t *testing.T, what string, got *store.KeyValue, key, value string, createRev, modRev int64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got no key, want %q = %q", what, key, value)
		return
	}
	if got.Key != key || string(got.Value) != value || got.CreateRevision != createRev || got.ModRevision != modRev {
		t.Errorf("%s: got %s, want %s", what, formatKV(*got), formatKV(store.KeyValue{Key: key, Value: []byte(value), CreateRevision: createRev, ModRevision: modRev}))
	}
}

// wantMissing checks that got is nil.
func wantMissing(t *testing.T, what string, got *store.KeyValue) {
	t.Helper()
	if got != nil {
		t.Errorf("%s: got %s, want no key", what, formatKV(*got))
	}
}

// wantKeys checks that kvs are exactly keys, in order.
func wantKeys(t *testing.T, what string, kvs []store.KeyValue, keys ...string) {
	t.Helper()
	got := make([]string, len(kvs))
	for i, kv := range kvs {
		got[i] = kv.Key
	}
	if strings.Join(got, "\n") != strings.Join(keys, "\n") || len(got) != len(keys) {
		t.Errorf("%s: got keys %q, want %q", what, got, keys)
	}
}

func formatKV(kv store.KeyValue) string {
	return fmt.Sprintf("%q = %q (create %d, mod %d)", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
}

func opKeys(ops []store.Op) []string {
	keys := make([]string, 0, min(len(ops), 5))
	for i, op := range ops {
		if i == 4 && len(ops) > 5 {
			keys = append(keys, fmt.Sprintf("... %d more", len(ops)-4))
			break
		}
		keys = append(keys, op.Key)
	}
	return keys
}

// watch starts a watch that ends with the test.
func watch(t *testing.T, s store.Store, prefix string, fromRev int64) <-chan store.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return s.Watch(ctx, prefix, fromRev)
}

// nextEvent returns the next event of a watch.
func nextEvent(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed, want an event")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("no watch event within %s", waitTimeout)
	}
	return store.Event{}
}

// drain reads a watch until its channel closes and returns what it delivered.
func drain(t *testing.T, ch <-chan store.Event) []store.Event {
	t.Helper()
	var events []store.Event
	deadline := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return events
			}
			events = append(events, ev)
		case <-deadline:
			t.Fatalf("watch channel still open after %s (got %d events)", waitTimeout, len(events))
		}
	}
}

// change is an expected change of an event.
type change struct {
	key     string
	value   string
	deleted bool
	// createRev is checked when not 0.
	createRev int64
}

// wantEvent checks that ev is revision rev with exactly changes, in order.
func wantEvent(t *testing.T, ev store.Event, rev int64, changes ...change) {
	t.Helper()
	if ev.Err != nil {
		t.Fatalf("watch event: got error %v, want revision %d", ev.Err, rev)
	}
	if ev.Revision != rev {
		t.Fatalf("watch event: got revision %d (%s), want revision %d", ev.Revision, formatChanges(ev.Changes), rev)
	}
	if len(ev.Changes) != len(changes) {
		t.Fatalf("watch event of revision %d: got changes %s, want %d changes", rev, formatChanges(ev.Changes), len(changes))
	}
	for i, want := range changes {
		got := ev.Changes[i]
		ok := got.Key == want.key && got.Deleted == want.deleted && got.ModRevision == rev &&
			(want.createRev == 0 || got.CreateRevision == want.createRev)
		if want.deleted {
			ok = ok && got.Value == nil
		} else {
			ok = ok && bytes.Equal(got.Value, []byte(want.value))
		}
		if !ok {
			t.Errorf("watch event of revision %d, change %d: got %s, want %+v (mod revision %d)", rev, i, formatChanges(ev.Changes[i:i+1]), want, rev)
		}
	}
}

func formatChanges(changes []store.Change) string {
	var b strings.Builder
	b.WriteString("[")
	for i, c := range changes {
		if i > 0 {
			b.WriteString(", ")
		}
		if c.Deleted {
			fmt.Fprintf(&b, "delete %q (mod %d, value %q)", c.Key, c.ModRevision, c.Value)
		} else {
			b.WriteString(formatKV(c.KeyValue))
		}
	}
	b.WriteString("]")
	return b.String()
}

// wantErr checks that err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}
