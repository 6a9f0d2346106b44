package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func appReturning(s string) map[string]string {
	return map[string]string{"app.star": fmt.Sprintf("def index(req):\n    return %q\nroutes = {\"GET /{$}\": index}\n", s)}
}

func TestServer_MinRevisionHoldsUntilApplied(t *testing.T) {
	n := servertest.Start(t, server.Config{MinRevisionWait: 10 * time.Second})
	first := n.Push(t, appReturning("v1"))
	n.WaitCommit(t, first.Commit)

	// Ask for the revision the next push will have, before pushing it.
	type answer struct {
		status int
		body   string
		commit string
	}
	answers := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", n.URL+"/", nil)
		req.Header.Set("Starbase-Min-Revision", fmt.Sprint(first.Revision+1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answers <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		fmt.Fprint(&b, readAll(resp))
		answers <- answer{resp.StatusCode, b.String(), resp.Header.Get("Starbase-Commit")}
	}()
	select {
	case a := <-answers:
		t.Fatalf("request for a future revision answered at once: %+v", a)
	case <-time.After(100 * time.Millisecond):
	}
	second := n.Push(t, appReturning("v2"))
	a := <-answers
	if a.status != 200 || a.body != "v2" || a.commit != second.Commit {
		t.Fatalf("held request = %d %q from %s, want 200 \"v2\" from %s", a.status, a.body, a.commit, second.Commit)
	}
}

func TestServer_MinRevisionTimesOutWith503(t *testing.T) {
	n := servertest.Start(t, server.Config{MinRevisionWait: 200 * time.Millisecond})
	res := n.Push(t, appReturning("v1"))
	n.WaitCommit(t, res.Commit)

	req, _ := http.NewRequest("GET", n.URL+"/", nil)
	req.Header.Set("Starbase-Min-Revision", fmt.Sprint(res.Revision+1000))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	if resp.StatusCode != 503 || !strings.Contains(body, fmt.Sprint(res.Revision+1000)) {
		t.Fatalf("= %d %q, want 503 naming the revision", resp.StatusCode, body)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 30*time.Second {
		t.Fatalf("held %v, want MinRevisionWait (200ms) or a little more", waited)
	}

	req.Header.Set("Starbase-Min-Revision", "yesterday")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(resp); resp.StatusCode != 400 || !strings.Contains(body, "non-negative integer") {
		t.Fatalf("bad header = %d %q, want 400", resp.StatusCode, body)
	}

	// A revision already reached, even one that changed no ref, passes at once.
	req.Header.Set("Starbase-Min-Revision", fmt.Sprint(res.Revision))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(resp); resp.StatusCode != 200 || body != "v1" {
		t.Fatalf("reached revision = %d %q, want 200 v1", resp.StatusCode, body)
	}
}

func TestServer_StatusListsThisNode(t *testing.T) {
	n := servertest.Start(t, server.Config{Node: "alpha"})
	res := n.Push(t, appReturning("v1"))
	n.WaitCommit(t, res.Commit)
	resp, err := http.Get(n.URL + "/-/status")
	if err != nil {
		t.Fatal(err)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(readAll(resp)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Commit != res.Commit || st.Node.Node != "alpha" || st.Revision < res.Revision ||
		len(st.Nodes) != 1 || st.Nodes[0].Commit != res.Commit {
		t.Fatalf("status = %+v, want node alpha serving %s at revision >= %d", st, res.Commit, res.Revision)
	}
}

func TestServer_MetricsCountRequestsByRoute(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	res := n.Push(t, appReturning("v1"))
	n.WaitCommit(t, res.Commit)
	for i := 0; i < 3; i++ {
		n.Get(t, "/")
	}
	n.Get(t, "/missing")
	// A request is counted just after its answer is sent: poll until the last one shows.
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if _, _, body = n.Get(t, "/-/metrics"); strings.Contains(body, `route="-"} 1`) {
			break
		}
	}
	for _, want := range []string{
		`starbase_http_requests_total{code="200",route="GET /{$}"} 3`,
		`starbase_http_requests_total{code="404",route="-"} 1`,
		`starbase_http_request_duration_seconds_count{route="GET /{$}"} 3`,
		fmt.Sprintf(`starbase_serving_commit{commit=%q} 1`, res.Commit),
		"starbase_module_runs_total 1",
		"starbase_revision_lag 0",
		"starbase_last_switch_propagation_seconds",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
