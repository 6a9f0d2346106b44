package objects_test

import (
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

const boxes = `
Box = model("Box", fields = {"value": None})

def save(v):
    return db.put(Box(value = v))

def read(id):
    return db.get(id).value
`

func testDB_StoredValuesRoundTripExactly(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"boxes.star": boxes})
	for _, expr := range storable {
		want := eval(t, expr)
		id := c.mustCall(t, st, "boxes.star", "save", want)
		if got := c.mustCall(t, st, "boxes.star", "read", id); !sameValue(got, want) {
			t.Errorf("stored %s %v, read back %s %v", want.Type(), want, got.Type(), got)
		}
	}
}

const people = `
Person = model("Person", fields = {"name": "", "city": "", "age": 0}, indexes = ["city", "name"])

def add(name, city, age):
    return db.put(Person(name = name, city = city, age = age))

def names_in(city):
    return [p.name for p in db.find(Person, city = city)]

def named_in(city, name):
    return [p.age for p in db.find(Person, age = 0, name = name, city = city) + db.find(Person, name = name, city = city)]

def move(id, city):
    p = db.get(id)
    p.city = city
    db.put(p)

def remove(id):
    db.delete(id)

def page(after, limit):
    return [p.id for p in db.list(Person, after = after, limit = limit)]

def churn_and_page(drop, n):
    for id in drop:
        db.delete(id)
    added = [db.put(Person(name = "new")) for i in range(n)]
    ids, after = [], None
    for _ in range(100):
        page = db.list(Person, after = after, limit = 2)
        if not page:
            break
        ids += [p.id for p in page]
        after = page[-1].id
    return ids, added
`

func names(t *testing.T, v starlark.Value) []string {
	t.Helper()
	var out []string
	for i := range v.(*starlark.List).Len() {
		out = append(out, string(v.(*starlark.List).Index(i).(starlark.String)))
	}
	return out
}

func testDB_FindUsesTheIndexes(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"people.star": people})
	add := func(name, city string, age int) starlark.Value {
		return c.mustCall(t, st, "people.star", "add", str(name), str(city), starlark.MakeInt(age))
	}
	ann, bob := add("ann", "Paris", 30), add("bob", "Paris", 40)
	add("cid", "Lyon", 50)
	add("ann", "Lyon", 0)
	namesIn := func(city string) []string {
		got := names(t, c.mustCall(t, st, "people.star", "names_in", str(city)))
		slices.Sort(got)
		return got
	}

	if got := namesIn("Paris"); !slices.Equal(got, []string{"ann", "bob"}) {
		t.Errorf("in Paris: %v, want [ann bob]", got)
	}
	if got := c.mustCall(t, st, "people.star", "named_in", str("Lyon"), str("ann")).String(); got != "[0, 0]" {
		t.Errorf("ages of ann in Lyon (with and without age = 0): %v, want [0, 0]", got)
	}
	c.mustCall(t, st, "people.star", "move", bob, str("Lyon"))
	if got := namesIn("Paris"); !slices.Equal(got, []string{"ann"}) {
		t.Errorf("in Paris after bob moved: %v, want [ann]", got)
	}
	if got := namesIn("Lyon"); !slices.Equal(got, []string{"ann", "bob", "cid"}) {
		t.Errorf("in Lyon after bob moved: %v, want [ann bob cid]", got)
	}
	c.mustCall(t, st, "people.star", "remove", ann)
	if got := namesIn("Paris"); len(got) != 0 {
		t.Errorf("in Paris after ann left: %v, want none", got)
	}
	if got := namesIn("Rome"); len(got) != 0 {
		t.Errorf("in Rome: %v, want none", got)
	}
}

func testDB_ListPagesThroughAClassInIdOrder(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"people.star": people})
	var want []string
	for range 25 {
		want = append(want, string(c.mustCall(t, st, "people.star", "add", str("p"), str("x"), starlark.MakeInt(1)).(starlark.String)))
	}
	slices.Sort(want)

	var got []string
	var sizes []int
	var after starlark.Value = starlark.None
	for {
		page := names(t, c.mustCall(t, st, "people.star", "page", after, starlark.MakeInt(10)))
		sizes = append(sizes, len(page))
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = str(page[len(page)-1])
	}
	if !slices.Equal(sizes, []int{10, 10, 5, 0}) {
		t.Errorf("page sizes %v, want [10 10 5 0]", sizes)
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged ids:\n got %v\nwant %v (every id once, in order)", got, want)
	}
}

func testDB_ListSeesTheRequestsOwnWritesOnEveryPage(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"people.star": people})
	var stored []string
	for range 7 {
		stored = append(stored, string(c.mustCall(t, st, "people.star", "add", str("p"), str("x"), starlark.MakeInt(1)).(starlark.String)))
	}
	slices.Sort(stored)
	drop := starlark.NewList([]starlark.Value{str(stored[0]), str(stored[2]), str(stored[3])})

	res := c.mustCall(t, st, "people.star", "churn_and_page", drop, starlark.MakeInt(3)).(starlark.Tuple)
	got, added := names(t, res[0]), names(t, res[1])
	want := append([]string{stored[1], stored[4], stored[5], stored[6]}, added...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("pages of 2 after deleting 3 of 7 and adding 3:\n got %v\nwant %v", got, want)
	}
}

func testDB_DeletingEveryObjectLeavesOnlyVersionKeys(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"people.star": people})
	var ids []starlark.Value
	for _, city := range []string{"Paris", "Lyon", "Paris"} {
		ids = append(ids, c.mustCall(t, st, "people.star", "add", str("p"), str(city), starlark.MakeInt(1)))
	}
	for _, id := range ids {
		c.mustCall(t, st, "people.star", "remove", id)
	}
	res, err := objects.KVStore(st).Range(t.Context(), "data/", store.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range res.KVs {
		if !strings.HasPrefix(kv.Key, "data/ver/") && !strings.HasPrefix(kv.Key, "data/idxver/") {
			t.Errorf("key %s is left after deleting every object", kv.Key)
		}
	}
}
