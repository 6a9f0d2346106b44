package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestApp_NeverSeesAPlatformCredentialInAnyForm(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def handle(req):
    return json.encode(req.headers)
`})
	cookie, csrf := login(t, n, servertest.AdminToken)
	for _, tc := range []struct {
		name       string
		header     http.Header
		wantCookie string // "" for no Cookie header at all
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + servertest.AdminToken}}, ""},
		{"two authorization lines", http.Header{"Authorization": {"Bearer " + servertest.AdminToken, "Basic eDp5"}}, ""},
		{"lowercase name", http.Header{"authorization": {"bearer " + servertest.AdminToken}}, ""},
		{"proxy credential", http.Header{"Proxy-Authorization": {"Bearer " + servertest.AdminToken}}, ""},
		{"csrf token", http.Header{"X-Csrf-Token": {csrf}}, ""},
		{"session cookie alone", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, ""},
		{"session cookie among the app's", http.Header{"Cookie": {"a=1; " + cookie.Name + "=" + cookie.Value + `; b="two words"`}}, `a=1; b="two words"`},
		{"several cookie lines", http.Header{"Cookie": {"a=1", cookie.Name + "=" + cookie.Value + ";c=3", "__Host-starbase-session=" + cookie.Value}}, "a=1; c=3"},
		{"any case and spacing", http.Header{"Cookie": {" STARBASE-SESSION =" + cookie.Value + " ;  __secure-starbase-session=" + cookie.Value + "; x"}}, "x"},
		{"nameless cookie", http.Header{"Cookie": {cookie.Value + "; starbase-session"}}, cookie.Value},
		// Browsers send the editor origin's cookie to every port of its host.
		{"editor session cookie", http.Header{"Cookie": {"a=1; starbase-editor-session=" + cookie.Value + "; __Host-starbase-editor-session=" + cookie.Value}}, "a=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := n.do(t, secRequest{method: "GET", path: "/", header: tc.header})
			if resp.status != 200 {
				t.Fatalf("status %d %s", resp.status, resp.body)
			}
			var seen map[string]string
			decodeInto(t, resp.body, &seen)
			for _, h := range []string{"authorization", "proxy-authorization", "x-csrf-token"} {
				if v, ok := seen[h]; ok {
					t.Errorf("the app saw %s: %q", h, v)
				}
			}
			if got, ok := seen["cookie"]; got != tc.wantCookie || ok != (tc.wantCookie != "") {
				t.Errorf("the app saw cookie %q (present %v), want %q", got, ok, tc.wantCookie)
			}
		})
	}
	// Requests without a credential are passed through unchanged.
	resp := n.do(t, secRequest{method: "GET", path: "/", header: http.Header{"Cookie": {"a=1;b=2"}, "X-Other": {"x"}}})
	var seen map[string]string
	decodeInto(t, resp.body, &seen)
	if seen["cookie"] != "a=1;b=2" || seen["x-other"] != "x" {
		t.Errorf("the app saw %v, want its headers unchanged", seen)
	}
}

func TestPlatformAnswersCarryTheMarkerAndAppAnswersCannot(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def handle(req):
    return "app"
`})
	for _, path := range []string{"/-/health", "/-/status", "/-/metrics", "/-/api/log", "/-/api/nothing", "/-/nothing", "/-"} {
		if got := n.do(t, secRequest{method: "GET", path: path}).header.Get(api.MarkerHeader); got != api.MarkerValue {
			t.Errorf("GET %s: %s = %q, want %q", path, api.MarkerHeader, got, api.MarkerValue)
		}
	}
	for _, path := range []string{"/", "/x/-/api/log", "/starbase/-/api/tokens"} {
		if got := n.do(t, secRequest{method: "GET", path: path}).header.Values(api.MarkerHeader); len(got) != 0 {
			t.Errorf("GET %s (the app): %s = %q, want none", path, api.MarkerHeader, got)
		}
	}
}

func TestApp_CannotSendHeadersWithOriginWideEffects(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	n.Push(t, map[string]string{"app.star": `
def clear(req):
    return response("bye", headers = {"Clear-Site-Data": '"cookies", "storage"'})
def cookie(req):
    return response("hi", headers = [("Set-Cookie", "starbase-session=sbs_fixed; Path=/-/api")])
def marker(req):
    return response("[]", headers = {"Starbase-API": "1"})
def challenge(req):
    return response("who?", status = 401, headers = {"WWW-Authenticate": "Basic realm=x"})
def sw(req):
    return response("self.onfetch = None", content_type = "text/javascript")
def ok(req):
    return response("fine", headers = [("Set-Cookie", "theme=dark; Path=/")])
routes = {"GET /clear": clear, "GET /cookie": cookie, "GET /marker": marker, "GET /challenge": challenge,
          "GET /sw.js": sw, "GET /app/sw.js": sw, "GET /ok": ok}
`})
	for path, want := range map[string]string{
		"/clear":     "Clear-Site-Data",
		"/cookie":    "starbase-session",
		"/marker":    "Starbase-API",
		"/challenge": "WWW-Authenticate",
	} {
		resp := n.do(t, secRequest{method: "GET", path: path})
		if resp.status != 500 || resp.header.Get("Clear-Site-Data") != "" || len(resp.resp.Cookies()) != 0 ||
			resp.header.Get(api.MarkerHeader) != "" || resp.header.Get("WWW-Authenticate") != "" {
			t.Errorf("GET %s = %d %v, want 500 and none of the refused headers", path, resp.status, resp.header)
		}
		if !logHas(t, n, want) {
			t.Errorf("GET %s: the node's log does not say why (%s)", path, want)
		}
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/ok"}); resp.status != 200 || resp.header.Get("Set-Cookie") != "theme=dark; Path=/" {
		t.Errorf("an app cookie: %d %v", resp.status, resp.header)
	}
	// A service worker script at the root would control the platform's pages.
	sw := http.Header{"Service-Worker": {"script"}}
	for path, want := range map[string]int{"/sw.js": 403, "/a%2Fsw.js": 403, "/app/sw.js": 200} {
		resp := n.do(t, secRequest{method: "GET", path: path, header: sw})
		if resp.status != want || want == 403 && !strings.Contains(resp.body, "scope would cover the platform's pages") {
			t.Errorf("service worker script %s = %d %q, want %d", path, resp.status, resp.body, want)
		}
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/sw.js"}); resp.status != 200 {
		t.Errorf("/sw.js as a plain script = %d, want 200", resp.status)
	}
}

// logHas reports whether a record of n's log mentions s.
func logHas(t *testing.T, n *secNode, s string) bool {
	t.Helper()
	for _, rec := range n.Log.Records(t) {
		if strings.Contains(fmt.Sprint(rec), s) {
			return true
		}
	}
	return false
}

func TestLimitListener_CapsConnectionsPerSourceAndInTotal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go hs.Serve(server.LimitListener(ln, server.ConnLimits{Max: 3, PerSource: 2, Plain: true}))
	t.Cleanup(func() { hs.Close() })
	// ask sends a request on a new connection from ip and returns the answer's first line;
	// the connection stays open (keep-alive) until the test ends or close is called.
	type conn struct {
		net.Conn
		first string
	}
	ask := func(ip string) conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return conn{c, "error: " + err.Error()}
		}
		b, _ := io.ReadAll(resp.Body)
		return conn{c, resp.Status + " " + string(b)}
	}
	a1, a2 := ask("127.0.0.2"), ask("127.0.0.2")
	if a1.first != "200 OK ok" || a2.first != "200 OK ok" {
		t.Fatalf("the first two connections of a source: %q, %q", a1.first, a2.first)
	}
	if got := ask("127.0.0.2").first; !strings.Contains(got, "503") || !strings.Contains(got, "the limit per source") {
		t.Errorf("a third connection of the source: %q, want 503 naming the per-source limit", got)
	}
	if got := ask("127.0.0.3").first; got != "200 OK ok" {
		t.Errorf("another source's first connection: %q", got)
	}
	if got := ask("127.0.0.4").first; !strings.Contains(got, "503") || !strings.Contains(got, "its limit (--max-conns)") {
		t.Errorf("a fourth connection in total: %q, want 503 naming the total limit", got)
	}
	a1.Close()
	waitUntil(t, "a closed connection frees its place", func() bool { return ask("127.0.0.4").first == "200 OK ok" })
}

// waitUntil polls cond until it holds, or fails the test after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The attack of issue 11 wrote one audit record per refusal (600 addresses x 10 refusals,
// 6,000 records). Now a source's first refusal in an interval has a record of its own and
// the others one record per source, counted, at the interval's end; the node keeps
// answering meanwhile.
func TestAudit_RefusalsAreRecordedAsACountPerSourcePerInterval(t *testing.T) {
	n := startSecNode(t, server.Config{AuthBurst: 1000, RefusalInterval: 2 * time.Second}, false)
	const sources, each = 30, 10
	before := len(n.audit(t))
	wrong := bearer("sb_" + randomHex(32))
	start := time.Now()
	var wg sync.WaitGroup
	for i := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := clientFrom(fmt.Sprintf("127.0.1.%d", i+1))
			for range each {
				req, _ := http.NewRequest("GET", n.URL+"/-/api/log", nil)
				req.Header = wrong.Clone()
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 401 {
					t.Errorf("refusal = %d, want 401", resp.StatusCode)
				}
			}
		}()
	}
	healthy := 0
	for {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		if resp := n.do(t, secRequest{method: "GET", path: "/-/health"}); resp.status == 200 {
			healthy++
		}
		select {
		case <-done:
		default:
			continue
		}
		break
	}
	attack := time.Since(start)
	if healthy == 0 {
		t.Error("/-/health did not answer during the attack")
	}
	// Wait for the counted refusals to be written, then check what was.
	var recs []auth.AuditRecord
	waitUntil(t, "the counted refusals are written", func() bool {
		all := n.audit(t) // newest first; read once, as records are still being written
		recs = all[:len(all)-before]
		total := 0
		for _, r := range recs {
			total += max(r.Count, 1)
		}
		return total == sources*each
	})
	// Each source has its first refusal and at most one count per interval its refusals
	// span: two intervals when the attack is quick, more on a loaded machine.
	intervals := int(attack/(2*time.Second)) + 2
	if want := sources * (1 + intervals); len(recs) > want {
		t.Errorf("%d refusals from %d sources over %v wrote %d records, want at most %d (the first of each source, and a count per source per interval)",
			sources*each, sources, attack.Round(time.Millisecond), len(recs), want)
	}
	firsts, counted := map[string]int{}, 0
	for _, r := range recs {
		if r.Action != auth.ActionRefused || r.Status != 401 || r.Path != "/-/api/log" {
			t.Errorf("record %+v, want a 401 refusal of /-/api/log", r)
		}
		if r.Count > 1 {
			counted++
			if !strings.HasPrefix(r.Source, "127.0.1.") || !strings.Contains(r.Detail, "recorded together") || r.Until.Before(r.Time) {
				t.Errorf("counted record %+v, want its source, interval and detail", r)
			}
		} else {
			firsts[strings.Split(r.Source, ":")[0]]++
		}
	}
	if len(firsts) != sources || counted == 0 {
		t.Errorf("%d sources got a first record of their own and %d counted records were written, want %d and some", len(firsts), counted, sources)
	}
}
