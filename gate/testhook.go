//go:build !starbasetesthook

package gate

// forcedPass is the test hook of the end-to-end tests that need a broken commit to reach
// the ref (to show that nodes keep their last working release). It exists only in binaries
// built with -tags starbasetesthook (see testhook_on.go); in every other build it is false,
// so nothing, no flag and no environment variable, lets a commit bypass the gate.
func forcedPass() bool { return false }

// Bypassed reports whether this binary lets commits bypass the gate: never, unless built
// with the test hook and STARBASE_TEST_FORCE_GATE=pass set (see testhook_on.go).
func Bypassed() bool { return forcedPass() }
