package server_test

import (
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
