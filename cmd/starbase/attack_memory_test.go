package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// peakRSS returns the largest resident set of process pid so far (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the node's memory: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

const hoardApp = `
Blob = model("Blob", fields = {"data": ""})

S = "x" * (8 << 20)

def fill(req):
    for i in range(8):
        db.put(Blob(data = S[:2 << 20] + str(i)))
    return "filled"

def hoard(make):
    def handler(req):
        keep = []
        for i in range(64):  # 0.25-1 GiB each if nothing stopped it
            keep.append(make(i))
        return str(len(keep))
    return handler

def upper(i):
    return S.upper()

L = list(range(1 << 19))

def slice_list(i):
    return L[:]

def reverse(i):
    return S[::-1]

D = {i: i for i in range(1 << 16)}

def items(i):
    return D.items()

def listing(i):
    return db.list(Blob)

routes = {
    "POST /fill": fill,
    "GET /upper": hoard(upper),
    "GET /slice": hoard(slice_list),
    "GET /reverse": hoard(reverse),
    "GET /items": hoard(items),
    "GET /list": hoard(listing),
    "GET /": lambda req: "ok",
}
`

// Memory allocated by builtins, methods and the data API is charged to the request that
// made it, so the heap guard stops the hoarders, whatever they hoard, and the node stays
// within a small multiple of --max-heap. Before, four requests holding uppercased copies
// of a string reached 2 GB live with --max-heap 256MiB, the guard blind to them.
func TestAttack_MemoryHoardersOfEveryKindAreStoppedWithinTheHeapBudget(t *testing.T) {
	const maxHeap = 256 << 20
	n := startServe(t, t.TempDir(), "--max-heap", "256MiB", "--timeout", "60s", "--max-steps", "1000000000")
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": hoardApp})
	n.cli(t, "push", src, "--wait")
	if status, body := postBody(t, n, "/fill", ""); status != 200 || body != "filled" {
		t.Fatalf("POST /fill = %d %q", status, body)
	}
	stop := healthWatch(t, n, 10*time.Second)
	var wg sync.WaitGroup
	for _, path := range []string{"/upper", "/slice", "/reverse", "/items", "/list"} {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, body := getStatus(t, n, path); status != 500 || !strings.Contains(body, "error id") {
					t.Errorf("GET %s = %d %q, want 500 with an error id (stopped by the heap guard)", path, status, body)
				}
			}()
		}
	}
	wg.Wait()
	if stop() == 0 {
		t.Error("/-/health never answered during the attack")
	}
	alive(t, n)
	peak := peakRSS(t, n.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB with --max-heap 256MiB", peak>>20)
	if peak > 4*maxHeap {
		t.Errorf("the node's peak resident memory was %d MiB, over 4 times --max-heap (256 MiB)", peak>>20)
	}
	if body, _ := n.get(t, "/"); body != "ok" {
		t.Errorf("GET / = %q after the attack, want ok", body)
	}
	n.stop(t)
	stopped := 0
	var others []string // app errors that are not the heap guard's, named on failure
	for line := range strings.Lines(n.logText()) {
		if !strings.Contains(line, `"msg":"app error"`) {
			continue
		}
		if strings.Contains(line, "memory limit exceeded: the live heap of the process is") {
			stopped++
		} else {
			var rec struct{ Path, Error string }
			json.Unmarshal([]byte(line), &rec)
			others = append(others, rec.Path+": "+rec.Error)
		}
	}
	if stopped != 10 {
		t.Errorf("%d requests were stopped by the heap guard, want the 10 hoarders; other app errors:\n%s", stopped, strings.Join(others, "\n"))
	}
}
