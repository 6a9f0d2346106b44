package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dataApp writes an Item, then answers as its path says.
const dataApp = `
Item = model("Item", fields = {"name": "", "count": 0}, indexes = ["name"])

def write(req):
    db.put(Item(name = req.params["name"]))

def refuse(req):
    write(req)
    return response("no", status = 422)

def keep(req):
    write(req)
    db.commit()
    return response("kept anyway", status = 400)

def stop(req):
    write(req)
    abort(409, "name " + req.params["name"] + " is taken")

def bad(req):
    write(req)
    db.put(Item(name = "bad", count = "many"))

def ok(req):
    write(req)
    return "written"

def count(req):
    return str(db.query(Item).count()) + " " + ",".join([i.name for i in db.query(Item).order_by("name").fetch()])

routes = {
    "GET /refuse/{name}": refuse,
    "GET /keep/{name}": keep,
    "GET /abort/{name}": stop,
    "GET /bad/{name}": bad,
    "GET /ok/{name}": ok,
    "GET /count": count,
}
`

// TestE2E_ErrorAnswersRollBackTheirWrites runs the built binary on its default data tier
// (SQLite in the data directory): a handler answering 4xx after writing leaves nothing
// written unless it called db.commit(); abort() rolls back and answers its status and
// message; a field refusing a value answers 422 naming it, as JSON with a stable code.
func TestE2E_ErrorAnswersRollBackTheirWrites(t *testing.T) {
	data := t.TempDir()
	n := startServe(t, data)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": dataApp})
	n.cli(t, "push", src, "-m", "data app", "--wait")

	get := func(path, accept string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", n.url+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}

	if code, _, body := get("/ok/a", ""); code != 200 || body != "written" {
		t.Fatalf("GET /ok/a = %d %q", code, body)
	}
	if code, _, body := get("/refuse/b", ""); code != 422 || body != "no" {
		t.Errorf("GET /refuse/b = %d %q, want the handler's 422", code, body)
	}
	if code, _, body := get("/keep/c", ""); code != 400 || body != "kept anyway" {
		t.Errorf("GET /keep/c = %d %q, want the handler's 400", code, body)
	}
	if code, _, body := get("/abort/d", ""); code != 409 || body != "name d is taken\n" {
		t.Errorf("GET /abort/d = %d %q, want 409 and the message", code, body)
	}
	code, ctype, body := get("/abort/e", "application/json")
	var ab struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &ab); code != 409 || ctype != "application/json" || err != nil || ab.Error != "name e is taken" || ab.Status != 409 {
		t.Errorf("GET /abort/e (JSON) = %d %s %q, want 409 and {error, status}", code, ctype, body)
	}
	if code, _, body := get("/abort/f", "text/html"); code != 409 || !strings.Contains(body, "<p>name f is taken</p>") {
		t.Errorf("GET /abort/f (HTML) = %d %q", code, body)
	}
	code, ctype, body = get("/bad/g", "")
	var fe struct{ Error, Code, Field string }
	if err := json.Unmarshal([]byte(body), &fe); code != 422 || ctype != "application/json" || err != nil || fe.Code != "starbase.invalid_field" || fe.Field != "count" {
		t.Errorf("GET /bad/g = %d %s %q, want 422 JSON naming the field count", code, ctype, body)
	}
	if code, _, body := get("/count", ""); code != 200 || body != "2 a,c" {
		t.Errorf("GET /count = %d %q, want \"2 a,c\": only the 200 and the db.commit() wrote", code, body)
	}
	if _, err := os.Stat(filepath.Join(data, "data.sqlite")); err != nil {
		t.Errorf("the default data tier is not SQLite in the data directory: %v", err)
	}
}
