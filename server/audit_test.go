package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// recordAt returns the audit record written at store revision rev, failing unless there
// is exactly one.
func recordAt(t *testing.T, n *secNode, rev int64) auth.AuditRecord {
	t.Helper()
	var found []auth.AuditRecord
	for _, rec := range n.audit(t) {
		if rec.Revision == rev {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d audit records at revision %d, want 1: %+v", len(found), rev, found)
	}
	return found[0]
}

// asToken returns a client acting with secret.
func asToken(t *testing.T, n *secNode, secret string) *client.Client {
	t.Helper()
	c, err := client.New(n.URL, client.Options{Token: secret, HTTP: n.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAudit_CommitsAreRecordedInTheSameStoreCommitWithTheirPaths(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{}, false)
	devSecret, devID := n.token(t, "dev", auth.Developer)
	dev := asToken(t, n, devSecret)
	first := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n", "lib/a.star": "A = 1\n", "old.txt": "x"})

	res, err := dev.Push(ctx, api.PushRequest{Expected: first.Commit, Message: "second", Files: map[string][]byte{
		"app.star": []byte("def handle(req):\n    return 'v2'\n"), "lib/a.star": []byte("A = 1\n"), "new.txt": []byte("y"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := recordAt(t, n, res.Revision)
	want := []auth.PathChange{{Path: "app.star", Status: "modified"}, {Path: "new.txt", Status: "added"}, {Path: "old.txt", Status: "removed"}}
	if rec.Action != auth.ActionCommit || rec.Actor != "dev" || rec.ActorID != devID || rec.Role != auth.Developer ||
		rec.Ref != "main" || rec.Commit != res.Commit || rec.Parent != first.Commit || fmt.Sprint(rec.Paths) != fmt.Sprint(want) ||
		!strings.HasPrefix(rec.Source, "127.0.0.1:") {
		t.Errorf("audit record = %+v\nwant a commit by dev of %s on main from %s changing %v", rec, res.Commit, first.Commit, want)
	}
	// The record and the ref move are the same store revision: before it, neither exists.
	stateBefore := n.state(t, res.Revision-1)
	if stateBefore[code.RefPrefix+"main"] != first.Commit {
		t.Errorf("at revision %d main is at %q, want the first commit", res.Revision-1, stateBefore[code.RefPrefix+"main"])
	}
	if got := n.state(t, res.Revision)[code.RefPrefix+"main"]; got != res.Commit {
		t.Errorf("at revision %d main is at %q, want %s", res.Revision, got, res.Commit)
	}
}

func TestAudit_AFailedPushLeavesNeitherCommitNorRecord(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{}, false)
	first := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n"})
	before, records := n.revision(t), len(n.audit(t))
	for name, req := range map[string]api.PushRequest{
		"stale":     {Expected: "0000000000000000000000000000000000000000000000000000000000000000", Files: map[string][]byte{"app.star": []byte("X = 1\n")}},
		"bad path":  {Expected: first.Commit, Files: map[string][]byte{"../escape.star": []byte("X = 1\n")}},
		"no change": {Expected: first.Commit, Files: map[string][]byte{"app.star": []byte("def handle(req):\n    return 'v1'\n")}},
	} {
		res, err := n.Client.Push(ctx, req)
		if name == "no change" {
			if err != nil || res.Changed {
				t.Errorf("%s: push = %+v, %v; want unchanged", name, res, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: push succeeded: %+v", name, res)
		}
	}
	if after, got := n.revision(t), len(n.audit(t)); after != before || got != records {
		t.Errorf("failed pushes moved the store %d -> %d and the audit log %d -> %d records; want nothing", before, after, records, got)
	}
}

func TestAudit_ConcurrentForcedPushesEachGetTheirExactRecord(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v0'\n"})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 3 {
				_, err := n.Client.Push(ctx, api.PushRequest{Force: true, Files: map[string][]byte{
					"app.star":                      []byte("def handle(req):\n    return 'v0'\n"),
					fmt.Sprintf("w%d/%d.txt", w, i): []byte("x"),
				}})
				var ce *client.Error
				if err != nil && !(errors.As(err, &ce) && ce.Status == http.StatusConflict) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	main, _, err := n.Server.Repo().Ref(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	history, err := n.Server.Repo().Log(ctx, main, 0)
	if err != nil {
		t.Fatal(err)
	}
	byCommit := map[string]auth.AuditRecord{}
	for _, rec := range n.audit(t) {
		if rec.Action == auth.ActionCommit {
			byCommit[rec.Commit] = rec
		}
	}
	if len(byCommit) != len(history) {
		t.Errorf("%d commit records for %d commits", len(byCommit), len(history))
	}
	for i, c := range history {
		rec, ok := byCommit[string(c.ID)]
		if !ok {
			t.Errorf("commit %s has no audit record", c.ID.Short())
			continue
		}
		var parent code.ID
		if i+1 < len(history) {
			parent = history[i+1].ID
		}
		diffs, err := n.Server.Repo().Diff(ctx, parent, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var want []auth.PathChange
		for _, d := range diffs {
			want = append(want, auth.PathChange{Path: d.Path, Status: string(d.Status)})
		}
		if rec.Parent != string(parent) || fmt.Sprint(rec.Paths) != fmt.Sprint(want) {
			t.Errorf("record of %s: parent %s, paths %v; the commit's parent is %s and it changed %v",
				c.ID.Short(), rec.Parent, rec.Paths, parent.Short(), want)
		}
	}
}

func TestAudit_RevertsRefMovesTokensAndSettingsAreRecordedWithTheirChange(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{}, false)
	first := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n"})
	second := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v2'\n", "b.txt": "b"})

	rev, err := n.Client.Revert(ctx, first.Commit)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordAt(t, n, rev.Revision)
	if rec.Action != auth.ActionRevert || rec.Target != first.Commit || rec.Commit != rev.Commit || rec.Parent != second.Commit ||
		fmt.Sprint(rec.Paths) != fmt.Sprint([]auth.PathChange{{Path: "app.star", Status: "modified"}, {Path: "b.txt", Status: "removed"}}) {
		t.Errorf("revert record = %+v", rec)
	}

	moved, err := n.Client.MoveRef(ctx, "canary", second.Commit, "")
	if err != nil {
		t.Fatal(err)
	}
	rec = recordAt(t, n, moved.Revision)
	if rec.Action != auth.ActionRefMove || rec.Ref != "canary" || rec.Commit != second.Commit || rec.Parent != "" || len(rec.Paths) != 2 {
		t.Errorf("ref move record = %+v", rec)
	}
	if got := n.state(t, moved.Revision)[code.RefPrefix+"canary"]; got != second.Commit {
		t.Errorf("canary at the record's revision = %q, want %s", got, second.Commit)
	}

	tok, err := n.Client.CreateToken(ctx, "ana", "developer")
	if err != nil {
		t.Fatal(err)
	}
	created := n.revision(t)
	rec = recordAt(t, n, created)
	if rec.Action != auth.ActionTokenCreate || rec.Target != tok.ID || rec.Actor != "admin" || strings.Contains(rec.Detail, tok.Secret) {
		t.Errorf("token creation record = %+v", rec)
	}
	if _, ok := n.state(t, created)[auth.TokenPrefix+auth.Hash(tok.Secret)]; !ok {
		t.Error("the token record is not written by the revision of its audit record")
	}

	if _, err := n.Client.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	revoked := n.revision(t)
	rec = recordAt(t, n, revoked)
	if rec.Action != auth.ActionTokenRevoke || rec.Target != tok.ID {
		t.Errorf("revocation record = %+v", rec)
	}
	if _, ok := n.state(t, revoked)[auth.TokenPrefix+auth.Hash(tok.Secret)]; ok {
		t.Error("the token still exists at the revision of its revocation record")
	}

	if _, err := n.Client.SetProtectedRefs(ctx, []string{"main"}); err != nil {
		t.Fatal(err)
	}
	rec = recordAt(t, n, n.revision(t))
	if rec.Action != auth.ActionSettings || rec.Detail != "protected refs: [main]" {
		t.Errorf("settings record = %+v", rec)
	}
}

func TestAudit_TheAPIShowsTheLogToAdminsNewestFirst(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": "X = 1\nroutes = {}\n"})
	n.do(t, secRequest{method: "GET", path: "/-/api/log"}) // refused
	recs, err := n.Client.Audit(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Action != "refused" || recs[1].Action != "commit" || recs[0].Revision <= recs[1].Revision {
		t.Fatalf("audit = %+v, want the refusal then the commit", recs)
	}
	older, err := n.Client.Audit(ctx, 10, recs[0].Key)
	if err != nil || len(older) != 1 || older[0].Key != recs[1].Key {
		t.Errorf("audit after %s = %+v, %v; want the commit only", recs[0].Key, older, err)
	}
	resp := n.do(t, secRequest{method: "GET", path: "/-/api/audit?n=0", header: bearer(servertest.AdminToken)})
	if resp.status != http.StatusBadRequest {
		t.Errorf("audit?n=0 = %d, want 400", resp.status)
	}
}
