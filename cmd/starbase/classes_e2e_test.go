package main

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const shopApp = `
load("shop.star", "Item")

def add(req):
    return db.put(Item(name = req.params["name"]))

routes = {"GET /add/{name}": add}
`

const shopModule = `
Item = model("Item", fields = {"name": ""}, indexes = ["name"])
`

// The class renamed and moved: Product in catalog.star, with the old name as an alias.
const catalogApp = `
load("catalog.star", "Product")

def show(req):
    p = db.get(req.params["id"])
    return "%s %s" % (type(p), p.name)

def touch(req):
    db.put(db.get(req.params["id"]))
    return "ok"

def count(req):
    return str(db.query(Product).count())

routes = {"GET /show/{id}": show, "GET /touch/{id}": touch, "GET /count": count}
`

const catalogModule = `
Product = model("Product", fields = {"name": ""}, indexes = ["name"], aliases = ["shop.star:Item"])
`

// TestE2E_ClassRenamedWithAnAliasKeepsItsObjects runs the built binary on SQLite: a push
// that would leave stored objects without a class is refused, naming it; the class renamed
// and moved with its old name as an alias serves the objects stored under the old name,
// which starbase migrate moves to the new name; and a push dropping the class is refused
// unless it names the class as an orphan.
func TestE2E_ClassRenamedWithAnAliasKeepsItsObjects(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": shopApp, "shop.star": shopModule})
	n.cli(t, "push", src, "-m", "shop", "--wait")
	a, _ := n.get(t, "/add/pen")
	b, _ := n.get(t, "/add/ink")

	// The class removed: refused, naming the class.
	if err := os.Remove(filepath.Join(src, "shop.star")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, src, map[string]string{"app.star": `routes = {}`})
	_, stderr, err := n.try("push", src, "-m", "drop the shop")
	if err == nil || !strings.Contains(stderr, "stored objects of class shop.star:Item would have no class") {
		t.Fatalf("push removing a class with stored objects: err %v, stderr %q; want a refusal naming shop.star:Item", err, stderr)
	}

	// Renamed and moved with an alias: accepted, and the objects are served.
	writeTree(t, src, map[string]string{"app.star": catalogApp, "catalog.star": catalogModule})
	n.cli(t, "push", src, "-m", "shop.star:Item is now catalog.star:Product", "--wait")
	if body, _ := n.get(t, "/show/"+a); body != "Product pen" {
		t.Errorf("GET /show/%s = %q, want Product pen (an object stored as shop.star:Item)", a, body)
	}
	if body, _ := n.get(t, "/show/"+b); body != "Product ink" {
		t.Errorf("GET /show/%s = %q, want Product ink", b, body)
	}
	n.get(t, "/touch/"+a) // written: moved to catalog.star:Product
	if body, _ := n.get(t, "/count"); body != "1" {
		t.Errorf("GET /count after one object was written = %q, want 1", body)
	}
	// A field's type changed without a version and migrate: refused.
	writeTree(t, src, map[string]string{"catalog.star": strings.Replace(catalogModule, `"name": ""`, `"name": 0`, 1)})
	if _, stderr, err := n.try("push", src, "-m", "names are numbers"); err == nil || !strings.Contains(stderr, "field name of Product changes type from string to int") {
		t.Errorf("push changing a field's type: err %v, stderr %q; want a refusal naming the field", err, stderr)
	}
	writeTree(t, src, map[string]string{"catalog.star": catalogModule})
	n.cli(t, "migrate", "shop.star:Item") // moves the others
	if body, _ := n.get(t, "/count"); body != "2" {
		t.Errorf("GET /count after starbase migrate shop.star:Item = %q, want 2", body)
	}

	// Product dropped: refused, naming it (and not shop.star:Item, whose objects all moved).
	if err := os.Remove(filepath.Join(src, "catalog.star")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, src, map[string]string{"app.star": `routes = {}`})
	if _, stderr, err := n.try("push", src, "-m", "no more products"); err == nil ||
		!strings.Contains(stderr, "class catalog.star:Product would have no class") || strings.Contains(stderr, "shop.star:Item") {
		t.Errorf("push dropping Product after the migration: err %v, stderr %q; want a refusal naming only catalog.star:Product", err, stderr)
	}
	// Dropped knowingly: accepted.
	n.cli(t, "push", src, "-m", "no more products", "--orphan", "catalog.star:Product")
}

const counterApp = `
Counter = model("Counter", fields = {"hits": 0})

def create(req):
    return db.put(Counter())

def hit(req):
    return str(db.incr(req.params["id"], "hits"))

def hits(req):
    return str(db.get(req.params["id"]).hits)

routes = {"GET /create": create, "GET /hit/{id}": hit, "GET /hits/{id}": hits}
`

// TestE2E_IncrUnderConcurrencyLosesNoIncrement has 16 clients increment one counter
// through the built binary (SQLite): every request succeeds, and the counter counts them
// all.
func TestE2E_IncrUnderConcurrencyLosesNoIncrement(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": counterApp})
	n.cli(t, "push", src, "-m", "counter", "--wait")
	id, _ := n.get(t, "/create")

	const clients, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	for range clients {
		wg.Go(func() {
			for range each {
				resp, err := http.Get(n.url + "/hit/" + id)
				if err != nil {
					errs <- err
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("GET /hit = %d %s", resp.StatusCode, body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if body, _ := n.get(t, "/hits/"+id); body != fmt.Sprint(clients*each) {
		t.Errorf("after %d increments by %d clients the counter is %s", clients*each, clients, body)
	}
}

// TestE2E_APushBuildsTheIndexesItDeclares: a push that declares an index on a class with
// stored objects has it built by the node (SQLite here), before any request uses it.
func TestE2E_APushBuildsTheIndexesItDeclares(t *testing.T) {
	data := t.TempDir()
	n := startServe(t, data)
	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": shopApp, "shop.star": `Item = model("Item", fields = {"name": ""})`})
	n.cli(t, "push", src, "-m", "shop", "--wait")
	n.get(t, "/add/pen")

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "data.sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	indexes := func() int {
		var count int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'starbase_ix_%'`).Scan(&count); err != nil {
			t.Fatal(err)
		}
		return count
	}
	if got := indexes(); got != 0 {
		t.Fatalf("%d indexes before any was declared", got)
	}
	writeTree(t, src, map[string]string{"shop.star": shopModule}) // indexes = ["name"]
	n.cli(t, "push", src, "-m", "index the names")
	deadline := time.Now().Add(30 * time.Second)
	for indexes() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the index declared by the push was not built within 30s, with no request using it")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
