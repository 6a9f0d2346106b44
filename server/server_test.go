package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestServer_NoAppAnswers503WithHowToPush(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	status, _, body := n.Get(t, "/")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "starbase push") {
		t.Fatalf("GET / with no app = %d %q, want 503 saying how to push", status, body)
	}
	if status, _, _ := n.Get(t, "/-/health"); status != http.StatusOK {
		t.Fatalf("/-/health = %d, want 200", status)
	}
}

func TestServer_RoutesRequestsAndResults(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	res := n.Push(t, map[string]string{
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
	n.WaitCommit(t, res.Commit)

	status, hdr, body := n.Get(t, "/items/42?q=x")
	if status != 200 || hdr.Get("Content-Type") != "application/json" ||
		body != `{"id":"42","q":"x","method":"GET","path":"/items/42"}` {
		t.Errorf("GET /items/42 = %d %s %q", status, hdr.Get("Content-Type"), body)
	}
	if got := hdr.Get("Starbase-Commit"); got != res.Commit {
		t.Errorf("Starbase-Commit = %q, want %q", got, res.Commit)
	}
	status, hdr, body = n.Get(t, "/page")
	if status != 200 || body != "HI" || hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET /page = %d %q %q", status, hdr.Get("Content-Type"), body)
	}
	if status, _, body = n.Get(t, "/empty"); status != http.StatusNoContent || body != "" {
		t.Errorf("GET /empty = %d %q, want 204", status, body)
	}
	if status, _, body = n.Get(t, "/elsewhere"); status != 200 || body != "fallback /elsewhere" {
		t.Errorf("GET /elsewhere = %d %q, want the handle() fallback", status, body)
	}

	req, _ := http.NewRequest("POST", n.URL+"/echo", strings.NewReader("payload"))
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

// boomApp is an app whose GET /boom fails at app.star:3.
var boomApp = map[string]string{"app.star": `
def boom(req):
    return 1 // 0
routes = {"GET /boom": boom}
`}

func TestServer_NoRouteIs404AndErrorsAre500(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	res := n.Push(t, boomApp)
	n.WaitCommit(t, res.Commit)
	if status, hdr, _ := n.Get(t, "/nothing"); status != 404 || hdr.Get("Starbase-Commit") != res.Commit {
		t.Errorf("GET /nothing = %d (commit %q), want 404 with the commit header", status, hdr.Get("Starbase-Commit"))
	}
	status, _, body := n.Get(t, "/boom")
	if status != 500 || !strings.Contains(body, "error id") || strings.Contains(body, "division") {
		t.Errorf("GET /boom without --dev = %d %q, want 500 with only an error id", status, body)
	}
}

func TestServer_DevModeShowsTraceback(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	res := n.Push(t, boomApp)
	n.WaitCommit(t, res.Commit)
	status, _, body := n.Get(t, "/boom")
	if status != 500 || !strings.Contains(body, "app.star:3") || !strings.Contains(body, "division by zero") {
		t.Errorf("GET /boom with --dev = %d %q, want 500 with a traceback to app.star:3", status, body)
	}
}

// TestServer_NoMixedVersions alternates two versions of a two-module app 100 times while
// clients keep requesting it: every answer must come from exactly the commit it names.
func TestServer_NoMixedVersions(t *testing.T) {
	n := servertest.Start(t, server.Config{})
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
	first := n.Push(t, version("0"))
	commits[first.Commit] = "0"
	n.WaitCommit(t, first.Commit)

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
				resp, err := http.Get(n.URL + "/")
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
		res := n.Push(t, version(v))
		commits[res.Commit] = v
		n.WaitCommit(t, res.Commit)
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
	n := servertest.Start(t, server.Config{})
	good := n.Push(t, map[string]string{"app.star": "def index(req):\n    return 'v1'\nroutes = {'GET /': index}\n"})
	n.WaitCommit(t, good.Commit)

	cases := []struct {
		name   string
		files  map[string]string
		token  string
		status int
		want   string
	}{
		{"syntax error", map[string]string{"app.star": "def index(req)\n    return 'v2'\n"}, servertest.AdminToken, 422, "app.star:2:1: got newline, want ':'"},
		{"dot-dot path", map[string]string{"app.star": "routes = {}\n", "../evil.star": "x = 1\n"}, servertest.AdminToken, 422, `../evil.star: invalid path: it has a ".." element`},
		{"no token", map[string]string{"app.star": "routes = {}\n"}, "", 401, "unauthenticated"},
		{"wrong token", map[string]string{"app.star": "routes = {}\n"}, "nope", 401, "unauthenticated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(n.URL, client.Options{Token: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Push(context.Background(), api.PushRequest{Files: servertest.Files(tc.files), Force: true})
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != tc.status || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("push = %v, want HTTP %d mentioning %q", err, tc.status, tc.want)
			}
			if got := n.Server.Status().Commit; got != good.Commit {
				t.Fatalf("node serves %s after a refused push, want %s", got, good.Commit)
			}
			if _, _, body := n.Get(t, "/"); body != "v1" {
				t.Fatalf("GET / = %q after a refused push, want v1", body)
			}
		})
	}
}
