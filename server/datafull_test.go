package server_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/sqlite"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// itemsApp writes, counts and deletes items of about 10 KB (?kb= says how many KB) of
// random hexadecimal digits, which no database compresses much.
const itemsApp = `
Item = model("Item", fields = {"name": "", "text": ""})

def put(req):
    kb = int(req.query.get("kb", "10"))
    text = "".join([secrets.token_hex(512) for _ in range(kb)])
    return {"id": db.put(Item(name = req.params["name"], text = text))}

def count(req):
    return {"n": len(db.list(Item, limit = 1000))}

def clear(req):
    for item in db.list(Item, limit = 1000):
        db.delete(item)
    return {"cleared": True}

routes = {"POST /items/{name}": put, "GET /items": count, "POST /clear": clear}
`

// TestDataTier_AFullSQLiteFileAnswers507AndHealthSaysDegraded fills a real SQLite file
// whose connections may not grow it past 48 pages (PRAGMA max_page_count, SQLite's
// SQLITE_FULL, as a full disk gives), through HTTP: the write that finds no room answers
// 507 with the code starbase.store_full and nothing written, reads are still served,
// /-/health says the data tier is degraded and why, /-/metrics has starbase_store_full 1,
// the log says it once; once the app deleted its items, a write is accepted and the node
// is healthy again. Before, the SQLite tier's full file was a 500 "internal error" and
// the node stayed "ok".
func TestDataTier_AFullSQLiteFileAnswers507AndHealthSaysDegraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "max_page_count(48)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	data, err := objects.OpenSQL(t.Context(), db, sqlite.Dialect, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { data.Close() })
	n := servertest.Start(t, server.Config{Data: data})
	n.Deploy(t, map[string]string{"app.star": itemsApp})
	post := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", n.URL+path, nil)
		resp, body := n.Do(t, req)
		var got map[string]any
		json.Unmarshal([]byte(body), &got)
		return resp.StatusCode, got
	}

	written := 0
	var status int
	var answer map[string]any
	for ; written < 100; written++ {
		if status, answer = post(fmt.Sprintf("/items/i%d", written)); status != http.StatusOK {
			break
		}
	}
	if status != http.StatusInsufficientStorage || answer["code"] != "starbase.store_full" ||
		!strings.Contains(fmt.Sprint(answer["error"]), "sqlite data tier has no room left") {
		t.Fatalf("after %d writes of 10 KB into 48 pages: %d %v, want 507 starbase.store_full naming the sqlite tier", written, status, answer)
	}
	if written == 0 {
		t.Fatal("no write fitted in 48 pages: the file was full before the test wrote")
	}
	wantDataTierFull(t, n, "sqlite", written)
	post("/items/again") // refused again: logged once
	if recs := n.Log.Messages(t, "the data tier (sqlite) is full: app writes are refused (507) until it has room again; reads and app requests that only read are served"); len(recs) != 1 {
		t.Errorf("%d log records of the full data tier, want 1", len(recs))
	}

	if status, answer := post("/clear"); status != http.StatusOK {
		t.Fatalf("deleting the items: %d %v", status, answer)
	}
	if status, answer := post("/items/after"); status != http.StatusOK {
		t.Errorf("a write after the items were deleted: %d %v, want 200", status, answer)
	}
	if code, _, body := n.Get(t, "/-/health"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/-/health once writes fit again: %d %q, want ok", code, body)
	}
	if _, _, body := n.Get(t, "/-/metrics"); !strings.Contains(body, "\nstarbase_store_full 0\n") {
		t.Errorf("/-/metrics once writes fit again lacks starbase_store_full 0")
	}
}

// wantDataTierFull checks what a node whose data tier (named tier) refused a write for room
// answers: the written items are read, /-/health says the tier is full, /-/metrics has
// starbase_store_full 1.
func wantDataTierFull(t *testing.T, n *servertest.Node, tier string, written int) {
	t.Helper()
	if code, _, body := n.Get(t, "/items"); code != http.StatusOK || body != fmt.Sprintf(`{"n":%d}`, written) {
		t.Errorf("a read while full: %d %s, want 200 and the %d items written before (nothing of the refused write)", code, body, written)
	}
	if code, _, body := n.Get(t, "/-/health"); code != http.StatusOK ||
		!strings.HasPrefix(body, "degraded: the data tier ("+tier+") is full since ") || !strings.Contains(body, "app writes are refused (507)") {
		t.Errorf("/-/health while full: %d %q, want degraded naming the data tier", code, body)
	}
	if _, _, body := n.Get(t, "/-/metrics"); !strings.Contains(body, "\nstarbase_store_full 1\n") {
		t.Errorf("/-/metrics while full lacks starbase_store_full 1")
	}
}
