package server_test

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// TestMetrics_APIGateTransactionsAndBuild makes API requests (one refused, one refused by
// the gate), app requests that write, and reads the metrics and the access log they leave.
func TestMetrics_APIGateTransactionsAndBuild(t *testing.T) {
	n := servertest.Start(t, server.Config{Version: "v9.9.9-test", AccessLog: 1})
	n.Deploy(t, map[string]string{"app.star": `
Item = model("Item", fields = {"name": ""})

def put(req):
    return db.put(Item(name = req.params["name"]))

routes = {"POST /items/{name}": put}
`})
	ctx := context.Background()
	if _, err := n.Client.Push(ctx, api.PushRequest{Files: servertest.Files(map[string]string{"app.star": "def handle(req):\n    return x\n"}), Force: true}); err == nil {
		t.Fatal("a push of a broken app passed the gate")
	}
	req, _ := http.NewRequest("GET", n.URL+"/-/api/log", nil) // no token: 401
	n.Do(t, req)
	for range 3 {
		req, _ := http.NewRequest("POST", n.URL+"/items/a", nil)
		if resp, body := n.Do(t, req); resp.StatusCode != 200 {
			t.Fatalf("POST /items/a = %d %s", resp.StatusCode, body)
		}
	}
	_, _, metrics := n.Get(t, "/-/metrics")
	for _, want := range []string{
		`starbase_api_requests_total{code="200",endpoint="POST /-/api/push"}`,
		`starbase_api_requests_total{code="422",endpoint="POST /-/api/push"} 1`,
		`starbase_api_requests_total{code="401",endpoint="GET /-/api/log"} 1`,
		`starbase_api_request_duration_seconds_count{endpoint="POST /-/api/push"}`,
		`starbase_gate_checks_total{result="refused"} 1`,
		`starbase_gate_checks_total{result="passed"}`,
		`starbase_gate_duration_seconds_count`,
		`starbase_data_transactions_total 3`,
		`starbase_data_transaction_reruns_total 0`,
		`starbase_data_conflicts_total 0`,
		`starbase_build_info{goversion="go`,
		`version="v9.9.9-test"} 1`,
		`starbase_store_operations_total{op="commit",result="ok"}`,
		`starbase_store_operation_duration_seconds_count{op="get"}`,
		`starbase_store_full 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/-/metrics lacks %s", want)
		}
	}
	refused := n.Log.Messages(t, "the gate refused a change")
	if len(refused) != 1 || refused[0]["author"] != "admin" || !strings.Contains(refused[0]["reason"].(string), "app.star") {
		t.Errorf("the gate's refusal is logged as %v; want one record with its author and reason", refused)
	}
	var app []map[string]any
	for _, rec := range n.Log.Messages(t, "request") {
		if rec["route"] == "POST /items/{name}" {
			app = append(app, rec)
		}
	}
	if len(app) != 3 || app[0]["status"] != float64(200) || app[0]["request_id"] == "" || app[0]["commit"] == "" || app[0]["duration_ms"] == nil {
		t.Errorf("access log of the app requests: %v; want 3 records with request id, status, commit and duration", app)
	}
}

// TestMetrics_LiveHeapOfTheLastCollection checks that /-/metrics has the live heap the last
// garbage collection marked (go_gc_heap_live_bytes), the figure of what a node holds that
// GOGC's garbage does not blur (the bench harness's rollout memory reads it), and that it
// follows the process's collections.
func TestMetrics_LiveHeapOfTheLastCollection(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	live := func() float64 {
		t.Helper()
		_, _, metrics := n.Get(t, "/-/metrics")
		for line := range strings.SplitSeq(metrics, "\n") {
			if v, ok := strings.CutPrefix(line, "go_gc_heap_live_bytes "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("go_gc_heap_live_bytes %q: %v", v, err)
				}
				return f
			}
		}
		t.Fatalf("/-/metrics has no go_gc_heap_live_bytes:\n%s", metrics)
		return 0
	}
	runtime.GC()
	before := live()
	if before <= 0 {
		t.Fatalf("go_gc_heap_live_bytes = %v after a collection, want > 0", before)
	}
	hold := make([][]byte, 64) // 64 MiB kept live across the next collection
	for i := range hold {
		hold[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	after := live()
	runtime.KeepAlive(hold)
	if after < before+32<<20 {
		t.Errorf("go_gc_heap_live_bytes went from %v to %v across a collection that found 64 MiB more live, want at least 32 MiB more", before, after)
	}
}
