package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The attacks of issue 11 on the interpreter, through real HTTP against the built binary:
// each must be refused with a clear error while the node keeps answering /-/health.

// healthWatch polls /-/health of n until stop is called, and fails the test if an
// answer is not 200 or takes longer than bound (generous: CI is a busy 2-core machine).
// stop returns how many answers came.
func healthWatch(t *testing.T, n *node, bound time.Duration) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	count := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: bound}
		for ctx.Err() == nil {
			start := time.Now()
			resp, err := client.Get(n.url + "/-/health")
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				t.Errorf("GET /-/health during the attack: %v (after %v)", err, time.Since(start))
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET /-/health during the attack = %d", resp.StatusCode)
			}
			count++
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() int {
		cancel()
		wg.Wait()
		return count
	}
}

// postBody sends body to path and returns the status and (the start of) the answer.
func postBody(t *testing.T, n *node, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(n.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// alive fails the test if n's process has exited (crashed).
func alive(t *testing.T, n *node) {
	t.Helper()
	if _, err := http.Get(n.url + "/-/health"); err != nil {
		n.cmd.Wait() // it exited: the log is complete
		t.Fatalf("the node is gone: %v\nlogs:\n%s", err, tail(n.logs.String()))
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// Issue 11, item 1: json.decode of 2 MB of "[" killed the process (stack overflow in the
// decoder), with or without a default. Now it is refused before decoding.
func TestAttack_DeepJSONBodyIsRefusedAndTheNodeSurvives(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": `
def decode(req):
    return str(type(json.decode(req.body)))

def decode_default(req):
    return str(json.decode(req.body, default = "refused"))

routes = {"POST /decode": decode, "POST /decode-default": decode_default}
`})
	n.cli(t, "push", src, "--wait")
	stop := healthWatch(t, n, 5*time.Second)
	deep := strings.Repeat("[", 2_000_000)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, body := postBody(t, n, "/decode", deep); status != 500 || !strings.Contains(body, "error id") {
				t.Errorf("POST /decode of 2M '[' = %d %q, want 500 with an error id", status, body)
			}
			if status, body := postBody(t, n, "/decode-default", deep); status != 200 || body != "refused" {
				t.Errorf("POST /decode-default of 2M '[' = %d %q, want 200 refused", status, body)
			}
		}()
	}
	wg.Wait()
	if stop() == 0 {
		t.Error("/-/health never answered during the attack")
	}
	alive(t, n)
	if status, body := postBody(t, n, "/decode", `{"a": [1, 2]}`); status != 200 || body != "dict" {
		t.Errorf("POST /decode of a small object = %d %q, want 200 dict", status, body)
	}
	n.stop(t) // the log is read once the process no longer writes it
	if !strings.Contains(n.logs.String(), "arrays and objects nest more than 1000 levels deep at byte 1000 (runtime.MaxJSONDepth)") {
		t.Errorf("the log does not say why json.decode was refused:\n%s", tail(n.logs.String()))
	}
}

// Issue 11, item 2: a module "x = a + a + ... + a" of 3 million terms killed the node in
// the gate's rewriter. Now a push of it, or of a smaller one nested too deep, is refused
// with the module's path and position.
func TestAttack_DeeplyNestedModuleIsRefusedAtItsPositionAndTheNodeSurvives(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": "def ok(req):\n    return \"ok\"\nroutes = {\"GET /\": ok}\n"})
	n.cli(t, "push", src, "--wait")
	stop := healthWatch(t, n, 5*time.Second)
	for _, tc := range []struct{ src, want string }{
		{"a = 1\nx = a" + strings.Repeat(" + a", 3_000_000) + "\n", "deep.star:1:1: the module is 11.4MiB, over the limit of 1MiB for one module (runtime.MaxModuleSourceBytes)"},
		{"a = 1\nx = a" + strings.Repeat(" + a", 200_000) + "\n", "deep.star:2:"},
		{"a = [1]\nx = a" + strings.Repeat("[0]", 100_000) + "\n", "nest more than 1000 levels deep here (runtime.MaxSyntaxDepth)"},
	} {
		writeTree(t, src, map[string]string{"deep.star": tc.src})
		_, errOut, err := n.try("push", src)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("push of a deep module: err %v, stderr %q; want a refusal containing %q", err, tail(errOut), tc.want)
		}
		alive(t, n)
	}
	if stop() == 0 {
		t.Error("/-/health never answered during the attack")
	}
	if body, _ := n.get(t, "/"); body != "ok" {
		t.Errorf("GET / = %q after the refused pushes, want the first release's ok", body)
	}
}
