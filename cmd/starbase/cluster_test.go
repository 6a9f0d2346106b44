package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// The cluster tests run three `starbase serve` processes of the built binary on one real
// 3-member etcd cluster started in-process by the test.

type cluster struct {
	etcd  *etcdtest.Cluster
	nodes []*node
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ec := etcdtest.Start(t, 3)
	c := &cluster{etcd: ec}
	for _, name := range []string{"a", "b", "c"} {
		c.nodes = append(c.nodes, startServe(t, t.TempDir(), "--etcd", strings.Join(ec.Endpoints(), ","), "--node", name))
	}
	return c
}

func apiClient(t *testing.T, n *node) *client.Client {
	t.Helper()
	c, err := client.New(n.url, client.Options{Token: e2eToken})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func versionApp(v int) map[string][]byte {
	return map[string][]byte{
		"app.star":   []byte("load(\"lib/v.star\", \"V\")\ndef index(req):\n    return V\nroutes = {\"GET /{$}\": index}\n"),
		"lib/v.star": []byte(fmt.Sprintf("V = \"v%d\"\n", v)),
	}
}

// fetch answers GET / of n: status, body and commit.
func fetch(url string, header map[string]string) (int, string, string, error) {
	req, _ := http.NewRequest("GET", url+"/", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Starbase-Commit"), err
}

func TestCluster_PushesReachEveryNodeMonotonically(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	a := apiClient(t, c.nodes[0])

	first, err := a.Push(ctx, api.PushRequest{Files: versionApp(0), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitForNodes(ctx, a, first, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes[1:] {
		if status, body, commit, err := fetch(n.url, nil); err != nil || status != 200 || body != "v0" || commit != first.Commit {
			t.Fatalf("node %s: GET / = %d %q from %s (%v), want v0 from %s", n.url, status, body, commit, err, first.Commit)
		}
	}
	st, err := a.Status(ctx)
	if err != nil || len(st.Nodes) != 3 {
		t.Fatalf("status lists %d nodes (%v), want 3: %+v", len(st.Nodes), err, st)
	}

	// 200 pushes through node A while every node is polled: no node may ever answer with a
	// commit older than one it answered before. One etcd member is killed and brought back
	// in the middle: pushes go on.
	order := map[string]int{first.Commit: 0}
	type answer struct{ commit, body string }
	answers := make([][]answer, len(c.nodes))
	pollCtx, stopPolling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				status, body, commit, err := fetch(n.url, nil)
				if err != nil || status != 200 {
					answers[i] = append(answers[i], answer{commit: "error", body: fmt.Sprint(status, body, err)})
					continue
				}
				answers[i] = append(answers[i], answer{commit, body})
			}
		}()
	}
	var last api.CommitResult
	for v := 1; v <= 200; v++ {
		if v == 60 {
			c.etcd.Stop(1)
		}
		if v == 120 {
			c.etcd.Restart(1)
		}
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if last, err = a.Push(ctx, api.PushRequest{Files: versionApp(v), Force: true}); err == nil {
				break
			}
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable {
				break
			}
		}
		if err != nil {
			t.Fatalf("push %d: %v", v, err)
		}
		order[last.Commit] = v
	}
	if err := waitForNodes(ctx, a, last, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	stopPolling()
	wg.Wait()

	for i, as := range answers {
		prev := -1
		for _, an := range as {
			if an.commit == "error" {
				t.Fatalf("node %d failed a request: %s", i, an.body)
			}
			v, known := order[an.commit]
			if !known || an.body != fmt.Sprintf("v%d", v) {
				t.Fatalf("node %d answered %q from unknown or mismatched commit %s", i, an.body, an.commit)
			}
			if v < prev {
				t.Fatalf("node %d went back from v%d to v%d", i, prev, v)
			}
			prev = v
		}
		if len(as) < 10 {
			t.Errorf("node %d answered only %d requests during the pushes; the test proves little", i, len(as))
		}
	}
	for _, n := range c.nodes {
		if _, body, commit, _ := fetch(n.url, nil); commit != last.Commit || body != "v200" {
			t.Fatalf("node %s serves %q from %s after convergence, want v200 from %s", n.url, body, commit, last.Commit)
		}
	}
}

func TestCluster_SurvivesLosingEtcd(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	a := apiClient(t, c.nodes[0])
	res, err := a.Push(ctx, api.PushRequest{Files: versionApp(1), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitForNodes(ctx, a, res, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	c.etcd.StopAll()
	for _, n := range c.nodes {
		if status, body, commit, err := fetch(n.url, nil); err != nil || status != 200 || body != "v1" || commit != res.Commit {
			t.Fatalf("with etcd down, node %s answered %d %q from %s (%v); want it to keep serving v1", n.url, status, body, commit, err)
		}
	}
	start := time.Now()
	_, err = a.Push(ctx, api.PushRequest{Files: versionApp(2), Force: true})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable {
		t.Fatalf("push with etcd down = %v, want 503", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("push with etcd down took %v to fail; it must fail fast", took)
	}

	c.etcd.RestartAll()
	var next api.CommitResult
	deadline := time.Now().Add(30 * time.Second)
	for {
		if next, err = a.Push(ctx, api.PushRequest{Files: versionApp(2), Force: true}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("push after etcd came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Nodes catch up without a restart, and a restarted node comes back on the current commit.
	c.nodes[2].stop(t)
	c.nodes[2] = startServe(t, c.nodes[2].data, "--etcd", strings.Join(c.etcd.Endpoints(), ","), "--node", "c")
	if err := waitForNodes(ctx, a, next, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if _, body, commit, _ := fetch(n.url, nil); body != "v2" || commit != next.Commit {
			t.Fatalf("node %s serves %q from %s after recovery, want v2 from %s", n.url, body, commit, next.Commit)
		}
	}
}

func TestCluster_MinRevisionReadsYourWrites(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	a := apiClient(t, c.nodes[0])
	for v := 1; v <= 20; v++ {
		res, err := a.Push(ctx, api.PushRequest{Files: versionApp(v), Force: true})
		if err != nil {
			t.Fatal(err)
		}
		// Straight to another node: it must never show older code than was just pushed.
		n := c.nodes[1+v%2]
		status, body, commit, err := fetch(n.url, map[string]string{"Starbase-Min-Revision": fmt.Sprint(res.Revision)})
		if err != nil || status != 200 || body != fmt.Sprintf("v%d", v) || commit != res.Commit {
			t.Fatalf("read-your-write on %s = %d %q from %s (%v), want v%d from %s", n.url, status, body, commit, err, v, res.Commit)
		}
	}
}
