package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// TestServer_KeepsServingWhenANewCommitCannotLoadForNow writes, past the gate, a commit whose
// module load runs out of time (a failure that may pass on a less busy node): the node must
// keep serving the last release, not advance its applied revision, and move on as soon as a
// loadable commit arrives.
func TestServer_KeepsServingWhenANewCommitCannotLoadForNow(t *testing.T) {
	lim := runtime.DefaultLimits()
	lim.LoadTimeout = 100 * time.Millisecond
	lim.MaxSteps = 1 << 40
	n := servertest.Start(t, server.Config{Limits: lim, MinRevisionWait: 300 * time.Millisecond})
	v1 := n.Push(t, appReturning("v1"))
	n.WaitCommit(t, v1.Commit)

	slow, err := n.Server.Repo().Push(context.Background(), code.PushRequest{
		Ref: code.DefaultBranch, Expected: code.ID(v1.Commit), Author: "test", Message: "slow top level",
		Files: servertest.Files(map[string]string{"app.star": `
def spin():
    n = 0
    while True:
        n += 1
spin()
routes = {}
`}),
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", n.URL+"/", nil)
	req.Header.Set("Starbase-Min-Revision", fmt.Sprint(slow.Revision))
	if resp, body := n.Do(t, req); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("asking for the revision of the unloadable commit = %d %q, want 503 (not applied)", resp.StatusCode, body)
	}
	if status, hdr, body := n.Get(t, "/"); status != 200 || body != "v1" || hdr.Get("Starbase-Commit") != v1.Commit {
		t.Fatalf("GET / = %d %q from %s, want v1 from the last release", status, body, hdr.Get("Starbase-Commit"))
	}

	v3 := n.Push(t, appReturning("v3"))
	n.WaitCommit(t, v3.Commit)
	if status, _, body := n.Get(t, "/"); status != 200 || body != "v3" {
		t.Fatalf("GET / = %d %q, want v3", status, body)
	}
}
