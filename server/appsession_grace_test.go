package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// TestAppSecretRotate_RefusesAGraceBeyondASession: a grace longer than a session cookie
// lasts (appsession.MaxAge) is refused with 400 saying so; before, a longer one was
// accepted and a huge one overflowed into a negative grace, answered as a 500.
func TestAppSecretRotate_RefusesAGraceBeyondASession(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	for _, seconds := range []string{"10000000000", "9223372036854775807", "691200"} {
		req, _ := http.NewRequest("POST", n.URL+"/-/api/app-secret/rotate", strings.NewReader(`{"grace_seconds": `+seconds+`}`))
		req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, body := n.Do(t, req)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "a session cookie lasts at most") {
			t.Errorf("grace_seconds %s: %d %s, want 400 naming the longest grace", seconds, resp.StatusCode, body)
		}
	}
}
