package server_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/examples"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// rolloutBenchLimit bounds every wait of the rollout benchmarks: a failure bound for a
// loaded machine, not a measure.
const rolloutBenchLimit = time.Minute

// BenchmarkRollout_PromoteAndAbortReachEveryNode measures how long a promote and an abort
// take to reach every node: three nodes in process, each on its own member of a real
// three-member etcd cluster. Per op a rollout of a new commit (pushed to a scratch ref) is
// started and waited for on every node, then promoted; then another is started and
// aborted. The time is from the API's answer (on node a) to the last node whose status
// shows the new state (promote: it serves the commit with no rollout; abort: its rollout
// is aborted), polled every 100 µs in process as servertest's WaitCommit polls for pushes.
// Reported as promote-ms-p50/p99 and abort-ms-p50/p99 over the b.N ops (use -benchtime 20x).
func BenchmarkRollout_PromoteAndAbortReachEveryNode(b *testing.B) {
	ctx := context.Background()
	cluster := etcdtest.Start(b, 3)
	nodes := make([]*servertest.Node, 3)
	for i := range nodes {
		st, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{cluster.Endpoint(i)}, Prefix: "/rolloutbench/"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		nodes[i] = servertest.Start(b, server.Config{Store: st, Node: fmt.Sprintf("n%d", i), Logger: discardLogger()})
	}
	a := nodes[0]
	base := a.Push(b, map[string]string{"app.star": versionApp(0)}).Commit
	for _, n := range nodes {
		n.WaitCommit(b, base)
	}
	version := 0
	// start pushes a new version to a scratch ref, starts a 10% rollout of it and waits
	// until every node serves it beside main.
	start := func() string {
		version++
		res, err := a.Client.Push(ctx, api.PushRequest{Ref: "scratch", Force: true, Files: servertest.Files(map[string]string{"app.star": versionApp(version)})})
		if err != nil {
			b.Fatalf("push to scratch: %v", err)
		}
		if _, err := a.Client.StartRollout(ctx, api.RolloutRequest{Commit: res.Commit, Steps: []int{10}}); err != nil {
			b.Fatalf("start rollout: %v", err)
		}
		waitAll(b, nodes, "the rollout running", func(st api.Node) bool {
			return st.Rollout != nil && st.Rollout.Commit == res.Commit && st.Rollout.State == api.RolloutRunning
		})
		return res.Commit
	}
	var promote, abort []time.Duration
	b.ResetTimer()
	for range b.N {
		commit := start()
		if _, err := a.Client.PromoteRollout(ctx, api.RolloutAction{}); err != nil {
			b.Fatalf("promote: %v", err)
		}
		promote = append(promote, waitAll(b, nodes, "the promoted commit", func(st api.Node) bool {
			return st.Commit == commit && st.Rollout == nil
		}))
		commit = start()
		if _, err := a.Client.AbortRollout(ctx, api.RolloutAction{Reason: "benchmark"}); err != nil {
			b.Fatalf("abort: %v", err)
		}
		abort = append(abort, waitAll(b, nodes, "the aborted rollout", func(st api.Node) bool {
			return st.Rollout != nil && st.Rollout.Commit == commit && st.Rollout.State == api.RolloutAborted
		}))
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(promote, 0.5)), "promote-ms-p50")
	b.ReportMetric(ms(percentile(promote, 0.99)), "promote-ms-p99")
	b.ReportMetric(ms(percentile(abort, 0.5)), "abort-ms-p50")
	b.ReportMetric(ms(percentile(abort, 0.99)), "abort-ms-p99")
}

// waitAll polls every node's status until cond holds for all of them and returns the
// time it took, failing after rolloutBenchLimit.
func waitAll(b *testing.B, nodes []*servertest.Node, what string, cond func(api.Node) bool) time.Duration {
	b.Helper()
	began := time.Now()
	deadline := began.Add(rolloutBenchLimit)
	for _, n := range nodes {
		for !cond(n.Server.Status().Node) {
			if time.Now().After(deadline) {
				b.Fatalf("%s: node status %+v after %v", what, n.Server.Status().Node, rolloutBenchLimit)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return time.Since(began)
}

func versionApp(v int) string {
	return fmt.Sprintf("def index(req):\n    return \"v%d\"\n\nroutes = {\"GET /{$}\": index}\n", v)
}

// median returns the median of xs (the upper one of an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkRollout_MemoryOfTwoCommits measures the live heap of the test process
// (runtime.MemStats.HeapAlloc after two GCs: bytes of reachable objects, exact, where
// HeapInuse counts whole spans) with one node serving the ERP example (examples/erp, 81
// files) alone, and while a rollout serves beside it a second commit of it that differs
// in one module (views/products.star gains a constant). Per op the rollout is aborted
// (the node drops the second release) and started again (it builds it again); both commits answer a request (pinned) before each reading. The
// loader's caches of compiled modules (runtime.Loader, by content, a few recent commits)
// are not emptied by an abort, so the one-commit readings after the first rollout still
// hold what they kept of the second commit: fresh-one-commit-heap-bytes is the reading
// before any rollout. Reported as one-commit-heap-bytes, two-commits-heap-bytes,
// second-commit-bytes (their difference; medians of the b.N readings, use -benchtime 20x),
// fresh-one-commit-heap-bytes and second-commit-vs-fresh-bytes.
func BenchmarkRollout_MemoryOfTwoCommits(b *testing.B) {
	ctx := context.Background()
	n := servertest.Start(b, server.Config{Node: "n1", Logger: discardLogger()})
	files, err := examples.App("erp")
	if err != nil {
		b.Fatal(err)
	}
	res, err := n.Client.Push(ctx, api.PushRequest{Force: true, Files: files})
	if err != nil {
		b.Fatalf("push erp: %v", err)
	}
	n.WaitCommit(b, res.Commit)
	base := res.Commit
	const module = "views/products.star"
	if _, ok := files[module]; !ok {
		b.Fatalf("examples/erp has no %s", module)
	}
	changed := map[string][]byte{}
	for k, v := range files {
		changed[k] = v
	}
	changed[module] = append(slices.Clone(files[module]), "\nROLLOUT_BENCH_VERSION = 2\n"...)
	res, err = n.Client.Push(ctx, api.PushRequest{Ref: "scratch", Force: true, Files: changed})
	if err != nil {
		b.Fatalf("push the changed erp: %v", err)
	}
	second := res.Commit
	// hit answers one request pinned to commit and checks that commit answered.
	hit := func(commit string) {
		req, err := http.NewRequest("GET", n.URL+"/", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Starbase-Commit-Pin", commit)
		resp, _ := n.Do(b, req)
		if got := resp.Header.Get("Starbase-Commit"); got != commit {
			b.Fatalf("pinned to %s, answered by %q (status %d)", commit, got, resp.StatusCode)
		}
	}
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc)
	}
	status := func(cond func(api.Node) bool, what string) { waitAll(b, []*servertest.Node{n}, what, cond) }
	hit(base)
	fresh := heap()
	var one, two []float64
	b.ResetTimer()
	for range b.N {
		hit(base)
		one = append(one, heap())
		if _, err := n.Client.StartRollout(ctx, api.RolloutRequest{Commit: second, Steps: []int{50}}); err != nil {
			b.Fatalf("start rollout: %v", err)
		}
		status(func(st api.Node) bool {
			return st.Rollout != nil && st.Rollout.Commit == second && st.Rollout.State == api.RolloutRunning && st.Rollout.Error == ""
		}, "the rollout running")
		hit(base)
		hit(second)
		two = append(two, heap())
		if _, err := n.Client.AbortRollout(ctx, api.RolloutAction{Reason: "benchmark"}); err != nil {
			b.Fatalf("abort: %v", err)
		}
		status(func(st api.Node) bool {
			return st.Rollout == nil || st.Rollout.State == api.RolloutAborted
		}, "the rollout aborted")
	}
	b.StopTimer()
	o, t := median(one), median(two)
	b.ReportMetric(o, "one-commit-heap-bytes")
	b.ReportMetric(t, "two-commits-heap-bytes")
	b.ReportMetric(t-o, "second-commit-bytes")
	b.ReportMetric(fresh, "fresh-one-commit-heap-bytes")
	b.ReportMetric(t-fresh, "second-commit-vs-fresh-bytes")
}
