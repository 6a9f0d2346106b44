package runtime

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/code"
)

var (
	// ErrBadJSON is returned (wrapped) by DecodeJSON when its text is not JSON, or nests
	// or spells numbers beyond MaxJSONDepth or MaxJSONDigits: the text is at fault, not
	// the code decoding it.
	ErrBadJSON = errors.New("not valid JSON")

	// ErrNotFound is returned (inside a *LoadError) when a module path is not in the
	// snapshot's tree.
	ErrNotFound = errors.New("module not found")

	// ErrNotModule is returned (inside a *LoadError) when a loaded path is a valid tree
	// path that does not end in ".star".
	ErrNotModule = errors.New("not a Starlark module")

	// ErrCycle is returned (inside a *LoadError) when modules load each other in a cycle.
	// The message lists the cycle and the position of each load statement in it.
	ErrCycle = errors.New("load cycle")

	// ErrBadBlob is returned (inside a *LoadError) when a blob's content does not hash to
	// its id: the store returned something other than the module's source.
	ErrBadBlob = errors.New("blob content does not match its id")

	// ErrStepLimit is returned when a Starlark thread executed more than Limits.MaxSteps
	// steps. It is wrapped together with the *starlark.EvalError holding the backtrace.
	ErrStepLimit = errors.New("step limit exceeded")

	// ErrTimeout is returned when a Starlark thread ran past Limits.Timeout (for Call),
	// Limits.LoadTimeout (for a module's top level) or its context's deadline. It is
	// wrapped together with the *starlark.EvalError when the thread was running.
	ErrTimeout = errors.New("timeout")

	// ErrCanceled is returned when the caller's context was canceled while a Starlark
	// thread ran or while Load waited for a module. It is wrapped together with the
	// *starlark.EvalError when the thread was running.
	ErrCanceled = errors.New("canceled")

	// ErrClosed is returned by Load and Call after Close.
	ErrClosed = errors.New("loader closed")

	// ErrMemoryLimit is returned when a Starlark operation would allocate more than
	// Limits.MaxAllocBytes (or make an integer of more than MaxIntBits), and when the heap
	// guard stopped the execution because the process's live heap exceeded
	// Limits.MaxHeapBytes. The message says which, and how much.
	ErrMemoryLimit = errors.New("memory limit exceeded")

	// ErrDepthLimit is returned when Starlark calls nest deeper than Limits.MaxCallDepth,
	// or a value to convert to text nests deeper than the converter allows.
	ErrDepthLimit = errors.New("depth limit exceeded")

	// ErrResponseTooLarge is returned when a response body is larger than
	// Limits.MaxResponseBytes: by response(), and by servers that check handler results.
	ErrResponseTooLarge = errors.New("response too large")

	// ErrLocalZone is returned when stored code names the "Local" time zone (the time
	// module, Time.in_location): it is the zone of whichever server runs the request, so
	// the same code would answer differently on two nodes.
	ErrLocalZone = errors.New(`the "Local" time zone is the server's own, which differs between nodes; name a zone such as "UTC" or "Europe/Paris"`)
)

// LoadError reports that module Path, as of Commit, could not be loaded.
//
// When the failure is in a module that Path loads (directly or not), Pos is the position
// of Path's load statement and Err is the dependency's *LoadError, so the chain of
// LoadErrors follows the load statements down to the failing module. There, Pos is zero
// and Err is the cause: a *starlark.EvalError (its top level failed; the backtrace is in
// it), a syntax or resolve error (it does not compile), or an error wrapping one of this
// package's sentinels (ErrNotFound, ErrNotModule, ErrCycle, ErrBadBlob, ErrStepLimit,
// ErrTimeout, ErrCanceled, ErrClosed, ErrMemoryLimit, ErrDepthLimit, code.ErrInvalidPath).
// errors.Is and errors.As see the whole chain.
type LoadError struct {
	Path   string          // module that could not be loaded
	Commit code.ID         // commit of the snapshot it was loaded from ("" if none)
	Pos    syntax.Position // in Path, the load statement of the failed dependency
	Err    error           // the dependency's *LoadError, or the cause
}

// Error returns the chain in one line, for example
//
//	cannot load app.star: app.star:3:1: cannot load lib/a.star: lib/a.star:7:9: floating-point division by zero
func (e *LoadError) Error() string {
	if e.Pos.IsValid() {
		return fmt.Sprintf("cannot load %s: %s: %v", e.Path, e.Pos, e.Err)
	}
	return fmt.Sprintf("cannot load %s: %s", e.Path, describe(e.Err))
}

// Unwrap returns Err.
func (e *LoadError) Unwrap() error { return e.Err }

// describe returns err in one line, prefixed with the innermost Starlark position when
// err is (or wraps) an evaluation error, whose own message carries no position.
func describe(err error) string {
	var eval *starlark.EvalError
	if !errors.As(err, &eval) {
		return err.Error()
	}
	for i := len(eval.CallStack) - 1; i >= 0; i-- {
		if pos := eval.CallStack[i].Pos; pos.IsValid() && pos.Filename() != "<builtin>" {
			return fmt.Sprintf("%s: %v", pos, err)
		}
	}
	return err.Error()
}

// edge is one load statement: module from loads module to at pos.
type edge struct {
	from, to string
	pos      syntax.Position
}

// cycleError describes a load cycle as the list of load statements forming it.
func cycleError(cycle []edge) error {
	var path, at strings.Builder
	for i, e := range cycle {
		if i > 0 {
			at.WriteString(", ")
		}
		path.WriteString(e.from)
		path.WriteString(" -> ")
		at.WriteString(e.pos.String())
	}
	path.WriteString(cycle[0].from)
	return fmt.Errorf("%w: %s (load statements at %s)", ErrCycle, path.String(), at.String())
}

// runFailure is a module run's failure as shared by every request that waited for the
// run. Those requests may come from different commits (the module cache is keyed by
// content), so it names no commit; each request turns it into its own *LoadError chain.
type runFailure struct {
	path string
	pos  syntax.Position // load statement of the failed dependency, if any
	err  error           // *runFailure of the dependency, or the cause
}

func (f *runFailure) Error() string { return f.loadError("").Error() }

// loadError converts f to a *LoadError chain stamped with commit.
func (f *runFailure) loadError(commit code.ID) *LoadError {
	err := f.err
	if dep, ok := err.(*runFailure); ok {
		err = dep.loadError(commit)
	}
	return &LoadError{Path: f.path, Commit: commit, Pos: f.pos, Err: err}
}
