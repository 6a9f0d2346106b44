package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// TestRequest_NoFieldOfReqHoldsAPlatformCredential is the attack test of SECURITY.md's
// "req.cookies never holds the platform's": a logged-in editor's session cookie (in any
// case, over several Cookie lines), its CSRF token and a bearer token reach none of the
// request's fields (req.cookies, req.headers, req.url, str(req) which shows them all).
func TestRequest_NoFieldOfReqHoldsAPlatformCredential(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def handle(req):
    return {"cookies": dict(req.cookies), "sessions": req.cookies.getlist("starbase-session"),
            "url": req.url, "all": str(req)}
`})
	cookie, csrf := login(t, n, servertest.AdminToken)
	resp := n.do(t, secRequest{method: "GET", path: "/page?q=1", header: http.Header{
		"Cookie":        {"a=1; " + cookie.Name + "=" + cookie.Value, "STARBASE-SESSION=" + cookie.Value + "; __Host-starbase-session=" + cookie.Value},
		"X-Csrf-Token":  {csrf},
		"Authorization": {"Bearer " + servertest.AdminToken},
	}})
	if resp.status != 200 {
		t.Fatalf("status %d %s", resp.status, resp.body)
	}
	for what, secret := range map[string]string{"session cookie": cookie.Value, "CSRF token": csrf, "bearer token": servertest.AdminToken} {
		if strings.Contains(resp.body, secret) {
			t.Errorf("the app saw the %s: %s", what, resp.body)
		}
	}
	var got struct {
		Cookies  map[string]string
		Sessions []string
		URL      string
	}
	decodeInto(t, resp.body, &got)
	if len(got.Cookies) != 1 || got.Cookies["a"] != "1" || len(got.Sessions) != 0 {
		t.Errorf("req.cookies = %v, getlist = %v; want only the app's cookie a=1", got.Cookies, got.Sessions)
	}
	if !strings.HasSuffix(got.URL, "/page?q=1") {
		t.Errorf("req.url = %q", got.URL)
	}
}
