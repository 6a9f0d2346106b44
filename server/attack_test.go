package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

const pwnedApp = `def handle(req):
    return "pwned"
`

// attackBodies are request bodies that would change something if an attack got through,
// by endpoint pattern. Every state-changing endpoint needs one: the test fails for an
// endpoint it does not know, so that a new endpoint cannot go unattacked.
func attackBodies(t *testing.T, first, current string) map[string]string {
	return map[string]string{
		"POST /-/api/push":              jsonBody(t, api.PushRequest{Files: map[string][]byte{"app.star": []byte(pwnedApp)}, Force: true}),
		"POST /-/api/revert":            jsonBody(t, api.RevertRequest{Commit: first}),
		"PUT /-/api/refs/{name...}":     jsonBody(t, api.RefRequest{Commit: first, Expected: current}),
		"POST /-/api/tokens":            jsonBody(t, api.TokenRequest{Name: "mallory", Role: "admin"}),
		"PUT /-/api/protected-refs":     jsonBody(t, api.ProtectedRefs{Refs: []string{"main", "canary"}}),
		"POST /-/api/logout":            "",
		"POST /-/api/migrate":           jsonBody(t, api.MigrateRequest{Class: "app.star:Nothing"}),
		"POST /-/api/app-secret/rotate": jsonBody(t, api.SecretRotateRequest{GraceSeconds: 1}),
		// A check commits nothing, but runs the tree's code and tests: only developers may.
		"POST /-/api/check": jsonBody(t, api.CheckRequest{Files: map[string][]byte{"app.star": []byte(pwnedApp)}}),
		// Rollouts change which commit serves the requests, as a push does.
		"POST /-/api/rollout":         jsonBody(t, api.RolloutRequest{Commit: first, Steps: []int{100}}),
		"POST /-/api/rollout/promote": jsonBody(t, api.RolloutAction{}),
		"POST /-/api/rollout/abort":   jsonBody(t, api.RolloutAction{}),
	}
}

// credential is one way of presenting (or not) a credential.
type credential struct {
	name   string
	header http.Header
	cookie *http.Cookie
	// login is the token a login attempt sends in its body.
	login string
	// want is the refusal's status; wantInReason is a text the audited reason must hold.
	want         int
	wantInReason string
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestAPI_EveryEndpointRefusesMissingWrongRevokedAndWeakCredentialsAndChangesNothing(t *testing.T) {
	n := startSecNode(t, server.Config{AuthBurst: 100000, RefusalInterval: -1}, false)
	ctx := context.Background()
	first := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n"})
	current := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v2'\n"})
	readerSecret, _ := n.token(t, "rita", auth.Reader)
	devSecret, devID := n.token(t, "dev", auth.Developer)
	revokedSecret, revokedID := n.token(t, "gone", auth.Admin)
	if _, err := n.Client.RevokeToken(ctx, revokedID); err != nil {
		t.Fatal(err)
	}
	adminSession, _ := login(t, n, servertest.AdminToken)

	wrong := "sb_" + randomHex(32)
	refused401 := []credential{
		{name: "none", want: 401},
		{name: "other scheme", header: http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}, want: 401},
		{name: "wrong token", header: bearer(wrong), login: wrong, want: 401, wantInReason: auth.Hash(wrong)[:auth.IDLen]},
		{name: "revoked token", header: bearer(revokedSecret), login: revokedSecret, want: 401, wantInReason: revokedID},
		{name: "forged session", cookie: &http.Cookie{Name: "starbase-session", Value: "sbs_" + randomHex(32)}, want: 401},
		{name: "malformed session", cookie: &http.Cookie{Name: "starbase-session", Value: "admin"}, want: 401},
	}
	weaker := map[auth.Role][]credential{
		auth.Developer: {{name: "reader token", header: bearer(readerSecret), want: 403, wantInReason: "needs the developer role"}},
		auth.Admin: {
			{name: "developer token", header: bearer(devSecret), want: 403, wantInReason: "needs the admin role"},
			// A session never acts as an admin, even an admin's (see auth.SessionMaxRole).
			{name: "admin session", cookie: adminSession, want: 403, wantInReason: "capped at developer"},
		},
	}

	routes := server.APIRoutes(n.Server)
	bodies := attackBodies(t, first.Commit, current.Commit)
	patterns := slices.Sorted(maps.Keys(routes))
	attempts := 0
	for _, pattern := range patterns {
		role := routes[pattern]
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.NewReplacer("{id}", devID, "{name...}", "main").Replace(path)
		body, ok := bodies[pattern]
		if !ok && role != "" && method != http.MethodGet && method != http.MethodDelete {
			t.Fatalf("no attack body for %s: add one to attackBodies", pattern)
		}
		creds := refused401
		if role == "" {
			creds = nil // the login takes its token in the body
			for _, c := range refused401 {
				if c.login != "" {
					creds = append(creds, c)
				}
			}
		}
		for _, c := range append(creds, weaker[role]...) {
			t.Run(pattern+"/"+c.name, func(t *testing.T) {
				req := secRequest{method: method, path: path, body: body, header: c.header}
				if c.cookie != nil {
					req.cookies = []*http.Cookie{c.cookie}
					if c.cookie == adminSession {
						// Even with the session's own CSRF token the role stays capped.
						_, csrf := sessionOf(t, n, adminSession)
						req.header = http.Header{"X-Csrf-Token": {csrf}}
					}
				}
				if role == "" {
					req.body = jsonBody(t, api.LoginRequest{Token: c.login})
				}
				before := n.revision(t)
				stateBefore := n.state(t, before)
				resp := n.do(t, req)
				if resp.status != c.want {
					t.Fatalf("%s %s with %s = %d %s, want %d", method, path, c.name, resp.status, resp.body, c.want)
				}
				if c.want == 401 && resp.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				if !strings.Contains(resp.body, `"error"`) {
					t.Errorf("refusal body %q is not an API error", resp.body)
				}
				after := n.revision(t)
				if after != before+1 {
					t.Fatalf("store revision went from %d to %d, want exactly one write (the audit record)", before, after)
				}
				if stateAfter := n.state(t, after); !maps.Equal(stateBefore, stateAfter) {
					t.Fatalf("the refused request changed the store beyond the audit log")
				}
				rec := n.audit(t)[0]
				if rec.Action != auth.ActionRefused || rec.Status != c.want || rec.Method != method || rec.Path != path ||
					rec.Revision != after || !strings.HasPrefix(rec.Source, "127.0.0.1:") || !strings.Contains(rec.Reason, c.wantInReason) {
					t.Fatalf("audit record = %+v, want a refusal %d of %s %s from 127.0.0.1 at revision %d, reason with %q",
						rec, c.want, method, path, after, c.wantInReason)
				}
				attempts++
			})
		}
	}
	// Every endpoint was attacked by every credential class that applies.
	if attempts < len(routes)*len(refused401)/2 {
		t.Errorf("only %d attacks ran for %d endpoints", attempts, len(routes))
	}
	if got := fetch(t, n, "/"); got != "v2" {
		t.Errorf("after the attacks the app answers %q, want v2", got)
	}
}

func TestAPI_RefusedCredentialsTellWhyWithoutRevealingAnything(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", header: bearer("sb_" + randomHex(32))})
	if resp.status != 401 || !strings.Contains(resp.body, "unknown or revoked") {
		t.Errorf("wrong token = %d %s, want 401 saying the token is unknown or revoked", resp.status, resp.body)
	}
	if strings.Contains(resp.body, servertest.AdminToken) || strings.Contains(resp.body, auth.Hash(servertest.AdminToken)) {
		t.Error("the refusal reveals the admin token")
	}
}

// fetch answers the body of an app GET.
func fetch(t *testing.T, n *secNode, path string) string {
	t.Helper()
	resp := n.do(t, secRequest{method: "GET", path: path})
	return resp.body
}

// login exchanges secret for a session cookie and returns it with its CSRF token.
func login(t *testing.T, n *secNode, secret string) (*http.Cookie, string) {
	t.Helper()
	resp := n.do(t, secRequest{method: "POST", path: "/-/api/login", body: jsonBody(t, api.LoginRequest{Token: secret})})
	if resp.status != 200 {
		t.Fatalf("login = %d %s", resp.status, resp.body)
	}
	cookies := resp.resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies, want 1", len(cookies))
	}
	var sess api.Session
	decodeInto(t, resp.body, &sess)
	return cookies[0], sess.CSRF
}

// sessionOf asks the node who cookie stands for.
func sessionOf(t *testing.T, n *secNode, cookie *http.Cookie) (api.Session, string) {
	t.Helper()
	resp := n.do(t, secRequest{method: "GET", path: "/-/api/session", cookies: []*http.Cookie{cookie}})
	if resp.status != 200 {
		t.Fatalf("GET /-/api/session = %d %s", resp.status, resp.body)
	}
	var sess api.Session
	decodeInto(t, resp.body, &sess)
	return sess, sess.CSRF
}

func decodeInto(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
}
