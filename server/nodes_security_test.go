package server_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// TestAPI_RevocationAndProtectionApplyAtOnceOnEveryNode runs two nodes on a real three-member
// etcd cluster, each talking to a different member. What one node changes, the other
// enforces on the very next request: no polling, no cache to expire.
func TestAPI_RevocationAndProtectionApplyAtOnceOnEveryNode(t *testing.T) {
	ctx := context.Background()
	cluster := etcdtest.Start(t, 3)
	node := func(member int, name string) *secNode {
		st, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{cluster.Endpoint(member)}, Prefix: "/sec/"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return startSecNode(t, server.Config{Store: st, Node: name, RefusalInterval: -1}, false)
	}
	a, b := node(0, "a"), node(2, "b")
	first := a.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n"})

	devSecret, devID := a.token(t, "dev", auth.Developer)
	devOnB := asToken(t, b, devSecret)
	if _, err := devOnB.Log(ctx, 1); err != nil {
		t.Fatalf("a token made on node a, used on node b: %v", err)
	}
	cookie, csrf := login(t, a, devSecret)
	if sess, _ := sessionOf(t, b, cookie); sess.TokenID != devID {
		t.Fatalf("a session made on node a is %+v on node b", sess)
	}

	// Protected on a: refused on b at once.
	if _, err := a.Client.SetProtectedRefs(ctx, []string{"main"}); err != nil {
		t.Fatal(err)
	}
	var ce *client.Error
	_, err := devOnB.Push(ctx, api.PushRequest{Expected: first.Commit, Files: map[string][]byte{"app.star": []byte("X = 1\n")}})
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Errorf("a developer's push of main on node b right after node a protected it: %v, want 403", err)
	}

	// Revoked on a: refused on b at once, token and session alike.
	if _, err := a.Client.RevokeToken(ctx, devID); err != nil {
		t.Fatal(err)
	}
	if _, err := devOnB.Log(ctx, 1); !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Errorf("the token revoked on node a, on node b: %v, want 401", err)
	}
	resp := b.do(t, secRequest{method: "GET", path: "/-/api/log", cookies: []*http.Cookie{cookie}, header: http.Header{"X-Csrf-Token": {csrf}}})
	if resp.status != http.StatusUnauthorized {
		t.Errorf("its session on node b = %d, want 401", resp.status)
	}
	// Both nodes wrote their refusals to the one audit log.
	refused := 0
	for _, rec := range a.audit(t) {
		if rec.Action == auth.ActionRefused {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d refusals in the shared audit log, want 3", refused)
	}
}
