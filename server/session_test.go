package server_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestSession_LoginSetsAnHttpOnlySameSiteStrictCookieAndIsAudited(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	devSecret, devID := n.token(t, "dev", auth.Developer)
	before := n.revision(t)
	resp := n.do(t, secRequest{method: "POST", path: "/-/api/login", body: jsonBody(t, api.LoginRequest{Token: devSecret})})
	if resp.status != 200 {
		t.Fatalf("login = %d %s", resp.status, resp.body)
	}
	cookies := resp.resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set cookies %v, want one", cookies)
	}
	c := cookies[0]
	if c.Name != "starbase-session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge <= 0 || c.Domain != "" {
		t.Errorf("session cookie over plain HTTP = %s; want starbase-session, HttpOnly, SameSite=Strict, Path=/, not Secure, with Max-Age, no Domain", c.String())
	}
	if _, err := auth.ParseSessionID(c.Value); err != nil {
		t.Errorf("cookie value is not a session id: %v", err)
	}
	var sess api.Session
	decodeInto(t, resp.body, &sess)
	if sess.Name != "dev" || sess.TokenID != devID || sess.Role != "developer" || sess.CSRF != auth.CSRFToken(c.Value) {
		t.Errorf("login answer = %+v", sess)
	}
	if strings.Contains(resp.body, c.Value) {
		t.Error("the login answer repeats the session id outside the HttpOnly cookie")
	}
	if got := resp.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("login answer Cache-Control = %q, want no-store", got)
	}
	rec := n.audit(t)[0]
	if rec.Action != auth.ActionLogin || rec.ActorID != devID || !rec.Session || rec.Revision != before+1 || n.revision(t) != before+1 {
		t.Errorf("login audit = %+v (store revision %d), want one login record by dev at revision %d", rec, n.revision(t), before+1)
	}
}

func TestSession_CookieOverTLSIsSecureAndHostPrefixed(t *testing.T) {
	n := startSecNode(t, server.Config{}, true)
	cookie, csrf := login(t, n, servertest.AdminToken)
	if cookie.Name != "__Host-starbase-session" || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Domain != "" {
		t.Errorf("session cookie over TLS = %s; want __Host-starbase-session, Secure, HttpOnly, SameSite=Strict, Path=/", cookie.String())
	}
	if csrf == "" {
		t.Error("no CSRF token")
	}
	// The plain-HTTP name is not honoured over TLS (it could have been set by another host).
	plain := &http.Cookie{Name: "starbase-session", Value: cookie.Value}
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/session", cookies: []*http.Cookie{plain}}); resp.status != 401 {
		t.Errorf("a non-prefixed cookie over TLS = %d, want 401", resp.status)
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/session", cookies: []*http.Cookie{cookie}}); resp.status != 200 {
		t.Errorf("the __Host- cookie over TLS = %d %s, want 200", resp.status, resp.body)
	}
}

func TestSession_StateChangesNeedTheCSRFTokenFromTheSameOrigin(t *testing.T) {
	n := startSecNode(t, server.Config{RefusalInterval: -1}, false) // a record per refusal
	first := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n"})
	devSecret, _ := n.token(t, "dev", auth.Developer)
	cookie, csrf := login(t, n, devSecret)
	other, _ := login(t, n, servertest.AdminToken)
	otherCSRF := auth.CSRFToken(other.Value)
	push := jsonBody(t, api.PushRequest{Expected: first.Commit, Files: map[string][]byte{"app.star": []byte("def handle(req):\n    return 'v2'\n")}})

	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"no CSRF token", nil},
		{"wrong CSRF token", http.Header{"X-Csrf-Token": {strings.Repeat("0", 64)}}},
		{"another session's CSRF token", http.Header{"X-Csrf-Token": {otherCSRF}}},
		{"cross-site origin", http.Header{"X-Csrf-Token": {csrf}, "Origin": {"https://evil.example"}}},
		{"same host other scheme", http.Header{"X-Csrf-Token": {csrf}, "Origin": {strings.Replace(n.URL, "http:", "https:", 1)}}},
		{"cross-site fetch", http.Header{"X-Csrf-Token": {csrf}, "Sec-Fetch-Site": {"cross-site"}}},
		{"same-site fetch", http.Header{"X-Csrf-Token": {csrf}, "Sec-Fetch-Site": {"same-site"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := n.revision(t)
			state := n.state(t, before)
			resp := n.do(t, secRequest{method: "POST", path: "/-/api/push", body: push, header: tc.header, cookies: []*http.Cookie{cookie}})
			if resp.status != http.StatusForbidden {
				t.Fatalf("push with a session cookie and %s = %d %s, want 403", tc.name, resp.status, resp.body)
			}
			if after := n.revision(t); after != before+1 || !maps.Equal(state, n.state(t, after)) {
				t.Fatalf("the refused push changed the store (revision %d -> %d)", before, after)
			}
			if rec := n.audit(t)[0]; rec.Action != auth.ActionRefused || rec.Actor != "dev" || !rec.Session || rec.Status != 403 {
				t.Errorf("audit = %+v, want a 403 refusal of dev's session", rec)
			}
		})
	}

	// Reading needs no CSRF token; the editor's own request, with it, goes through.
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", cookies: []*http.Cookie{cookie}}); resp.status != 200 {
		t.Errorf("GET with the cookie = %d %s, want 200", resp.status, resp.body)
	}
	resp := n.do(t, secRequest{method: "POST", path: "/-/api/push", body: push, cookies: []*http.Cookie{cookie},
		header: http.Header{"X-Csrf-Token": {csrf}, "Origin": {n.URL}, "Sec-Fetch-Site": {"same-origin"}}})
	if resp.status != 200 {
		t.Fatalf("same-origin push with the CSRF token = %d %s, want 200", resp.status, resp.body)
	}
	var res api.CommitResult
	decodeInto(t, resp.body, &res)
	if rec := recordAt(t, n, res.Revision); rec.Actor != "dev" || !rec.Session || rec.Action != auth.ActionCommit {
		t.Errorf("commit record = %+v, want dev through a session", rec)
	}
}

func TestSession_LogoutEndsTheSessionAndClearsTheCookie(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	cookie, csrf := login(t, n, servertest.AdminToken)
	if resp := n.do(t, secRequest{method: "POST", path: "/-/api/logout", cookies: []*http.Cookie{cookie}}); resp.status != 403 {
		t.Errorf("logout without the CSRF token = %d, want 403 (another site must not end sessions either)", resp.status)
	}
	resp := n.do(t, secRequest{method: "POST", path: "/-/api/logout", cookies: []*http.Cookie{cookie}, header: http.Header{"X-Csrf-Token": {csrf}}})
	if resp.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s", resp.status, resp.body)
	}
	if cs := resp.resp.Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout cookies = %v, want the session cookie cleared", cs)
	}
	if rec := n.audit(t)[0]; rec.Action != auth.ActionLogout || rec.Actor != "admin" {
		t.Errorf("audit = %+v, want the logout", rec)
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/session", cookies: []*http.Cookie{cookie}}); resp.status != 401 {
		t.Errorf("the ended session = %d, want 401", resp.status)
	}
	if resp := n.do(t, secRequest{method: "POST", path: "/-/api/logout", header: bearer(servertest.AdminToken)}); resp.status != 400 {
		t.Errorf("logout with a bearer token = %d, want 400 (there is no session to end)", resp.status)
	}
}

func TestSession_RevokingTheTokenEndsItsSessionsAtOnce(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	devSecret, devID := n.token(t, "dev", auth.Developer)
	cookie, _ := login(t, n, devSecret)
	if _, err := n.Client.RevokeToken(t.Context(), devID); err != nil {
		t.Fatal(err)
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", cookies: []*http.Cookie{cookie}}); resp.status != 401 || !strings.Contains(resp.body, "revoked") {
		t.Errorf("a session of a revoked token = %d %s, want 401 saying the token was revoked", resp.status, resp.body)
	}
}

func TestSession_LoginRefusesCrossSiteAttempts(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	resp := n.do(t, secRequest{method: "POST", path: "/-/api/login", body: jsonBody(t, api.LoginRequest{Token: servertest.AdminToken}),
		header: http.Header{"Origin": {"https://evil.example"}}})
	if resp.status != 403 || len(resp.resp.Cookies()) != 0 {
		t.Errorf("cross-site login = %d with cookies %v, want 403 and no cookie", resp.status, resp.resp.Cookies())
	}
	if rec := n.audit(t)[0]; rec.Action != auth.ActionRefused || rec.Path != "/-/api/login" {
		t.Errorf("audit = %+v, want the refused login", rec)
	}
}

func TestApp_NeverSeesTheSessionCookie(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": "def handle(req):\n    return req.headers.get('cookie', '')\n"})
	cookie, _ := login(t, n, servertest.AdminToken)
	resp := n.do(t, secRequest{method: "GET", path: "/", cookies: []*http.Cookie{{Name: "a", Value: "1"}, cookie, {Name: "b", Value: "2"}}})
	if resp.status != 200 || resp.body != "a=1; b=2" {
		t.Errorf("the app saw cookies %q (status %d), want only a=1; b=2", resp.body, resp.status)
	}
	resp = n.do(t, secRequest{method: "GET", path: "/", cookies: []*http.Cookie{cookie}})
	if resp.body != "" {
		t.Errorf("the app saw cookies %q, want none", resp.body)
	}
}
