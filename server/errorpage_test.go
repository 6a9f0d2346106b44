package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// getAccepting GETs path of n with an Accept header (none when accept is empty).
func getAccepting(t *testing.T, n *servertest.Node, path, accept string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return n.Do(t, req)
}

// twoLoadsDeep is an app whose handler fails in a module it loads through another.
var twoLoadsDeep = map[string]string{
	"app.star": `load("lib/report.star", "report")

def index(req):
    return report([])

routes = {"GET /": index}
`,
	"lib/report.star": `load("lib/stats.star", "mean")

def report(items):
    return "mean: %s" % mean(items)
`,
	"lib/stats.star": `def mean(items):
    return sum(items) / len(items)

def sum(items):
    return 0
`,
}

// wantTraceback is the traceback of GET / on twoLoadsDeep at commit.
func wantTraceback(commit string) string {
	short := code.ID(commit).Short()
	return fmt.Sprintf(`Traceback (most recent call last):
  app.star:4:18 in index (commit %[1]s)
    return report([])
                 ^
  lib/report.star:4:29 in report (commit %[1]s)
    return "mean: %%s" %% mean(items)
                            ^
  lib/stats.star:2:23 in mean (commit %[1]s)
    return sum(items) / len(items)
                      ^
Error: floating-point division by zero`, short)
}

func TestServer_DevModeShowsTheTracebackAsText(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	commit := n.Deploy(t, twoLoadsDeep)
	resp, body := getAccepting(t, n, "/", "*/*")
	want := fmt.Sprintf("Internal error in stored code (commit %s, error id ", code.ID(commit).Short())
	if resp.StatusCode != 500 || !strings.HasPrefix(body, want) || !strings.HasSuffix(body, "\n\n"+wantTraceback(commit)+"\n") {
		t.Errorf("GET / = %d\n%s\nwant 500 starting %q and ending with\n%s", resp.StatusCode, body, want, wantTraceback(commit))
	}
}

func TestServer_DevModeErrorPageLinksEveryFrameToTheEditor(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	files := map[string]string{}
	for k, v := range twoLoadsDeep {
		files[k] = v
	}
	files["lib/stats.star"] = "def mean(items):\n    fail(\"<script>alert('x')</script> & \" + str(len(items)))\n"
	commit := n.Deploy(t, files)
	resp, body := getAccepting(t, n, "/", "text/html,application/xhtml+xml,*/*;q=0.8")
	if resp.StatusCode != 500 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q, want a 500 HTML page", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<a href="/-/ui/#/edit/app.star?line=4&amp;commit=` + commit + `">app.star:4:18</a>`,
		`<a href="/-/ui/#/edit/lib/report.star?line=4&amp;commit=` + commit + `">lib/report.star:4:29</a>`,
		`<a href="/-/ui/#/edit/lib/stats.star?line=2&amp;commit=` + commit + `">lib/stats.star:2:9</a>`,
		`fail(&#34;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34; &#43; str(len(items)))`,
		`<h1>fail: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; 0</h1>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %s\npage:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Errorf("error page contains stored text unescaped:\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy = %q, want no script at all", csp)
	}
}

func TestServer_DevModeGivesJSONClientsTheFrames(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	commit := n.Deploy(t, twoLoadsDeep)
	resp, body := getAccepting(t, n, "/", "application/json")
	var got struct {
		Error   string `json:"error"`
		ErrorID string `json:"error_id"`
		Frames  []struct {
			Path, Commit, Function, Source string
			Line, Col                      int
		} `json:"frames"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 500 {
		t.Fatalf("GET / = %d %q (%v), want 500 with JSON", resp.StatusCode, body, err)
	}
	if got.Error != "floating-point division by zero" || got.ErrorID == "" || len(got.Frames) != 3 {
		t.Fatalf("answer = %+v, want the error, an error id and 3 frames", got)
	}
	want := []string{
		"app.star 4:18 index `    return report([])`",
		"lib/report.star 4:29 report `    return \"mean: %s\" % mean(items)`",
		"lib/stats.star 2:23 mean `    return sum(items) / len(items)`",
	}
	for i, fr := range got.Frames {
		if s := fmt.Sprintf("%s %d:%d %s `%s`", fr.Path, fr.Line, fr.Col, fr.Function, fr.Source); s != want[i] || fr.Commit != commit {
			t.Errorf("frame %d = %s (commit %s), want %s (commit %s)", i, s, fr.Commit, want[i], commit)
		}
	}
}

func TestServer_WithoutDevTheClientGetsAnErrorIDAndTheLogTheTraceback(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	commit := n.Deploy(t, twoLoadsDeep)
	resp, body := getAccepting(t, n, "/", "text/html")
	errID, ok := strings.CutPrefix(body, "Internal error (error id ")
	errID, ok2 := strings.CutSuffix(errID, ")\n")
	if !ok || !ok2 || resp.StatusCode != 500 {
		t.Fatalf("GET / = %d %q, want 500 with only an error id", resp.StatusCode, body)
	}
	if strings.Contains(body, "division") || strings.Contains(body, "stats.star") {
		t.Errorf("body %q reveals the error", body)
	}
	if _, jsonBody := getAccepting(t, n, "/", "application/json"); strings.Contains(jsonBody, "frames") || !strings.Contains(jsonBody, `"error_id"`) {
		t.Errorf("JSON answer without --dev = %s, want only an error id", jsonBody)
	}

	var rec map[string]any
	for _, r := range n.Log.Messages(t, "app error") {
		if r["error_id"] == errID {
			rec = r
		}
	}
	if rec == nil {
		t.Fatalf("no log record with error_id %s", errID)
	}
	if rec["level"] != "ERROR" || rec["traceback"] != wantTraceback(commit) || rec["error"] != "floating-point division by zero" ||
		rec["commit"] != commit || rec["request_id"] == "" || rec["request_id"] == nil {
		t.Errorf("log record = %v, want level ERROR, the traceback, the error, the commit and a request id", rec)
	}
}

func TestServer_TopLevelErrorIsServedWithItsLoadFrames(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	// The gate refuses such a tree; a commit made on the store directly (as serve --demo
	// does) is not gated, and the node must still explain it: it has no working release, so
	// it answers 503 saying why, and in dev mode with the traceback of the failed build.
	res, err := n.Server.Repo().Push(context.Background(), code.PushRequest{
		Ref: code.DefaultBranch, Author: "test", Message: "ungated",
		Files: servertest.Files(map[string]string{
			"app.star":        "load(\"lib/config.star\", \"PORT\")\nroutes = {}\n",
			"lib/config.star": "load(\"lib/env.star\", \"ENV\")\nPORT = ENV[\"port\"]\n",
			"lib/env.star":    "ENV = {\"host\": \"x\"}\nCHECK = ENV[\"port\"] + 1\n",
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	commit := string(res.Commit)
	n.WaitRefused(t, commit)
	resp, body := getAccepting(t, n, "/", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, "This node has no working release: commit "+code.ID(commit).Short()+" does not build here") {
		t.Errorf("GET / = %d %q, want 503 saying the node has no working release", resp.StatusCode, body)
	}
	want := fmt.Sprintf(`Traceback (most recent call last):
  app.star:1:6 in <toplevel> (commit %[1]s)
    load("lib/config.star", "PORT")
         ^
  lib/config.star:1:6 in <toplevel> (commit %[1]s)
    load("lib/env.star", "ENV")
         ^
  lib/env.star:2:12 in <toplevel> (commit %[1]s)
    CHECK = ENV["port"] + 1
               ^
Error: key "port" not in dict
`, code.ID(commit).Short())
	if !strings.HasSuffix(body, want) {
		t.Errorf("GET / =\n%s\nwant it to end with\n%s", body, want)
	}
}

func TestServer_PrintIsLoggedWithTheRequestIDAndBounded(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, map[string]string{
		"app.star":        "load(\"lib/chatty.star\", \"chat\")\n\ndef index(req):\n    chat(150)\n    return req.id\n\nroutes = {\"GET /\": index}\n",
		"lib/chatty.star": "def chat(n):\n    for i in range(n):\n        print(\"line\", i)\n",
	})
	resp, reqID := getAccepting(t, n, "/", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d %q", resp.StatusCode, reqID)
	}
	var prints []map[string]any
	for i := range 150 {
		for _, r := range n.Log.Messages(t, fmt.Sprintf("line %d", i)) {
			if r["request_id"] == reqID {
				prints = append(prints, r)
			}
		}
	}
	if len(prints) != 100 {
		t.Fatalf("logged %d prints of request %s, want the first 100", len(prints), reqID)
	}
	if p := prints[0]; p["msg"] != "line 0" || p["module"] != "lib/chatty.star" || p["pos"] != "lib/chatty.star:3:14" || p["source"] != "print" {
		t.Errorf("first print record = %v, want line 0 from lib/chatty.star:3:14", p)
	}
	var dropped []map[string]any
	for _, r := range n.Log.Messages(t, "print output over the per-request limit was dropped") {
		if r["request_id"] == reqID {
			dropped = append(dropped, r)
		}
	}
	if len(dropped) != 1 || dropped[0]["dropped_lines"] != float64(50) {
		t.Errorf("drop records = %v, want one counting 50 lines", dropped)
	}
}
