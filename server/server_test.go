package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/store/bolt"
)

const adminToken = "test-admin-token"

// testNode is one in-process node on a real bolt file, served over loopback HTTP.
type testNode struct {
	srv    *server.Server
	url    string
	client *client.Client
}

func startNode(t *testing.T, cfg server.Config) *testNode {
	t.Helper()
	if cfg.Store == nil {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := srv.Tokens().Bootstrap(ctx, adminToken); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	c, err := client.New(hs.URL, client.Options{Token: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{srv: srv, url: hs.URL, client: c}
}

// push pushes files as the admin, based on whatever main is.
func (n *testNode) push(t *testing.T, files map[string]string) api.CommitResult {
	t.Helper()
	res, err := n.client.Push(context.Background(), api.PushRequest{Files: toBytes(files), Force: true})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return res
}

// waitCommit waits until the node serves commit.
func (n *testNode) waitCommit(t *testing.T, commit string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.srv.Status().Commit != commit {
		if time.Now().After(deadline) {
			t.Fatalf("node still serves %q, want %q", n.srv.Status().Commit, commit)
		}
		time.Sleep(time.Millisecond)
	}
}

func (n *testNode) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(n.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func toBytes(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		out[k] = []byte(v)
	}
	return out
}

func TestServer_NoAppAnswers503WithHowToPush(t *testing.T) {
	n := startNode(t, server.Config{})
	status, _, body := n.get(t, "/")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "starbase push") {
		t.Fatalf("GET / with no app = %d %q, want 503 saying how to push", status, body)
	}
	if status, _, _ := n.get(t, "/-/health"); status != http.StatusOK {
		t.Fatalf("/-/health = %d, want 200", status)
	}
}

func TestServer_RoutesRequestsAndResults(t *testing.T) {
	n := startNode(t, server.Config{})
	res := n.push(t, map[string]string{
		"app.star": `
load("lib/util.star", "shout")
def item(req):
    return {"id": req.params["id"], "q": req.query.get("q"), "method": req.method, "path": req.path}
def echo(req):
    return response(req.body, status = 201, headers = {"X-Echo": req.headers.get("x-in", "")}, content_type = "text/plain")
def page(req):
    return shout("hi")
def empty(req):
    return None
def handle(req):
    return "fallback " + req.path
routes = {
    "GET /items/{id}": item,
    "POST /echo": echo,
    "GET /page": page,
    "GET /empty": empty,
}
`,
		"lib/util.star": `def shout(s):
    return s.upper()
`,
	})
	n.waitCommit(t, res.Commit)

	status, hdr, body := n.get(t, "/items/42?q=x")
	if status != 200 || hdr.Get("Content-Type") != "application/json" ||
		body != `{"id":"42","q":"x","method":"GET","path":"/items/42"}` {
		t.Errorf("GET /items/42 = %d %s %q", status, hdr.Get("Content-Type"), body)
	}
	if got := hdr.Get("Starbase-Commit"); got != res.Commit {
		t.Errorf("Starbase-Commit = %q, want %q", got, res.Commit)
	}
	status, hdr, body = n.get(t, "/page")
	if status != 200 || body != "HI" || hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET /page = %d %q %q", status, hdr.Get("Content-Type"), body)
	}
	if status, _, body = n.get(t, "/empty"); status != http.StatusNoContent || body != "" {
		t.Errorf("GET /empty = %d %q, want 204", status, body)
	}
	if status, _, body = n.get(t, "/elsewhere"); status != 200 || body != "fallback /elsewhere" {
		t.Errorf("GET /elsewhere = %d %q, want the handle() fallback", status, body)
	}

	req, _ := http.NewRequest("POST", n.url+"/echo", strings.NewReader("payload"))
	req.Header.Set("X-In", "v")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || string(b) != "payload" || resp.Header.Get("X-Echo") != "v" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("POST /echo = %d %q X-Echo=%q CT=%q", resp.StatusCode, b, resp.Header.Get("X-Echo"), resp.Header.Get("Content-Type"))
	}
}

func TestServer_NoRouteIs404AndErrorsAre500(t *testing.T) {
	n := startNode(t, server.Config{})
	res := n.push(t, map[string]string{"app.star": `
def boom(req):
    return 1 // 0
routes = {"GET /boom": boom}
`})
	n.waitCommit(t, res.Commit)
	if status, hdr, _ := n.get(t, "/nothing"); status != 404 || hdr.Get("Starbase-Commit") != res.Commit {
		t.Errorf("GET /nothing = %d (commit %q), want 404 with the commit header", status, hdr.Get("Starbase-Commit"))
	}
	status, _, body := n.get(t, "/boom")
	if status != 500 || !strings.Contains(body, "error id") || strings.Contains(body, "division") {
		t.Errorf("GET /boom without --dev = %d %q, want 500 with only an error id", status, body)
	}
}

func TestServer_DevModeShowsTraceback(t *testing.T) {
	n := startNode(t, server.Config{Dev: true})
	res := n.push(t, map[string]string{"app.star": `
def boom(req):
    return 1 // 0
routes = {"GET /boom": boom}
`})
	n.waitCommit(t, res.Commit)
	status, _, body := n.get(t, "/boom")
	if status != 500 || !strings.Contains(body, "app.star:3") || !strings.Contains(body, "division by zero") {
		t.Errorf("GET /boom with --dev = %d %q, want 500 with a traceback to app.star:3", status, body)
	}
}

// TestServer_NoMixedVersions alternates two versions of a two-module app 100 times while
// clients keep requesting it: every answer must come from exactly the commit it names.
func TestServer_NoMixedVersions(t *testing.T) {
	n := startNode(t, server.Config{})
	version := func(v string) map[string]string {
		return map[string]string{
			"app.star": fmt.Sprintf(`load("lib/part.star", "PART")
APP = "app-%s"
def index(req):
    return APP + " " + PART
routes = {"GET /": index}
`, v),
			"lib/part.star": fmt.Sprintf("PART = \"part-%s\"\n", v),
		}
	}
	commits := map[string]string{} // commit -> version
	first := n.push(t, version("0"))
	commits[first.Commit] = "0"
	n.waitCommit(t, first.Commit)

	type answer struct {
		status int
		commit string
		body   string
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	answers := make([][]answer, 4)
	for c := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := http.Get(n.url + "/")
				if err != nil {
					answers[c] = append(answers[c], answer{body: err.Error()})
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				answers[c] = append(answers[c], answer{resp.StatusCode, resp.Header.Get("Starbase-Commit"), string(b)})
			}
		}()
	}
	for i := 1; i <= 100; i++ {
		v := fmt.Sprint(i % 2)
		res := n.push(t, version(v))
		commits[res.Commit] = v
		n.waitCommit(t, res.Commit)
	}
	cancel()
	wg.Wait()

	total := 0
	for _, as := range answers {
		for _, a := range as {
			total++
			v, known := commits[a.commit]
			want := fmt.Sprintf("app-%s part-%s", v, v)
			if a.status != 200 || !known || a.body != want {
				t.Fatalf("GET / = %d %q from commit %q (known %v), want 200 %q", a.status, a.body, a.commit, known, want)
			}
		}
	}
	if total < 100 {
		t.Errorf("clients made only %d requests during 100 pushes; the test proves little", total)
	}
}

func TestServer_BadPushesChangeNothing(t *testing.T) {
	n := startNode(t, server.Config{})
	good := n.push(t, map[string]string{"app.star": "def index(req):\n    return 'v1'\nroutes = {'GET /': index}\n"})
	n.waitCommit(t, good.Commit)

	cases := []struct {
		name   string
		files  map[string]string
		token  string
		status int
		want   string
	}{
		{"syntax error", map[string]string{"app.star": "def index(req)\n    return 'v2'\n"}, adminToken, 422, "app.star:2:1: got newline, want ':'"},
		{"dot-dot path", map[string]string{"app.star": "routes = {}\n", "../evil.star": "x = 1\n"}, adminToken, 422, `../evil.star: invalid path: it has a ".." element`},
		{"no token", map[string]string{"app.star": "routes = {}\n"}, "", 401, "unauthenticated"},
		{"wrong token", map[string]string{"app.star": "routes = {}\n"}, "nope", 401, "unauthenticated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(n.url, client.Options{Token: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Push(context.Background(), api.PushRequest{Files: toBytes(tc.files), Force: true})
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != tc.status || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("push = %v, want HTTP %d mentioning %q", err, tc.status, tc.want)
			}
			if got := n.srv.Status().Commit; got != good.Commit {
				t.Fatalf("node serves %s after a refused push, want %s", got, good.Commit)
			}
			if _, _, body := n.get(t, "/"); body != "v1" {
				t.Fatalf("GET / = %q after a refused push, want v1", body)
			}
		})
	}
}
