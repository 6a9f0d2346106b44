package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
)

func TestSecurityHeaders_AreOnEveryResponse(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def page(req):
    return "<p>hi</p>"
def own(req):
    return response("<p>own</p>", headers = {
        "Content-Security-Policy": "script-src 'self' 'sha256-abc'",
        "X-Frame-Options": "ALLOWALL",
        "X-Content-Type-Options": "none",
        "Referrer-Policy": "origin",
    })
def boom(req):
    return 1 // 0
routes = {"GET /page": page, "GET /own": own, "GET /boom": boom}
`})
	for _, tc := range []struct {
		path, wantCSP string
	}{
		{"/page", "script-src 'self';"},
		{"/nothing-here", "script-src 'self';"},
		{"/boom", "script-src 'self';"},
		{"/-/health", "script-src 'self';"},
		{"/-/status", "script-src 'self';"},
		{"/-/nothing", "script-src 'self';"},
		{"/-/api/log", "default-src 'none'"},
		{"/-/api/no-such-endpoint", "default-src 'none'"},
		{"/own", "script-src 'self' 'sha256-abc'"},
	} {
		resp := n.do(t, secRequest{method: "GET", path: tc.path})
		h := resp.header
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" || len(h.Values("X-Content-Type-Options")) != 1 {
			t.Errorf("GET %s: X-Content-Type-Options = %q, want nosniff only", tc.path, h.Values("X-Content-Type-Options"))
		}
		if got := h.Values("X-Frame-Options"); len(got) != 1 || got[0] != "DENY" {
			t.Errorf("GET %s: X-Frame-Options = %q, want DENY only", tc.path, got)
		}
		csp := h.Values("Content-Security-Policy")
		if len(csp) != 1 || !strings.Contains(csp[0], tc.wantCSP) || strings.Contains(csp[0], "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy = %q, want one policy with %q and no unsafe-inline", tc.path, csp, tc.wantCSP)
		}
		if tc.path != "/own" && !strings.Contains(csp[0], "frame-ancestors 'none'") {
			t.Errorf("GET %s: the default policy %q does not deny framing", tc.path, csp[0])
		}
		if h.Get("Referrer-Policy") == "" {
			t.Errorf("GET %s: no Referrer-Policy", tc.path)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("GET %s: HSTS over plain HTTP", tc.path)
		}
	}
	if got := n.do(t, secRequest{method: "GET", path: "/own"}).header.Get("Referrer-Policy"); got != "origin" {
		t.Errorf("an app's own Referrer-Policy became %q, want origin", got)
	}
	if got := n.do(t, secRequest{method: "GET", path: "/-/api/log"}).header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("API answer Cache-Control = %q, want no-store", got)
	}
}

func TestSecurityHeaders_HSTSOverTLS(t *testing.T) {
	n := startSecNode(t, server.Config{}, true)
	resp := n.do(t, secRequest{method: "GET", path: "/-/health"})
	if got := resp.header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("Strict-Transport-Security over TLS = %q, want max-age", got)
	}
	if resp.status != http.StatusOK {
		t.Errorf("GET /-/health over TLS = %d", resp.status)
	}
}
