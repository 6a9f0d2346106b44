package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
)

// Rollouts through the built binary: three `starbase serve` nodes on a 3-member etcd
// cluster, the rollout driven by `starbase rollout`, requests spread over every node.

// failingApp answers GET /?n=N with "bad" and fails (500) when N is a multiple of 5: 20% of
// requests numbered in order.
func failingApp() map[string][]byte {
	return map[string][]byte{"app.star": []byte(
		"def index(req):\n    if int(req.query.get(\"n\", \"1\")) % 5 == 0:\n        fail(\"broken\")\n    return \"bad\"\n" +
			"routes = {\"GET /{$}\": index}\n")}
}

// hit answers GET /?n=n of url with header: status, body, commit and the affinity cookie
// set, if any.
func hit(t *testing.T, url string, n int, header map[string]string) (int, string, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/?n=%d", url, n), nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	cookie := ""
	for _, c := range resp.Cookies() {
		if c.Name == "starbase-rollout" {
			cookie = c.Name + "=" + c.Value
		}
	}
	return resp.StatusCode, string(b), resp.Header.Get("Starbase-Commit"), cookie
}

// waitRollout polls the rollout's status until every one of the three nodes reports
// state (and percent, when want >= 0), or fails after a generous deadline.
func waitRollout(t *testing.T, c *cluster, state string, percent int) api.RolloutStatus {
	t.Helper()
	a := apiClient(t, c.nodes[0])
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := a.Rollout(context.Background(), "")
		ok := err == nil && len(st.Nodes) == len(c.nodes)
		for _, n := range st.Nodes {
			ok = ok && n.State == state && (percent < 0 || n.Percent == percent)
		}
		if ok {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes did not all reach rollout state %s (%d%%): %+v (%v)", state, percent, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitServes polls every node until a fresh client (no cookie) gets want from each, 20
// times in a row, or fails after a generous deadline.
func waitServes(t *testing.T, c *cluster, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range c.nodes {
		for ok := 0; ok < 20; {
			if _, _, commit, _ := hit(t, n.url, 1, nil); commit == want {
				ok++
				continue
			}
			ok = 0
			if time.Now().After(deadline) {
				t.Fatalf("node %s does not serve only %s", n.url, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestCluster_RolloutSplitsPinsAbortsPromotesAndRollsBack(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	a := apiClient(t, c.nodes[0])
	v1, err := a.Push(ctx, api.PushRequest{Files: versionApp(1), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := a.Push(ctx, api.PushRequest{Ref: "next", Files: versionApp(2), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitForNodes(ctx, a, v1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	body := map[string]string{v1.Commit: "v1", v2.Commit: "v2"}

	// 10%: of 2,000 fresh clients spread over the nodes, 10% ± 3% get v2, on every node.
	out := c.nodes[1].cli(t, "rollout", v2.Commit, "--percent", "10", "--max-p99-ratio=-1")
	if !strings.Contains(out, "running, 10% of requests now") {
		t.Fatalf("rollout printed:\n%s", out)
	}
	waitRollout(t, c, api.RolloutRunning, 10)
	perNode := make([]map[string]int, len(c.nodes))
	total := 0
	for i := range 2000 {
		ni := i % len(c.nodes)
		n := c.nodes[ni]
		status, got, commit, cookie := hit(t, n.url, i, nil)
		if status != 200 || body[commit] == "" || got != body[commit] || cookie == "" {
			t.Fatalf("request %d to node %d: %d %q from %q (cookie %q)", i, ni, status, got, commit, cookie)
		}
		if perNode[ni] == nil {
			perNode[ni] = map[string]int{}
		}
		perNode[ni][commit]++
		if commit == v2.Commit {
			total++
		}
	}
	if total < 140 || total > 260 {
		t.Fatalf("v2 answered %d of 2000 requests, want 10%% ± 3%% (140 to 260); per node %v", total, perNode)
	}
	for i, m := range perNode {
		if m[v2.Commit] == 0 || m[v1.Commit] == 0 {
			t.Fatalf("node %d served %v: want both commits", i, m)
		}
	}
	t.Logf("10%% rollout: v2 answered %d of 2000 requests; per node %v", total, perNode)

	// Affinity: a client keeps its commit on every node; a pin chooses either commit.
	for cl := range 60 {
		_, _, first, cookie := hit(t, c.nodes[cl%3].url, cl, nil)
		for i := range 6 {
			if _, _, commit, set := hit(t, c.nodes[i%3].url, i, map[string]string{"Cookie": cookie}); commit != first || set != "" {
				t.Fatalf("client %d (%s): %s, then %s on node %d (new cookie %q)", cl, cookie, first, commit, i%3, set)
			}
		}
	}
	for _, n := range c.nodes {
		for _, want := range []string{v1.Commit, v2.Commit} {
			if _, got, commit, _ := hit(t, n.url, 1, map[string]string{"Starbase-Commit-Pin": want}); commit != want || got != body[want] {
				t.Fatalf("pinned to %s on %s: %q from %s", want, n.url, got, commit)
			}
		}
	}

	// Abort: every node back on v1, whatever the client's cookie or pin.
	c.nodes[2].cli(t, "rollout", "--abort", "--reason", "e2e")
	waitRollout(t, c, api.RolloutAborted, 0)
	for _, n := range c.nodes {
		if _, _, commit, _ := hit(t, n.url, 1, map[string]string{"Starbase-Commit-Pin": v2.Commit}); commit != v1.Commit {
			t.Fatalf("after abort %s pinned to v2 got %s", n.url, commit)
		}
	}
	if out := c.nodes[0].cli(t, "rollout", "--status"); !strings.Contains(out, "aborted") || !strings.Contains(out, "aborted by admin: e2e") {
		t.Fatalf("status after abort:\n%s", out)
	}

	// Promote: main names v2, every node serves it alone.
	c.nodes[0].cli(t, "rollout", v2.Commit, "--percent", "50", "--max-p99-ratio=-1")
	waitRollout(t, c, api.RolloutRunning, 50)
	if out := c.nodes[1].cli(t, "rollout", "--promote"); !strings.Contains(out, "main now names "+v2.Commit) {
		t.Fatalf("promote printed:\n%s", out)
	}
	waitServes(t, c, v2.Commit)
	if out := c.nodes[2].cli(t, "rollout", "--status"); !strings.Contains(out, "no rollout") {
		t.Fatalf("status after promote:\n%s", out)
	}
	if files, err := a.Files(ctx, ""); err != nil || string(files.Files["lib/v.star"]) != "V = \"v2\"\n" {
		t.Fatalf("main after promote: %v %v", files, err)
	}

	// A commit failing 20% of its requests is rolled back by the nodes themselves; no
	// request is answered by a commit outside the two.
	bad, err := a.Push(ctx, api.PushRequest{Ref: "bad", Files: failingApp(), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0].cli(t, "rollout", bad.Commit, "--percent", "50", "--min-requests", "20", "--max-p99-ratio=-1")
	waitRollout(t, c, api.RolloutRunning, 50)
	served := map[string]int{}
	deadline := time.Now().Add(120 * time.Second)
	for i := 1; ; i++ {
		_, got, commit, _ := hit(t, c.nodes[i%3].url, i, nil)
		served[commit]++
		if commit != v2.Commit && commit != bad.Commit {
			t.Fatalf("request %d answered %q by %q, outside the rollout", i, got, commit)
		}
		if i%50 == 0 {
			st, err := a.Rollout(ctx, "")
			if err == nil && st.Rollout != nil && st.Rollout.State == api.RolloutAborted {
				if !strings.Contains(st.Rollout.Reason, "rolled back by node") || !strings.Contains(st.Rollout.Reason, "error rate") {
					t.Fatalf("rolled back with reason %q", st.Rollout.Reason)
				}
				t.Logf("rolled back after %d requests (%v): %s", i, served, st.Rollout.Reason)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback after %d requests: %v", i, served)
		}
	}
	waitRollout(t, c, api.RolloutAborted, 0)
	waitServes(t, c, v2.Commit)
	if out := c.nodes[1].cli(t, "rollout", "--status"); !strings.Contains(out, "rolled back by node") {
		t.Fatalf("status after the rollback:\n%s", out)
	}
	recs, err := a.Audit(ctx, 20, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	found := false
	for _, r := range recs {
		actions = append(actions, string(r.Action)+" by "+r.Actor)
		found = found || (r.Action == string(auth.ActionRolloutAbort) && strings.HasPrefix(r.Actor, "node ") && strings.Contains(r.Reason, "error rate"))
	}
	if !found {
		t.Fatalf("the audit log has no rollback by a node: %v", actions)
	}

	// push --ref makes a commit a developer previews on any node, with no rollout: others
	// are still served main.
	dir := t.TempDir()
	files := map[string]string{}
	for p, b := range versionApp(7) {
		files[p] = string(b)
	}
	writeTree(t, dir, files)
	preview := lastLine(c.nodes[2].cli(t, "push", dir, "--ref", "preview", "-m", "try v7"))
	for _, n := range c.nodes {
		req, _ := http.NewRequest("GET", n.url+"/-/preview/"+preview+"/", nil)
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "v7" || resp.Header.Get("Starbase-Commit") != preview {
			t.Fatalf("preview of %s on %s = %d %q from %s", preview, n.url, resp.StatusCode, b, resp.Header.Get("Starbase-Commit"))
		}
		if _, got, commit, _ := hit(t, n.url, 1, nil); commit != v2.Commit || got != "v2" {
			t.Fatalf("during a preview %s served %q from %s, want v2", n.url, got, commit)
		}
	}
}
