package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestE2E_MigrateUpgradesStoredObjects(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	app := `load("people.star", "Person")
def add(req):
    p = Person(name = req.params["name"])
    db.put(p)
    return p
def all(req):
    return db.list(Person)
routes = {"POST /people/{name}": add, "GET /people": all}
`
	writeTree(t, src, map[string]string{
		"app.star":    app,
		"people.star": "Person = model(\"Person\", fields = {\"name\": \"\"})\n",
	})
	n.cli(t, "push", src, "--wait")
	for _, name := range []string{"ada", "alan", "grace"} {
		post(t, n.url+"/people/"+name)
	}

	writeTree(t, src, map[string]string{"people.star": `
def _migrate(fields, from_version):
    fields["name"] = fields["name"].capitalize()
    return fields

Person = model("Person", fields = {"name": ""}, version = 2, migrate = _migrate)
`})
	n.cli(t, "push", src, "--wait")
	out := n.cli(t, "migrate", "people.star:Person", "--batch", "2")
	if !strings.Contains(out, "3 objects visited") {
		t.Fatalf("migrate printed %q, want 3 objects visited", out)
	}
	body, _ := n.get(t, "/people")
	for _, want := range []string{`"name":"Ada"`, `"name":"Alan"`, `"name":"Grace"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /people = %s, want %s", body, want)
		}
	}
	if _, stderr, err := n.try("migrate", "people.star:Nobody"); err == nil || !strings.Contains(stderr, "Nobody") {
		t.Fatalf("migrating a missing class: err=%v stderr=%q, want an error naming it", err, stderr)
	}
}

func post(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s = %d", url, resp.StatusCode)
	}
}
