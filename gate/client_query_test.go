package gate_test

import (
	"strings"
	"testing"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/server"
)

// TestClient_ASpaceInTheQueryIsSentEscaped: client().get("/path?q=a b") sends the space
// as %20, as a browser does, and the handler reads "a b". Before, the space ended the
// request line: net/http/httptest panicked ("malformed HTTP version"), and the test
// failed with an internal error, as it did for client().request with a method holding a
// space or a non-letter, which is now refused saying so.
func TestClient_ASpaceInTheQueryIsSentEscaped(t *testing.T) {
	files := map[string]string{
		"app.star": `
def echo(req):
    return {"q": req.query.get("q"), "url": req.url}

routes = {"GET /echo": echo}
`,
		"app_test.star": `
def test_space():
    r = client().get("/echo?q=a b&x=1")
    assert.eq(r.status, 200)
    assert.eq(r.json["q"], "a b")
    assert.true(r.json["url"].endswith("/echo?q=a%20b&x=1"), r.json["url"])

def test_a_method_that_is_not_one_is_refused():
    for m in ["GET /x", "G\tET", "", "GÉT"]:
        assert.fails(lambda: client().request(m, "/echo"), "is not an HTTP method")
`}
	rep := run(t, files, gate.Options{Loader: sandboxLoader(t), App: &server.TestHost{}})
	if len(rep.Problems) > 0 || len(rep.Tests) != 2 {
		t.Fatalf("ran %d tests; problems: %s", len(rep.Tests), strings.Join(problems(rep), "\n"))
	}
}
