package code

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/starbase/starbase/store"
)

func TestPush_CreatesCommitAndMovesRef(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	files := map[string]string{"app.star": "routes = {}\n", "templates/index.html": "<h1>hi</h1>\n"}

	res := mustPush(t, r, "", files, "First")

	if !res.Changed || res.Parent != "" {
		t.Errorf("result = %+v, want Changed and no parent", res)
	}
	id, modRev, err := r.Ref(ctx, DefaultBranch)
	if err != nil {
		t.Fatalf("Ref: %v", err)
	}
	if id != res.Commit || modRev != res.Revision {
		t.Errorf("ref = %s at revision %d, want %s at %d", id.Short(), modRev, res.Commit.Short(), res.Revision)
	}
	if rev := revision(t, r.Store()); rev != res.Revision {
		t.Errorf("store revision = %d, want the push's revision %d", rev, res.Revision)
	}
	c, err := r.Commit(ctx, res.Commit)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if c.Author != "ana@example.com" || c.Message != "First" || !c.Time.Equal(testTime) || len(c.Parents) != 0 {
		t.Errorf("commit = %+v, want author, message and time as pushed and no parents", c)
	}
	tree, err := r.Tree(ctx, c.Tree)
	if err != nil {
		t.Fatalf("Tree: %v", err)
	}
	if got, want := tree["app.star"], HashBlob([]byte(files["app.star"])); got != want {
		t.Errorf("tree[app.star] = %s, want %s", got, want)
	}
	wantFiles(t, r, res.Commit, files)

	second := mustPush(t, r, res.Commit, map[string]string{"app.star": "routes = {1: 2}\n"}, "Second")
	if !second.Changed || second.Parent != res.Commit {
		t.Errorf("second result = %+v, want Changed with parent %s", second, res.Commit.Short())
	}
	wantFiles(t, r, second.Commit, map[string]string{"app.star": "routes = {1: 2}\n"})
}

func TestPush_UnchangedTreeMakesNoCommit(t *testing.T) {
	r := newTestRepo(t)
	files := map[string]string{"app.star": "x = 1\n"}
	first := mustPush(t, r, "", files, "First")
	before := revision(t, r.Store())

	res, err := r.Push(context.Background(), PushRequest{
		Ref: DefaultBranch, Files: byteFiles(files), Expected: first.Commit,
		Author: "bo@example.com", Message: "Nothing", Extra: []store.Op{store.Put("audit/1", []byte("x"))},
	})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if res.Changed || res.Commit != first.Commit || res.Revision != first.Revision {
		t.Errorf("result = %+v, want unchanged at %s revision %d", res, first.Commit.Short(), first.Revision)
	}
	if after := revision(t, r.Store()); after != before {
		t.Errorf("store revision went from %d to %d, want no write", before, after)
	}
}

func TestPush_FailsWhenRefMovedSinceExpected(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	base := mustPush(t, r, "", map[string]string{"a": "1"}, "base")
	theirs := mustPush(t, r, base.Commit, map[string]string{"a": "2"}, "theirs")
	before := revision(t, r.Store())

	_, err := r.Push(ctx, PushRequest{
		Ref: DefaultBranch, Files: byteFiles(map[string]string{"a": "3", "new": "n"}),
		Expected: base.Commit, Author: "ana@example.com", Message: "mine",
	})

	var stale *StaleError
	if !errors.Is(err, ErrStale) || !errors.As(err, &stale) {
		t.Fatalf("err = %v, want a *StaleError", err)
	}
	if stale.Current != theirs.Commit || stale.Expected != base.Commit {
		t.Errorf("StaleError = %+v, want current %s expected %s", stale, theirs.Commit.Short(), base.Commit.Short())
	}
	for _, want := range []string{theirs.Commit.Short(), "pull", "--force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %q", err, want)
		}
	}
	if after := revision(t, r.Store()); after != before {
		t.Errorf("store revision went from %d to %d, want nothing written", before, after)
	}
	if got := refAt(t, r, DefaultBranch); got != theirs.Commit {
		t.Errorf("ref = %s, want it left at %s", got.Short(), theirs.Commit.Short())
	}
}

func TestPush_FailsWhenExpectingNoRefButOneExists(t *testing.T) {
	r := newTestRepo(t)
	mustPush(t, r, "", map[string]string{"a": "1"}, "first")

	_, err := r.Push(context.Background(), PushRequest{
		Ref: DefaultBranch, Files: byteFiles(map[string]string{"a": "2"}), Author: "ana@example.com",
	})

	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("err = %v, want ErrStale saying the ref already exists", err)
	}
}

func TestPush_ForceOverwritesAMovedRef(t *testing.T) {
	r := newTestRepo(t)
	base := mustPush(t, r, "", map[string]string{"a": "1"}, "base")
	theirs := mustPush(t, r, base.Commit, map[string]string{"a": "2"}, "theirs")

	res, err := r.Push(context.Background(), PushRequest{
		Ref: DefaultBranch, Files: byteFiles(map[string]string{"a": "3"}), Expected: base.Commit, Force: true,
		Author: "ana@example.com", Message: "mine",
	})

	if err != nil {
		t.Fatalf("forced Push: %v", err)
	}
	if !res.Changed || res.Parent != theirs.Commit {
		t.Errorf("result = %+v, want a commit on top of the current %s", res, theirs.Commit.Short())
	}
	if got := refAt(t, r, DefaultBranch); got != res.Commit {
		t.Errorf("ref = %s, want %s", got.Short(), res.Commit.Short())
	}
	wantFiles(t, r, res.Commit, map[string]string{"a": "3"})
}

// pushAtOnce starts n pushes to DefaultBranch based on base, pusher i writing "a" = "pusher
// i", releases them together and returns each one's result and error.
func pushAtOnce(r *Repo, base ID, n int, force bool) ([]PushResult, []error) {
	results := make([]PushResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = r.Push(context.Background(), PushRequest{
				Ref: DefaultBranch, Files: byteFiles(map[string]string{"a": fmt.Sprint("pusher ", i)}),
				Expected: base, Force: force, Author: "ana@example.com", Message: fmt.Sprint("push ", i),
			})
		})
	}
	close(start)
	wg.Wait()
	return results, errs
}

func TestPush_ConcurrentPushesFromSameBase_ExactlyOneWins(t *testing.T) {
	r := newTestRepo(t)
	base := mustPush(t, r, "", map[string]string{"a": "base"}, "base")
	const pushers = 8
	results, errs := pushAtOnce(r, base.Commit, pushers, false)

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("pushers %d and %d both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, ErrStale):
			t.Errorf("pusher %d: err = %v, want ErrStale", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no pusher succeeded")
	}
	if got := refAt(t, r, DefaultBranch); got != results[winner].Commit {
		t.Errorf("ref = %s, want the winner's %s", got.Short(), results[winner].Commit.Short())
	}
	if results[winner].Parent != base.Commit {
		t.Errorf("winner's parent = %s, want the base %s", results[winner].Parent.Short(), base.Commit.Short())
	}
	wantFiles(t, r, results[winner].Commit, map[string]string{"a": fmt.Sprint("pusher ", winner)})
}

func TestPush_RejectsAllBadPathsAndWritesNothing(t *testing.T) {
	r := newTestRepo(t)
	base := mustPush(t, r, "", map[string]string{"a": "1"}, "base")
	before := revision(t, r.Store())
	bad := []string{"../escape.star", "/etc/passwd", "a//b.star", "bell\a.star", strings.Repeat("x", MaxPathLen+1)}
	files := map[string][]byte{"good.star": []byte("ok")}
	for _, p := range bad {
		files[p] = []byte("bad")
	}

	_, err := r.Push(context.Background(), PushRequest{
		Ref: DefaultBranch, Files: files, Expected: base.Commit, Author: "ana@example.com",
	})

	var pathsErr *PathsError
	if !errors.As(err, &pathsErr) || !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("err = %v, want a *PathsError wrapping ErrInvalidPath", err)
	}
	if len(pathsErr.Paths) != len(bad) {
		t.Errorf("%d paths reported, want %d: %v", len(pathsErr.Paths), len(bad), err)
	}
	for _, p := range bad {
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("message does not name %q:\n%v", p, err)
		}
	}
	if strings.Contains(err.Error(), "good.star") {
		t.Errorf("message names the valid path good.star:\n%v", err)
	}
	if after := revision(t, r.Store()); after != before {
		t.Errorf("store revision went from %d to %d, want nothing written", before, after)
	}
}

func TestPush_RejectsBadRequestsBeforeWriting(t *testing.T) {
	r := newTestRepo(t)
	before := revision(t, r.Store())
	files := byteFiles(map[string]string{"a": "1"})
	cases := map[string]struct {
		req  PushRequest
		want error
	}{
		"bad ref":            {PushRequest{Ref: "../main", Files: files, Author: "a"}, ErrInvalidRef},
		"no author":          {PushRequest{Ref: "main", Files: files, Author: " "}, ErrInvalidRequest},
		"author with NUL":    {PushRequest{Ref: "main", Files: files, Author: "a\x00"}, ErrInvalidRequest},
		"message with ESC":   {PushRequest{Ref: "main", Files: files, Author: "a", Message: "\x1b[31m"}, ErrInvalidRequest},
		"empty note":         {PushRequest{Ref: "main", Files: files, Author: "a", Notes: []string{""}}, ErrInvalidRequest},
		"extra under code/":  {PushRequest{Ref: "main", Files: files, Author: "a", Extra: []store.Op{store.Put(RefPrefix+"x", nil)}}, ErrInvalidRequest},
		"extra without key":  {PushRequest{Ref: "main", Files: files, Author: "a", Extra: []store.Op{store.Put("", nil)}}, ErrInvalidRequest},
		"invalid UTF-8 note": {PushRequest{Ref: "main", Files: files, Author: "a", Notes: []string{"\xff"}}, ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := r.Push(context.Background(), tc.req); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if after := revision(t, r.Store()); after != before {
		t.Errorf("store revision went from %d to %d, want nothing written", before, after)
	}
}

func TestPush_WritesExtraInTheSameStoreCommit(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)

	res, err := r.Push(ctx, PushRequest{
		Ref: DefaultBranch, Files: byteFiles(map[string]string{"a": "1"}), Author: "ana@example.com",
		Extra: []store.Op{store.Put("audit/push-1", []byte("ana pushed"))},
	})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}

	kv, _, err := r.Store().Get(ctx, "audit/push-1", 0)
	if err != nil || kv == nil {
		t.Fatalf("audit record: %v, %v", kv, err)
	}
	if kv.ModRevision != res.Revision {
		t.Errorf("audit record written at revision %d, want the push's %d", kv.ModRevision, res.Revision)
	}
}

func TestPush_CrashBeforeFinalCommitLeavesOldTree(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	r := NewRepo(s)
	oldFiles := map[string]string{"app.star": "x = 1\n", "lib.star": "y = 2\n"}
	old := mustPush(t, r, "", oldFiles, "old")
	newFiles := byteFiles(map[string]string{"app.star": "x = 100\n", "new.star": "z = 3\n"})

	t.Run("process dies after writing blobs", func(t *testing.T) {
		u, unchanged, err := r.preparePush(ctx, PushRequest{
			Ref: DefaultBranch, Files: newFiles, Expected: old.Commit, Author: "ana@example.com",
		})
		if err != nil || unchanged != nil {
			t.Fatalf("preparePush = %v, %v; want an update", unchanged, err)
		}
		if err := r.writeBlobs(ctx, u.blobs); err != nil {
			t.Fatalf("writeBlobs: %v", err)
		}
		// No publish: the process is gone.

		fresh := NewRepo(s)
		if got := refAt(t, fresh, DefaultBranch); got != old.Commit {
			t.Errorf("ref = %s, want it still at %s", got.Short(), old.Commit.Short())
		}
		wantFiles(t, fresh, old.Commit, oldFiles)
		if _, err := fresh.Blob(ctx, HashBlob(newFiles["new.star"])); err != nil {
			t.Errorf("the orphan blob of new.star is not readable: %v", err)
		}
	})

	t.Run("final commit fails", func(t *testing.T) {
		crashing := NewRepo(crashingStore{s})
		_, err := crashing.Push(ctx, PushRequest{
			Ref: DefaultBranch, Files: newFiles, Expected: old.Commit, Author: "ana@example.com",
		})
		if !errors.Is(err, errCrash) {
			t.Fatalf("err = %v, want the simulated crash", err)
		}
		fresh := NewRepo(s)
		if got := refAt(t, fresh, DefaultBranch); got != old.Commit {
			t.Errorf("ref = %s, want it still at %s", got.Short(), old.Commit.Short())
		}
		wantFiles(t, fresh, old.Commit, oldFiles)
	})

	t.Run("a later push completes the change", func(t *testing.T) {
		res, err := r.Push(ctx, PushRequest{
			Ref: DefaultBranch, Files: newFiles, Expected: old.Commit, Author: "ana@example.com",
		})
		if err != nil {
			t.Fatalf("Push after the crash: %v", err)
		}
		wantFiles(t, NewRepo(s), res.Commit, map[string]string{"app.star": "x = 100\n", "new.star": "z = 3\n"})
	})
}

func TestPush_WritesBlobsInBatchesWithinStoreLimits(t *testing.T) {
	limited := &limitedStore{Store: openStore(t), limits: store.Limits{MaxOps: 4, MaxBytes: 1 << 20}}
	r := NewRepo(limited)
	files := map[string]string{}
	for i := range 10 {
		files[fmt.Sprintf("mod%02d.star", i)] = fmt.Sprintf("x = %d\n", i)
	}

	res := mustPush(t, r, "", files, "ten files")

	// Ten blobs four at a time, then tree + commit + ref.
	if want := []int{4, 4, 2, 3}; fmt.Sprint(limited.commits) != fmt.Sprint(want) {
		t.Errorf("store commits had %v operations, want %v", limited.commits, want)
	}
	wantFiles(t, r, res.Commit, files)
}

func TestPush_SkipsBlobsAlreadyStored(t *testing.T) {
	limited := &limitedStore{Store: openStore(t), limits: store.Limits{MaxOps: 100, MaxBytes: 1 << 20}}
	r := NewRepo(limited)
	base := mustPush(t, r, "", map[string]string{"a": "same", "b": "old"}, "base")
	limited.commits = nil

	mustPush(t, r, base.Commit, map[string]string{"a": "same", "b": "new", "c": "same"}, "change b")

	// One new blob ("new"), then the final commit of tree + commit + ref.
	if want := []int{1, 3}; fmt.Sprint(limited.commits) != fmt.Sprint(want) {
		t.Errorf("store commits had %v operations, want %v", limited.commits, want)
	}
}

func TestPush_RefusesTooLargeBeforeWriting(t *testing.T) {
	limited := &limitedStore{Store: openStore(t), limits: store.Limits{MaxOps: 100, MaxBytes: 4096}}
	r := NewRepo(limited)
	before := revision(t, limited)

	t.Run("final commit", func(t *testing.T) {
		_, err := r.Push(context.Background(), PushRequest{
			Ref: DefaultBranch, Files: byteFiles(map[string]string{"a": "small"}), Author: "ana@example.com",
			Extra: []store.Op{store.Put("audit/big", make([]byte, 5000))},
		})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "4096 bytes") {
			t.Errorf("err = %v, want ErrTooLarge naming the limit", err)
		}
	})
	t.Run("one file", func(t *testing.T) {
		_, err := r.Push(context.Background(), PushRequest{
			Ref: DefaultBranch, Files: map[string][]byte{"big.bin": make([]byte, 5000), "a": []byte("x")},
			Author: "ana@example.com",
		})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	})
	if after := revision(t, limited); after != before {
		t.Errorf("store revision went from %d to %d, want nothing written", before, after)
	}
}

func TestPush_EmptyFileSetIsAnEmptyTree(t *testing.T) {
	r := newTestRepo(t)
	base := mustPush(t, r, "", map[string]string{"a": "1"}, "base")

	res := mustPush(t, r, base.Commit, map[string]string{}, "remove everything")

	wantFiles(t, r, res.Commit, map[string]string{})
}

func TestPush_ForceReplacesADamagedRef(t *testing.T) {
	ctx := context.Background()
	for name, damage := range map[string]func(head ID) store.Op{
		"ref holds garbage": func(head ID) store.Op {
			return store.Put(refKey(DefaultBranch), []byte("garbage"))
		},
		"current commit is corrupt": func(head ID) store.Op {
			return store.Put(commitKey(head), []byte("{}"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			head := mustPush(t, NewRepo(s), "", map[string]string{"a": "1"}, "first")
			if _, err := s.Commit(ctx, nil, []store.Op{damage(head.Commit)}); err != nil {
				t.Fatal(err)
			}
			r := NewRepo(s)
			req := PushRequest{
				Ref: DefaultBranch, Files: byteFiles(map[string]string{"a": "2"}), Expected: head.Commit,
				Author: "ana@example.com", Message: "repair",
			}

			_, err := r.Push(ctx, req)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unforced push: err = %v, want ErrCorrupt", err)
			}

			req.Force = true
			res, err := r.Push(ctx, req)
			if err != nil {
				t.Fatalf("forced push: %v", err)
			}
			if got := refAt(t, r, DefaultBranch); got != res.Commit {
				t.Errorf("ref = %s, want the repair %s", got.Short(), res.Commit.Short())
			}
			wantFiles(t, r, res.Commit, map[string]string{"a": "2"})
		})
	}
}

func TestPush_ConcurrentForcedPushesNeverOverwriteEachOther(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	base := mustPush(t, r, "", map[string]string{"a": "base"}, "base")
	const pushers = 8
	results, errs := pushAtOnce(r, base.Commit, pushers, true)

	// Each forced push either lost the race cleanly or landed on top of what the ref held,
	// so every one that succeeded is in the ref's history.
	log, err := r.Log(ctx, refAt(t, r, DefaultBranch), 0)
	if err != nil {
		t.Fatalf("Log: %v", err)
	}
	inHistory := map[ID]bool{}
	for _, c := range log {
		inHistory[c.ID] = true
	}
	succeeded := 0
	for i, err := range errs {
		switch {
		case err == nil:
			succeeded++
			if !inHistory[results[i].Commit] {
				t.Errorf("pusher %d's commit %s is not in the ref's history: it was overwritten", i, results[i].Commit.Short())
			}
		case !errors.Is(err, ErrConflict):
			t.Errorf("pusher %d: err = %v, want nil or ErrConflict", i, err)
		}
	}
	t.Logf("%d of %d forced pushes succeeded", succeeded, pushers)
	if succeeded == 0 {
		t.Error("no forced push succeeded")
	}
	if len(log) != succeeded+1 {
		t.Errorf("history has %d commits, want the base and the %d successful pushes", len(log), succeeded)
	}
}
