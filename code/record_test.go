package code

import (
	"context"
	"testing"

	"github.com/starbase/starbase/store"
)

func TestPush_RecordNamesTheCommitItIsWrittenWith(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	first := mustPush(t, r, "", map[string]string{"a.star": "a = 1\n", "b.star": "b = 1\n"}, "first")

	var got struct {
		commit     Commit
		parentTree Tree
		tree       Tree
	}
	res, err := r.Push(ctx, PushRequest{
		Ref: DefaultBranch, Expected: first.Commit, Author: "ana", Message: "second",
		Files: byteFiles(map[string]string{"a.star": "a = 2\n", "c.star": "c = 1\n"}),
		Record: func(c Commit, parentTree, tree Tree) ([]store.Op, error) {
			got.commit, got.parentTree, got.tree = c, parentTree, tree
			return []store.Op{store.Put("audit/x", []byte(c.ID))}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.commit.ID != res.Commit || len(got.commit.Parents) != 1 || got.commit.Parents[0] != first.Commit {
		t.Fatalf("Record saw commit %s with parents %v, want %s on %s", got.commit.ID, got.commit.Parents, res.Commit, first.Commit)
	}
	if diffs := DiffTrees(got.parentTree, got.tree); len(diffs) != 3 {
		t.Fatalf("Record's trees differ in %v, want a.star modified, b.star removed, c.star added", diffs)
	}
	kv, _, err := r.Store().Get(ctx, "audit/x", 0)
	if err != nil || kv == nil || string(kv.Value) != string(res.Commit) || kv.ModRevision != res.Revision {
		t.Fatalf("record = %+v (%v), want the commit id written at the push's revision %d", kv, err, res.Revision)
	}

	called := false
	unchanged, err := r.Push(ctx, PushRequest{
		Ref: DefaultBranch, Expected: res.Commit, Author: "ana",
		Files:  byteFiles(map[string]string{"a.star": "a = 2\n", "c.star": "c = 1\n"}),
		Record: func(Commit, Tree, Tree) ([]store.Op, error) { called = true; return nil, nil },
	})
	if err != nil || unchanged.Changed || called {
		t.Fatalf("unchanged push: %+v, %v, Record called = %v; want no commit and no record", unchanged, err, called)
	}
	if _, err := r.Push(ctx, PushRequest{
		Ref: DefaultBranch, Expected: res.Commit, Author: "ana",
		Files: byteFiles(map[string]string{"d.star": "d = 1\n"}),
		Record: func(Commit, Tree, Tree) ([]store.Op, error) {
			return []store.Op{store.Put(CommitPrefix+"forged", nil)}, nil
		},
	}); err == nil {
		t.Fatal("a record writing under code/ was accepted")
	}
}
