package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/starbase/starbase/appsession"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// hitApp writes one Hit per POST it handles, and prints that it ran.
var hitApp = map[string]string{"app.star": `
Hit = model("Hit", fields = {"n": 0})

def hit(req):
    print("handler ran")
    db.put(Hit(n = 1))
    return "ok"

def count(req):
    return {"n": db.query(Hit).count()}

def token(req):
    return {"token": csrf_token()}

routes = {"POST /hit": hit, "GET /count": count, "GET /token": token}
`}

// sessionCookie gets a session and its token from /token.
func sessionCookie(t *testing.T, n *servertest.Node) (*http.Cookie, string) {
	t.Helper()
	res, body := n.Do(t, mustRequest(t, "GET", n.URL+"/token", "", nil))
	var v struct{ Token string }
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Token == "" {
		t.Fatalf("/token = %q", body)
	}
	for _, c := range res.Cookies() {
		if c.Name == appsession.CookieName {
			return c, v.Token
		}
	}
	t.Fatalf("/token set no session cookie: %v", res.Header)
	return nil, ""
}

func mustRequest(t *testing.T, method, u, body string, header http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return req
}

func TestAppCSRF_RefusedRequestsNeverRunTheHandler(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.WaitCommit(t, n.Push(t, hitApp).Commit)
	cookie, token := sessionCookie(t, n)
	other, otherToken := sessionCookie(t, n)
	form := "application/x-www-form-urlencoded"

	cases := []struct {
		name   string
		body   string
		header http.Header
		cookie *http.Cookie
		want   int
	}{
		{"form with the cookie and no token", "a=1", http.Header{"Content-Type": {form}}, cookie, 403},
		{"form with another session's token", "csrf_token=" + url.QueryEscape(otherToken), http.Header{"Content-Type": {form}}, cookie, 403},
		{"form with the cookie and the platform's header name", "a=1", http.Header{"Content-Type": {form}, "X-Csrf-Token": {token}}, cookie, 403},
		{"cross-site form without cookie", "a=1", http.Header{"Content-Type": {form}, "Sec-Fetch-Site": {"cross-site"}}, nil, 403},
		{"JSON with the cookie and no header", "{}", http.Header{"Content-Type": {"application/json"}}, other, 403},
		{"form with the cookie and its token", "csrf_token=" + url.QueryEscape(token), http.Header{"Content-Type": {form}}, cookie, 200},
		{"JSON with the cookie and the app header", "{}", http.Header{"Content-Type": {"application/json"}, "X-App-Csrf-Token": {otherToken}}, other, 200},
		{"JSON without cookie", "{}", http.Header{"Content-Type": {"application/json"}}, nil, 200},
	}
	ran := 0
	for _, c := range cases {
		req := mustRequest(t, "POST", n.URL+"/hit", c.body, c.header)
		if c.cookie != nil {
			req.AddCookie(c.cookie)
		}
		res, body := n.Do(t, req)
		if res.StatusCode != c.want {
			t.Errorf("%s: %d %q, want %d", c.name, res.StatusCode, body, c.want)
		}
		if c.want == 403 && !strings.Contains(body, "CSRF") {
			t.Errorf("%s: the refusal %q does not say why", c.name, body)
		}
		if c.want == 200 {
			ran++
		}
	}
	if _, _, body := n.Get(t, "/count"); body != `{"n":3}` && body != `{"n": 3}` {
		t.Errorf("/count = %s, want 3 hits: only the accepted requests wrote", body)
	}
	printed := 0
	for _, rec := range n.Log.Records(t) {
		if rec["msg"] == "handler ran" {
			printed++
		}
	}
	if printed != ran {
		t.Errorf("the handler ran %d times, want %d: a refused request must not run it", printed, ran)
	}
}

func TestAppSecretRotate_IsAuditedAndKeepsOldSessionsForTheGrace(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.WaitCommit(t, n.Push(t, hitApp).Commit)
	cookie, token := sessionCookie(t, n)
	res, err := n.Client.RotateSecret(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.GraceSeconds != int64(appsession.DefaultGrace.Seconds()) || res.KeyID == "" {
		t.Errorf("rotation = %+v, want a key id and the default grace", res)
	}
	recs, _, err := auth.ReadAudit(context.Background(), n.Store, auth.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[0].Action != auth.ActionSecretRotate || recs[0].Target != res.KeyID {
		t.Errorf("newest audit record = %+v, want %s of key %s", recs[0], auth.ActionSecretRotate, res.KeyID)
	}
	if kv, _, _ := n.Store.Get(context.Background(), appsession.KeysKey, 0); kv == nil || strings.Count(string(kv.Value), `"id"`) != 2 {
		t.Errorf("the store holds %v, want the new key and the old one", kv)
	}
	// The old session's token still passes: the old key is within its grace.
	req := mustRequest(t, "POST", n.URL+"/hit", "csrf_token="+url.QueryEscape(token), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	req.AddCookie(cookie)
	if res, body := n.Do(t, req); res.StatusCode != 200 {
		t.Errorf("after rotation the old session's form got %d %q, want 200", res.StatusCode, body)
	}
}
