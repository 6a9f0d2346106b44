package objects_test

import (
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/starbase/starbase/objects"
)

// testStarlarkSpec runs each test_* function of testdata/objects.star as one request, on a
// fresh store.
func testStarlarkSpec(t *testing.T, open storeOpener) {
	src, err := os.ReadFile("testdata/objects.star")
	if err != nil {
		t.Fatal(err)
	}
	c := newCode(map[string]string{"objects.star": string(src)})
	globals, err := c.load("objects.star")
	if err != nil {
		t.Fatalf("loading objects.star: %v", err)
	}
	var tests []string
	for name := range globals {
		if strings.HasPrefix(name, "test_") {
			tests = append(tests, name)
		}
	}
	sort.Strings(tests)
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			err := objects.Run(t.Context(), open(t), c.resolve, 1, func(tx *objects.Tx) error {
				thread := &starlark.Thread{Name: name}
				starlarktest.SetReporter(thread, t)
				objects.Bind(thread, tx)
				_, err := starlark.Call(thread, globals[name], nil, nil)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

func TestModel_IsNamedByItsModulePathAndName(t *testing.T) {
	c := newCode(map[string]string{"shop/counters.star": `Counter = model("Counter", fields = {"value": 0})`})
	m, err := c.resolve(t.Context(), "shop/counters.star", "Counter")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if got, want := m.QualifiedName(), "shop/counters.star:Counter"; got != want {
		t.Errorf("QualifiedName() = %q, want %q", got, want)
	}
}

func TestModel_RefusesBadDeclarations(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"inside a function", "def f():\n    return model('M')\nM = f()", "models are declared at the top level of a module"},
		{"name not an identifier", `M = model("my model")`, "the name must be an identifier"},
		{"field named id", `M = model("M", fields = {"id": ""})`, "field \"id\": field names are identifiers other than id"},
		{"field name not a string", `M = model("M", fields = {1: ""})`, "field 1: field names are identifiers"},
		{"unstorable default", `M = model("M", fields = {"f": len})`, "default of field \"f\": objects: value cannot be stored"},
		{"method not callable", `M = model("M", methods = {"m": 1})`, "method \"m\" is int, want a function whose first parameter is self"},
		{"method without self", "def f():\n    pass\nM = model('M', methods = {'m': f})", "function f takes no parameters"},
		{"method shadows field", "def f(self):\n    pass\nM = model('M', fields = {'m': 0}, methods = {'m': f})", "\"m\" is both a field and a method"},
		{"index of unknown field", `M = model("M", fields = {"a": 0}, indexes = ["b"])`, "index \"b\": indexes name declared fields, or are tuples of them (fields: a)"},
		{"index not a name", `M = model("M", fields = {"a": 0}, indexes = [1])`, "index 1: indexes name declared fields, or are tuples of them"},
		{"composite of one field", `M = model("M", fields = {"a": 0}, indexes = [("a",)])`, "a composite index is a tuple of 2 to 4 field names"},
		{"composite of five fields", `M = model("M", fields = {"a": 0, "b": 0, "c": 0, "d": 0, "e": 0}, indexes = [("a", "b", "c", "d", "e")])`, "a composite index is a tuple of 2 to 4 field names"},
		{"composite of an unknown field", `M = model("M", fields = {"a": 0}, indexes = [("a", "b")])`, "index (\"a\", \"b\"): \"b\" is not a declared field (fields: a)"},
		{"composite repeating a field", `M = model("M", fields = {"a": 0}, indexes = [("a", "a")])`, "field \"a\" is listed twice"},
		{"composite twice", `M = model("M", fields = {"a": 0, "b": 0}, indexes = [("a", "b"), ("a", "b")])`, "index (\"a\", \"b\") is declared twice"},
		{"index twice", `M = model("M", fields = {"a": 0}, indexes = ["a", "a"])`, "field \"a\" is indexed twice"},
		{"version 0", `M = model("M", version = 0)`, "version is 0, want 1 or more"},
		{"migrate not callable", `M = model("M", version = 2, migrate = "x")`, "migrate is string, want a function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newCode(map[string]string{"m.star": tt.src}).load("m.star")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loading %q: got %v, want an error containing %q", tt.src, err, tt.want)
			}
		})
	}
}

func TestDB_FailsOutsideARequest(t *testing.T) {
	for _, call := range []string{`db.get("x")`, `db.put(M())`, `db.list(M)`, `db.find(M, a = 1)`, `db.delete("x")`} {
		t.Run(call, func(t *testing.T) {
			src := "M = model('M', fields = {'a': 0}, indexes = ['a'])\nx = " + call
			_, err := newCode(map[string]string{"top.star": src}).load("top.star")
			if !errors.Is(err, objects.ErrNoTransaction) {
				t.Fatalf("db at module top level: got %v, want ErrNoTransaction", err)
			}
			if !strings.Contains(err.Error(), "call it from a handler") || !strings.Contains(err.Error(), "client") {
				t.Errorf("error %q does not say where to call db from (a handler; in a test, its client)", err)
			}
		})
	}
}

func TestClassIn_FindsOnlyModelsDeclaredUnderThatName(t *testing.T) {
	c := newCode(map[string]string{
		"a.star": `A = model("A")` + "\nAlias = A\nN = 1",
		"b.star": `load("a.star", "A")`,
	})
	if _, err := c.resolve(t.Context(), "a.star", "A"); err != nil {
		t.Errorf("a.star:A: %v", err)
	}
	for _, q := range [][2]string{{"a.star", "Alias"}, {"a.star", "N"}, {"a.star", "Gone"}, {"b.star", "A"}, {"gone.star", "A"}} {
		if _, err := c.resolve(t.Context(), q[0], q[1]); !errors.Is(err, objects.ErrNoClass) {
			t.Errorf("%s:%s: got %v, want ErrNoClass", q[0], q[1], err)
		}
	}
}
