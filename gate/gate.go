// Package gate is the validation gate every commit passes before a ref moves: the checks that
// keep a broken tree from ever being served. The server runs it on every push and revert,
// whoever commits, and `starbase check` runs the same code on a local directory.
package gate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
)

// Options configure a check.
type Options struct {
	// Loader runs the modules of the tree in the sandbox.
	Loader *runtime.Loader
	// NoTests skips running the tree's tests (the other checks still run).
	NoTests bool
}

// Error is returned by Check when the tree has problems. It lists all of them.
type Error struct {
	Problems []api.Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "validation failed with %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Check validates the tree made of files. It returns nil or an *Error listing every problem.
func Check(ctx context.Context, files map[string][]byte, opts Options) error {
	var problems []api.Problem
	add := func(p api.Problem) { problems = append(problems, p) }

	for path := range files {
		var perr *code.PathError
		if err := code.ValidatePath(path); errors.As(err, &perr) {
			add(api.Problem{Path: path, Message: "invalid path: " + perr.Reason})
		}
	}
	if len(problems) > 0 {
		return finish(problems)
	}

	snap := Snapshot(files)
	for path := range files {
		if !strings.HasSuffix(path, ".star") {
			continue
		}
		if _, err := opts.Loader.Load(ctx, snap, path); err != nil {
			problems = append(problems, loadProblems(path, err)...)
		}
	}
	return finish(problems)
}

func finish(problems []api.Problem) error {
	if len(problems) == 0 {
		return nil
	}
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return &Error{Problems: dedupe(problems)}
}

func dedupe(ps []api.Problem) []api.Problem {
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// loadProblems locates the cause of a load error in the stored source: the position of a
// syntax or resolve error, of the failing statement, or of the load statement that names a
// missing module or closes a cycle.
func loadProblems(path string, err error) []api.Problem {
	var serr syntax.Error
	if errors.As(err, &serr) {
		return []api.Problem{posProblem(serr.Pos, serr.Msg)}
	}
	var rerrs resolve.ErrorList
	if errors.As(err, &rerrs) {
		out := make([]api.Problem, 0, len(rerrs))
		for _, e := range rerrs {
			out = append(out, posProblem(e.Pos, e.Msg))
		}
		return out
	}
	var eerr *starlark.EvalError
	if errors.As(err, &eerr) && len(eerr.CallStack) > 0 {
		return []api.Problem{posProblem(eerr.CallStack.At(0).Pos, eerr.Msg)}
	}
	// The innermost load statement of the chain is where the fix belongs.
	var at *runtime.LoadError
	for e := err; e != nil; e = errors.Unwrap(e) {
		if le, ok := e.(*runtime.LoadError); ok && le.Pos.IsValid() {
			at = le
		}
	}
	if at != nil {
		return []api.Problem{posProblem(at.Pos, innermost(err).Error())}
	}
	return []api.Problem{{Path: path, Message: err.Error()}}
}

// innermost returns the cause at the end of a chain of load errors.
func innermost(err error) error {
	for {
		le, ok := err.(*runtime.LoadError)
		if !ok || le.Err == nil {
			return err
		}
		err = le.Err
	}
}

func posProblem(pos syntax.Position, msg string) api.Problem {
	return api.Problem{Path: pos.Filename(), Line: int(pos.Line), Col: int(pos.Col), Message: msg}
}

// Snapshot returns an uncommitted snapshot of files for the loader. It has no commit id, so
// the loader caches none of its resolution by commit (modules are still cached by content).
func Snapshot(files map[string][]byte) *runtime.Snapshot {
	tree := make(code.Tree, len(files))
	blobs := make(memBlobs, len(files))
	for path, content := range files {
		id := code.HashBlob(content)
		tree[path] = id
		blobs[id] = content
	}
	return &runtime.Snapshot{Tree: tree, Blobs: blobs}
}

// memBlobs serves the blobs of a tree that is not committed yet.
type memBlobs map[code.ID][]byte

func (m memBlobs) Blob(_ context.Context, id code.ID) ([]byte, error) {
	b, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), code.ErrNotFound)
	}
	return b, nil
}
