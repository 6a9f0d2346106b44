package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starbase/starbase/objects/postgres/pgtest"
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

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // started by the tests that need PostgreSQL
	os.Exit(code)
}

// TestE2E_ExportFromSQLiteImportIntoPostgres moves a node's objects with starbase data
// export and import, from its default SQLite to PostgreSQL, and serves them from there;
// then back into a fresh SQLite file, whose export is the same.
func TestE2E_ExportFromSQLiteImportIntoPostgres(t *testing.T) {
	data := t.TempDir()
	n := startServe(t, data)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": dataApp})
	n.cli(t, "push", src, "-m", "data app", "--wait")
	for _, name := range []string{"x", "y", "z"} {
		resp, err := http.Get(n.url + "/ok/" + name)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /ok/%s: %v %v", name, resp, err)
		}
		resp.Body.Close()
	}
	n.stop(t)

	file := filepath.Join(t.TempDir(), "objects.jsonl")
	if out, errOut, err := n.try("data", "export", "--data", data, "-o", file); err != nil || !strings.Contains(errOut, "exported 3 objects from sqlite") {
		t.Fatalf("data export: %v %q %q", err, out, errOut)
	}
	pg := pgtest.Shared(t).NewDatabase(t)
	if _, errOut, err := n.try("data", "import", "--data-url", pg, file); err != nil || !strings.Contains(errOut, "imported 3 objects into postgres") {
		t.Fatalf("data import: %v %q", err, errOut)
	}

	on := startServe(t, t.TempDir(), "--data-url", pg)
	src2 := t.TempDir() // the code is pushed anew: it lives in the node's own store
	writeTree(t, src2, map[string]string{"app.star": dataApp})
	on.cli(t, "push", src2, "-m", "data app", "--wait")
	if body, _ := on.get(t, "/count"); body != "3 x,y,z" {
		t.Errorf("served from PostgreSQL: GET /count = %q, want \"3 x,y,z\"", body)
	}
	on.stop(t)

	back := filepath.Join(t.TempDir(), "back.sqlite")
	if _, errOut, err := n.try("data", "import", "--data-url", "sqlite:"+back, file); err != nil {
		t.Fatalf("data import into SQLite: %v %q", err, errOut)
	}
	again := filepath.Join(t.TempDir(), "again.jsonl")
	if _, errOut, err := n.try("data", "export", "--data-url", pg, "-o", again); err != nil {
		t.Fatalf("data export from PostgreSQL: %v %q", err, errOut)
	}
	fromBack := filepath.Join(t.TempDir(), "back.jsonl")
	if _, errOut, err := n.try("data", "export", "--data-url", "sqlite:"+back, "-o", fromBack); err != nil {
		t.Fatalf("data export from the new SQLite: %v %q", err, errOut)
	}
	a, _ := os.ReadFile(file)
	for _, other := range []string{again, fromBack} {
		b, _ := os.ReadFile(other)
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s differs from the first export:\n%s\n%s", filepath.Base(other), a, b)
		}
	}
}
