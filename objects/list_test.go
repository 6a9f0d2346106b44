package objects_test

import (
	"context"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
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

def create_named(n, name):
    for i in range(n):
        db.put(Counter(name = name))

def found_ids(name):
    return [c.id for c in db.find(Counter, name = name)]

def find_then_put(name):
    n = len(db.find(Counter, name = name))
    db.put(Counter(name = "after the find"))
    return n
`

// createCounters creates n counters, in requests of 25 (each writes up to 4 keys per counter:
// record, membership, index entry and index version; etcd takes 128 at once by default).
func createCounters(t *testing.T, st objects.Engine, c *code, n int) {
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
// runsAroundAChange runs a transaction that calls read (a function of app.star) with args and
// then creates an object, while, between the two on the first run only, another request calls
// fn(arg). It returns how many times the transaction ran.
func runsAroundAChange(t *testing.T, st objects.Engine, c *code, read string, args starlark.Tuple, fn string, arg starlark.Value) int {
	t.Helper()
	globals, _ := c.load("app.star")
	runs := 0
	err := objects.Run(t.Context(), st, c.resolve, 3, func(tx *objects.Tx) error {
		runs++
		thread := &starlark.Thread{}
		objects.Bind(thread, tx)
		if _, err := starlark.Call(thread, globals[read], args, nil); err != nil {
			return err
		}
		if runs == 1 {
			if _, err := c.call(context.Background(), st, "app.star", fn, arg); err != nil {
				return err
			}
		}
		_, err := starlark.Call(thread, globals["put_new"], starlark.Tuple{str("reader")}, nil)
		return err
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return runs
}

// wantRuns checks that a transaction ran again exactly when the change touched what it read.
func wantRuns(t *testing.T, runs int, touches bool) {
	t.Helper()
	want := 1
	if touches {
		want = 2
	}
	if runs != want {
		t.Errorf("the reading transaction ran %d times, want %d", runs, want)
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
			runs := runsAroundAChange(t, st, c, "ids_after", starlark.Tuple{tc.after, starlark.MakeInt(tc.page)}, tc.fn, tc.arg)
			wantRuns(t, runs, tc.touches)
		})
	}
}

// testDB_AFullFindThenAPutFitsOneCommit finds many objects, consecutive among their class's,
// and writes: their records are compared as one range, within etcd's default limits.
func testDB_AFullFindThenAPutFitsOneCommit(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": listHandlers})
	const n = 300
	for done := 0; done < n; done += 25 {
		c.mustCall(t, st, "app.star", "create_named", starlark.MakeInt(25), str("same"))
	}
	got, err := c.call(t.Context(), st, "app.star", "find_then_put", str("same"))
	if err != nil {
		t.Fatalf("find of %d objects then a put: %v", n, err)
	}
	if toInt(t, got) != n {
		t.Errorf("the find saw %v objects, want %d", got, n)
	}
}

// testDB_FindConflictsWithChangesToWhatItRead is the list test's counterpart for db.find, on
// objects found consecutive among their class's (compared as a range) and scattered among
// many others (compared one by one).
func testDB_FindConflictsWithChangesToWhatItRead(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": listHandlers})
	// Ids sort by creation time to the millisecond, and at random within one: each group
	// starts in a later millisecond than the previous, so that groups do not interleave.
	create := func(n int, name string) {
		for start := time.Now().UnixMilli(); time.Now().UnixMilli() == start; {
		}
		for done := 0; done < n; done += 25 {
			c.mustCall(t, st, "app.star", "create_named", starlark.MakeInt(min(25, n-done)), str(name))
		}
	}
	create(5, "before")
	create(40, "dense")
	create(20, "sparse")
	create(200, "between")
	create(20, "sparse")
	ids := func(name string) *starlark.List {
		return c.mustCall(t, st, "app.star", "found_ids", str(name)).(*starlark.List)
	}
	dense, sparse, between, before := ids("dense"), ids("sparse"), ids("between"), ids("before")

	for _, tc := range []struct {
		name    string
		find    string         // the name found
		fn      string         // the other request, run between the find and the write
		arg     starlark.Value // its argument
		touches bool           // whether it changes what the find read
	}{
		{"dense: found object changed", "dense", "incr", dense.Index(20), true},
		{"dense: found object deleted", "dense", "remove", dense.Index(39), true},
		{"dense: object before them changed", "dense", "incr", before.Index(4), false},
		{"dense: object with the name created", "dense", "put_new", str("dense"), true},
		{"sparse: found object changed", "sparse", "incr", sparse.Index(30), true},
		{"sparse: found object deleted", "sparse", "remove", sparse.Index(0), true},
		{"sparse: object among them changed", "sparse", "incr", between.Index(100), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := runsAroundAChange(t, st, c, "found_ids", starlark.Tuple{str(tc.find)}, tc.fn, tc.arg)
			wantRuns(t, runs, tc.touches)
		})
	}
}
