// Package traceback turns the errors of stored code into tracebacks that point at the
// stored source: every frame names the module path, the commit, the line and column and
// the function, and carries the source line read from the store.
//
// An error can cross three kinds of boundaries, and a traceback keeps the frames of each:
//
//   - load statements: a module whose top level fails makes every module that loads it
//     fail too ([runtime.LoadError] chains); each load statement on the way is a frame, in
//     the function "<toplevel>", before the frames of the failing module;
//   - Starlark calls: the frames of the [starlark.EvalError]'s call stack, outermost first,
//     without the frames of Go builtins (the message names the builtin);
//   - non-Starlark sources such as templates: a builtin that fails at a place in a stored
//     file returns a [*SourceError], which becomes the innermost frame.
//
// The text form reads, outermost call first:
//
//	Traceback (most recent call last):
//	  app.star:4:17 in index (commit 1a2b3c4d5e6f)
//	    return lib.total(items)
//	                    ^
//	  lib/total.star:2:16 in total (commit 1a2b3c4d5e6f)
//	    return sum / len(items)
//	               ^
//	Error: floating-point division by zero
//
// Each frame starts with path:line:col, the form terminals and editors link.
package traceback

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
)

// TopLevel is the function name of a module's top-level code, as Starlark names it.
const TopLevel = "<toplevel>"

// Frame is one place of a traceback. Line and Col are 1-based; 0 means unknown.
type Frame struct {
	Path     string `json:"path"`     // tree path of the module or file
	Commit   string `json:"commit"`   // full commit id; "" for an uncommitted tree
	Line     int    `json:"line"`     // 1-based
	Col      int    `json:"col"`      // 1-based, in runes
	Function string `json:"function"` // "<toplevel>", a function name, or "" if none applies
	Source   string `json:"source"`   // the stored line, without its newline; "" if unavailable
}

// Traceback is an error of stored code located in the stored source.
type Traceback struct {
	Frames  []Frame // outermost first
	Message string  // what went wrong, without position
}

// SourceError is an error located in a stored file outside any Starlark frame, such as a
// line of a template. A builtin returns it so that tracebacks show that file's line as the
// innermost frame.
type SourceError struct {
	Path     string // tree path of the file
	Line     int    // 1-based; 0 if unknown
	Col      int    // 1-based, in runes; 0 if unknown
	Function string // what ran there, for example `template "page.html"`; may be ""
	Err      error  // the failure, without position
}

// Error returns "path:line:col: message".
func (e *SourceError) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d:%d: %v", e.Path, e.Line, e.Col, e.Err)
}

// Unwrap returns Err.
func (e *SourceError) Unwrap() error { return e.Err }

// New builds the traceback of err, an error returned by runtime.Loader.Load or Call (or
// anything wrapping one), for a request that ran on snap. Source lines are read from
// snap's blobs with ctx; a line that cannot be read is left empty, never fatal. snap may
// be nil (no commit, no source).
func New(ctx context.Context, err error, snap *runtime.Snapshot) *Traceback {
	tb := &Traceback{}
	cause := err

	// Load statements, from the module the request loaded down to the failing one.
	var le *runtime.LoadError
	if errors.As(err, &le) {
		for {
			if le.Pos.IsValid() {
				tb.Frames = append(tb.Frames, frameAt(le.Pos, TopLevel))
			}
			next, ok := le.Err.(*runtime.LoadError)
			if !ok {
				break
			}
			le = next
		}
		cause = le.Err
	}

	var eval *starlark.EvalError
	var located *SourceError
	var serr syntax.Error
	var rerrs resolve.ErrorList
	switch {
	case errors.As(cause, &eval):
		for _, fr := range eval.CallStack {
			if fr.Pos.Filename() == "<builtin>" || !fr.Pos.IsValid() {
				continue
			}
			tb.Frames = append(tb.Frames, frameAt(fr.Pos, fr.Name))
		}
		tb.Message = eval.Msg
	case errors.As(cause, &serr):
		tb.Frames = append(tb.Frames, frameAt(serr.Pos, ""))
		tb.Message = serr.Msg
	case errors.As(cause, &rerrs) && len(rerrs) > 0:
		tb.Frames = append(tb.Frames, frameAt(rerrs[0].Pos, ""))
		tb.Message = rerrs[0].Msg
		if len(rerrs) > 1 {
			tb.Message += fmt.Sprintf(" (and %d more errors in this module)", len(rerrs)-1)
		}
	case le != nil:
		tb.Message = fmt.Sprintf("cannot load %s: %v", le.Path, cause)
	default:
		tb.Message = err.Error()
	}
	if errors.As(cause, &located) {
		tb.Frames = append(tb.Frames, Frame{Path: located.Path, Line: located.Line, Col: located.Col, Function: located.Function})
		tb.Message = located.Err.Error()
	}

	if snap != nil {
		src := sources{ctx: ctx, snap: snap, lines: map[string][]string{}}
		for i := range tb.Frames {
			tb.Frames[i].Commit = string(snap.Commit)
			tb.Frames[i].Source = src.line(tb.Frames[i].Path, tb.Frames[i].Line)
		}
	}
	return tb
}

func frameAt(pos syntax.Position, function string) Frame {
	return Frame{Path: pos.Filename(), Line: int(pos.Line), Col: int(pos.Col), Function: function}
}

// sources reads the lines of the files a traceback names, each file once.
type sources struct {
	ctx   context.Context
	snap  *runtime.Snapshot
	lines map[string][]string // by path; nil when unreadable
}

func (s *sources) line(path string, n int) string {
	lines, ok := s.lines[path]
	if !ok {
		if id, inTree := s.snap.Tree[path]; inTree && s.snap.Blobs != nil {
			if b, err := s.snap.Blobs.Blob(s.ctx, id); err == nil && code.HashBlob(b) == id {
				lines = strings.Split(string(b), "\n")
			}
		}
		s.lines[path] = lines
	}
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimRight(lines[n-1], "\r")
}

// String renders the traceback as text, outermost call first, each frame followed by its
// source line (leading blanks removed) and a caret under the column.
func (tb *Traceback) String() string {
	var b strings.Builder
	if len(tb.Frames) > 0 {
		b.WriteString("Traceback (most recent call last):\n")
	}
	for _, fr := range tb.Frames {
		b.WriteString("  ")
		b.WriteString(fr.Location())
		if fr.Function != "" {
			b.WriteString(" in ")
			b.WriteString(fr.Function)
		}
		if fr.Commit != "" {
			b.WriteString(" (commit ")
			b.WriteString(code.ID(fr.Commit).Short())
			b.WriteString(")")
		}
		b.WriteByte('\n')
		if src, caret := fr.SourceAndCaret(); src != "" {
			b.WriteString("    ")
			b.WriteString(src)
			b.WriteByte('\n')
			if caret != "" {
				b.WriteString("    ")
				b.WriteString(caret)
				b.WriteByte('\n')
			}
		}
	}
	b.WriteString("Error: ")
	b.WriteString(tb.Message)
	return b.String()
}

// Location returns "path:line:col", or "path:line" when the column is unknown, or
// "path" when the line is.
func (fr Frame) Location() string {
	var b strings.Builder
	b.WriteString(fr.Path)
	if fr.Line > 0 {
		fmt.Fprintf(&b, ":%d", fr.Line)
		if fr.Col > 0 {
			fmt.Fprintf(&b, ":%d", fr.Col)
		}
	}
	return b.String()
}

// SourceAndCaret returns the frame's source line without its leading blanks, and a line
// that puts a caret under the frame's column (keeping tabs, so that the caret lines up
// however tabs are shown). Both are "" when the source is unknown; the caret is "" when
// the column is.
func (fr Frame) SourceAndCaret() (src, caret string) {
	line := []rune(fr.Source)
	indent := 0
	for indent < len(line) && (line[indent] == ' ' || line[indent] == '\t') {
		indent++
	}
	trimmed := line[indent:]
	if len(trimmed) == 0 {
		return "", ""
	}
	if fr.Col < 1 {
		return string(trimmed), ""
	}
	at := min(max(fr.Col-1-indent, 0), len(trimmed))
	pad := make([]rune, at)
	for i, r := range trimmed[:at] {
		if r == '\t' {
			pad[i] = '\t'
		} else {
			pad[i] = ' '
		}
	}
	return string(trimmed), string(pad) + "^"
}
