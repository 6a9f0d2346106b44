package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 11, items 3 and 4, through real HTTP against the built binary: operations that
// hashed or compared for hours inside one instruction, and hoarders of memory the checks
// did not count.

// goroutines reads go_goroutines from the node's /-/metrics.
func goroutines(t *testing.T, n *node) int {
	t.Helper()
	body, _ := n.get(t, "/-/metrics")
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			g, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("go_goroutines %q: %v", v, err)
			}
			return int(g)
		}
	}
	t.Fatalf("/-/metrics has no go_goroutines:\n%s", tail(body))
	return 0
}

// getStatus sends GET path and returns the status and (the start of) the answer.
func getStatus(t *testing.T, n *node, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(n.url + path)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

const workApp = `
def dag(n):
    t = (1,)
    for _ in range(n):
        t = (t, t)
    return t

def wide(k, depth):
    l = [1] * k
    for _ in range(depth):
        l = [l] * k
    return l

def wt(k, depth):
    t = (1,) * k
    for _ in range(depth):
        t = (t,) * k
    return t

def hash_dag(req):
    d = {}
    d[dag(62)] = 1  # 2^63 paths: before, this request never ended
    return "hashed"

def compare_wide(req):
    return str(wide(10, 9) == wide(10, 9))  # 10^10 comparisons: 12.8s before

def sort_wide(req):
    return str(sorted([wide(10, 9), wide(10, 9), wide(10, 9)]))

def spin(req):
    # Operations each admitted (3.2M paths), in a loop: stopped at the timeout.
    t = wt(20, 4)
    d = {}
    for i in range(1 << 40):
        d[t] = i
        if t in d and t == t:
            pass
    return "never"

def ok(req):
    return "ok"

routes = {
    "GET /hash": hash_dag,
    "GET /compare": compare_wide,
    "GET /sort": sort_wide,
    "GET /spin": spin,
    "GET /": ok,
}
`

func TestAttack_HashingAndComparingAreBoundedAndStoppedRequestsEnd(t *testing.T) {
	n := startServe(t, t.TempDir(), "--timeout", "3s", "--max-steps", "1000000000")
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": workApp})
	n.cli(t, "push", src, "--wait")
	before := goroutines(t, n)
	stop := healthWatch(t, n, 10*time.Second)
	var wg sync.WaitGroup
	for range 8 {
		for _, path := range []string{"/hash", "/compare", "/sort", "/spin"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, body := getStatus(t, n, path); status != 500 || !strings.Contains(body, "error id") {
					t.Errorf("GET %s = %d %q, want 500 with an error id", path, status, body)
				}
			}()
		}
	}
	wg.Wait()
	if stop() == 0 {
		t.Error("/-/health never answered during the attack")
	}
	alive(t, n)
	// The stopped requests' goroutines end: before, the hashing ones spun on for ever.
	waitFor(t, "the node's goroutines to return to their number before the attack", func() bool {
		return goroutines(t, n) <= before+10
	})
	if body, _ := n.get(t, "/"); body != "ok" {
		t.Errorf("GET / = %q after the attack, want ok", body)
	}
	n.stop(t)
	logs := n.logText()
	for _, want := range []string{
		"hashing a tuple would visit more than 4194304 values in one operation (runtime.MaxOperationVisits)",
		"comparing a list with a list would visit more than 4194304 values in one operation (runtime.MaxOperationVisits)",
		"a comparison of sorted() would visit more than 4194304 values",
		"timeout",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q:\n%s", want, tail(logs))
		}
	}
}

// The validation of one push is bounded in memory as well as in time: modules each
// within the runtime's limits but together past --check-memory are refused, with the
// limit named, and the node keeps serving its release.
func TestAttack_PushWhoseCheckAllocatesTooMuchIsRefused(t *testing.T) {
	n := startServe(t, t.TempDir(), "--check-memory", "64MiB")
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": "def ok(req):\n    return \"ok\"\nroutes = {\"GET /\": ok}\n"})
	n.cli(t, "push", src, "--wait")
	stop := healthWatch(t, n, 10*time.Second)
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("m%d.star", i)] = fmt.Sprintf("X = [\"%d\" * (1 << 20) for _ in range(8)]\n", i)
	}
	writeTree(t, src, files)
	_, errOut, err := n.try("push", src)
	want := "over the limit of 64MiB for one check (gate.Options.MaxMemory, starbase serve --check-memory)"
	if err == nil || !strings.Contains(errOut, want) {
		t.Errorf("push of modules allocating 160 MiB: err %v, stderr %q; want a refusal containing %q", err, tail(errOut), want)
	}
	if stop() == 0 {
		t.Error("/-/health never answered during the push")
	}
	alive(t, n)
	if body, _ := n.get(t, "/"); body != "ok" {
		t.Errorf("GET / = %q after the refused push, want the first release's ok", body)
	}
}
