package objects_test

import (
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
)

const shopV1 = `
Item = model("Item", fields = {"name": "", "price": 0}, indexes = ["name"])

def add(name, price):
    return db.put(Item(name = name, price = price))
`

// The class renamed and moved to another module, its old name declared as an alias.
const catalogV2 = `
Product = model("Product", fields = {"name": "", "price": 0, "stock": 0}, indexes = ["name"],
    aliases = ["shop.star:Item"])

def describe(id):
    p = db.get(id)
    return "%s %s %d %d" % (type(p), p.name, p.price, p.stock)

def restock(id, n):
    p = db.get(id)
    p.stock = n
    db.put(p)

def named(name):
    return sorted([p.id for p in db.query(Product).where("name", "==", name).fetch()])

def count():
    return db.query(Product).count()
`

func storedClasses(t *testing.T, st objects.Engine) []string {
	t.Helper()
	classes, more, err := objects.StoredClasses(t.Context(), st, 100)
	if err != nil || more {
		t.Fatalf("StoredClasses: %v, %v (more %v)", classes, err, more)
	}
	return classes
}

func testClasses_ARenamedClassKeepsItsObjectsThroughAnAlias(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"shop.star": shopV1})
	var ids []starlark.Value
	for i, name := range []string{"pen", "ink", "pen"} {
		ids = append(ids, v1.mustCall(t, st, "shop.star", "add", str(name), starlark.MakeInt(10+i)))
	}
	if got, want := storedClasses(t, st), []string{"shop.star:Item"}; !slices.Equal(got, want) {
		t.Fatalf("stored classes: got %v, want %v", got, want)
	}

	v2 := newCode(map[string]string{"catalog.star": catalogV2})
	// Read through the alias: bound to the new model, with its new field at its default.
	if got := v2.mustCall(t, st, "catalog.star", "describe", ids[0]); got.(starlark.String) != "Product pen 10 0" {
		t.Errorf("an object stored as shop.star:Item read by the new code: got %v, want Product pen 10 0", got)
	}
	// Written, it moves to the new class, where queries find it.
	v2.mustCall(t, st, "catalog.star", "restock", ids[0], starlark.MakeInt(5))
	if got := v2.mustCall(t, st, "catalog.star", "describe", ids[0]); got.(starlark.String) != "Product pen 10 5" {
		t.Errorf("after a write: got %v, want Product pen 10 5", got)
	}
	if got, want := storedClasses(t, st), []string{"catalog.star:Product", "shop.star:Item"}; !slices.Equal(got, want) {
		t.Errorf("stored classes after one object moved: got %v, want %v", got, want)
	}
	if got := toInt(t, v2.mustCall(t, st, "catalog.star", "count")); got != 1 {
		t.Errorf("query(Product).count() with one object moved: got %d, want 1", got)
	}
	// Migrate of the old name moves the others.
	if err := objects.Migrate(t.Context(), st, v2.resolve, "shop.star:Item", 10, nil); err != nil {
		t.Fatalf("Migrate(shop.star:Item): %v", err)
	}
	if got, want := storedClasses(t, st), []string{"catalog.star:Product"}; !slices.Equal(got, want) {
		t.Errorf("stored classes after Migrate: got %v, want %v", got, want)
	}
	if got := toInt(t, v2.mustCall(t, st, "catalog.star", "count")); got != 3 {
		t.Errorf("query(Product).count() after Migrate: got %d, want 3", got)
	}
	pens := v2.mustCall(t, st, "catalog.star", "named", str("pen")).(*starlark.List)
	want := []string{ids[0].(starlark.String).GoString(), ids[2].(starlark.String).GoString()}
	slices.Sort(want)
	if pens.Len() != 2 || pens.Index(0).(starlark.String).GoString() != want[0] || pens.Index(1).(starlark.String).GoString() != want[1] {
		t.Errorf("query(Product).where(name == pen) after Migrate: got %v, want %v", pens, want)
	}
}

func TestModel_RefusesBadAliases(t *testing.T) {
	for src, want := range map[string]string{
		`M = model("M", aliases = ["nomodule"])`:             "want a qualified class name",
		`M = model("M", aliases = ["a.star:1x"])`:            "want a qualified class name",
		`M = model("M", aliases = ["m.star:M"])`:             "the model's own name",
		`M = model("M", aliases = ["a.star:A", "a.star:A"])`: "listed twice",
		`M = model("M", aliases = [1])`:                      "want strings",
	} {
		c := newCode(map[string]string{"m.star": src})
		_, err := c.load("m.star")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error saying %q", src, err, want)
		}
	}
}
