package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestApp_NeverSeesAPlatformCredentialInAnyForm(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def handle(req):
    return json.encode(req.headers)
`})
	cookie, csrf := login(t, n, servertest.AdminToken)
	for _, tc := range []struct {
		name       string
		header     http.Header
		wantCookie string // "" for no Cookie header at all
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + servertest.AdminToken}}, ""},
		{"two authorization lines", http.Header{"Authorization": {"Bearer " + servertest.AdminToken, "Basic eDp5"}}, ""},
		{"lowercase name", http.Header{"authorization": {"bearer " + servertest.AdminToken}}, ""},
		{"proxy credential", http.Header{"Proxy-Authorization": {"Bearer " + servertest.AdminToken}}, ""},
		{"csrf token", http.Header{"X-Csrf-Token": {csrf}}, ""},
		{"session cookie alone", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, ""},
		{"session cookie among the app's", http.Header{"Cookie": {"a=1; " + cookie.Name + "=" + cookie.Value + `; b="two words"`}}, `a=1; b="two words"`},
		{"several cookie lines", http.Header{"Cookie": {"a=1", cookie.Name + "=" + cookie.Value + ";c=3", "__Host-starbase-session=" + cookie.Value}}, "a=1; c=3"},
		{"any case and spacing", http.Header{"Cookie": {" STARBASE-SESSION =" + cookie.Value + " ;  __secure-starbase-session=" + cookie.Value + "; x"}}, "x"},
		{"nameless cookie", http.Header{"Cookie": {cookie.Value + "; starbase-session"}}, cookie.Value},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := n.do(t, secRequest{method: "GET", path: "/", header: tc.header})
			if resp.status != 200 {
				t.Fatalf("status %d %s", resp.status, resp.body)
			}
			var seen map[string]string
			decodeInto(t, resp.body, &seen)
			for _, h := range []string{"authorization", "proxy-authorization", "x-csrf-token"} {
				if v, ok := seen[h]; ok {
					t.Errorf("the app saw %s: %q", h, v)
				}
			}
			if got, ok := seen["cookie"]; got != tc.wantCookie || ok != (tc.wantCookie != "") {
				t.Errorf("the app saw cookie %q (present %v), want %q", got, ok, tc.wantCookie)
			}
		})
	}
	// Requests without a credential are passed through unchanged.
	resp := n.do(t, secRequest{method: "GET", path: "/", header: http.Header{"Cookie": {"a=1;b=2"}, "X-Other": {"x"}}})
	var seen map[string]string
	decodeInto(t, resp.body, &seen)
	if seen["cookie"] != "a=1;b=2" || seen["x-other"] != "x" {
		t.Errorf("the app saw %v, want its headers unchanged", seen)
	}
}

func TestPlatformAnswersCarryTheMarkerAndAppAnswersCannot(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def handle(req):
    return "app"
`})
	for _, path := range []string{"/-/health", "/-/status", "/-/metrics", "/-/api/log", "/-/api/nothing", "/-/nothing", "/-"} {
		if got := n.do(t, secRequest{method: "GET", path: path}).header.Get(api.MarkerHeader); got != api.MarkerValue {
			t.Errorf("GET %s: %s = %q, want %q", path, api.MarkerHeader, got, api.MarkerValue)
		}
	}
	for _, path := range []string{"/", "/x/-/api/log", "/starbase/-/api/tokens"} {
		if got := n.do(t, secRequest{method: "GET", path: path}).header.Values(api.MarkerHeader); len(got) != 0 {
			t.Errorf("GET %s (the app): %s = %q, want none", path, api.MarkerHeader, got)
		}
	}
}

func TestApp_CannotSendHeadersWithOriginWideEffects(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def clear(req):
    return response("bye", headers = {"Clear-Site-Data": '"cookies", "storage"'})
def cookie(req):
    return response("hi", headers = [("Set-Cookie", "starbase-session=sbs_fixed; Path=/-/api")])
def marker(req):
    return response("[]", headers = {"Starbase-API": "1"})
def challenge(req):
    return response("who?", status = 401, headers = {"WWW-Authenticate": "Basic realm=x"})
def sw(req):
    return response("self.onfetch = None", content_type = "text/javascript")
def ok(req):
    return response("fine", headers = [("Set-Cookie", "theme=dark; Path=/")])
routes = {"GET /clear": clear, "GET /cookie": cookie, "GET /marker": marker, "GET /challenge": challenge,
          "GET /sw.js": sw, "GET /app/sw.js": sw, "GET /ok": ok}
`})
	for path, want := range map[string]string{
		"/clear":     "Clear-Site-Data",
		"/cookie":    "starbase-session",
		"/marker":    "Starbase-API",
		"/challenge": "WWW-Authenticate",
	} {
		resp := n.do(t, secRequest{method: "GET", path: path})
		if resp.status != 500 || resp.header.Get("Clear-Site-Data") != "" || len(resp.resp.Cookies()) != 0 ||
			resp.header.Get(api.MarkerHeader) != "" || resp.header.Get("WWW-Authenticate") != "" {
			t.Errorf("GET %s = %d %v, want 500 and none of the refused headers", path, resp.status, resp.header)
		}
		if !logHas(t, n, want) {
			t.Errorf("GET %s: the node's log does not say why (%s)", path, want)
		}
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/ok"}); resp.status != 200 || resp.header.Get("Set-Cookie") != "theme=dark; Path=/" {
		t.Errorf("an app cookie: %d %v", resp.status, resp.header)
	}
	// A service worker script at the root would control the platform's pages.
	sw := http.Header{"Service-Worker": {"script"}}
	for path, want := range map[string]int{"/sw.js": 403, "/a%2Fsw.js": 403, "/app/sw.js": 200} {
		resp := n.do(t, secRequest{method: "GET", path: path, header: sw})
		if resp.status != want || want == 403 && !strings.Contains(resp.body, "scope would cover the platform's pages") {
			t.Errorf("service worker script %s = %d %q, want %d", path, resp.status, resp.body, want)
		}
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/sw.js"}); resp.status != 200 {
		t.Errorf("/sw.js as a plain script = %d, want 200", resp.status)
	}
}

// logHas reports whether a record of n's log mentions s.
func logHas(t *testing.T, n *secNode, s string) bool {
	t.Helper()
	for _, rec := range n.Log.Records(t) {
		if strings.Contains(fmt.Sprint(rec), s) {
			return true
		}
	}
	return false
}
