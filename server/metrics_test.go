package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// metricsAfter polls /-/metrics until it contains want (a request is counted just after its
// answer is sent), and returns it.
func metricsAfter(t *testing.T, n *servertest.Node, want string) string {
	t.Helper()
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if _, _, body = n.Get(t, "/-/metrics"); strings.Contains(body, want) {
			return body
		}
	}
	t.Fatalf("/-/metrics lacks %q after 5s:\n%s", want, body)
	return ""
}

func TestMetrics_ForgetRoutesTheServedAppNoLongerHas(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, map[string]string{"app.star": "def old(req):\n    return 'old'\n\nroutes = {'GET /old': old}\n"})
	for range 2 {
		n.Get(t, "/old")
	}
	metricsAfter(t, n, `starbase_http_requests_total{code="200",route="GET /old"} 2`)

	n.Deploy(t, map[string]string{"app.star": "def new(req):\n    return 'new'\n\nroutes = {'GET /new': new}\n"})
	n.Get(t, "/new")
	body := metricsAfter(t, n, `starbase_http_requests_total{code="200",route="GET /new"} 1`)
	if strings.Contains(body, `route="GET /old"`) {
		t.Errorf("/-/metrics still has series of the route GET /old, which the served app no longer has")
	}
}
