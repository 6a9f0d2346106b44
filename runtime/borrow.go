package runtime

import "go.starlark.net/starlark"

// The interpreter copies the positional arguments of every call of a builtin, in case the
// builtin keeps the slice, unless the builtin only borrows them
// (starlark.NewBorrowingBuiltin, in this repository's fork of go.starlark.net, see
// third_party/go.starlark.net/FORK.md): then it passes a view of its operand stack. The
// checks run on most calls of a page, so each is a borrowing builtin. A check only
// borrows: it keeps no reference to args once it returns, and passes args on only to a
// function that borrows them too (forward), or copies them.

// newCheck returns the builtin of a check, which borrows its arguments.
func newCheck(name string, fn builtinFunc) *starlark.Builtin {
	return starlark.NewBorrowingBuiltin(name, fn)
}

// newWrapper returns the builtin named name of fn, a function that passes its arguments
// to inner: it borrows them when inner does.
func newWrapper(inner *starlark.Builtin, name string, fn builtinFunc) *starlark.Builtin {
	if inner.BorrowsArgs() {
		return starlark.NewBorrowingBuiltin(name, fn)
	}
	return starlark.NewBuiltin(name, fn)
}

// forward returns the arguments a check that borrowed args passes to a call of fn: args
// itself when fn borrows them too (a Starlark function never changes its arguments),
// otherwise a copy fn may keep.
func forward(fn starlark.Value, args starlark.Tuple) starlark.Tuple {
	if starlark.BorrowsArgs(fn) {
		return args
	}
	return append(starlark.Tuple(nil), args...)
}
