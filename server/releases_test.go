package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// pushPastTheGate commits files to main on the store directly, as a gate that let a broken
// commit through would: the node must face it on its own.
func pushPastTheGate(t *testing.T, n *servertest.Node, files map[string]string) string {
	t.Helper()
	res, err := n.Server.Repo().Push(context.Background(), code.PushRequest{
		Ref: code.DefaultBranch, Author: "test", Message: "past the gate", Force: true, Files: servertest.Files(files),
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(res.Commit)
}

const brokenRoutes = "def a(req):\n    return \"broken\"\nroutes = {\"GET /{$}\": a, \"GET /b\": 1}\n"

func TestServer_KeepsItsWorkingReleaseWhenACommitDoesNotBuild(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	v1 := n.Deploy(t, appReturning("v1"))
	bad := pushPastTheGate(t, n, map[string]string{"app.star": brokenRoutes})

	st := n.WaitRefused(t, bad)
	if st.Commit != v1 || st.Retrying {
		t.Errorf("status = %+v, want it to serve %s and not retry", st, v1)
	}
	wantProblem := `app.star:3:26: route "GET /b" must be a function of one parameter, the request (def index(req): ...), got int`
	if len(st.Problems) != 1 || st.Problems[0].String() != wantProblem {
		t.Errorf("problems = %v, want [%s]", st.Problems, wantProblem)
	}
	if want := "commit " + code.ID(bad).Short() + " does not build on this node"; !strings.HasPrefix(st.Error, want) {
		t.Errorf("error = %q, want it to start with %q", st.Error, want)
	}
	if status, hdr, body := n.Get(t, "/"); status != 200 || body != "v1" || hdr.Get("Starbase-Commit") != v1 {
		t.Errorf("GET / = %d %q from %s, want v1 from the last working release", status, body, hdr.Get("Starbase-Commit"))
	}

	// The public status says which commit and that it fails, never what the code says.
	_, _, body := n.Get(t, "/-/status")
	var public api.Status
	if err := json.Unmarshal([]byte(body), &public); err != nil {
		t.Fatal(err)
	}
	if public.Wanted != bad || public.Commit != v1 || public.Error == "" || public.Problems != nil || strings.Contains(body, "GET /b") {
		t.Errorf("/-/status = %s, want wanted, commit and error without problems", body)
	}
	full, err := n.Client.FullStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Nodes) != 1 || len(full.Nodes[0].Problems) != 1 || full.Nodes[0].Problems[0].String() != wantProblem {
		t.Errorf("/-/api/status nodes = %+v, want the problem", full.Nodes)
	}
	metricsAfter(t, n, "starbase_release_build_failing 1")
	metricsAfter(t, n, "starbase_release_build_failures_total 1")
	logged := n.Log.Messages(t, "commit does not build on this node; serving the last working release")
	if len(logged) != 1 || logged[0]["commit"] != bad || logged[0]["serving"] != v1 {
		t.Errorf("log records = %v, want one naming the commit and what is served", logged)
	}

	// A request asking for the refused commit's revision is not held: the node decided.
	req, _ := http.NewRequest("GET", n.URL+"/", nil)
	req.Header.Set("Starbase-Min-Revision", fmt.Sprint(n.Server.Status().Revision))
	if resp, body := n.Do(t, req); resp.StatusCode != 200 || body != "v1" {
		t.Errorf("GET / with the refused revision = %d %q, want v1", resp.StatusCode, body)
	}

	// The next commit that builds is served, and the failure is gone.
	v3 := n.Deploy(t, appReturning("v3"))
	if st := n.Server.Status(); st.Commit != v3 || st.Wanted != "" || st.Error != "" || st.Problems != nil {
		t.Errorf("status after a good commit = %+v, want it to serve %s with no failure", st.Node, v3)
	}
	metricsAfter(t, n, "starbase_release_build_failing 0")
}

func TestServer_WithNoWorkingReleaseAnswers503SayingWhy(t *testing.T) {
	for _, dev := range []bool{false, true} {
		t.Run(fmt.Sprintf("dev=%v", dev), func(t *testing.T) {
			n := servertest.Start(t, server.Config{Dev: dev})
			bad := pushPastTheGate(t, n, map[string]string{"app.star": brokenRoutes, "templates/a.html": "<a href=\"{{.x}}"})
			st := n.WaitRefused(t, bad)
			if st.Commit != "" || !strings.Contains(st.Error, "it has no working release to serve") || len(st.Problems) != 1 ||
				!strings.HasPrefix(st.Problems[0].String(), "templates/a.html:1:1: the template ends inside a quoted attribute value") {
				t.Errorf("status = %+v, want no commit, the failure and the template's problem", st)
			}
			for _, path := range []string{"/", "/b", "/nothing"} {
				resp, body := getAccepting(t, n, path, "")
				want := "This node has no working release: commit " + code.ID(bad).Short() + " does not build here"
				if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, want) {
					t.Errorf("GET %s = %d %q, want 503 starting %q", path, resp.StatusCode, body, want)
				}
				if shows := strings.Contains(body, "templates/a.html:1:1"); shows != dev {
					t.Errorf("GET %s shows the problem: %v, want %v (only in dev mode)", path, shows, dev)
				}
			}
		})
	}
}
