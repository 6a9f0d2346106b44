package code

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// pushSeries pushes n commits of a changing module (and one unchanged file) on main and
// returns their ids, oldest first.
func pushSeries(t *testing.T, r *Repo, n int) []ID {
	t.Helper()
	var ids []ID
	parent := ID("")
	for i := range n {
		res, err := r.Push(context.Background(), PushRequest{
			Ref: DefaultBranch, Expected: parent, Author: "ana@example.com",
			Message: fmt.Sprintf("version %d\n\nbody", i), Time: testTime.Add(time.Duration(i) * time.Minute),
			Files: map[string][]byte{
				"app.star":    []byte(fmt.Sprintf("def handle(req):\n    return %d\n", i)),
				"static/logo": []byte("unchanged"),
			},
		})
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		parent = res.Commit
		ids = append(ids, res.Commit)
	}
	return ids
}

// compactAll drops the whole store history, so that no earlier ref state protects a commit.
func compactAll(t *testing.T, st store.Store) {
	t.Helper()
	if err := st.Compact(context.Background(), revision(t, st)); err != nil {
		t.Fatalf("Compact: %v", err)
	}
}

func countKeys(t *testing.T, st store.Store, prefix string) int {
	t.Helper()
	n := 0
	err := rangeAt(context.Background(), st, prefix, 0, 100, func(store.KeyValue) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkKeptAndDropped checks that kept commits are whole and that dropped ones answer a
// *DroppedError naming the policy, through every way of asking for them.
func checkKeptAndDropped(t *testing.T, r *Repo, kept, dropped []ID, policy string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range kept {
		files, err := r.Files(ctx, id)
		if err != nil || len(files) != 2 {
			t.Fatalf("kept commit %s: %d files, %v; want its 2 files", id.Short(), len(files), err)
		}
	}
	for _, id := range dropped {
		for name, ask := range map[string]func() error{
			"Commit":         func() error { _, err := r.Commit(ctx, id); return err },
			"Files":          func() error { _, err := r.Files(ctx, id); return err },
			"Resolve full":   func() error { _, err := r.Resolve(ctx, string(id)); return err },
			"Resolve prefix": func() error { _, err := r.Resolve(ctx, string(id[:10])); return err },
			"Diff":           func() error { _, err := r.Diff(ctx, "", id); return err },
		} {
			err := ask()
			var de *DroppedError
			if !errors.As(err, &de) || !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s of dropped commit %s: %v; want a *DroppedError", name, id.Short(), err)
			}
			if want := "was dropped by the retention policy " + policy; !strings.Contains(err.Error(), want) {
				t.Fatalf("%s of dropped commit %s: %q does not say %q", name, id.Short(), err, want)
			}
		}
	}
}

// testCollectorKeepsTheNewestCommits is the behaviour on any store.
func testCollectorKeepsTheNewestCommits(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := NewRepo(st)
	ids := pushSeries(t, r, 30)
	c := &Collector{Repo: r, Retention: Retention{KeepCommits: 5}}

	// The whole history is retained: every commit main named in it stays.
	col, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if col.Dropped != 0 || col.Kept != 30 {
		t.Fatalf("with the store's history retained: %+v; want every commit kept (main named each)", col)
	}

	compactAll(t, st)
	col, err = c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if col.Kept != 5 || col.Dropped != 25 || col.Trees != 25 || col.Blobs != 25 {
		t.Fatalf("after compaction: %+v; want 5 kept, 25 commits, 25 trees and 25 blobs deleted", col)
	}
	if n := countKeys(t, st, CommitPrefix); n != 5 {
		t.Errorf("%d commits stored, want 5", n)
	}
	if n := countKeys(t, st, TreePrefix); n != 5 {
		t.Errorf("%d trees stored, want 5", n)
	}
	if n := countKeys(t, st, BlobPrefix); n != 6 { // 5 versions of app.star, 1 logo
		t.Errorf("%d blobs stored, want 6", n)
	}
	checkKeptAndDropped(t, r, ids[25:], ids[:25], "--keep-commits 5")

	log, err := r.Log(ctx, ids[29], 0)
	if err != nil || len(log) != 5 || log[4].ID != ids[25] {
		t.Fatalf("Log after collection: %d commits, %v; want the 5 kept, ending at the oldest kept", len(log), err)
	}

	// A second collection finds nothing more to do.
	col, err = c.Collect(ctx)
	if err != nil || col.Dropped+col.Trees+col.Blobs != 0 || col.Kept != 5 {
		t.Fatalf("second collection: %+v, %v; want nothing deleted", col, err)
	}
	if s := c.Stats(); s.Runs != 3 || s.Dropped != 25 || s.Blobs != 25 || s.LastKept != 5 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestCollector_KeepsTheNewestCommitsOnBolt(t *testing.T) {
	testCollectorKeepsTheNewestCommits(t, openStore(t))
}

func TestCollector_KeepsTheNewestCommitsOnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	st, err := etcd.Open(context.Background(), etcd.Config{Endpoints: cluster.Endpoints(), Prefix: "/gc/",
		MaxTxnOps: 16}) // small batches: the sweep must split its deletions
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testCollectorKeepsTheNewestCommits(t, st)
}

func TestCollector_KeepsWhatRefsPointersAndHeldReleasesNameAndByAge(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := NewRepo(st)
	ids := pushSeries(t, r, 20) // times testTime + i minutes
	// ids[3] on another ref, ids[5] in a rollout record, ids[7] held by this process,
	// ids[9] served by a live node.
	if _, err := r.SetRef(ctx, "preview", ids[3], "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, nil, []store.Op{
		store.Put("code/rollouts/main", []byte(ids[5])),
		store.Put("nodes/web1", []byte(ids[9])),
	}); err != nil {
		t.Fatal(err)
	}
	compactAll(t, st)
	name := func(v []byte) []ID { return []ID{ID(v)} }
	c := &Collector{
		Repo:      r,
		Retention: Retention{KeepCommits: 2, KeepFor: 4*time.Minute + 30*time.Second},
		Pointers:  []Pointers{{Prefix: "code/rollouts/", Commits: name}, {Prefix: "nodes/", Commits: name, Live: true}},
		Held:      func() []ID { return []ID{ids[7]} },
		Now:       func() time.Time { return testTime.Add(19 * time.Minute) },
	}
	col, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// By age: ids[15..19] (made within 4m30s of the last); by count ids[18], ids[19] on main
	// and ids[3], ids[2] on preview (the policy holds for each ref).
	kept := []ID{ids[2], ids[3], ids[5], ids[7], ids[9], ids[15], ids[16], ids[17], ids[18], ids[19]}
	if col.Kept != len(kept) {
		t.Fatalf("kept %d commits, want %d", col.Kept, len(kept))
	}
	var dropped []ID
	for _, id := range ids {
		if !containsID(kept, id) {
			dropped = append(dropped, id)
		}
	}
	checkKeptAndDropped(t, r, kept, dropped, "--keep-commits 2 --keep-commits-for 4m30s")
}

func containsID(ids []ID, id ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestCollector_ARefStateInTheRetainedHistoryProtectsItsCommit: a commit main named at a
// revision the store still retains is kept even though the policy alone drops it.
func TestCollector_ARefStateInTheRetainedHistoryProtectsItsCommit(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := NewRepo(st)
	ids := pushSeries(t, r, 10)
	// History from just before the push of ids[7] on: main named ids[6], ids[7], ids[8], ids[9].
	c := &Collector{Repo: r, Retention: Retention{KeepCommits: 1}}
	kv, _, err := st.Get(ctx, RefPrefix+DefaultBranch, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The ref's ModRevision steps back one push per version: find the revision of ids[7]'s push.
	rev := kv.ModRevision
	for i := 9; i > 7; i-- {
		prev, _, err := st.Get(ctx, RefPrefix+DefaultBranch, rev-1)
		if err != nil {
			t.Fatal(err)
		}
		rev = prev.ModRevision
	}
	if err := st.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	col, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if col.Kept != 3 || col.Dropped != 7 {
		t.Fatalf("%+v; want ids[7..9] kept (main named them in the retained history), 7 dropped", col)
	}
	checkKeptAndDropped(t, r, ids[7:], ids[:7], "--keep-commits 1")
}

// collectingStore runs a collection just before the first commit that moves main, as if it
// had run concurrently with the push: on the real store underneath, no mock.
type collectingStore struct {
	store.Store
	once    sync.Once
	collect func()
}

func (s *collectingStore) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	for _, op := range ops {
		if op.Key == RefPrefix+DefaultBranch {
			s.once.Do(s.collect)
		}
	}
	return s.Store.Commit(ctx, compares, ops)
}

// TestCollector_APushThatFoundObjectsTheSweepDeletesWritesThemAgain: a push relies on a blob
// and a tree it found stored but no kept commit names; a collection deletes them before the
// push publishes. The push starts again and its commit is whole.
func TestCollector_APushThatFoundObjectsTheSweepDeletesWritesThemAgain(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := NewRepo(st)
	ids := pushSeries(t, r, 3)
	compactAll(t, st)
	c := &Collector{Repo: r, Retention: Retention{KeepCommits: 1}}
	var col Collection
	var collectErr error
	wrapped := &collectingStore{Store: st, collect: func() { col, collectErr = c.Collect(ctx) }}
	pusher := NewRepo(wrapped)
	// The files of ids[0], whose tree and blobs are stored but unreachable once ids[0] is
	// dropped.
	files, err := r.Files(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	res, err := pusher.Push(ctx, PushRequest{Ref: DefaultBranch, Expected: ids[2], Files: files, Author: "bo", Message: "back to 0", Time: testTime})
	if err != nil {
		t.Fatalf("push during a collection: %v", err)
	}
	if collectErr != nil || col.Dropped != 2 || col.Blobs != 2 {
		t.Fatalf("collection: %+v, %v; want ids[0], ids[1] and their app.star blobs deleted", col, collectErr)
	}
	got, err := NewRepo(st).Files(ctx, res.Commit)
	if err != nil || string(got["app.star"]) != string(files["app.star"]) {
		t.Fatalf("the pushed commit: %v; want its files whole", err)
	}
}

// TestCollector_RefsMovedAfterTheMarkSpareWhatTheyName: during the mark, a ref is moved to a
// commit the mark finds unneeded, and a push publishes a commit whose tree and blobs are
// those of another such commit. The sweep catches up with the refs before it deletes: both
// stay whole, the rest is dropped.
func TestCollector_RefsMovedAfterTheMarkSpareWhatTheyName(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := NewRepo(st)
	ids := pushSeries(t, r, 4)
	compactAll(t, st)
	files1, err := r.Files(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	var pushed ID
	c := &Collector{Repo: r, Retention: Retention{KeepCommits: 1}, Held: func() []ID {
		// Called during the mark, after main's state was read.
		if pushed == "" {
			if _, err := NewRepo(st).SetRef(ctx, "old", ids[0], "", nil); err != nil {
				t.Error(err)
			}
			res, err := NewRepo(st).Push(ctx, PushRequest{Ref: DefaultBranch, Expected: ids[3], Files: files1,
				Author: "bo", Message: "back to 1", Time: testTime})
			if err != nil {
				t.Error(err)
			}
			pushed = res.Commit
		}
		return nil
	}}
	col, err := c.Collect(ctx)
	if err != nil || col.Dropped != 2 || col.Trees != 1 || col.Blobs != 1 {
		t.Fatalf("collection with refs moved after its mark: %+v, %v; want ids[1] and ids[2] dropped, with only the tree and blob of ids[2]", col, err)
	}
	checkKeptAndDropped(t, r, []ID{ids[0], ids[3], pushed}, []ID{ids[1], ids[2]}, "--keep-commits 1")
	// Once main's move is out of the retained history, the next collection keeps what the
	// refs name and drops ids[3].
	compactAll(t, st)
	col, err = c.Collect(ctx)
	if err != nil || col.Dropped != 1 || col.Kept != 2 {
		t.Fatalf("next collection: %+v, %v; want ids[3] dropped, ids[0] and the pushed commit kept", col, err)
	}
	checkKeptAndDropped(t, r, []ID{ids[0], pushed}, []ID{ids[3]}, "--keep-commits 1")
}

func TestCollector_RecordsOfDroppedCommitsExpire(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := NewRepo(st)
	ids := pushSeries(t, r, 3)
	compactAll(t, st)
	now := time.Now()
	c := &Collector{Repo: r, Retention: Retention{KeepCommits: 1}, DroppedMaxAge: time.Hour, Now: func() time.Time { return now }}
	if col, err := c.Collect(ctx); err != nil || col.Dropped != 2 || col.Records != 0 {
		t.Fatalf("%+v, %v", col, err)
	}
	now = now.Add(2 * time.Hour)
	if col, err := c.Collect(ctx); err != nil || col.Records != 2 {
		t.Fatalf("an hour past DroppedMaxAge: %+v, %v; want the 2 records deleted", col, err)
	}
	if _, err := r.Commit(ctx, ids[0]); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrDropped) {
		t.Fatalf("a commit whose record expired: %v; want plain not found", err)
	}
}

// TestCollector_SweepsInFullStoreCommitsWithinTheLimits: with a store that takes at most 10
// operations a commit, the sweep of 11 commits (and their records), 11 trees and 11 blobs
// (44 operations, plus the marker of each commit) runs in commits that each fit and are
// filled (a dropped commit takes 2 operations: 4 of them and the marker make 9).
func TestCollector_SweepsInFullStoreCommitsWithinTheLimits(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ids := pushSeries(t, NewRepo(st), 12)
	compactAll(t, st)
	limited := &limitedStore{Store: st, limits: store.Limits{MaxOps: 10}}
	r := NewRepo(limited)
	c := &Collector{Repo: r, Retention: Retention{KeepCommits: 1}}
	col, err := c.Collect(ctx)
	if err != nil || col.Dropped != 11 || col.Trees != 11 || col.Blobs != 11 {
		t.Fatalf("%+v, %v; want 11 commits, 11 trees and 11 blobs deleted", col, err)
	}
	total := 0
	for _, n := range limited.commits {
		if n > 10 {
			t.Errorf("a sweep commit of %d operations; the store takes at most 10", n)
		}
		total += n - 1 // the marker
	}
	if total != 44 || len(limited.commits) > 6 {
		t.Errorf("sweep commits of %v operations (with the marker); want the 44 in at most 6 commits of at most 10", limited.commits)
	}
	checkKeptAndDropped(t, r, ids[11:], ids[:11], "--keep-commits 1")
}

// TestCollector_StatsDoNotWaitForARunningCollection: the metrics read Stats while a
// collection may run for long; Stats answers at once with what the ended collections did.
func TestCollector_StatsDoNotWaitForARunningCollection(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := NewRepo(st)
	pushSeries(t, r, 3)
	compactAll(t, st)
	var during []CollectStats
	c := &Collector{Repo: r, Retention: Retention{KeepCommits: 1}}
	c.Held = func() []ID { // called during the mark
		got := make(chan CollectStats, 1)
		go func() { got <- c.Stats() }()
		select {
		case s := <-got:
			during = append(during, s)
		case <-time.After(30 * time.Second):
			t.Error("Stats waited for the running collection")
		}
		return nil
	}
	if col, err := c.Collect(ctx); err != nil || col.Dropped != 2 {
		t.Fatalf("first collection: %+v, %v; want 2 commits dropped", col, err)
	}
	if _, err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if len(during) != 2 || during[0].Runs != 0 || during[1].Runs != 1 || during[1].Dropped != 2 {
		t.Errorf("Stats during the collections: %+v; want no run, then the first one's 2 dropped commits", during)
	}
}
