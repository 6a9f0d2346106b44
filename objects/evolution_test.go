package objects_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// countersV1Methods is countersV1 with other method bodies: what a developer pushes.
const countersV1Methods = `
def _incr(self, n = 1):
    self.value += 10 * n

def _label(self):
    return "value=%d" % self.value

Counter = model("Counter",
    fields = {"name": "", "value": 0},
    methods = {"incr": _incr, "label": _label},
    indexes = ["name"],
)
`

// countersV2 renames value to count and adds a unit (and an index on it): version 2.
const countersV2 = `
def _incr(self, n = 1):
    self.count += n

def _label(self):
    return "%d %s" % (self.count, self.unit)

def _migrate(fields, from_version):
    if from_version < 2:
        fields["count"] = fields.pop("value")
    return fields

Counter = model("Counter",
    fields = {"name": "", "count": 0, "unit": "items"},
    methods = {"incr": _incr, "label": _label},
    indexes = ["name", "unit"],
    version = 2,
    migrate = _migrate,
)
`

// v2Handlers are the handlers that go with countersV2.
const v2Handlers = `
load("counters.star", "Counter")

def value(id):
    return db.get(id).count

def label(id):
    return db.get(id).label()

def incr(id):
    c = db.get(id)
    c.incr()
    db.put(c)
    return c.count

def by_unit(unit):
    return len(db.find(Counter, unit = unit))
`

// storedRecord returns the raw record of object id: its key-value and decoded class version.
func storedRecord(t *testing.T, st objects.Engine, id starlark.Value) ([]byte, int) {
	t.Helper()
	data, ok, err := objects.StoredRecord(t.Context(), st, string(id.(starlark.String)))
	if err != nil || !ok {
		t.Fatalf("reading the record of %v: %v, %v", id, ok, err)
	}
	v, err := objects.DecodeValue(data)
	if err != nil {
		t.Fatalf("decoding the record of %v: %v", id, err)
	}
	version, _ := starlark.AsInt32(v.(starlark.Tuple)[1])
	return data, version
}

func testObjects_UseTheMethodsOfTheReadingRequestsCode(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	changed := newCode(map[string]string{"counters.star": countersV1Methods, "app.star": counterHandlers})
	id := v1.mustCall(t, st, "app.star", "create", str("c"))
	v1.mustCall(t, st, "app.star", "incr", id)
	before, _ := storedRecord(t, st, id)
	rev := revision(t, st)

	if got := changed.mustCall(t, st, "app.star", "label", id); got != str("value=1") {
		t.Errorf("after the push, label() = %v, want the new method's %q", got, "value=1")
	}
	if got := v1.mustCall(t, st, "app.star", "label", id); got != str("count: 1") {
		t.Errorf("after the revert, label() = %v, want the old method's %q", got, "count: 1")
	}
	if got := revision(t, st); got != rev {
		t.Errorf("stored state %s after reads under both codes, want %s: reading rewrote data", got, rev)
	}
	if after, _ := storedRecord(t, st, id); !bytes.Equal(after, before) {
		t.Errorf("the record was rewritten")
	}

	if got := toInt(t, changed.mustCall(t, st, "app.star", "incr", id)); got != 11 {
		t.Errorf("incr() under the new code gives %d, want 11 (+10)", got)
	}
	if got := toInt(t, v1.mustCall(t, st, "app.star", "incr", id)); got != 12 {
		t.Errorf("incr() under the old code again gives %d, want 12 (+1)", got)
	}
}

func testObjects_OlderVersionsAreMigratedOnRead(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	v2 := newCode(map[string]string{"counters.star": countersV2, "app.star": v2Handlers})
	id := v1.mustCall(t, st, "app.star", "create", str("c"))
	v1.mustCall(t, st, "app.star", "incr", id)
	rev := revision(t, st)

	if got := v2.mustCall(t, st, "app.star", "label", id); got != str("1 items") {
		t.Errorf("a version 1 object read by version 2 code: label() = %v, want %q", got, "1 items")
	}
	if _, version := storedRecord(t, st, id); version != 1 || revision(t, st) != rev {
		t.Errorf("reading stored the upgrade (version %d, state %s -> %s); want it stored when next written",
			version, rev, revision(t, st))
	}
	if got := toInt(t, v2.mustCall(t, st, "app.star", "incr", id)); got != 2 {
		t.Errorf("incr() under version 2 gives %d, want 2", got)
	}
	if _, version := storedRecord(t, st, id); version != 2 {
		t.Errorf("after a write under version 2 code the record is version %d, want 2", version)
	}
}

func testObjects_RollbackRefusesToWriteNewerObjects(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	v2 := newCode(map[string]string{"counters.star": countersV2, "app.star": v2Handlers})
	old := v1.mustCall(t, st, "app.star", "create", str("old"))
	id := v1.mustCall(t, st, "app.star", "create", str("upgraded"))
	v2.mustCall(t, st, "app.star", "incr", id) // now stored as version 2
	before, _ := storedRecord(t, st, id)

	// The rolled-back code still reads the newer object...
	if got := v1.mustCall(t, st, "app.star", "label", id); got != str("count: 0") {
		t.Errorf("label() under the old code = %v, want %q (value is not a version 2 field)", got, "count: 0")
	}
	// ...but refuses to write it back without its version 2 fields.
	_, err := v1.call(t.Context(), st, "app.star", "incr", id)
	if !errors.Is(err, objects.ErrNewerObject) {
		t.Fatalf("incr() of a version 2 object under version 1 code: got %v, want ErrNewerObject", err)
	}
	for _, want := range []string{"version 2 of counters.star:Counter", "declares version 1", "rolled back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if after, version := storedRecord(t, st, id); !bytes.Equal(after, before) || version != 2 {
		t.Errorf("the newer record changed (now version %d)", version)
	}
	// Objects the old code wrote stay writable.
	if got := toInt(t, v1.mustCall(t, st, "app.star", "incr", old)); got != 1 {
		t.Errorf("incr() of a version 1 object under version 1 code = %d, want 1", got)
	}
}

const admin = `
def value(id):
    return db.get(id).value

def incr(id):
    db.get(id).incr()

def resave(id):
    db.put(db.get(id))

def remove(id):
    return db.delete(id)
`

func testObjects_WhoseClassIsGoneArePlainRecords(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	id := v1.mustCall(t, st, "app.star", "create", str("c"))
	v1.mustCall(t, st, "app.star", "incr", id)

	for name, sources := range map[string]map[string]string{
		"module removed": {"admin.star": admin},
		"model removed":  {"admin.star": admin, "counters.star": "Other = model('Other')"},
	} {
		t.Run(name, func(t *testing.T) {
			gone := newCode(sources)
			if got := toInt(t, gone.mustCall(t, st, "admin.star", "value", id)); got != 1 {
				t.Errorf("field value = %d, want 1", got)
			}
			for _, fn := range []string{"incr", "resave"} {
				_, err := gone.call(t.Context(), st, "admin.star", fn, id)
				if !errors.Is(err, objects.ErrNoClass) || !strings.Contains(err.Error(), "counters.star:Counter") {
					t.Errorf("%s: got %v, want ErrNoClass naming counters.star:Counter", fn, err)
				}
			}
		})
	}
	gone := newCode(map[string]string{"admin.star": admin})
	if got := gone.mustCall(t, st, "admin.star", "remove", id); got != starlark.True {
		t.Errorf("remove() = %v, want True", got)
	}
	if n := dataKeys(t, st); objects.KVStore(st) != nil && n != 2 {
		t.Errorf("%d data keys left after deleting the only object, want 2 (the version keys it bumped)", n)
	}
}

func testMigrate_UpgradesEveryObjectInResumableBatches(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	v2 := newCode(map[string]string{"counters.star": countersV2, "app.star": v2Handlers})
	var ids []starlark.Value
	for range 5 {
		ids = append(ids, v1.mustCall(t, st, "app.star", "create", str("c")))
	}
	if got := toInt(t, v2.mustCall(t, st, "app.star", "by_unit", str("items"))); got != 0 {
		t.Errorf("before migrating, find(unit = ...) found %d objects, want 0 (not indexed yet)", got)
	}

	// The first run stops after its first batch of two.
	ctx, cancel := context.WithCancel(t.Context())
	var first []int
	err := objects.Migrate(ctx, st, v2.resolve, "counters.star:Counter", 2, func(done int, cursor string) {
		first = append(first, done)
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Migrate: got %v, want context.Canceled", err)
	}
	// The second resumes after it.
	var second []int
	err = objects.Migrate(t.Context(), st, v2.resolve, "counters.star:Counter", 2, func(done int, cursor string) {
		second = append(second, done)
	})
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if len(first) != 1 || first[0] != 2 || len(second) == 0 || second[len(second)-1] != 3 {
		t.Errorf("progress: first run %v, second run %v; want [2] then ending at 3", first, second)
	}
	for _, id := range ids {
		if _, version := storedRecord(t, st, id); version != 2 {
			t.Errorf("object %v is stored as version %d after Migrate, want 2", id, version)
		}
	}
	if got := toInt(t, v2.mustCall(t, st, "app.star", "by_unit", str("items"))); got != 5 {
		t.Errorf("after migrating, find(unit = ...) found %d objects, want 5", got)
	}
	if _, ok, _ := objects.MigrateCursor(t.Context(), st, "counters.star:Counter"); ok {
		t.Errorf("the resume cursor is still stored after a complete migration")
	}

	// A migration that has nothing to do writes nothing.
	rev := revision(t, st)
	if err := objects.Migrate(t.Context(), st, v2.resolve, "counters.star:Counter", 2, nil); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if got := revision(t, st); got != rev {
		t.Errorf("a second Migrate changed the stored state from %s to %s", rev, got)
	}
}

// testMigrate_HalvesBatchesThatDoNotFitOneCommit migrates with batches far larger than a
// commit holds on etcd (each object writes its record, membership key and new index entry).
func testMigrate_HalvesBatchesThatDoNotFitOneCommit(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	v2 := newCode(map[string]string{"counters.star": countersV2, "app.star": v2Handlers})
	const n = 150
	for done := 0; done < n; done += 25 {
		v1.mustCall(t, st, "app.star", "create_many", starlark.MakeInt(25))
	}
	visited := 0
	err := objects.Migrate(t.Context(), st, v2.resolve, "counters.star:Counter", 1000, func(done int, cursor string) { visited = done })
	if err != nil {
		t.Fatalf("Migrate with batches of 1000: %v", err)
	}
	if visited != n {
		t.Errorf("Migrate visited %d objects, want %d", visited, n)
	}
	if got := toInt(t, v2.mustCall(t, st, "app.star", "by_unit", str("items"))); got != n {
		t.Errorf("after migrating, find(unit = ...) found %d objects, want %d", got, n)
	}
}

func testMigrate_RefusesNewerObjectsAndBadNames(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	v2 := newCode(map[string]string{"counters.star": countersV2, "app.star": v2Handlers})
	id := v1.mustCall(t, st, "app.star", "create", str("c"))
	v2.mustCall(t, st, "app.star", "incr", id)

	if err := objects.Migrate(t.Context(), st, v1.resolve, "counters.star:Counter", 10, nil); !errors.Is(err, objects.ErrNewerObject) {
		t.Errorf("Migrate under older code: got %v, want ErrNewerObject", err)
	}
	for _, class := range []string{"Counter", "counters.star:", "counters.star:Nope", "nope.star:Counter"} {
		if err := objects.Migrate(t.Context(), st, v1.resolve, class, 10, nil); err == nil {
			t.Errorf("Migrate(%q): no error", class)
		}
	}
}

// testMigrate_StopsARecursionOfStoredCode runs a migration whose stored __migrate__
// recurses without end: Migrate's own thread limits the depth of calls as the Loader's
// threads do, so it fails with ErrDepthLimit and changes no object.
func testMigrate_StopsARecursionOfStoredCode(t *testing.T, open storeOpener) {
	st := open(t)
	v1 := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	id := v1.mustCall(t, st, "app.star", "create", str("c"))
	recursive := strings.Replace(countersV2, "def _migrate(fields, from_version):\n",
		"def _deeper(n):\n    return _deeper(n + 1)\n\ndef _migrate(fields, from_version):\n    _deeper(0)\n", 1)
	v2 := newCode(map[string]string{"counters.star": recursive, "app.star": v2Handlers})
	err := objects.Migrate(t.Context(), st, v2.resolve, "counters.star:Counter", 10, nil)
	if !errors.Is(err, runtime.ErrDepthLimit) || !strings.Contains(err.Error(), "over the limit of 1000") {
		t.Fatalf("Migrate with a recursive __migrate__: got %v, want ErrDepthLimit at 1000 calls", err)
	}
	if _, version := storedRecord(t, st, id); version != 1 {
		t.Errorf("the object is stored as version %d after the failed Migrate, want 1", version)
	}
}
