package code

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/starbase/starbase/store"
)

func TestRepo_ReadsMissingObjectsAsNotFound(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	if _, err := r.Blob(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Errorf("Blob: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Tree(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tree: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Commit(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Errorf("Commit: err = %v, want ErrNotFound", err)
	}
	if _, _, err := r.Ref(ctx, "main"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Ref: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Blob(ctx, "../../refs/main"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Blob with a bad id: err = %v, want ErrInvalidID", err)
	}
}

func TestRepo_DetectsCorruptedObjects(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	res := mustPush(t, NewRepo(s), "", map[string]string{"app.star": "x = 1\n"}, "first")
	c, err := NewRepo(s).Commit(ctx, res.Commit)
	if err != nil {
		t.Fatal(err)
	}
	blob := HashBlob([]byte("x = 1\n"))

	overwrite := func(t *testing.T, key, value string) {
		t.Helper()
		if _, err := s.Commit(ctx, nil, []store.Op{store.Put(key, []byte(value))}); err != nil {
			t.Fatalf("overwriting %s: %v", key, err)
		}
	}

	t.Run("blob", func(t *testing.T) {
		overwrite(t, blobKey(blob), "x = 2\n")
		_, err := NewRepo(s).Blob(ctx, blob)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), blob.Short()) {
			t.Errorf("err = %v, want ErrCorrupt naming blob %s", err, blob.Short())
		}
		if _, err := NewRepo(s).Files(ctx, res.Commit); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Files: err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("tree", func(t *testing.T) {
		overwrite(t, treeKey(c.Tree), `{"files":{}}`)
		if _, err := NewRepo(s).Tree(ctx, c.Tree); !errors.Is(err, ErrCorrupt) {
			t.Errorf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("commit", func(t *testing.T) {
		overwrite(t, commitKey(res.Commit), "{}")
		if _, err := NewRepo(s).Commit(ctx, res.Commit); !errors.Is(err, ErrCorrupt) {
			t.Errorf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("ref", func(t *testing.T) {
		overwrite(t, refKey("main"), "not an id")
		if _, _, err := NewRepo(s).Ref(ctx, "main"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Ref: err = %v, want ErrCorrupt", err)
		}
		if _, err := NewRepo(s).Refs(ctx); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Refs: err = %v, want ErrCorrupt", err)
		}
	})
}

func TestRepo_CachedReadsAreNotAliasedByCallers(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	base := mustPush(t, r, "", map[string]string{"a": "1"}, "base")
	next := mustPush(t, r, base.Commit, map[string]string{"a": "2"}, "next")

	c, err := r.Commit(ctx, next.Commit)
	if err != nil {
		t.Fatal(err)
	}
	c.Parents[0] = idA
	again, err := r.Commit(ctx, next.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if again.Parents[0] != base.Commit {
		t.Errorf("parent = %s after a caller changed its copy, want %s", again.Parents[0].Short(), base.Commit.Short())
	}
}

func TestRefs_ListsEveryRefByName(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	res := mustPush(t, r, "", map[string]string{"a": "1"}, "first")
	canaryRev, err := r.SetRef(ctx, "canary", res.Commit, "", nil)
	if err != nil {
		t.Fatalf("SetRef: %v", err)
	}

	refs, err := r.Refs(ctx)
	if err != nil {
		t.Fatalf("Refs: %v", err)
	}

	want := []Ref{{"canary", res.Commit, canaryRev}, {"main", res.Commit, res.Revision}}
	if len(refs) != len(want) || refs[0] != want[0] || refs[1] != want[1] {
		t.Errorf("Refs = %+v, want %+v", refs, want)
	}
}

func TestSetRef_IsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	first := mustPush(t, r, "", map[string]string{"a": "1"}, "first")
	second := mustPush(t, r, first.Commit, map[string]string{"a": "2"}, "second")

	t.Run("creates a ref that must not exist", func(t *testing.T) {
		rev, err := r.SetRef(ctx, "canary", first.Commit, "", []store.Op{store.Put("audit/canary", []byte("x"))})
		if err != nil {
			t.Fatalf("SetRef: %v", err)
		}
		if id, modRev, _ := r.Ref(ctx, "canary"); id != first.Commit || modRev != rev {
			t.Errorf("canary = %s at %d, want %s at %d", id.Short(), modRev, first.Commit.Short(), rev)
		}
		if kv, _, _ := r.Store().Get(ctx, "audit/canary", 0); kv == nil || kv.ModRevision != rev {
			t.Errorf("extra op = %+v, want it written at revision %d", kv, rev)
		}
	})
	t.Run("moves from the expected commit", func(t *testing.T) {
		if _, err := r.SetRef(ctx, "canary", second.Commit, first.Commit, nil); err != nil {
			t.Fatalf("SetRef: %v", err)
		}
		if got := refAt(t, r, "canary"); got != second.Commit {
			t.Errorf("canary = %s, want %s", got.Short(), second.Commit.Short())
		}
	})
	t.Run("refuses a stale expectation", func(t *testing.T) {
		before := revision(t, r.Store())
		_, err := r.SetRef(ctx, "canary", first.Commit, first.Commit, nil)
		var stale *StaleError
		if !errors.As(err, &stale) || stale.Current != second.Commit {
			t.Errorf("err = %v, want a *StaleError with current %s", err, second.Commit.Short())
		}
		if after := revision(t, r.Store()); after != before {
			t.Errorf("store revision went from %d to %d, want nothing written", before, after)
		}
	})
	t.Run("refuses a commit that does not exist", func(t *testing.T) {
		if _, err := r.SetRef(ctx, "canary", idA, second.Commit, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("leaves a ref already at the commit alone", func(t *testing.T) {
		before := revision(t, r.Store())
		if _, err := r.SetRef(ctx, "canary", second.Commit, second.Commit, nil); err != nil {
			t.Fatalf("SetRef: %v", err)
		}
		if after := revision(t, r.Store()); after != before {
			t.Errorf("store revision went from %d to %d, want nothing written", before, after)
		}
	})
}

func TestLog_FollowsFirstParentsNewestFirst(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	var ids []ID
	parent := ID("")
	for _, msg := range []string{"one", "two", "three", "four"} {
		res := mustPush(t, r, parent, map[string]string{"a": msg}, msg)
		ids, parent = append(ids, res.Commit), res.Commit
	}

	t.Run("whole history", func(t *testing.T) {
		log, err := r.Log(ctx, parent, 0)
		if err != nil {
			t.Fatalf("Log: %v", err)
		}
		var got []string
		for _, c := range log {
			got = append(got, c.Message)
		}
		if strings.Join(got, ",") != "four,three,two,one" {
			t.Errorf("messages = %v, want four,three,two,one", got)
		}
		if log[0].ID != ids[3] || log[3].ID != ids[0] {
			t.Errorf("ids = %s..%s, want %s..%s", log[0].ID.Short(), log[3].ID.Short(), ids[3].Short(), ids[0].Short())
		}
	})
	t.Run("limited", func(t *testing.T) {
		log, err := r.Log(ctx, ids[2], 2)
		if err != nil {
			t.Fatalf("Log: %v", err)
		}
		if len(log) != 2 || log[0].Message != "three" || log[1].Message != "two" {
			t.Errorf("Log(three, 2) = %+v, want three, two", log)
		}
	})
}

func TestRevertMessage_NamesTheTargetAndItsSubject(t *testing.T) {
	target := Commit{ID: ID(strings.Repeat("ab", 32)), Message: "Working version\n\nDetails."}
	if got, want := RevertMessage(target), "Revert to abababababab: Working version"; got != want {
		t.Errorf("RevertMessage = %q, want %q", got, want)
	}
}

func TestResolve_AcceptsRefsIDsAndUniquePrefixes(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	r := NewRepo(s)
	res := mustPush(t, r, "", map[string]string{"a": "1"}, "first")
	// Two crafted commit keys sharing their first 10 hex digits.
	twinA := ID("0123456789" + strings.Repeat("a", IDLen-10))
	twinB := ID("0123456789" + strings.Repeat("b", IDLen-10))
	if _, err := s.Commit(ctx, nil, []store.Op{
		store.Put(commitKey(twinA), []byte("{}")), store.Put(commitKey(twinB), []byte("{}")),
	}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ in, want string }{
		{"main", string(res.Commit)},
		{string(res.Commit), string(res.Commit)},
		{string(res.Commit[:7]), string(res.Commit)},
		{strings.ToUpper(string(res.Commit[:12])), string(res.Commit)},
		{"0123456789a", string(twinA)},
	} {
		got, err := r.Resolve(ctx, tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}

	for _, tc := range []struct {
		in      string
		want    error
		message string
	}{
		{"0123456789", ErrAmbiguous, string(twinB)},
		{"abc", ErrPrefixTooShort, "at least 7"},
		{"canary", ErrNotFound, `"canary"`},
		{"fffffff", ErrNotFound, "fffffff"},
		{strings.Repeat("f", IDLen), ErrNotFound, "commit"},
		{"no such thing!", ErrNotFound, "no such thing!"},
	} {
		_, err := r.Resolve(ctx, tc.in)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("Resolve(%q): err = %v, want %v mentioning %q", tc.in, err, tc.want, tc.message)
		}
	}
}

func TestResolve_PrefersARefOverAnIDPrefix(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	first := mustPush(t, r, "", map[string]string{"a": "1"}, "first")
	second := mustPush(t, r, first.Commit, map[string]string{"a": "2"}, "second")
	name := string(first.Commit[:8])
	if _, err := r.SetRef(ctx, name, second.Commit, "", nil); err != nil {
		t.Fatal(err)
	}

	got, err := r.Resolve(ctx, name)

	if err != nil || got != second.Commit {
		t.Errorf("Resolve(%q) = %s, %v; want the ref's %s", name, got.Short(), err, second.Commit.Short())
	}
}

func TestLRU_EvictsLeastRecentlyUsedWithinBounds(t *testing.T) {
	c := newLRU(2, 100, func(s string) int { return len(s) })
	ids := []ID{"1", "2", "3"}
	c.add(ids[0], "one")
	c.add(ids[1], "two")
	c.get(ids[0]) // now "2" is the least recently used
	c.add(ids[2], "three")

	if _, ok := c.get(ids[1]); ok {
		t.Error("entry 2 survived, want it evicted as least recently used")
	}
	for _, id := range []ID{ids[0], ids[2]} {
		if _, ok := c.get(id); !ok {
			t.Errorf("entry %s was evicted, want it kept", id)
		}
	}
	c.add("big", strings.Repeat("x", 26))
	if _, ok := c.get("big"); ok {
		t.Error("an entry costing over a quarter of the budget was cached")
	}
}

func TestRepo_OfferedObjectsAreReadWithoutTheStore(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t) // an empty store: whatever is read comes from the caches
	content := []byte("x = 1\n")
	blob := HashBlob(content)
	treeData, tree, err := EncodeTree(Tree{"app.star": blob})
	if err != nil {
		t.Fatal(err)
	}
	want := testCommit()
	want.Tree = tree
	commitData, commit, err := EncodeCommit(want)
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string][]byte{
		BlobPrefix + string(blob): content, TreePrefix + string(tree): treeData, CommitPrefix + string(commit): commitData,
	} {
		if !r.Offer(key, value) {
			t.Errorf("Offer(%q) = false, want true", key)
		}
	}
	if got, err := r.Blob(ctx, blob); err != nil || string(got) != string(content) {
		t.Errorf("Blob = %q, %v, want %q", got, err, content)
	}
	if got, err := r.Tree(ctx, tree); err != nil || got["app.star"] != blob {
		t.Errorf("Tree = %v, %v, want app.star -> %s", got, err, blob.Short())
	}
	if got, err := r.Commit(ctx, commit); err != nil || got.Tree != tree || got.Message != want.Message {
		t.Errorf("Commit = %+v, %v, want tree %s and message %q", got, err, tree.Short(), want.Message)
	}
}

func TestRepo_OfferRefusesWhatIsNotAVerifiedObject(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	treeData, tree, err := EncodeTree(Tree{"app.star": idA})
	if err != nil {
		t.Fatal(err)
	}
	offers := []struct {
		name, key string
		value     []byte
	}{
		{"a blob whose content does not hash to its id", BlobPrefix + string(idA), []byte("not A")},
		{"a tree whose content does not hash to its id", TreePrefix + string(idB), treeData},
		{"a commit that is not a commit", CommitPrefix + string(tree), treeData},
		{"a ref", RefPrefix + "main", []byte(idA)},
		{"an invalid id", BlobPrefix + "../x", []byte("x")},
		{"a key outside code/", "data/x", []byte("x")},
	}
	for _, o := range offers {
		if r.Offer(o.key, o.value) {
			t.Errorf("Offer of %s = true, want false", o.name)
		}
	}
	if _, err := r.Blob(ctx, idA); !errors.Is(err, ErrNotFound) {
		t.Errorf("Blob after a refused offer: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Tree(ctx, idB); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tree after a refused offer: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Commit(ctx, tree); !errors.Is(err, ErrNotFound) {
		t.Errorf("Commit after a refused offer: err = %v, want ErrNotFound", err)
	}
}
