package objects_test

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects/sqlite"
)

// On SQLite a transaction that read and then wants to write fails at once when another
// connection holds the write lock (SQLite does not wait for it, as it would for a
// transaction that begins by writing). A background index build or statistics refresh
// holds that lock for as long as it runs: a request that read, lost to it, and ran again
// the same way lost again every time, and gave up after its ten attempts (the server's
// default, used here) (the flake of
// Migrate_UpgradesEveryObjectInResumableBatches under load). The re-run of a transaction
// that wrote and lost now begins as a writer, waiting for the lock.
func TestSQLite_ATransactionThatLostWaitsForTheWriterInsteadOfLosingAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.sqlite")
	eng, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	c := newCode(map[string]string{"app.star": `
Counter = model("Counter", fields = {"n": 0})

def create():
    return db.put(Counter())

def bump(id):
    c = db.get(id)
    c.n += 1
    db.put(c)

def get(id):
    return db.get(id).n
`})
	id := c.mustCall(t, eng, "app.star", "create")

	// Another connection holds the write lock, as an index build does.
	other, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	before := c.runs.Load()
	done := make(chan error, 1)
	go func() {
		_, err := c.callAttempts(t.Context(), eng, 10, "app.star", "bump", id)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for c.runs.Load()-before < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the request did not run again within 30 s after losing to the writer")
		}
		time.Sleep(time.Millisecond)
	}
	// The writer keeps the lock for longer than the pauses between ten attempts add up to
	// (213 ms at most: pause in tx.go): a re-run that did not wait would have lost them all.
	time.Sleep(500 * time.Millisecond)
	if runs := c.runs.Load() - before; runs != 2 {
		t.Errorf("while the writer held the lock, the request ran %d times, want 2 (the second waiting for the lock)", runs)
	}
	if _, err := holder.ExecContext(t.Context(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the request failed: %v", err)
	}
	if n := c.mustCall(t, eng, "app.star", "get", id); n != starlark.MakeInt(1) {
		t.Errorf("n = %v after one bump, want 1", n)
	}
}
