package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

const responseApp = `
Note = model("Note", fields = {"text": ""})

def save(req):
    db.put(Note(text = req.body))
    return redirect("/notes", cookies = [set_cookie("flash", "saved", max_age = 60), delete_cookie("old")])

def notes(req):
    return {"count": db.query(Note).count()}

def logo(req):
    return response(b"\x89PNG\r\n\x1a\n\x00\xff", content_type = "image/png")

def handle(req):
    return response("handled " + req.path, status = 404)

routes = {"POST /notes": save, "GET /notes": notes, "GET /logo.png": logo}
`

func TestResponse_RedirectSetsCookiesAndBytesKeepTheirType(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, map[string]string{"app.star": responseApp})
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	req, _ := http.NewRequest("POST", n.URL+"/notes", strings.NewReader("hello"))
	resp, _ := servertest.Do(t, hc, req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/notes" {
		t.Errorf("POST /notes = %d Location %q, want 303 to /notes", resp.StatusCode, resp.Header.Get("Location"))
	}
	want := []string{"flash=saved; Path=/; Max-Age=60; HttpOnly; SameSite=Lax", "old=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"}
	if got := resp.Header.Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Set-Cookie = %q, want %q", got, want)
	}

	status, h, body := n.Get(t, "/logo.png")
	if status != 200 || h.Get("Content-Type") != "image/png" || body != "\x89PNG\r\n\x1a\n\x00\xff" {
		t.Errorf("GET /logo.png = %d %q %q, want the PNG bytes as image/png", status, h.Get("Content-Type"), body)
	}
}

func TestResponse_WrongMethodOnARouteIs405EvenWithHandle(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, map[string]string{"app.star": responseApp})
	req, _ := http.NewRequest("PUT", n.URL+"/notes", nil)
	resp, body := n.Do(t, req)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT /notes = %d Allow %q %q, want 405 with Allow: GET, HEAD, POST", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
	// A path no route matches still goes to handle(req).
	if status, _, body := n.Get(t, "/elsewhere"); status != 404 || body != "handled /elsewhere" {
		t.Errorf("GET /elsewhere = %d %q, want handle's 404", status, body)
	}
}

func TestRequest_OversizeBodyIs413AndTheHandlerNeverRuns(t *testing.T) {
	n := servertest.Start(t, server.Config{MaxBodyBytes: 1000})
	n.Deploy(t, map[string]string{"app.star": responseApp})
	for _, tc := range []struct {
		name    string
		chunked bool
	}{{"Content-Length says so", false}, {"chunked, found while reading", true}} {
		req, _ := http.NewRequest("POST", n.URL+"/notes", strings.NewReader(strings.Repeat("x", 1001)))
		if tc.chunked {
			req.ContentLength = -1 // sent chunked
		}
		resp, body := n.Do(t, req)
		if resp.StatusCode != 413 || !strings.Contains(body, "--max-body") {
			t.Errorf("%s: POST of 1001 bytes = %d %q, want 413 naming --max-body", tc.name, resp.StatusCode, body)
		}
	}
	if status, _, body := n.Get(t, "/notes"); status != 200 || body != `{"count":0}` {
		t.Errorf("GET /notes = %d %s, want no note saved", status, body)
	}
	req, _ := http.NewRequest("POST", n.URL+"/notes", strings.NewReader(strings.Repeat("x", 1000)))
	if resp, _ := servertest.Do(t, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req); resp.StatusCode != 303 {
		t.Errorf("POST of 1000 bytes = %d, want 303: the limit is inclusive", resp.StatusCode)
	}
}
