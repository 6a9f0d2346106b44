package server_test

import (
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestServer_JSONRepliesKeepOrderAndRefuseWhatJSONCannotHold(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	res := n.Push(t, map[string]string{"app.star": `
def ok(req):
    return {"z": 1, "a": [True, None, 1.5, (2, "x")], "big": 123456789012345678901234567890, "s": struct(k = "v"), "q": "\"<>", "d": decimal("12.50")}
def nan(req):
    return {"x": float("nan")}
def key(req):
    return {1: "one"}
def fn(req):
    return [ok]
def cyclic(req):
    l = []
    l.append(l)
    return l
routes = {"GET /ok": ok, "GET /nan": nan, "GET /key": key, "GET /fn": fn, "GET /cyclic": cyclic}
`})
	n.WaitCommit(t, res.Commit)
	if status, _, body := n.Get(t, "/ok"); status != 200 ||
		body != `{"z":1,"a":[true,null,1.5,[2,"x"]],"big":123456789012345678901234567890,"s":{"k":"v"},"q":"\"\u003c\u003e","d":"12.50"}` {
		t.Errorf("GET /ok = %d %s", status, body)
	}
	for path, want := range map[string]string{
		"/nan":    `result["x"]: nan has no JSON form`,
		"/key":    `result: dict key 1 is a int; JSON keys must be strings`,
		"/fn":     `result[0]: a function has no JSON form`,
		"/cyclic": `nested more than 64 levels deep (or cyclic)`,
	} {
		if status, _, body := n.Get(t, path); status != 500 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d %q, want 500 saying %q", path, status, body, want)
		}
	}
}
