package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func counterApp(step string) map[string]string {
	return map[string]string{
		"counters.star": fmt.Sprintf(`
def _incr(self, n = 1):
    self.value += n * %s

Counter = model("Counter", fields = {"name": "", "value": 0}, methods = {"incr": _incr}, indexes = ["name"])
`, step),
		"app.star": `
load("counters.star", "Counter")

def create(req):
    c = Counter(name = req.params["name"])
    db.put(c)
    return c

def incr(req):
    c = db.get(req.params["id"])
    c.incr(1)
    db.put(c)
    return {"value": c.value}

def show(req):
    return db.get(req.params["id"])

def fail_after_write(req):
    c = db.get(req.params["id"])
    c.value = -1
    db.put(c)
    fail("handler failed after writing")

routes = {
    "POST /counters/{name}": create,
    "POST /counters/{id}/incr": incr,
    "GET /counters/{id}": show,
    "POST /counters/{id}/broken": fail_after_write,
}
`,
	}
}

func postJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	var v map[string]any
	json.Unmarshal([]byte(body), &v)
	if v == nil {
		v = map[string]any{"raw": body}
	}
	return resp.StatusCode, v
}

func TestServer_ConcurrentIncrementsLoseNoUpdate(t *testing.T) {
	n := servertest.Start(t, server.Config{TxAttempts: 1000, Dev: true})
	res := n.Push(t, counterApp("1"))
	n.WaitCommit(t, res.Commit)
	status, created := postJSON(t, n.URL+"/counters/c")
	id, _ := created["id"].(string)
	if status != 200 || id == "" || created["value"] != 0.0 || created["name"] != "c" {
		t.Fatalf("create = %d %v", status, created)
	}

	const clients, each = 20, 10
	var wg sync.WaitGroup
	failures := make(chan string, clients*each)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if status, v := postJSON(t, n.URL+"/counters/"+id+"/incr"); status != 200 {
					failures <- fmt.Sprint(status, v)
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("increment failed: %s", f)
	}
	_, _, body := n.Get(t, "/counters/"+id)
	if want := fmt.Sprintf(`{"id":%q,"name":"c","value":%d}`, id, clients*each); body != want {
		t.Fatalf("after %d increments the counter is %s, want %s", clients*each, body, want)
	}
}

func TestServer_ObjectsUseTheMethodsOfTheServedCommit(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	v1 := n.Push(t, counterApp("1"))
	n.WaitCommit(t, v1.Commit)
	_, created := postJSON(t, n.URL+"/counters/c")
	id := created["id"].(string)
	postJSON(t, n.URL+"/counters/"+id+"/incr") // 1

	v10 := n.Push(t, counterApp("10"))
	n.WaitCommit(t, v10.Commit)
	if _, v := postJSON(t, n.URL+"/counters/"+id+"/incr"); v["value"] != 11.0 {
		t.Fatalf("after changing incr to add 10, the old object went to %v, want 11", v["value"])
	}
	rev, err := n.Client.Revert(t.Context(), v1.Commit)
	if err != nil {
		t.Fatal(err)
	}
	n.WaitCommit(t, rev.Commit)
	if _, v := postJSON(t, n.URL+"/counters/"+id+"/incr"); v["value"] != 12.0 {
		t.Fatalf("after reverting incr, the object went to %v, want 12", v["value"])
	}

	// A handler that fails after writing leaves no trace.
	if status, v := postJSON(t, n.URL+"/counters/"+id+"/broken"); status != 500 {
		t.Fatalf("broken handler = %d %v, want 500", status, v)
	}
	if _, _, body := n.Get(t, "/counters/"+id); !strings.Contains(body, `"value":12`) {
		t.Fatalf("after a failed handler the counter is %s, want value 12", body)
	}
}

// A page cursor comes back from the client: one that is not the query's is the client's
// error, answered 400 with the handler's writes rolled back, not a 500.
func TestQuery_ACursorThatIsNotTheQuerysIs400(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	files := counterApp("1")
	files["app.star"] += `
def page(req):
    db.put(Counter(name = "written before the cursor is read"))
    p = db.query(Counter).order_by("name").limit(2).after(req.query.get("cursor")).page()
    return {"names": [c.name for c in p.items], "cursor": p.cursor}

def count(req):
    return {"n": db.query(Counter).count()}

routes["GET /page"] = page
routes["GET /count"] = count
`
	n.Push(t, files)
	for _, cursor := range []string{"garbage", "AAAA", "%00"} {
		resp, body := servertest.Do(t, n.HTTP, must(http.NewRequest("GET", n.URL+"/page?cursor="+cursor, nil)))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not a cursor of this query") {
			t.Errorf("GET /page?cursor=%s = %d %q, want 400 saying it is not a cursor of this query", cursor, resp.StatusCode, body)
		}
	}
	resp, body := servertest.Do(t, n.HTTP, must(http.NewRequest("GET", n.URL+"/count", nil)))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"n": 0`) && !strings.Contains(string(body), `"n":0`) {
		t.Errorf("GET /count = %d %q, want 0 objects: the refused requests' writes are rolled back", resp.StatusCode, body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
