package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store"
)

// TestCollectCode_KeepsWhatRolloutsAndLiveNodesNameAndDropsTheRest: a node with
// --keep-commits 1 keeps main's commit, the commit and base of the stored (aborted)
// rollout, and the commits another live node's record says it serves and wants; every other
// commit is dropped, and asking the API for one answers 410 naming the policy.
func TestCollectCode_KeepsWhatRolloutsAndLiveNodesNameAndDropsTheRest(t *testing.T) {
	ctx := context.Background()
	n := servertest.Start(t, server.Config{CodeRetention: code.Retention{KeepCommits: 1}})
	st := n.Store
	app := func(v int) map[string]string {
		return map[string]string{"app.star": fmt.Sprintf("def index(req):\n    return 'v%d'\nroutes = {\"GET /{$}\": index}\n", v)}
	}
	var ids []string
	for v := range 6 {
		ids = append(ids, n.Push(t, app(v)).Commit)
	}
	// A rollout of ids[2] on top of ids[5], aborted: its record stays, naming both.
	if _, err := n.Client.StartRollout(ctx, api.RolloutRequest{Commit: ids[2], Steps: []int{10}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Client.AbortRollout(ctx, api.RolloutAction{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	// Another live node serves ids[1] and cannot build ids[3].
	rec, _ := json.Marshal(api.Node{Node: "b", Ref: code.DefaultBranch, Commit: ids[1], Wanted: ids[3]})
	if _, err := st.Commit(ctx, nil, []store.Op{store.Put(server.NodePrefix+"b", rec)}); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, n.Push(t, app(6)).Commit)
	rev, err := st.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Compact(ctx, rev); err != nil { // no earlier ref state protects anything
		t.Fatal(err)
	}
	col, err := n.Server.CollectCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if col.Kept != 5 || col.Dropped != 2 {
		t.Fatalf("collection: %+v; want 5 commits kept (main's, the rollout's two, node b's two) and 2 dropped", col)
	}
	for _, i := range []int{1, 2, 3, 5, 6} {
		if _, err := n.Client.Files(ctx, ids[i]); err != nil {
			t.Errorf("kept commit %d: %v", i, err)
		}
	}
	for _, i := range []int{0, 4} {
		_, err := n.Client.Files(ctx, ids[i])
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusGone || ce.Body.Code != "starbase.commit_dropped" ||
			!strings.Contains(ce.Body.Error, "dropped by the retention policy --keep-commits 1") {
			t.Errorf("dropped commit %d: %v; want 410 starbase.commit_dropped naming the policy", i, err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, n.URL+"/-/api/log?from="+ids[0][:12], nil)
	req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
	if resp, body := n.Do(t, req); resp.StatusCode != http.StatusGone || !strings.Contains(body, "dropped by the retention policy") {
		t.Errorf("history from a dropped commit = %d %q; want 410 saying it was dropped", resp.StatusCode, body)
	}
	req, _ = http.NewRequest(http.MethodGet, n.URL+"/-/preview/"+ids[0]+"/", nil)
	req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
	if resp, body := n.Do(t, req); resp.StatusCode != http.StatusGone || !strings.Contains(body, "dropped by the retention policy") {
		t.Errorf("preview of a dropped commit = %d %q; want 410 saying it was dropped", resp.StatusCode, body)
	}
	if _, _, body := n.Get(t, "/"); body != "v6" {
		t.Errorf("GET / = %q, want v6", body)
	}
	if recs := n.Log.Messages(t, "old code collected"); len(recs) != 1 || recs[0]["dropped_commits"] != float64(2) {
		t.Errorf("log records of the collection: %v; want one saying 2 commits were dropped", recs)
	}
}

// TestCollectCode_WithEveryCommitKeptDeletesOnlyWhatNoCommitReaches: a node with the
// default retention (every commit kept) still collects what failed pushes leave behind (a
// blob stored before the push failed, a tree no commit names), and nothing else: every
// commit stays readable, whole.
func TestCollectCode_WithEveryCommitKeptDeletesOnlyWhatNoCommitReaches(t *testing.T) {
	ctx := context.Background()
	n := servertest.Start(t, server.Config{})
	st := n.Store
	var ids []string
	for v := range 3 {
		ids = append(ids, n.Push(t, map[string]string{
			"app.star":  fmt.Sprintf("def index(req):\n    return 'v%d'\nroutes = {\"GET /{$}\": index}\n", v),
			"README.md": "kept by every commit\n",
		}).Commit)
	}
	orphan := []byte("a module of a push that failed after storing it\n")
	orphanBlob := code.HashBlob(orphan)
	treeData, orphanTree, err := code.EncodeTree(code.Tree{"lost.star": orphanBlob})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, nil, []store.Op{
		store.Put(code.BlobPrefix+string(orphanBlob), orphan),
		store.Put(code.TreePrefix+string(orphanTree), treeData),
	}); err != nil {
		t.Fatal(err)
	}
	col, err := n.Server.CollectCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if col.Dropped != 0 || col.Trees != 1 || col.Blobs != 1 {
		t.Errorf("collection with every commit kept: %+v; want nothing dropped, the one unreachable tree and blob deleted", col)
	}
	for _, key := range []string{code.BlobPrefix + string(orphanBlob), code.TreePrefix + string(orphanTree)} {
		if kv, _, err := st.Get(ctx, key, 0); err != nil || kv != nil {
			t.Errorf("%s after the collection: %v %v, want deleted", key, kv, err)
		}
	}
	for i, id := range ids {
		files, err := n.Client.Files(ctx, id)
		if err != nil || len(files.Files) != 2 {
			t.Errorf("commit %d after the collection: %d files, %v; want its 2 files", i, len(files.Files), err)
		}
	}
	if code, _, body := n.Get(t, "/"); code != http.StatusOK || body != "v2" {
		t.Errorf("GET / after the collection: %d %q, want v2", code, body)
	}
}
