package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// TestRequest_TextOfAMultiDictIsChargedBeforeItIsMade: str() and json.encode of a
// multidict (req.form(), req.query) are sized by the pairs it holds, as every other value
// is, so that the limit of one operation (MaxAllocBytes) holds for them. Before, the size
// check saw only a multidict's method names: str() of a list holding a 450 KB form three
// times made 1.8 MB under a 1 MiB limit (and [f] * 1000 would make 600 MB).
func TestRequest_TextOfAMultiDictIsChargedBeforeItIsMade(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true, Limits: runtime.Limits{MaxAllocBytes: runtime.MiB}})
	n.Deploy(t, map[string]string{"app.star": `
def handle(req):
    f = req.form()
    if req.query.get("op") == "str":
        return "%d" % len(str([f, f, f]))
    if req.query.get("op") == "json":
        return "%d" % len(json.encode([f, f, f]))
    return str(f) + " " + json.encode(f) + " " + str(req.query)
`})
	post := func(query, body string) (int, string) {
		req, _ := http.NewRequest("POST", n.URL+"/?"+query, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, out := n.Do(t, req)
		return resp.StatusCode, out
	}
	big := "a=" + strings.Repeat("%01", 150_000) // 450 KB; its text is 600 KB
	for _, op := range []string{"str", "json"} {
		status, out := post("op="+op, big)
		if status != http.StatusInternalServerError || !strings.Contains(out, "memory limit exceeded") {
			t.Errorf("%s of three 600 KB forms under a 1 MiB limit: %d %.300s, want 500 naming the memory limit", op, status, out)
		}
	}
	// Small ones are still written whole, every value of a repeated key included.
	status, out := post("x=1&x=2", "a=1&a=2&b=3")
	want := `multidict([("a", "1"), ("a", "2"), ("b", "3")]) {"a":"1","b":"3"} multidict([("x", "1"), ("x", "2")])`
	if status != http.StatusOK || out != want {
		t.Errorf("small form: %d %q, want 200 %q", status, out, want)
	}
}

// TestRequest_HeadersCookiesAndBodyAreChargedWhenRead: the copies a handler reads of the
// request's headers, cookies and body are charged to its allocation check, as what it
// builds itself is, so that the heap guard's estimate sees them. With a limit of 256 KiB
// for one operation, reading 300 KB of headers, cookies or body is refused with the
// memory limit naming the field; the same request is served when the handler does not
// read them, and small ones are read as before. Before, none of them was charged.
func TestRequest_HeadersCookiesAndBodyAreChargedWhenRead(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true, Limits: runtime.Limits{MaxAllocBytes: 256 * runtime.KiB}})
	n.Deploy(t, map[string]string{"app.star": `
def read(req):
    field = req.params["field"]
    if field == "headers":
        return "%d" % len(req.headers)
    if field == "cookies":
        return "%d" % len(req.cookies)
    if field == "body":
        return "%d" % len(req.body)
    return "not read"  # /noneheaders, /nonecookies, /nonebody

routes = {"GET /{field}": read, "POST /{field}": read}
`})
	value := strings.Repeat("v", 10_000)
	var cookies []string
	for i := range 30 {
		cookies = append(cookies, fmt.Sprintf("c%d=%s", i, value))
	}
	big := map[string]func(*http.Request){
		"headers": func(r *http.Request) {
			for i := range 30 {
				r.Header.Set(fmt.Sprintf("X-Big-%d", i), value)
			}
		},
		"cookies": func(r *http.Request) { r.Header.Set("Cookie", strings.Join(cookies, "; ")) },
		"body": func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(strings.Repeat(value, 30)))
			r.ContentLength = 300_000
		},
	}
	// POST for the body; GET otherwise, since a POST with a cookie needs a CSRF token.
	post := func(path string, set func(*http.Request)) (int, string) {
		method := "GET"
		if strings.HasSuffix(path, "body") {
			method = "POST"
		}
		req, _ := http.NewRequest(method, n.URL+path, nil)
		req.Header.Set("Content-Type", "application/octet-stream")
		if set != nil {
			set(req)
		}
		resp, out := n.Do(t, req)
		return resp.StatusCode, out
	}
	for field, set := range big {
		status, out := post("/"+field, set)
		if status != http.StatusInternalServerError || !strings.Contains(out, "memory limit exceeded: req."+field+" would allocate") {
			t.Errorf("reading 300 KB of %s under a 256 KiB limit: %d %.300s, want 500 naming the memory limit and req.%s", field, status, out, field)
		}
		if status, out := post("/none"+field, set); status != http.StatusOK || out != "not read" {
			t.Errorf("300 KB of %s not read: %d %.300s, want 200", field, status, out)
		}
		if status, out := post("/"+field, nil); status != http.StatusOK || out == "not read" {
			t.Errorf("small %s: %d %.300s, want 200 and its length", field, status, out)
		}
	}
}
