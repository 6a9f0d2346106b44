package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
)

// headerApp prints every request's headers to the node's log and answers what a token
// listing would: an empty JSON list. It stands for stored code that wants a credential.
const headerApp = `def handle(req):
    print("APP SAW", sorted(req.headers.items()))
    return response("[]", content_type = "application/json")
`

// The attack of issue 11: a server URL with a path made the CLI send its admin token to
// whatever answered under that path (the app), and take the app's "[]" for an empty token
// list. Now the CLI refuses such a URL, an answer without the API's marker is never a
// success, and no credential of the platform reaches stored code whatever way it is sent.
func TestE2E_NoPlatformCredentialReachesStoredCode(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": headerApp})
	n.cli(t, "push", src, "--wait")

	// 1. A server URL with a path is refused before anything is sent.
	for _, server := range []string{n.url + "/starbase", n.url + "/starbase/", n.url + "/?x=1", strings.Replace(n.url, "http://", "http://admin:pw@", 1)} {
		out, stderr, err := n.try("token", "list", "--server", server)
		if err == nil || !strings.Contains(stderr, "invalid server URL") || out != "" {
			t.Errorf("token list --server %s: err=%v stdout=%q stderr=%q, want a refusal of the URL and no output", server, err, out, stderr)
		}
	}

	// 2. A proxy that maps the API to the app (a misconfiguration, or a hostile proxy):
	// the CLI refuses the app's answer, which lacks the marker.
	target, _ := url.Parse(n.url)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.URL.Path = "/starbase" + pr.In.URL.Path
		pr.Out.Host = target.Host
	}})
	t.Cleanup(proxy.Close)
	out, stderr, err := n.try("token", "list", "--server", proxy.URL)
	if err == nil || !strings.Contains(stderr, "without the Starbase-API header") || out != "" {
		t.Errorf("token list through a proxy to the app: err=%v stdout=%q stderr=%q, want a refusal naming the missing marker", err, out, stderr)
	}
	// A redirect is not followed (it would carry the request elsewhere).
	redirect := httptest.NewServer(http.RedirectHandler(n.url+"/elsewhere", http.StatusFound))
	t.Cleanup(redirect.Close)
	if _, stderr, err := n.try("token", "list", "--server", redirect.URL); err == nil || !strings.Contains(stderr, "redirecting to") {
		t.Errorf("token list against a redirect: err=%v stderr=%q, want a refusal naming the redirect", err, stderr)
	}

	// 3. Every way of sending the platform's credentials to an app path: none reaches the
	// app, and the app's own cookies do, as they came.
	req, _ := http.NewRequest("GET", n.url+"/starbase/-/api/tokens", nil)
	req.Header["Authorization"] = []string{"Bearer " + e2eToken, "Bearer second-" + e2eToken}
	req.Header["authorization"] = []string{"Bearer lower-" + e2eToken} // sent as another header line
	req.Header["Proxy-Authorization"] = []string{"Basic proxy-" + e2eToken}
	req.Header["X-Csrf-Token"] = []string{"csrf-" + e2eToken}
	req.Header["Cookie"] = []string{
		`app=1; starbase-session=sbs_cookie1` + e2eToken + `; theme="dark"`,
		`__Host-starbase-session=cookie2` + e2eToken + `;STARBASE-SESSION=cookie3` + e2eToken,
		` __secure-Starbase-x=cookie4` + e2eToken + ` ; last=2`,
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "[]" || resp.Header.Get(api.MarkerHeader) != "" {
		t.Fatalf("app answer = %d %q marker %q, want the app's 200 [] without the API marker", resp.StatusCode, body, resp.Header.Get(api.MarkerHeader))
	}
	logs := n.waitLog(t, "last=2") // the line of this request (the proxy's has no cookie)
	if strings.Contains(logs, e2eToken) {
		t.Errorf("a platform credential reached the app; its log:\n%s", logs)
	}
	if !strings.Contains(logs, `app=1; theme=\\\"dark\\\"; last=2`) {
		t.Errorf("the app did not get its own cookies as they came; its log:\n%s", logs)
	}
}

// waitLog waits until the node's log contains marker and returns the log.
func (n *node) waitLog(t *testing.T, marker string) string {
	t.Helper()
	var logs string
	waitFor(t, "the node logs "+marker, func() bool {
		logs = n.logText()
		return strings.Contains(logs, marker)
	})
	return logs
}

// waitFor polls cond until it holds, or fails the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Trees that no file system of a developer could hold, or that would be dangerous on
// Windows or macOS, are refused by the node, whatever client sends them, and nothing is
// written; pull of a valid tree still works.
func TestE2E_NodeRefusesUnportableTrees(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": "def handle(req):\n    return 'ok'\n"})
	good := lastLine(n.cli(t, "push", src, "--wait"))
	for name, files := range map[string]map[string]string{
		"file and directory": {"a": "1", "a/b": "2"},
		"case collision":     {"README.md": "1", "readme.md": "2"},
		"8.3 short name":     {"GIT~1/hooks/post-checkout": "x"},
		"HFS+ ignorable":     {"\u200c.git/hooks/post-checkout": "x"},
		"device name":        {"con.txt": "x"},
		"drive letter":       {"C:/x": "x"},
		"bidi override":      {"a\u202etxt.exe": "x"},
		"long element":       {strings.Repeat("x", 300): "x"},
	} {
		push := api.PushRequest{Force: true, Files: map[string][]byte{"app.star": []byte("def handle(req):\n    return 'pwned'\n")}}
		for p, c := range files {
			push.Files[p] = []byte(c)
		}
		body, _ := json.Marshal(push)
		req, _ := http.NewRequest("POST", n.url+"/-/api/push", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(answer), "invalid path") {
			t.Errorf("push of %s = %d %s, want a refusal naming the invalid path", name, resp.StatusCode, answer)
		}
	}
	if log := n.cli(t, "log"); !strings.HasPrefix(log, good) || strings.Count(log, "\n") != 1 {
		t.Errorf("log after the refused pushes = %q, want only %s", log, good)
	}
	dst := filepath.Join(t.TempDir(), "app")
	if got := lastLine(n.cli(t, "pull", dst)); got != good {
		t.Errorf("pull printed %s, want %s", got, good)
	}
}

func TestTermWriter_EscapesWhatATerminalWouldInterpret(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\n\twith tab":    "plain text\n\twith tab",
		"red \x1b[31mtext\x1b[0m":   `red \x1b[31mtext\x1b[0m`,
		"shown\rhidden":             `shown\x0dhidden`,
		"bell\a back\b del\x7f":     `bell\x07 back\x08 del\x7f`,
		"csi \u009b2K":              `csi \u009b2K`,
		"abc\u202egnp.exe":          `abc\u202egnp.exe`,
		"zero\u200bwidth \u2066iso": `zero\u200bwidth \u2066iso`,
		"bad \xff byte":             `bad \xff byte`,
		"日本語 é ✓":                   "日本語 é ✓",
		`literal \x1b stays`:        `literal \x1b stays`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
	// A rune split across writes is kept whole; a truncated one is escaped at Flush.
	var b bytes.Buffer
	w := newTermWriter(&b)
	s := "x é\x1b"
	for i := range len(s) {
		w.Write([]byte{s[i]})
	}
	w.Write([]byte{0xe6, 0x97})
	w.Flush()
	if got, want := b.String(), `x é\x1b\xe6\x97`; got != want {
		t.Errorf("byte-by-byte writes gave %q, want %q", got, want)
	}
}

// Stored content cannot hide lines from a reviewer: diff, log and errors print it escaped.
func TestE2E_DiffAndLogEscapeControlCharacters(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": "def handle(req):\n    return 'ok'\n"})
	n.cli(t, "push", src)
	// The added line erases itself and the line above it on a terminal, and a CR would
	// overwrite the visible part of the next.
	evil := "BACKDOOR = 1\x1b[1K\x1b[1A\x1b[2K\nx = 'shown'\r# harmless\n\u202e = 1\n"
	writeTree(t, src, map[string]string{"static/notes.txt": evil})
	n.cli(t, "push", src, "-m", "harmless\rEVIL")
	for _, args := range [][]string{{"diff"}, {"log"}} {
		out := n.cli(t, args...)
		if strings.ContainsAny(out, "\x1b\r\u202e") {
			t.Errorf("starbase %s printed raw control characters: %q", args[0], out)
		}
	}
	diff := n.cli(t, "diff")
	if !strings.Contains(diff, `+BACKDOOR = 1\x1b[1K\x1b[1A\x1b[2K`) || !strings.Contains(diff, `+x = 'shown'\x0d# harmless`) || !strings.Contains(diff, `+\u202e = 1`) {
		t.Errorf("diff = %q, want the added lines with their control characters escaped", diff)
	}
	if log := n.cli(t, "log"); !strings.Contains(log, `harmless\x0dEVIL`) {
		t.Errorf("log = %q, want the message with CR escaped", log)
	}
}

// dialFrom opens a TCP connection to the node from the loopback address ip, so that an
// attacker's connections count against a source other than the test's own (127.0.0.1).
func dialFrom(t *testing.T, n *node, ip string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// healthy checks that the node answers /-/health to the test's own address within a
// generous bound.
func healthy(t *testing.T, n *node) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(n.url + "/-/health")
	if err != nil {
		t.Fatalf("/-/health during the attack: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/-/health during the attack = %d", resp.StatusCode)
	}
}

// trickle writes b one byte every interval until the connection fails or stop closes, and
// returns when the node cut it off.
func trickle(c net.Conn, b []byte, interval time.Duration) {
	for _, x := range b {
		if _, err := c.Write([]byte{x}); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

func TestE2E_SlowClientsAndConnectionFloodsAreCutOff(t *testing.T) {
	n := startServe(t, t.TempDir(), "--header-timeout", "2s", "--body-timeout", "2s", "--max-conns-per-source", "20")
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": "def handle(req):\n    return 'got %d bytes' % len(req.body)\n"})
	n.cli(t, "push", src, "--wait")

	// A body trickled at one byte per 100 ms would hold the connection for 100 s: it is
	// cut off with 408 once --body-timeout has passed.
	body := dialFrom(t, n, "127.0.0.2")
	fmt.Fprintf(body, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	cut := make(chan struct{})
	go func() { trickle(body, bytes.Repeat([]byte("x"), 1000), 100*time.Millisecond); close(cut) }()
	answer, _ := io.ReadAll(io.LimitReader(body, 4096))
	if !strings.HasPrefix(string(answer), "HTTP/1.1 408") || !strings.Contains(string(answer), "--body-timeout") {
		t.Errorf("a trickled body was answered %q, want 408 naming --body-timeout", answer)
	}
	body.Close()
	<-cut

	// A trickled header is cut off by --header-timeout: the node closes the connection. The
	// client sees the end of the stream, or a reset when the node closed it with trickled
	// bytes still unread (or one arrived after); only the read deadline means it was not.
	header := dialFrom(t, n, "127.0.0.2")
	go trickle(header, []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("y", 1000)), 100*time.Millisecond)
	header.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadAll(header); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a trickled header was not cut off: %v", err)
	}

	// A flood of idle connections from one source: past --max-conns-per-source each is
	// refused at once with 503, while the node keeps answering others.
	var refused int
	for i := 0; i < 30; i++ {
		conn := dialFrom(t, n, "127.0.0.3")
		if i < 20 {
			continue
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(conn)
		if strings.HasPrefix(string(b), "HTTP/1.1 503") && strings.Contains(string(b), "--max-conns-per-source") {
			refused++
		}
		healthy(t, n)
	}
	if refused != 10 {
		t.Errorf("%d of 10 connections over the per-source limit were refused with 503", refused)
	}
	healthy(t, n)
	if logs := n.logText(); !strings.Contains(logs, "refused connections over the connection limits") {
		t.Errorf("the refusals were not logged")
	}
	if got, _ := n.get(t, "/"); got != "got 0 bytes" {
		t.Errorf("the app answers %q after the attacks", got)
	}
}
