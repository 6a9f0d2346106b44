package objects_test

import (
	"context"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

const listHandlers = counterHandlers + `
def ids(limit):
    return [c.id for c in db.list(Counter, limit = limit)]

def put_new(name):
    return db.put(Counter(name = name))

def list_then_put(limit):
    n = len(db.list(Counter, limit = limit))
    db.put(Counter(name = "after the list"))
    return n

def remove(id):
    db.delete(id)

def ids_after(after, limit = 1000):
    return [c.id for c in db.list(Counter, limit = limit, after = after)]
`

// createCounters creates n counters, in requests of 25 (each writes up to 4 keys per counter:
// record, membership, index entry and index version; etcd takes 128 at once by default).
func createCounters(t *testing.T, st store.Store, c *code, n int) {
	t.Helper()
	for done := 0; done < n; done += 25 {
		c.mustCall(t, st, "app.star", "create_many", starlark.MakeInt(min(25, n-done)))
	}
}

// testDB_AFullListPageThenAPutFitsOneCommit lists the largest page and writes: the records
// read are compared as one range, so the commit fits etcd's default limits (128 compares and
// 128 ops), which one compare per record read would exceed eightfold.
func testDB_AFullListPageThenAPutFitsOneCommit(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": listHandlers})
	createCounters(t, st, c, objects.MaxListLimit)

	got, err := c.call(t.Context(), st, "app.star", "list_then_put", starlark.MakeInt(objects.MaxListLimit))
	if err != nil {
		t.Fatalf("list of %d objects then a put: %v", objects.MaxListLimit, err)
	}
	if n := toInt(t, got); n != objects.MaxListLimit {
		t.Errorf("the list saw %d objects, want %d", n, objects.MaxListLimit)
	}
	ids := c.mustCall(t, st, "app.star", "ids", starlark.MakeInt(objects.MaxListLimit)).(*starlark.List)
	if ids.Len() != objects.MaxListLimit {
		t.Fatalf("second page: %d ids, want %d", ids.Len(), objects.MaxListLimit)
	}
	rest := c.mustCall(t, st, "app.star", "ids_after", ids.Index(ids.Len()-1)).(*starlark.List)
	if n := ids.Len() + rest.Len(); n != objects.MaxListLimit+1 {
		t.Errorf("%d objects in all, want %d (with the one put after the list)", n, objects.MaxListLimit+1)
	}
}

// testDB_ListConflictsExactlyWithChangesToWhatItRead runs a transaction that lists a page and
// then writes, while another request changes an object: the transaction runs again exactly
// when the change touched what the page read.
func testDB_ListConflictsExactlyWithChangesToWhatItRead(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": listHandlers})
	createCounters(t, st, c, 300)
	all := c.mustCall(t, st, "app.star", "ids", starlark.MakeInt(300)).(*starlark.List)
	none := starlark.None

	for _, tc := range []struct {
		name    string
		after   starlark.Value // the page starts after this id (None: at the first)
		page    int            // objects listed
		fn      string         // the other request, run between the list and the write
		arg     starlark.Value // its argument
		touches bool           // whether it changes what the page read
	}{
		{"first of the page changed", none, 100, "incr", all.Index(0), true},
		{"middle of the page changed", none, 100, "incr", all.Index(50), true},
		{"last of the page changed", none, 100, "incr", all.Index(99), true},
		{"object after the page changed", none, 100, "incr", all.Index(100), false},
		{"object before the page changed", all.Index(150), 100, "incr", all.Index(150), false},
		{"first of a later page changed", all.Index(150), 100, "incr", all.Index(151), true},
		{"object of the page deleted", none, 100, "remove", all.Index(10), true},
		{"object created", none, 1000, "put_new", str("phantom"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			globals, _ := c.load("app.star")
			runs := 0
			err := objects.Run(t.Context(), st, c.resolve, 3, func(tx *objects.Tx) error {
				runs++
				thread := &starlark.Thread{}
				objects.Bind(thread, tx)
				if _, err := starlark.Call(thread, globals["ids_after"], starlark.Tuple{tc.after, starlark.MakeInt(tc.page)}, nil); err != nil {
					return err
				}
				if runs == 1 {
					if _, err := c.call(context.Background(), st, "app.star", tc.fn, tc.arg); err != nil {
						return err
					}
				}
				_, err := starlark.Call(thread, globals["put_new"], starlark.Tuple{str("lister")}, nil)
				return err
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := 1
			if tc.touches {
				want = 2
			}
			if runs != want {
				t.Errorf("the lister ran %d times, want %d", runs, want)
			}
		})
	}
}
