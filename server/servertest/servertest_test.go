package servertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestStart_ServesWhatDeployPushedAndLogsIt(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	commit := n.Deploy(t, map[string]string{"app.star": "def index(req):\n    return 'hi'\nroutes = {'GET /': index}\n"})
	status, hdr, body := n.Get(t, "/")
	if status != http.StatusOK || body != "hi" || hdr.Get("Starbase-Commit") != commit {
		t.Errorf("GET / = %d %q from %q, want 200 hi from %s", status, body, hdr.Get("Starbase-Commit"), commit)
	}
	if recs := n.Log.Messages(t, "serving commit"); len(recs) == 0 || recs[len(recs)-1]["commit"] != commit {
		t.Errorf("serving-commit log records = %v, want the last to name %s", recs, commit)
	}
}

func TestStartTLS_ServesHTTPSToItsClients(t *testing.T) {
	n := servertest.StartTLS(t, server.Config{})
	if !strings.HasPrefix(n.URL, "https://127.0.0.1:") {
		t.Fatalf("URL = %s, want https on loopback", n.URL)
	}
	if status, _, _ := n.Get(t, "/-/health"); status != http.StatusOK {
		t.Errorf("GET /-/health over TLS = %d, want 200", status)
	}
	if _, err := n.Client.Log(t.Context(), 1); err != nil {
		t.Errorf("the admin client over TLS: %v", err)
	}
}
