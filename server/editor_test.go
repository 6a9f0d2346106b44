package server_test

import (
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

// The attack tests of the editor's own origin (SECURITY.md, "Web sessions"): sessions made
// there may act as admins; sessions of each origin are refused on the other; an app-origin
// session never acts as an admin; the editor's origin answers sessions only from its own
// pages and serves no stored code.

// loginAt logs in with secret on the origin base and returns the session cookie and the
// session the login answered.
func loginAt(t *testing.T, n *secNode, base, secret string) (*http.Cookie, api.Session) {
	t.Helper()
	resp := n.do(t, secRequest{base: base, method: "POST", path: "/-/api/login", body: jsonBody(t, api.LoginRequest{Token: secret})})
	if resp.status != 200 {
		t.Fatalf("login at %s = %d %s", base, resp.status, resp.body)
	}
	cookies := resp.resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login at %s set %d cookies, want 1", base, len(cookies))
	}
	var sess api.Session
	decodeInto(t, resp.body, &sess)
	return cookies[0], sess
}

// tokenNames returns the names of the node's tokens.
func tokenNames(t *testing.T, n *secNode) []string {
	t.Helper()
	resp := n.do(t, secRequest{method: "GET", path: "/-/api/tokens", header: bearer(servertest.AdminToken)})
	if resp.status != 200 {
		t.Fatalf("listing tokens = %d %s", resp.status, resp.body)
	}
	var toks []api.Token
	decodeInto(t, resp.body, &toks)
	var names []string
	for _, tok := range toks {
		names = append(names, tok.Name)
	}
	return names
}

func TestEditorOrigin_AnAdminsSessionActsAsAdminThereAndIsRefusedOnTheAppsOrigin(t *testing.T) {
	n := startSecNode(t, server.Config{RefusalInterval: -1}, false)
	editor := n.ServeEditor(t)
	cookie, sess := loginAt(t, n, editor, servertest.AdminToken)
	if cookie.Name != "starbase-editor-session" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Domain != "" {
		t.Errorf("editor session cookie = %s; want starbase-editor-session, HttpOnly, SameSite=Strict, Path=/, no Domain", cookie)
	}
	if sess.Role != "admin" || sess.Origin != "editor" {
		t.Fatalf("an admin's login on the editor's origin = %+v, want role admin on origin editor", sess)
	}
	if rec := n.audit(t)[0]; rec.Action != auth.ActionLogin || !strings.Contains(rec.Detail, "session role admin on the editor's origin") {
		t.Errorf("login audit = %+v, want the session's role and origin", rec)
	}

	// On its own origin it reads the audit log and creates a token, with its CSRF token.
	if resp := n.do(t, secRequest{base: editor, method: "GET", path: "/-/api/audit?n=5", cookies: []*http.Cookie{cookie},
		header: http.Header{"Sec-Fetch-Site": {"same-origin"}}}); resp.status != 200 || !strings.Contains(resp.body, `"login"`) {
		t.Fatalf("the editor session reading the audit log = %d %s, want 200 with the login", resp.status, resp.body)
	}
	resp := n.do(t, secRequest{base: editor, method: "POST", path: "/-/api/tokens", cookies: []*http.Cookie{cookie},
		header: http.Header{"X-Csrf-Token": {sess.CSRF}, "Origin": {editor}, "Sec-Fetch-Site": {"same-origin"}},
		body:   jsonBody(t, api.TokenRequest{Name: "made-in-editor", Role: "reader"})})
	if resp.status != http.StatusCreated || !slices.Contains(tokenNames(t, n), "made-in-editor") {
		t.Fatalf("the editor session creating a token = %d %s, want it created", resp.status, resp.body)
	}

	// On the app's origin, under either name, it is no credential at all.
	asApp := &http.Cookie{Name: "starbase-session", Value: cookie.Value}
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		reason string
	}{
		{"under its own name", cookie, ""},
		{"under the app's name", asApp, "made on the editor's origin"},
	} {
		for _, req := range []secRequest{
			{method: "GET", path: "/-/api/audit"},
			{method: "GET", path: "/-/api/session"},
			{method: "POST", path: "/-/api/tokens", body: jsonBody(t, api.TokenRequest{Name: "mallory", Role: "admin"}),
				header: http.Header{"X-Csrf-Token": {sess.CSRF}}},
		} {
			req.cookies = []*http.Cookie{tc.cookie}
			before := n.revision(t)
			state := n.state(t, before)
			resp := n.do(t, req)
			if resp.status != 401 {
				t.Errorf("the editor's admin session %s at the app's %s %s = %d %s, want 401", tc.name, req.method, req.path, resp.status, resp.body)
				continue
			}
			after := n.revision(t)
			if !maps.Equal(state, n.state(t, after)) || after != before+1 {
				t.Errorf("%s %s: the refusal changed the store beyond one audit record", req.method, req.path)
			}
			if rec := n.audit(t)[0]; rec.Action != auth.ActionRefused || rec.Status != 401 || !strings.Contains(rec.Reason, tc.reason) {
				t.Errorf("audit of the refusal = %+v, want a 401 refusal saying %q", rec, tc.reason)
			}
		}
	}
	if slices.Contains(tokenNames(t, n), "mallory") {
		t.Error("the editor's session made a token through the app's origin")
	}
}

func TestEditorOrigin_AnAppSessionNeverActsAsAdminOnEitherOrigin(t *testing.T) {
	n := startSecNode(t, server.Config{RefusalInterval: -1}, false)
	editor := n.ServeEditor(t)
	cookie, sess := loginAt(t, n, n.URL, servertest.AdminToken)
	if cookie.Name != "starbase-session" || sess.Role != "developer" || sess.Origin != "app" {
		t.Fatalf("an admin's login on the app's origin = %s %+v, want starbase-session with role developer on origin app", cookie, sess)
	}
	before := n.revision(t)
	state := n.state(t, before)
	for _, req := range []secRequest{
		{method: "GET", path: "/-/api/audit", cookies: []*http.Cookie{cookie}},
		{method: "POST", path: "/-/api/tokens", cookies: []*http.Cookie{cookie}, header: http.Header{"X-Csrf-Token": {sess.CSRF}},
			body: jsonBody(t, api.TokenRequest{Name: "mallory", Role: "admin"})},
	} {
		if resp := n.do(t, req); resp.status != 403 || !strings.Contains(resp.body, "capped at developer") {
			t.Errorf("the app's admin session at %s %s = %d %s, want 403 capped at developer", req.method, req.path, resp.status, resp.body)
		}
	}
	// Carried to the editor's origin, under either name, it is refused: a session cannot be
	// lifted to the admin role by moving it.
	for _, c := range []*http.Cookie{{Name: "starbase-editor-session", Value: cookie.Value}, cookie} {
		resp := n.do(t, secRequest{base: editor, method: "POST", path: "/-/api/tokens", cookies: []*http.Cookie{c},
			header: http.Header{"X-Csrf-Token": {sess.CSRF}}, body: jsonBody(t, api.TokenRequest{Name: "mallory", Role: "admin"})})
		if resp.status != 401 {
			t.Errorf("the app's session as %s at the editor's origin = %d %s, want 401", c.Name, resp.status, resp.body)
		}
	}
	if rec := n.audit(t)[1]; !strings.Contains(rec.Reason, "made on the app's origin") {
		t.Errorf("audit of the refusal = %+v, want it to say the session is the app's", rec)
	}
	after := n.revision(t)
	if !maps.Equal(state, n.state(t, after)) || after != before+4 {
		t.Errorf("the refused requests changed the store beyond their 4 audit records (revision %d to %d)", before, after)
	}
}

func TestEditorOrigin_EveryEndpointRefusesSessionsOfTheAppAndWeakRoles(t *testing.T) {
	n := startSecNode(t, server.Config{AuthBurst: 100000, RefusalInterval: -1}, false)
	editor := n.ServeEditor(t)
	first := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v1'\n"})
	current := n.Push(t, map[string]string{"app.star": "def handle(req):\n    return 'v2'\n"})
	devSecret, devID := n.token(t, "dev", auth.Developer)
	appAdmin, _ := loginAt(t, n, n.URL, servertest.AdminToken)
	appAdminHere := &http.Cookie{Name: "starbase-editor-session", Value: appAdmin.Value}
	devCookie, devSess := loginAt(t, n, editor, devSecret)

	routes := server.APIRoutes(n.Server)
	bodies := attackBodies(t, first.Commit, current.Commit)
	for _, pattern := range slices.Sorted(maps.Keys(routes)) {
		role := routes[pattern]
		if role == "" {
			continue // the login takes a token, not a session
		}
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.NewReplacer("{id}", devID, "{name...}", "main").Replace(path)
		attacks := []struct {
			name   string
			cookie *http.Cookie
			csrf   string
			want   int
		}{{"the app's admin session", appAdminHere, auth.CSRFToken(appAdmin.Value), 401}}
		if role == auth.Admin {
			attacks = append(attacks, struct {
				name   string
				cookie *http.Cookie
				csrf   string
				want   int
			}{"a developer's editor session", devCookie, devSess.CSRF, 403})
		}
		for _, a := range attacks {
			t.Run(pattern+"/"+a.name, func(t *testing.T) {
				before := n.revision(t)
				state := n.state(t, before)
				resp := n.do(t, secRequest{base: editor, method: method, path: path, body: bodies[pattern], cookies: []*http.Cookie{a.cookie},
					header: http.Header{"X-Csrf-Token": {a.csrf}, "Origin": {editor}, "Sec-Fetch-Site": {"same-origin"}}})
				if resp.status != a.want {
					t.Fatalf("%s with %s = %d %s, want %d", pattern, a.name, resp.status, resp.body, a.want)
				}
				after := n.revision(t)
				if after != before+1 || !maps.Equal(state, n.state(t, after)) {
					t.Fatalf("the refusal changed the store beyond one audit record (revision %d to %d)", before, after)
				}
			})
		}
	}
}

func TestEditorOrigin_AnswersSessionsOnlyFromItsOwnPages(t *testing.T) {
	n := startSecNode(t, server.Config{RefusalInterval: -1}, false)
	editor := n.ServeEditor(t)
	cookie, sess := loginAt(t, n, editor, servertest.AdminToken)
	own := http.Header{"X-Csrf-Token": {sess.CSRF}, "Origin": {editor}, "Sec-Fetch-Site": {"same-origin"}}
	withHeader := func(k, v string) http.Header {
		h := own.Clone()
		h.Set(k, v)
		return h
	}
	for _, tc := range []struct {
		name   string
		req    secRequest
		reason string
	}{
		// The app's origin differs by port: same site, so SameSite lets the cookie go.
		{"a GET from the app's origin", secRequest{method: "GET", path: "/-/api/audit", header: withHeader("Sec-Fetch-Site", "same-site")}, "same-site request"},
		{"a GET from another site", secRequest{method: "GET", path: "/-/api/backup", header: withHeader("Sec-Fetch-Site", "cross-site")}, "cross-site request"},
		{"a POST from the app's origin", secRequest{method: "POST", path: "/-/api/tokens", header: withHeader("Origin", n.URL),
			body: jsonBody(t, api.TokenRequest{Name: "mallory", Role: "admin"})}, "comes from origin"},
		{"a POST without the CSRF token", secRequest{method: "POST", path: "/-/api/tokens", header: http.Header{"Origin": {editor}},
			body: jsonBody(t, api.TokenRequest{Name: "mallory", Role: "admin"})}, "CSRF token"},
		{"two session cookies (one planted by a script)", secRequest{method: "GET", path: "/-/api/audit", header: own,
			cookies: []*http.Cookie{{Name: "starbase-editor-session", Value: "sbs_" + strings.Repeat("0", 64)}}}, "2 starbase-editor-session cookies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.base = editor
			tc.req.cookies = append(tc.req.cookies, cookie)
			before := n.revision(t)
			resp := n.do(t, tc.req)
			if resp.status != 403 && resp.status != 401 {
				t.Fatalf("%s = %d %s, want a refusal", tc.name, resp.status, resp.body)
			}
			if rec := n.audit(t)[0]; rec.Action != auth.ActionRefused || !strings.Contains(rec.Reason, tc.reason) || rec.Revision != before+1 {
				t.Errorf("audit = %+v, want one refusal saying %q", rec, tc.reason)
			}
		})
	}
	// Another site cannot log a browser into a session of its choosing here either.
	if resp := n.do(t, secRequest{base: editor, method: "POST", path: "/-/api/login", header: http.Header{"Origin": {n.URL}},
		body: jsonBody(t, api.LoginRequest{Token: servertest.AdminToken})}); resp.status != 403 || len(resp.resp.Cookies()) != 0 {
		t.Errorf("a login posted from the app's origin = %d %s, want 403 and no cookie", resp.status, resp.body)
	}
	if slices.Contains(tokenNames(t, n), "mallory") {
		t.Error("a refused request made a token")
	}
}

func TestEditorOrigin_ServesTheEditorAndNoStoredCode(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	editor := n.ServeEditor(t)
	res := n.Push(t, map[string]string{
		"app.star":         "def handle(req):\n    return 'stored code ran'\n",
		"static/page.html": "<script src=/static/x.js></script>",
	})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/anything", nil, 404},
		{"/static/page.html", nil, 404},
		{"/-/preview/" + res.Commit + "/", bearer(servertest.AdminToken), 404},
		{"/-/metrics", nil, 404},
		{"/", nil, 302},
		{"/-/ui/", nil, 200},
		{"/-/status", nil, 200},
		{"/-/health", nil, 200},
	} {
		resp := n.do(t, secRequest{base: editor, method: "GET", path: tc.path, header: tc.header, client: noRedirect})
		if resp.status != tc.want || strings.Contains(resp.body, "stored code ran") || strings.Contains(resp.body, "<script src=/static") {
			t.Errorf("GET %s on the editor's origin = %d %q, want %d and nothing stored", tc.path, resp.status, resp.body, tc.want)
		}
		if resp.header.Get(api.MarkerHeader) != api.MarkerValue || resp.header.Get("X-Frame-Options") != "DENY" || resp.header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s on the editor's origin lacks the platform's marker or security headers: %v", tc.path, resp.header)
		}
		if tc.want == 302 && resp.header.Get("Location") != "/-/ui/" {
			t.Errorf("GET / on the editor's origin leads to %q, want /-/ui/", resp.header.Get("Location"))
		}
	}
	if got := fetch(t, n, "/"); got != "stored code ran" {
		t.Errorf("the app's origin answers %q, want the app", got)
	}
}

func TestEditorOrigin_CookieOverTLSIsSecureAndHostPrefixed(t *testing.T) {
	n := startSecNode(t, server.Config{}, true)
	editor := n.ServeEditor(t)
	cookie, sess := loginAt(t, n, editor, servertest.AdminToken)
	if cookie.Name != "__Host-starbase-editor-session" || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || sess.Role != "admin" {
		t.Errorf("editor session cookie over TLS = %s (role %s); want __Host-starbase-editor-session, Secure, HttpOnly, SameSite=Strict, Path=/, admin", cookie, sess.Role)
	}
	plain := &http.Cookie{Name: "starbase-editor-session", Value: cookie.Value}
	if resp := n.do(t, secRequest{base: editor, method: "GET", path: "/-/api/session", cookies: []*http.Cookie{plain}}); resp.status != 401 {
		t.Errorf("the non-prefixed cookie over TLS = %d, want 401", resp.status)
	}
}

// TestEditorOrigin_RequestsAreInTheAccessLog: serve --access-log 1 logs every request, those
// of the editor's origin too.
func TestEditorOrigin_RequestsAreInTheAccessLog(t *testing.T) {
	n := servertest.Start(t, server.Config{AccessLog: 1})
	editor := n.ServeEditor(t)
	for _, path := range []string{"/-/health", "/-/api/log"} {
		req, err := http.NewRequest("GET", editor+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
		if resp, body := servertest.Do(t, n.HTTP, req); resp.StatusCode != 200 {
			t.Fatalf("GET %s on the editor's origin = %d %s", path, resp.StatusCode, body)
		}
	}
	logged := map[string]any{}
	for _, rec := range n.Log.Messages(t, "request") {
		logged[rec["route"].(string)] = rec["status"]
	}
	for _, path := range []string{"/-/health", "/-/api/log"} {
		if logged[path] != float64(200) {
			t.Errorf("access log of the editor's origin: %v; want GET %s with status 200", logged, path)
		}
	}
}
