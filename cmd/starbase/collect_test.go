package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// Sizes of TestE2E_KeepCommitsBoundsTheStoreAndDroppedCommitsSaySo: gcPushes pushes of a
// changing module and a changing static file of gcFileBytes, gcPushes*gcFileBytes (9.4 MiB)
// in all, more than the etcd quota of gcQuota; the collection catches up after each round of
// gcRound pushes.
const (
	gcPushes    = 300
	gcFileBytes = 32 << 10
	gcKeep      = 10
	gcRound     = 50
	gcQuota     = 6 << 20
)

// TestE2E_KeepCommitsBoundsTheStoreAndDroppedCommitsSaySo pushes gcPushes commits through
// the binary with --keep-commits 10 (and a short --retain-history, so that commits are
// dropped during the run), on bolt and on real etcd servers (3.7 and 3.4) with a quota
// smaller than what was pushed: no push is refused for space, the bolt file stops growing (at the end it is within
// 2x of its size after the first half of the pushes), the kept
// commits are whole and served, and a dropped commit answers 410 saying which policy
// dropped it, through files (pull), diff, log and revert.
func TestE2E_KeepCommitsBoundsTheStoreAndDroppedCommitsSaySo(t *testing.T) {
	policy := []string{"--keep-commits", fmt.Sprint(gcKeep), "--retain-history", "1s", "--timeout", "1s"}
	t.Run("bolt", func(t *testing.T) {
		dir := t.TempDir()
		n := startServe(t, dir, policy...)
		size := func() int64 {
			fi, err := os.Stat(filepath.Join(dir, "starbase.db"))
			if err != nil {
				t.Fatal(err)
			}
			return fi.Size()
		}
		var early int64
		pushAndCheckCollection(t, n, func(round int) {
			if round == 3 {
				early = size()
			}
		})
		final := size()
		t.Logf("bolt file after %d pushes of %d bytes: %d bytes (%d after %d)", gcPushes, gcFileBytes, final, early, 3*gcRound)
		if final > 2*early {
			t.Errorf("the bolt file grew from %d bytes after %d pushes to %d after %d with --keep-commits %d; want within 2x",
				early, 3*gcRound, final, gcPushes, gcKeep)
		}
	})
	for _, es := range etcdServers {
		t.Run(es.name, func(t *testing.T) {
			endpoints := es.start(t, etcdtest.Options{QuotaBackendBytes: gcQuota})
			n := startServe(t, t.TempDir(), append(policy, "--etcd", endpoints)...)
			pushAndCheckCollection(t, n, func(int) {})
		})
	}
}

// pushAndCheckCollection makes gcPushes pushes on n and checks what is kept and dropped;
// rounds is called after each round has been collected.
func pushAndCheckCollection(t *testing.T, n *node, rounds func(round int)) {
	t.Helper()
	ctx := context.Background()
	c := apiClient(t, n)
	var ids []string
	for i := range gcPushes {
		big := make([]byte, gcFileBytes)
		rand.Read(big)
		files := versionApp(i)
		files["static/big.bin"] = big
		res, err := c.Push(ctx, api.PushRequest{Files: files, Force: true, Message: fmt.Sprint("push ", i)})
		if err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && ce.Status == http.StatusInsufficientStorage {
				t.Fatalf("push %d was refused for space with --keep-commits %d: %v", i, gcKeep, err)
			}
			t.Fatalf("push %d: %v", i, err)
		}
		ids = append(ids, res.Commit)
		if (i+1)%gcRound == 0 {
			// Pushes run faster than the history window moves: let the collection catch up
			// after each round, so that the store holds at most gcKeep+gcRound commits.
			waitKept(t, c, gcKeep)
			rounds((i + 1) / gcRound)
		}
	}
	waitKept(t, c, gcKeep)
	_, err := c.Files(ctx, ids[0])
	wantDropped := func(what string, err error) {
		t.Helper()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusGone || ce.Body.Code != "starbase.commit_dropped" ||
			!strings.Contains(ce.Body.Error, "was dropped by the retention policy --keep-commits 10") {
			t.Errorf("%s of a dropped commit: %v; want 410 starbase.commit_dropped naming the policy", what, err)
		}
	}
	wantDropped("files", err)
	_, err = c.Diff(ctx, "", ids[0])
	wantDropped("diff", err)
	_, err = c.Diff(ctx, ids[0][:12], ids[len(ids)-1])
	wantDropped("diff from a prefix", err)
	_, err = c.Revert(ctx, ids[0])
	wantDropped("revert", err)

	// Every commit still logged is whole; at least the last gcKeep are, and main is served.
	log, err := c.Log(ctx, 1000)
	if err != nil {
		t.Fatalf("log after collection: %v", err)
	}
	if len(log) != gcKeep {
		t.Fatalf("log lists %d commits; want the %d kept", len(log), gcKeep)
	}
	for i, cm := range log {
		if want := ids[len(ids)-1-i]; cm.ID != want {
			t.Fatalf("log entry %d is %s, want %s", i, cm.ID, want)
		}
		f, err := c.Files(ctx, cm.ID)
		if err != nil || len(f.Files["static/big.bin"]) != gcFileBytes {
			t.Fatalf("kept commit %s (%d from the newest): %v", cm.ID, i, err)
		}
	}
	t.Logf("%d commits kept of %d pushed", len(log), gcPushes)
	if got, _ := n.get(t, "/"); got != fmt.Sprintf("v%d", gcPushes-1) {
		t.Errorf("GET / = %q; want the last push served", got)
	}
	waitLog(t, n, "old code collected")
	if metrics, _ := n.get(t, "/-/metrics"); !strings.Contains(metrics, "starbase_code_commits_dropped_total") {
		t.Errorf("/-/metrics has no starbase_code_commits_dropped_total")
	}
}

// waitKept waits until main's log lists exactly keep commits: once the pushes stopped for
// longer than --retain-history, the collection keeps those --keep-commits keeps.
func waitKept(t *testing.T, c *client.Client, keep int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		log, err := c.Log(context.Background(), 1000)
		if err != nil {
			t.Fatalf("log: %v", err)
		}
		if len(log) == keep {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log still lists %d commits a minute after the pushes stopped; want %d", len(log), keep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRetentionFlags_RefuseACodePolicyThatCannotWork: a code retention policy with the store
// history kept whole would free nothing, and one with a window shorter than a request could
// drop the commit of a running request.
func TestRetentionFlags_RefuseACodePolicyThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       retentionFlags
		wantErr string
	}{
		{"keep all", retentionFlags{history: 0}, ""},
		{"keep 10", retentionFlags{history: time.Minute, code: code.Retention{KeepCommits: 10}}, ""},
		{"negative", retentionFlags{history: time.Minute, code: code.Retention{KeepCommits: -1}}, "not a negative value"},
		{"history kept whole", retentionFlags{code: code.Retention{KeepCommits: 10}}, "--keep-commits 10 needs --retain-history above 0"},
		{"window shorter than a request", retentionFlags{history: time.Second, code: code.Retention{KeepFor: time.Hour}},
			"--keep-commits-for 1h0m0s needs --retain-history (1s) at least --timeout (30s)"},
	} {
		err := tc.f.check(30 * time.Second)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: check = %v; want %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestCluster_KeepCommitsDropsNothingANodeStillNeeds runs two nodes of the binary on one
// etcd, both collecting with --keep-commits 2 and a 1s history window, while 150 pushes go
// through node a and both nodes are polled: commits are dropped during the run, yet no
// request fails, no node goes back to an older commit, no node fails to switch to or build
// a commit, and both end on the last push.
func TestCluster_KeepCommitsDropsNothingANodeStillNeeds(t *testing.T) {
	ec := etcdtest.Start(t, 1)
	args := []string{"--etcd", strings.Join(ec.Endpoints(), ","), "--keep-commits", "2", "--retain-history", "1s", "--timeout", "1s"}
	nodes := []*node{
		startServe(t, t.TempDir(), append(args, "--node", "a")...),
		startServe(t, t.TempDir(), append(args, "--node", "b")...),
	}
	ctx := context.Background()
	a := apiClient(t, nodes[0])
	order := map[string]int{}
	first, err := a.Push(ctx, api.PushRequest{Files: versionApp(0), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	order[first.Commit] = 0
	if err := waitForNodes(ctx, a, first, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status       int
		body, commit string
	}
	answers := make([][]answer, len(nodes))
	pollCtx, stopPolling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				status, body, commit, err := fetch(n.url, nil)
				if err != nil {
					body = err.Error()
				}
				answers[i] = append(answers[i], answer{status, body, commit})
			}
		}()
	}
	last := first
	for v := 1; v <= 150; v++ {
		if last, err = a.Push(ctx, api.PushRequest{Files: versionApp(v), Force: true}); err != nil {
			t.Fatalf("push %d: %v", v, err)
		}
		order[last.Commit] = v
	}
	if err := waitForNodes(ctx, a, last, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Commits were dropped: the first one answers 410 once the window passed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := a.Files(ctx, first.Commit)
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == http.StatusGone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first commit was never dropped: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopPolling()
	wg.Wait()
	for i, as := range answers {
		prev := -1
		for _, an := range as {
			v, known := order[an.commit]
			if an.status != http.StatusOK || !known || an.body != fmt.Sprintf("v%d", v) {
				t.Fatalf("node %d answered %d %q from %q", i, an.status, an.body, an.commit)
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
	for i, n := range nodes {
		logs := n.logText()
		for _, bad := range []string{"switching commit failed", "does not build", "build failed"} {
			if strings.Contains(logs, bad) {
				t.Errorf("node %d logged %q while commits were collected", i, bad)
			}
		}
		if _, body, commit, _ := fetch(n.url, nil); commit != last.Commit || body != "v150" {
			t.Errorf("node %d serves %q from %s at the end, want v150 from %s", i, body, commit, last.Commit)
		}
	}
}
