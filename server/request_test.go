package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// requestApp shows every field of req, and tries to change the request.
const requestApp = `
def show(req):
    return {
        "method": req.method, "path": req.path, "params": req.params, "query": req.query,
        "header": req.headers["x-test"], "body": req.body, "has_id": req.id != "",
        "type": type(req), "dir": dir(req), "repr": str(req).startswith("request(body = "),
        "same": req.headers == req.headers,
    }

def change(req):
    target = req.query["target"]
    if target == "params":
        req.params["id"] = "x"
    elif target == "headers":
        req.headers["x-test"] = "x"
    elif target == "query":
        req.query["target"] = "x"
    elif target == "field":
        req.method = "x"
    return "changed"

def missing(req):
    return req.nope

routes = {"POST /show/{id}": show, "GET /change": change, "GET /missing": missing}
`

func TestRequest_HasEveryFieldAndCannotBeChanged(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	n.Deploy(t, map[string]string{"app.star": requestApp})

	req, _ := http.NewRequest(http.MethodPost, n.URL+"/show/42?q=go&q=more&z=", strings.NewReader("hello"))
	req.Header.Add("X-Test", "a")
	req.Header.Add("X-Test", "b")
	resp, body := n.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /show/42 = %d %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"method": "POST", "path": "/show/42", "params": map[string]any{"id": "42"},
		"query": map[string]any{"q": "go", "z": ""}, "header": "a, b", "body": "hello", "has_id": true,
		"type": "struct", "repr": true, "same": true,
		"dir": []any{"body", "cookies", "files", "form", "headers", "host", "id", "json", "method", "params",
			"path", "query", "remote_addr", "scheme", "url"},
	}
	for k, v := range want {
		g, _ := json.Marshal(got[k])
		w, _ := json.Marshal(v)
		if string(g) != string(w) {
			t.Errorf("req field %s = %s, want %s", k, g, w)
		}
	}

	for target, wantErr := range map[string]string{
		"params":  "cannot insert into frozen hash table",
		"headers": "cannot insert into frozen hash table",
		"query":   "multidict value does not support item assignment",
		"field":   "can't assign to .method field of struct",
	} {
		status, _, body := n.Get(t, "/change?target="+target)
		if status != 500 || !strings.Contains(body, wantErr) {
			t.Errorf("GET /change?target=%s = %d %q, want 500 saying %q", target, status, body, wantErr)
		}
	}
	if status, _, body := n.Get(t, "/missing"); status != 500 || !strings.Contains(body, "request has no .nope field") {
		t.Errorf("GET /missing = %d %q, want 500 saying the request has no .nope field", status, body)
	}
}

func TestServer_BoundsThePrintsOfAModuleTopLevel(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, map[string]string{
		"app.star": "for i in range(1000):\n    print('loading', i)\n\ndef index(req):\n    return 'ok'\n\nroutes = {'GET /': index}\n",
	})
	var printed, warnings int
	for _, rec := range n.Log.Records(t) {
		switch {
		case rec["source"] == "print" && rec["dropped_lines"] != nil:
			warnings++
			if rec["dropped_lines"] != float64(900) || rec["thread"] != "load app.star" {
				t.Errorf("drop record = %v, want 900 lines dropped by load app.star", rec)
			}
		case rec["source"] == "print":
			printed++
		}
	}
	if printed != 100 || warnings != 1 {
		t.Errorf("a top level printing 1000 lines logged %d of them and %d drop records, want 100 and 1", printed, warnings)
	}
}
