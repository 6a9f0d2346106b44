package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The web framework through the built binary: requests, responses, static files, templates.

// logoPNG holds every byte value, NULs and invalid UTF-8 included.
var logoPNG = func() string {
	b := []byte("\x89PNG\r\n\x1a\n")
	for i := range 512 {
		b = append(b, byte(i))
	}
	return string(b)
}()

var webE2EApp = map[string]string{
	"app.star": `
Note = model("Note", fields = {"text": ""}, indexes = ["text"])

def index(req):
    return render("templates/entries.html", title = "Notes", entries = [
        struct(text = "first", created = time.time(year = 2026, month = 12, day = 4)),
    ])

def add(req):
    print("add ran for", len(req.body), "bytes")
    db.put(Note(text = req.form().get("text", "")))
    return redirect("/", cookies = [set_cookie("flash", "added", max_age = 60)])

def count(req):
    return {"count": db.query(Note).count(), "flash": req.cookies.get("flash"),
            "tags": req.query.getlist("tag"), "client": req.remote_addr}

def bad(req):
    return render("templates/bad.html", items = [1, 2])

routes = {"GET /{$}": index, "POST /notes": add, "GET /count": count, "GET /bad": bad}
`,
	"templates/layout/top.html":    "<!doctype html><html><head><title>{{.title}}</title>\n<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>\n",
	"templates/layout/bottom.html": "<footer>{{block \"footer\" .}}Made with Starbase{{end}}</footer></body></html>\n",
	"templates/entries.html": `{{template "templates/layout/top.html" .}}
<ul>{{range .entries}}<li>{{.text}} ({{date .created}})</li>{{end}}</ul> v1
{{template "templates/layout/bottom.html" .}}`,
	"templates/bad.html":        "<ul>\n{{range .items}}<li>{{.}}</li>{{end}}\n<li>{{index .items 5}}</li></ul>\n",
	"templates/errors/404.html": "<h1>No page at {{.path}}</h1>\n",
	"static/app.css":            "body { color: #222 }\n",
	"static/img/logo.png":       logoPNG,
}

// do sends a request to n and returns the response with its body read.
func (n *node) do(t *testing.T, method, path string, body io.Reader, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestE2E_StaticFilesRoundTripAndRevalidateByContent(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, webE2EApp)
	n.cli(t, "push", src, "-m", "static", "--wait")

	resp, body := n.do(t, "GET", "/static/img/logo.png", nil, nil)
	first := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || body != logoPNG || resp.Header.Get("Content-Type") != "image/png" || first == "" {
		t.Fatalf("GET /static/img/logo.png = %d, %d bytes, %q, ETag %q; want the PNG's %d bytes as image/png with an ETag",
			resp.StatusCode, len(body), resp.Header.Get("Content-Type"), first, len(logoPNG))
	}
	if resp, body := n.do(t, "GET", "/static/img/logo.png", nil, map[string]string{"If-None-Match": first}); resp.StatusCode != 304 || body != "" {
		t.Errorf("If-None-Match: its ETag = %d %q, want 304", resp.StatusCode, body)
	}

	// Binary files come back from pull byte for byte.
	pulled := t.TempDir()
	n.cli(t, "pull", pulled)
	for _, p := range []string{"static/img/logo.png", "static/app.css"} {
		got, err := os.ReadFile(filepath.Join(pulled, filepath.FromSlash(p)))
		if err != nil || string(got) != webE2EApp[p] {
			t.Errorf("pulled %s: %d bytes (%v), want the %d bytes pushed", p, len(got), err, len(webE2EApp[p]))
		}
	}

	// A commit that leaves the file alone keeps its ETag: still 304.
	writeTree(t, src, map[string]string{"static/app.css": "body { color: #000 }\n"})
	n.cli(t, "push", src, "-m", "css only", "--wait")
	if resp, _ := n.do(t, "GET", "/static/img/logo.png", nil, map[string]string{"If-None-Match": first}); resp.StatusCode != 304 || resp.Header.Get("ETag") != first {
		t.Errorf("after a commit that left the logo alone, If-None-Match = %d ETag %q, want 304 with the same ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if _, body := n.do(t, "GET", "/static/app.css", nil, nil); body != "body { color: #000 }\n" {
		t.Errorf("GET /static/app.css after the push = %q, want the new content", body)
	}

	// A commit that changes it changes the ETag: the old one gets the new content.
	changed := logoPNG + "\x00more"
	writeTree(t, src, map[string]string{"static/img/logo.png": changed})
	n.cli(t, "push", src, "-m", "new logo", "--wait")
	resp, body = n.do(t, "GET", "/static/img/logo.png", nil, map[string]string{"If-None-Match": first})
	if resp.StatusCode != 200 || body != changed || resp.Header.Get("ETag") == first || resp.Header.Get("ETag") == "" {
		t.Errorf("after the logo changed, If-None-Match: the old ETag = %d, %d bytes, ETag %q; want 200, the new %d bytes, a new ETag",
			resp.StatusCode, len(body), resp.Header.Get("ETag"), len(changed))
	}
}

func TestE2E_OversizeBodyIs413AndTheHandlerNeverRuns(t *testing.T) {
	n := startServe(t, t.TempDir(), "--max-body", "1KiB", "--data-url", "kv")
	src := t.TempDir()
	writeTree(t, src, webE2EApp)
	n.cli(t, "push", src, "-m", "app", "--wait")
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	resp, body := n.do(t, "POST", "/notes", strings.NewReader("text="+strings.Repeat("x", 2000)), form)
	if resp.StatusCode != 413 || !strings.Contains(body, "--max-body") {
		t.Errorf("POST of 2005 bytes with --max-body 1KiB = %d %q, want 413 naming --max-body", resp.StatusCode, body)
	}
	resp, _ = n.do(t, "POST", "/notes", strings.NewReader("text=hello"), form)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "flash=added;") {
		t.Errorf("POST of a small form = %d Location %q Set-Cookie %q, want 303 to / setting flash", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Set-Cookie"))
	}
	_, body = n.do(t, "GET", "/count?tag=a&tag=b", nil, map[string]string{"Cookie": "flash=added"})
	if body != `{"count":1,"flash":"added","tags":["a","b"],"client":"127.0.0.1"}` {
		t.Errorf("GET /count = %s, want one note (the oversize POST wrote nothing), the cookie, both tags and the client", body)
	}
	// The handler ran once, for the small form, never for the oversize one.
	logs := n.waitLog(t, "add ran for 10 bytes")
	if strings.Count(logs, "add ran for") != 1 {
		t.Errorf("the handler ran %d times, want once (never for the oversize body)", strings.Count(logs, "add ran for"))
	}
}

func TestE2E_TemplatesChangeOnTheNextRequestAndErrorsNameTheirLine(t *testing.T) {
	n := startServe(t, t.TempDir(), "--dev")
	src := t.TempDir()
	writeTree(t, src, webE2EApp)
	commit := lastLine(n.cli(t, "push", src, "-m", "v1", "--wait"))

	page, _ := n.get(t, "/")
	want := "<!doctype html><html><head><title>Notes</title>\n<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>\n\n" +
		"<ul><li>first (2026-12-04)</li></ul> v1\n<footer>Made with Starbase</footer></body></html>\n"
	if page != want {
		t.Errorf("GET / =\n%s\nwant\n%s", page, want)
	}

	// The template error names the template, its line and the commit.
	resp, body := n.do(t, "GET", "/bad", nil, nil)
	if resp.StatusCode != 500 || !strings.Contains(body, "templates/bad.html:3:7") || !strings.Contains(body, commit[:12]) ||
		!strings.Contains(body, "index out of range: 5") {
		t.Errorf("GET /bad = %d\n%s\nwant 500 naming templates/bad.html:3:7, commit %s and the error", resp.StatusCode, body, commit[:12])
	}

	// The app's own 404 page.
	if resp, body := n.do(t, "GET", "/nowhere", nil, map[string]string{"Accept": "text/html"}); resp.StatusCode != 404 || body != "<h1>No page at /nowhere</h1>\n" {
		t.Errorf("GET /nowhere = %d %q, want the app's 404 page", resp.StatusCode, body)
	}

	// A template change pushed while the node runs is what the very next request gets.
	pulled := t.TempDir()
	n.cli(t, "pull", pulled)
	path := filepath.Join(pulled, "templates", "entries.html")
	old, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(old, []byte(" v1\n"), []byte(" v2\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	second := lastLine(n.cli(t, "push", pulled, "-m", "v2", "--wait"))
	page, served := n.get(t, "/")
	if page != strings.Replace(want, " v1\n", " v2\n", 1) || served != second {
		t.Errorf("the first GET / after push --wait = %q from %s, want the v2 page from %s", page, served, second)
	}
}

func TestE2E_ServeRefusesABadTrustedProxy(t *testing.T) {
	_, errOut, err := runCLI(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8,proxy.example")
	if err == nil || !strings.Contains(err.Error()+errOut, `trusted proxy "proxy.example" is neither an IP address nor a CIDR network`) {
		t.Errorf("serve --trusted-proxies proxy.example = %v %q, want it refused, naming it", err, errOut)
	}
}

func TestE2E_ServeRefusesAnEditorAddressItCannotListenOn(t *testing.T) {
	_, errOut, err := runCLI(t, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--editor-addr", "127.0.0.1:99999")
	if err == nil || !strings.Contains(err.Error()+errOut, "--editor-addr") || !strings.Contains(err.Error()+errOut, "99999") {
		t.Errorf("serve --editor-addr 127.0.0.1:99999 = %v %q, want it refused, naming the flag and the address", err, errOut)
	}
}
