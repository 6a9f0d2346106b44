//go:build starbasetesthook

package gate

import "os"

// forcedPass makes Check pass every tree when STARBASE_TEST_FORCE_GATE is "pass". This
// file is compiled only with -tags starbasetesthook, which only the end-to-end tests use,
// to make a node face a commit that does not build there.
func forcedPass() bool { return os.Getenv("STARBASE_TEST_FORCE_GATE") == "pass" }

// Bypassed reports whether commits bypass the gate (the test hook is on).
func Bypassed() bool { return forcedPass() }
