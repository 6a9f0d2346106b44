package runtime

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// Every check the rewriting inserts runs on most calls of a page: each borrows its
// arguments, so that the interpreter passes them without a copy (borrow.go). A check added
// with starlark.NewBuiltin would cost an allocation per call; this test names it.
func TestChecks_BorrowTheirArguments(t *testing.T) {
	c := newChecks(DefaultLimits())
	d := c.predeclared()
	n := 0
	for name, v := range d {
		b, ok := v.(*starlark.Builtin)
		if !ok || !(strings.HasPrefix(name, "$") || name == "str") {
			continue
		}
		n++
		if !b.BorrowsArgs() {
			t.Errorf("check %s (%s) copies its arguments: make it with newCheck, or newWrapper of what it calls", name, b.Name())
		}
	}
	if n < 20 {
		t.Fatalf("found %d checks, want every check the rewriting inserts (at least 20)", n)
	}
	// The checked methods borrow when the method they check does.
	for key, m := range c.methods {
		if key.receiver != "time.time" && !m.BorrowsArgs() {
			t.Errorf("checked method %s.%s copies its arguments", key.receiver, key.name)
		}
	}
}

// forward hands a borrowed args slice on only to a function that borrows it too; any
// other gets its own copy, which it may keep.
func TestForward_CopiesForAFunctionThatMayKeepTheArguments(t *testing.T) {
	args := starlark.Tuple{starlark.MakeInt(1), starlark.String("a")}
	noop := func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return starlark.None, nil
	}
	if got := forward(starlark.NewBorrowingBuiltin("b", noop), args); &got[0] != &args[0] {
		t.Error("forward copied the arguments of a borrowing builtin")
	}
	got := forward(starlark.NewBuiltin("k", noop), args)
	if &got[0] == &args[0] {
		t.Fatal("forward passed the borrowed arguments to a builtin that may keep them")
	}
	if got.String() != args.String() {
		t.Errorf("forward's copy = %s, want %s", got, args)
	}
}
