package server_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
)

func TestProtectedRefs_OnlyAdminsMoveThem(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{RefusalInterval: -1}, false)
	first := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n"})
	second := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v2'\n"})
	devSecret, _ := n.token(t, "dev", auth.Developer)
	dev := asToken(t, n, devSecret)
	if refs, err := n.Client.SetProtectedRefs(ctx, []string{"main"}); err != nil || len(refs) != 1 {
		t.Fatalf("protecting main = %v, %v", refs, err)
	}
	if refs, err := dev.ProtectedRefs(ctx); err != nil || len(refs) != 1 || refs[0] != "main" {
		t.Errorf("a developer reads the protected refs as %v, %v; want [main]", refs, err)
	}

	devFiles := map[string][]byte{"app.star": []byte("def handle(req):\n    return 'dev'\n")}
	for name, attempt := range map[string]func() error{
		"push": func() error {
			_, err := dev.Push(ctx, api.PushRequest{Expected: second.Commit, Files: devFiles})
			return err
		},
		"revert":   func() error { _, err := dev.Revert(ctx, first.Commit); return err },
		"ref move": func() error { _, err := dev.MoveRef(ctx, "main", first.Commit, second.Commit); return err },
	} {
		before := n.revision(t)
		state := n.state(t, before)
		err := attempt()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
			t.Errorf("a developer's %s of protected main = %v, want 403", name, err)
			continue
		}
		if after := n.revision(t); after != before+1 || !maps.Equal(state, n.state(t, after)) {
			t.Errorf("the refused %s changed the store (%d -> %d)", name, before, after)
		}
		if rec := n.audit(t)[0]; rec.Action != auth.ActionRefused || rec.Actor != "dev" || rec.Status != 403 {
			t.Errorf("audit after the refused %s = %+v", name, rec)
		}
	}
	// Other refs stay open to developers; admins move main.
	if _, err := dev.MoveRef(ctx, "canary", second.Commit, ""); err != nil {
		t.Errorf("a developer moving unprotected canary: %v", err)
	}
	if _, err := n.Client.Revert(ctx, first.Commit); err != nil {
		t.Errorf("an admin reverting protected main: %v", err)
	}
	if _, err := n.Client.SetProtectedRefs(ctx, nil); err != nil {
		t.Fatal(err)
	}
	main, _, _ := n.Server.Repo().Ref(ctx, "main")
	if _, err := dev.Push(ctx, api.PushRequest{Expected: string(main), Files: devFiles}); err != nil {
		t.Errorf("a developer's push after unprotecting main: %v", err)
	}
}

func TestProtectedRefs_RefuseInvalidNames(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	before := n.revision(t)
	_, err := n.Client.SetProtectedRefs(context.Background(), []string{"main", "../x"})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
		t.Errorf("protecting an invalid ref name = %v, want 400", err)
	}
	if n.revision(t) != before {
		t.Error("the refused setting wrote to the store")
	}
}

func TestTokensAPI_CreateListRevoke(t *testing.T) {
	ctx := context.Background()
	n := startSecNode(t, server.Config{}, false)
	tok, err := n.Client.CreateToken(ctx, "ana", "reader")
	if err != nil {
		t.Fatal(err)
	}
	toks, err := n.Client.Tokens(ctx)
	if err != nil || len(toks) != 2 {
		t.Fatalf("tokens = %+v, %v; want admin and ana", toks, err)
	}
	for _, bad := range []api.TokenRequest{{Name: "ana", Role: "reader"}, {Name: "bob", Role: "root"}, {Name: "", Role: "reader"}} {
		if _, err := n.Client.CreateToken(ctx, bad.Name, bad.Role); err == nil {
			t.Errorf("CreateToken(%q, %q) succeeded", bad.Name, bad.Role)
		}
	}
	ana := asToken(t, n, tok.Secret)
	if _, err := ana.Log(ctx, 1); err != nil {
		t.Errorf("the new reader token cannot read: %v", err)
	}
	if _, err := n.Client.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	var ce *client.Error
	if _, err := ana.Log(ctx, 1); !errors.As(err, &ce) || ce.Status != 401 {
		t.Errorf("the revoked token reads: %v, want 401", err)
	}
	admins, _ := n.Client.Tokens(ctx)
	if _, err := n.Client.RevokeToken(ctx, admins[0].ID); !errors.As(err, &ce) || ce.Status != http.StatusConflict {
		t.Errorf("revoking the last admin = %v, want 409", err)
	}
	if _, err := n.Client.RevokeToken(ctx, "0123456789ab"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Errorf("revoking an unknown id = %v, want 404", err)
	}
}
