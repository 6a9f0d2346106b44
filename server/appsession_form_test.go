package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// TestCSRF_AMalformedFieldDoesNotHideTheToken: the CSRF check reads the token of a
// urlencoded form as req.form() reads the form, skipping a malformed pair (a bare "%" or
// ";") instead of losing every field and refusing the request with 403.
func TestCSRF_AMalformedFieldDoesNotHideTheToken(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.WaitCommit(t, n.Push(t, hitApp).Commit)
	cookie, token := sessionCookie(t, n)
	for _, body := range []string{"note=100%&csrf_token=" + url.QueryEscape(token), "a=1;b=2&csrf_token=" + url.QueryEscape(token)} {
		req := mustRequest(t, "POST", n.URL+"/hit", body, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		req.AddCookie(cookie)
		if res, out := n.Do(t, req); res.StatusCode != 200 {
			t.Errorf("form %q with its token: %d %q, want 200", body, res.StatusCode, out)
		}
	}
	// Without the token, the same body is still refused.
	req := mustRequest(t, "POST", n.URL+"/hit", "note=100%&csrf_token=", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	req.AddCookie(cookie)
	if res, _ := n.Do(t, req); res.StatusCode != 403 {
		t.Errorf("form without a token: %d, want 403", res.StatusCode)
	}
}
