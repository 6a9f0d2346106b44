package gate_test

import (
	"strings"
	"testing"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/server"
)

// clientApp is an app whose handlers use the data API, the session and the CSRF rule.
const clientApp = `
Note = model("Note", fields = {"text": ""})

def add(req):
    n = Note(text = req.body or "form")
    db.put(n)
    return response("", status = 201, headers = {"Location": "/notes/" + n.id})

def notes(req):
    return [n.text for n in db.query(Note).order_by("-id").fetch()]

def login(req):
    session.set("user", req.params["name"])
    return "ok"

def me(req):
    return {"user": session.get("user"), "token": csrf_token()}

def boom(req):
    db.put(Note(text = "written"))
    fail("boom")

routes = {
    "POST /notes": add,
    "GET /notes": notes,
    "GET /login/{name}": login,
    "GET /me": me,
    "GET /boom": boom,
}
`

const clientTests = `
def test_data_starts_empty_and_is_kept_within_the_test():
    c = client()
    assert.eq(c.get("/notes").json, [])
    r = c.post("/notes", body = "first")
    assert.eq(r.status, 201)
    assert.true(r.headers["location"].startswith("/notes/"))
    c.post("/notes", body = "second", headers = {"Content-Type": "application/json"})
    assert.eq(c.get("/notes").json, ["second", "first"])

def test_each_test_gets_its_own_data():
    assert.eq(client().get("/notes").json, [])

def test_sessions_follow_the_clients_cookies():
    ada, bob = client(), client()
    assert.eq(ada.get("/login/ada").status, 200)
    assert.eq(ada.get("/me").json["user"], "ada")
    assert.eq(bob.get("/me").json["user"], None)
    assert.contains(ada.cookies, "session")

def test_csrf_refuses_a_form_without_a_token_and_nothing_is_written():
    c = client()
    c.get("/me")  # the page that renders the form: the session cookie
    r = c.post("/notes", form = {"text": "x"})
    assert.eq(r.status, 403)
    assert.contains(r.body, "CSRF")
    assert.eq(c.get("/notes").json, [])
    r = c.post("/notes", form = {"csrf_token": c.csrf_token()})
    assert.eq(r.status, 201)
    assert.eq(len(c.get("/notes").json), 1)

def test_a_failing_handler_answers_500_with_its_traceback_and_writes_nothing():
    c = client()
    r = c.get("/boom")
    assert.eq(r.status, 500)
    assert.contains(r.body, "boom")
    assert.eq(c.get("/notes").json, [])

def test_unmatched_paths_and_methods():
    c = client()
    assert.eq(c.get("/nowhere").status, 404)
    assert.eq(c.request("PUT", "/notes", json = 1).status, 405)

def test_handlers_see_the_test_clock():
    assert.eq(time.now().year, 2000)
`

func TestClient_CallsTheAppAsANodeServesIt(t *testing.T) {
	files := map[string]string{"app.star": clientApp, "app_test.star": clientTests}
	rep := run(t, files, gate.Options{Loader: sandboxLoader(t), App: &server.TestHost{}})
	if len(rep.Problems) > 0 {
		t.Fatalf("problems: %s", strings.Join(problems(rep), "\n"))
	}
	if len(rep.Tests) != 7 {
		t.Fatalf("ran %d tests, want 7", len(rep.Tests))
	}
}

func TestClient_FailuresAreReportedAtTheTestLine(t *testing.T) {
	files := map[string]string{"app.star": clientApp, "app_test.star": `
def test_wrong():
    c = client()
    assert.eq(c.get("/notes").status, 404)
`}
	rep := run(t, files, gate.Options{Loader: sandboxLoader(t), App: &server.TestHost{}})
	got := strings.Join(problems(rep), "\n")
	if !strings.Contains(got, "app_test.star:4:14: test_wrong failed: assert.eq: got 200, want 404") {
		t.Errorf("problems:\n%s\nwant the failed assertion at its line", got)
	}
}

func TestClient_DBInATestFunctionSaysHowToReachIt(t *testing.T) {
	files := map[string]string{"app.star": clientApp, "app_test.star": `
load("app.star", "Note")

def test_db():
    db.put(Note(text = "x"))
`}
	rep := run(t, files, gate.Options{Loader: sandboxLoader(t), App: &server.TestHost{}})
	got := strings.Join(problems(rep), "\n")
	if !strings.Contains(got, "sends requests with its client") || strings.Contains(got, "call it from a handler function") {
		t.Errorf("problems:\n%s\nwant the message to point to the test client", got)
	}
}

func TestClient_WithoutAnAppHostTheTestFailsSayingSo(t *testing.T) {
	files := map[string]string{"app.star": clientApp, "app_test.star": "def test_x():\n    client().get(\"/notes\")\n"}
	rep := run(t, files, gate.Options{Loader: sandboxLoader(t)})
	got := strings.Join(problems(rep), "\n")
	if !strings.Contains(got, "serves no app to tests") {
		t.Errorf("problems:\n%s\nwant one saying no app is served", got)
	}
}
