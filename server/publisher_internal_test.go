package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
	"github.com/starbase/starbase/store/bolt"
)

// The publisher on its own, called as any caller would (no HTTP): a real bbolt store, the
// real validation gate.

func newTestPublisher(t *testing.T) *publisher {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	predeclared, renderer := sandbox.WithRenderer()
	loader, err := runtime.New(runtime.Options{Predeclared: predeclared, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loader.Close() })
	return &publisher{store: st, repo: code.NewRepo(st), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		gate: gate.Options{Loader: loader, Renderer: renderer}}
}

func developer(name string) actor {
	return actor{principal: principal{tok: auth.Token{ID: "t-" + name, Name: name, Role: auth.Developer}},
		source: "192.0.2.1:1234", method: "POST", path: "/test"}
}

func tree(files map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for p, c := range files {
		out[p] = []byte(c)
	}
	return out
}

// lastAudit returns the newest audit record.
func lastAudit(t *testing.T, p *publisher) auth.AuditRecord {
	t.Helper()
	recs, _, err := auth.ReadAudit(context.Background(), p.store, auth.AuditQuery{Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("reading the audit: %v, %d records", err, len(recs))
	}
	return recs[0]
}

func TestPublisher_PushCommitsWithItsAuditRecord(t *testing.T) {
	p := newTestPublisher(t)
	ctx := context.Background()
	res, err := p.push(ctx, developer("ada"), api.PushRequest{Message: "first", Files: tree(appOf("v1"))})
	if err != nil {
		t.Fatal(err)
	}
	head, _, err := p.repo.Ref(ctx, code.DefaultBranch)
	if err != nil || string(head) != res.Commit || !res.Changed {
		t.Fatalf("main = %s (%v), result %+v; want main at the pushed commit", head, err, res)
	}
	c, err := p.repo.Commit(ctx, head)
	if err != nil || c.Author != "ada" || c.Message != "first" {
		t.Fatalf("commit = %+v (%v), want author ada and message first", c, err)
	}
	rec := lastAudit(t, p)
	if rec.Action != auth.ActionCommit || rec.Actor != "ada" || rec.Commit != res.Commit || rec.Ref != code.DefaultBranch ||
		rec.Source != "192.0.2.1:1234" || len(rec.Paths) != 1 || rec.Paths[0].Path != "app.star" || rec.Revision != res.Revision {
		t.Errorf("audit record = %+v, want the commit of ada at revision %d adding app.star", rec, res.Revision)
	}
}

func TestPublisher_RefusesAStaleBaseBeforeTheGate(t *testing.T) {
	p := newTestPublisher(t)
	ctx := context.Background()
	v1, err := p.push(ctx, developer("ada"), api.PushRequest{Files: tree(appOf("v1"))})
	if err != nil {
		t.Fatal(err)
	}
	// Based on no commit, and with a test that fails: the stale base is what is reported,
	// so the gate (which would fail the test) did not run first.
	files := appOf("v2")
	files["app_test.star"] = "def test_fails():\n    assert.eq(1, 2)\n"
	_, err = p.push(ctx, developer("bob"), api.PushRequest{Files: tree(files)})
	var stale *code.StaleError
	if !errors.As(err, &stale) || stale.Current != code.ID(v1.Commit) {
		t.Fatalf("stale push: err = %v, want a StaleError naming %s", err, v1.Commit)
	}
	// Based on the current commit, the gate runs and refuses the failing test.
	_, err = p.push(ctx, developer("bob"), api.PushRequest{Expected: v1.Commit, Files: tree(files)})
	var gerr *gate.Error
	if !errors.As(err, &gerr) {
		t.Fatalf("push with a failing test: err = %v, want a gate.Error", err)
	}
	if head, _, _ := p.repo.Ref(ctx, code.DefaultBranch); string(head) != v1.Commit {
		t.Errorf("main = %s after two refused pushes, want %s", head, v1.Commit)
	}
}

func TestPublisher_ProtectedRefMovesOnlyForAnAdmin(t *testing.T) {
	p := newTestPublisher(t)
	ctx := context.Background()
	v1, err := p.push(ctx, developer("ada"), api.PushRequest{Files: tree(appOf("v1"))})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := p.push(ctx, developer("ada"), api.PushRequest{Expected: v1.Commit, Files: tree(appOf("v2"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewProtection(p.store).Set(ctx, []string{code.DefaultBranch}, nil); err != nil {
		t.Fatal(err)
	}

	dev := developer("bob")
	for name, call := range map[string]func() (api.CommitResult, error){
		"push": func() (api.CommitResult, error) {
			return p.push(ctx, dev, api.PushRequest{Expected: v2.Commit, Files: tree(appOf("v3"))})
		},
		"revert": func() (api.CommitResult, error) { return p.revert(ctx, dev, api.RevertRequest{Commit: v1.Commit}) },
		"move": func() (api.CommitResult, error) {
			return p.moveRef(ctx, dev, refMove{ref: code.DefaultBranch, RefRequest: api.RefRequest{Commit: v1.Commit, Expected: v2.Commit}})
		},
	} {
		if _, err := call(); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("%s of a protected ref by a developer: err = %v, want auth.ErrForbidden", name, err)
		}
	}
	if head, _, _ := p.repo.Ref(ctx, code.DefaultBranch); string(head) != v2.Commit {
		t.Fatalf("main = %s after refused changes, want %s", head, v2.Commit)
	}

	admin := developer("root")
	admin.tok.Role = auth.Admin
	res, err := p.moveRef(ctx, admin, refMove{ref: code.DefaultBranch, RefRequest: api.RefRequest{Commit: v1.Commit, Expected: v2.Commit}})
	if err != nil || res.Commit != v1.Commit || res.Parent != v2.Commit || !res.Changed {
		t.Fatalf("admin move = %+v, %v; want main moved from v2 to v1", res, err)
	}
	rec := lastAudit(t, p)
	if rec.Action != auth.ActionRefMove || rec.Actor != "root" || rec.Commit != v1.Commit || rec.Parent != v2.Commit || rec.Revision != res.Revision {
		t.Errorf("audit record = %+v, want root's move from v2 to v1 at revision %d", rec, res.Revision)
	}
}

func TestPublisher_RevertMakesANewCommitOfTheOldTree(t *testing.T) {
	p := newTestPublisher(t)
	ctx := context.Background()
	v1, err := p.push(ctx, developer("ada"), api.PushRequest{Files: tree(appOf("v1"))})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := p.push(ctx, developer("ada"), api.PushRequest{Expected: v1.Commit, Files: tree(appOf("v2"))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.revert(ctx, developer("bob"), api.RevertRequest{Commit: v1.Commit})
	if err != nil {
		t.Fatal(err)
	}
	if res.Parent != v2.Commit || res.Commit == v1.Commit {
		t.Errorf("revert = %+v, want a new commit on top of %s", res, v2.Commit)
	}
	got, err := p.repo.Files(ctx, code.ID(res.Commit))
	if err != nil || string(got["app.star"]) != appOf("v1")["app.star"] {
		t.Errorf("reverted tree app.star = %q (%v), want v1's", got["app.star"], err)
	}
	rec := lastAudit(t, p)
	if rec.Action != auth.ActionRevert || rec.Target != v1.Commit || rec.Commit != res.Commit || rec.Parent != v2.Commit {
		t.Errorf("audit record = %+v, want bob's revert to %s", rec, v1.Commit)
	}

	// A ref that does not exist cannot be reverted; nothing is written.
	if _, err := p.revert(ctx, developer("bob"), api.RevertRequest{Ref: "nope", Commit: v1.Commit}); !errors.Is(err, code.ErrNotFound) {
		t.Errorf("revert of a missing ref: err = %v, want code.ErrNotFound", err)
	}
	if _, _, err := p.repo.Ref(ctx, "nope"); !errors.Is(err, code.ErrNotFound) {
		t.Errorf("ref nope after a refused revert: %v, want it still missing", err)
	}
}
