package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// pngBytes is not UTF-8 and holds NUL bytes: what a template may not be.
var pngBytes = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + strings.Repeat("\x00\xff\xfe", 300)

var staticApp = map[string]string{
	"app.star":               "def handle(req):\n    return response('app ' + req.path, status = 404)\n",
	"static/app.css":         "body { color: red }\n",
	"static/img/logo.png":    pngBytes,
	"static/raw.html":        "<p>{{not a template}}</p>\n", // under static/, not a template
	"static/data.unknownext": "%PDF-1.4 sniffed\n",
}

func TestStatic_ServesTreeFilesWithETagRangeAndHead(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	commit := n.Deploy(t, staticApp)

	for path, want := range map[string]struct{ body, contentType string }{
		"/static/app.css":         {staticApp["static/app.css"], "text/css; charset=utf-8"},
		"/static/img/logo.png":    {pngBytes, "image/png"},
		"/static/raw.html":        {staticApp["static/raw.html"], "text/html; charset=utf-8"},
		"/static/data.unknownext": {staticApp["static/data.unknownext"], "application/pdf"},
	} {
		status, h, body := n.Get(t, path)
		etag := `"` + string(code.HashBlob([]byte(want.body))) + `"`
		if status != 200 || body != want.body || h.Get("Content-Type") != want.contentType ||
			h.Get("ETag") != etag || h.Get("Cache-Control") != "no-cache" || h.Get("Starbase-Commit") != commit {
			t.Errorf("GET %s = %d, %d bytes, Content-Type %q, ETag %q, Cache-Control %q, Starbase-Commit %q; want the file's %d bytes as %s, ETag %s, no-cache, commit %s",
				path, status, len(body), h.Get("Content-Type"), h.Get("ETag"), h.Get("Cache-Control"), h.Get("Starbase-Commit"),
				len(want.body), want.contentType, etag, commit)
		}
	}

	etag := `"` + string(code.HashBlob([]byte(pngBytes))) + `"`
	req, _ := http.NewRequest("GET", n.URL+"/static/img/logo.png", nil)
	req.Header.Set("If-None-Match", etag)
	if resp, body := n.Do(t, req); resp.StatusCode != 304 || body != "" {
		t.Errorf("GET with If-None-Match: its ETag = %d %q, want 304 and no body", resp.StatusCode, body)
	}
	req.Header.Set("If-None-Match", `"other"`)
	if resp, body := n.Do(t, req); resp.StatusCode != 200 || body != pngBytes {
		t.Errorf("GET with If-None-Match: another ETag = %d, %d bytes, want 200 and the file", resp.StatusCode, len(body))
	}

	req, _ = http.NewRequest("GET", n.URL+"/static/img/logo.png", nil)
	req.Header.Set("Range", "bytes=1-3")
	if resp, body := n.Do(t, req); resp.StatusCode != 206 || body != "PNG" || resp.Header.Get("Content-Range") != "bytes 1-3/"+strconv.Itoa(len(pngBytes)) {
		t.Errorf("GET with Range: bytes=1-3 = %d %q Content-Range %q, want 206 \"PNG\"", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}

	req, _ = http.NewRequest("HEAD", n.URL+"/static/app.css", nil)
	if resp, body := n.Do(t, req); resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(staticApp["static/app.css"])) {
		t.Errorf("HEAD /static/app.css = %d %q Content-Length %q, want 200, no body, the file's length", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}

	req, _ = http.NewRequest("POST", n.URL+"/static/app.css", strings.NewReader("x"))
	if resp, _ := n.Do(t, req); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /static/app.css = %d Allow %q, want 405 with Allow: GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// Paths with no file under static/ are the app's.
	for _, path := range []string{"/static/missing.css", "/static/", "/static/img", "/static/../app.star"} {
		if status, _, body := n.Get(t, path); status != 404 || !strings.HasPrefix(body, "app /") {
			t.Errorf("GET %s = %d %q, want the app's answer", path, status, body)
		}
	}
}

func TestStatic_ETagChangesExactlyWhenTheContentDoes(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, staticApp)
	_, h, _ := n.Get(t, "/static/app.css")
	first := h.Get("ETag")

	// A commit that changes another file keeps the ETag: a cache revalidates to 304.
	files := map[string]string{}
	for k, v := range staticApp {
		files[k] = v
	}
	files["static/other.js"] = "console.log(1)\n"
	n.Deploy(t, files)
	req, _ := http.NewRequest("GET", n.URL+"/static/app.css", nil)
	req.Header.Set("If-None-Match", first)
	if resp, _ := n.Do(t, req); resp.StatusCode != 304 {
		t.Errorf("after a commit that left app.css alone, If-None-Match = %d, want 304", resp.StatusCode)
	}

	files["static/app.css"] = "body { color: blue }\n"
	n.Deploy(t, files)
	resp, body := n.Do(t, req)
	if resp.StatusCode != 200 || body != files["static/app.css"] || resp.Header.Get("ETag") == first {
		t.Errorf("after app.css changed, If-None-Match: the old ETag = %d %q ETag %s, want 200 with the new content and a new ETag",
			resp.StatusCode, body, resp.Header.Get("ETag"))
	}
}
