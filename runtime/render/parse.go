// Package render is the template builtin of stored code:
//
//	render(path, **data)
//
// renders the html/template stored at tree path (for example "templates/page.html") with
// data and returns the HTML as a string, which a handler can return as it is. The
// templates of a tree form one set, each named by its path, so a template can include
// another with {{template "templates/base.html" .}} or use blocks another one {{define}}s.
//
// Templates are read from the request's own snapshot, so a request never renders a
// template of another commit than its code. Errors name the template's path, line and
// column (as a *traceback.SourceError), so tracebacks show the template line.
//
// The validation gate checks every template of a tree with Parse, the same code render
// uses, before a commit can be served.
//
// A render runs within the limits of the request that calls it: its data is charged to
// the execution's allocation check (runtime.ChargeAlloc) before it is converted, its
// output is bounded by Options.MaxOutput and Limits.MaxAllocBytes, and every template call
// and range iteration counts as a step (runtime.ChargeSteps) and stops the template at
// the step limit or when the request's context ends. Parse refuses the templates whose
// execution nothing else could bound (see bounds.go).
package render

import (
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/starbase/starbase/runtime/traceback"
)

// Dir is the directory of templates; any file below it is a template.
const Dir = "templates/"

// IsTemplate reports whether the file at path is a template: a file under templates/ or
// any file whose name ends in ".html".
func IsTemplate(path string) bool {
	return strings.HasPrefix(path, Dir) || strings.HasSuffix(path, ".html")
}

// Parse parses the templates among files (see IsTemplate) into one set, each named by its
// path. It returns every problem it finds, sorted by path and line: parse errors,
// {{template "name"}} actions naming a template the set does not define, templates that
// include themselves, and templates nested too deeply (see bounds.go). The set is nil
// when there are problems.
func Parse(files map[string][]byte) (*template.Template, []*traceback.SourceError) {
	var paths []string
	for p := range files {
		if IsTemplate(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)

	var problems []*traceback.SourceError
	for _, p := range paths {
		if _, err := template.New(p).Parse(string(files[p])); err != nil {
			problems = append(problems, parseError(p, string(files[p]), err))
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	set := template.New("")
	for _, p := range paths {
		if _, err := set.New(p).Parse(string(files[p])); err != nil {
			// Each file parsed alone; together they can only clash on {{define}} names.
			problems = append(problems, parseError(p, string(files[p]), err))
		}
	}
	if len(problems) == 0 {
		problems = undefinedTemplates(set, files)
	}
	if len(problems) == 0 {
		problems = shapeProblems(set, files)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	insertTicks(set)
	return set, nil
}

// undefinedTemplates finds {{template "name"}} actions whose name set does not define.
func undefinedTemplates(set *template.Template, files map[string][]byte) []*traceback.SourceError {
	var problems []*traceback.SourceError
	seen := map[parse.Node]bool{}
	for _, t := range set.Templates() {
		if t.Tree == nil || t.Tree.Root == nil {
			continue
		}
		walk(t.Tree.Root, func(n parse.Node) {
			tn, ok := n.(*parse.TemplateNode)
			if !ok || seen[n] || set.Lookup(tn.Name) != nil {
				return
			}
			seen[n] = true
			loc, _ := t.Tree.ErrorContext(tn)
			path, line, col, _ := splitLocation(loc+": ", files)
			problems = append(problems, &traceback.SourceError{
				Path: path, Line: line, Col: col, Function: templateFunction(t.Name()),
				Err: fmt.Errorf("no template named %q: templates are named by their path, such as %q, or by {{define}}", tn.Name, firstTemplate(files)),
			})
		})
	}
	sortProblems(problems)
	return problems
}

// sortProblems sorts problems by path, line and column.
func sortProblems(problems []*traceback.SourceError) {
	sort.Slice(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func firstTemplate(files map[string][]byte) string {
	first := ""
	for p := range files {
		if IsTemplate(p) && (first == "" || p < first) {
			first = p
		}
	}
	return first
}

// walk calls f on n and every node below it.
func walk(n parse.Node, f func(parse.Node)) {
	if n == nil {
		return
	}
	f(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, f)
		}
	case *parse.IfNode:
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		walk(n.List, f)
		walk(n.ElseList, f)
	}
}

func templateFunction(name string) string { return "template " + strconv.Quote(name) }

// parseError locates a parse error of the template at path. text/template reports the
// line only, in its message ("template: PATH:LINE: message"); the column is that of the
// first action on the line whose text, parsed up to the end of that action, already
// shows the same error (column 1 if none does).
func parseError(path, src string, err error) *traceback.SourceError {
	prefix := "template: " + path + ":"
	rest, ok := strings.CutPrefix(err.Error(), prefix)
	if !ok {
		return &traceback.SourceError{Path: path, Function: templateFunction(path), Err: err}
	}
	lineText, msg, ok := strings.Cut(rest, ": ")
	line, convErr := strconv.Atoi(lineText)
	if !ok || convErr != nil {
		return &traceback.SourceError{Path: path, Function: templateFunction(path), Err: err}
	}
	return &traceback.SourceError{
		Path: path, Line: line, Col: parseErrorCol(path, src, line, err.Error()),
		Function: templateFunction(path), Err: fmt.Errorf("%s", msg),
	}
}

// maxProbes bounds the re-parses parseErrorCol makes for one error.
const maxProbes = 32

func parseErrorCol(path, src string, line int, full string) int {
	start := 0
	for range line - 1 {
		i := strings.IndexByte(src[start:], '\n')
		if i < 0 {
			return 1
		}
		start += i + 1
	}
	end := len(src)
	if i := strings.IndexByte(src[start:], '\n'); i >= 0 {
		end = start + i
	}
	for at, probes := start, 0; probes < maxProbes; probes++ {
		i := strings.Index(src[at:end], "{{")
		if i < 0 {
			break
		}
		open := at + i
		close := len(src)
		if j := strings.Index(src[open:], "}}"); j >= 0 {
			close = open + j + 2
		}
		if _, err := texttemplate.New(path).Parse(src[:close]); err != nil && err.Error() == full {
			return utf8.RuneCountInString(src[start:open]) + 1
		}
		at = open + 2
	}
	return 1
}

// splitLocation splits "PATH:LINE:COL: rest", where PATH is one of the template paths of
// files and COL a 0-based byte offset in the line (as text/template reports it), into
// the path, the line, the 1-based rune column and rest. The longest matching path wins,
// since a path may itself contain ":".
func splitLocation(s string, files map[string][]byte) (path string, line, col int, rest string) {
	for p := range files {
		if IsTemplate(p) && len(p) > len(path) && strings.HasPrefix(s, p+":") {
			path = p
		}
	}
	if path == "" {
		return "", 0, 0, s
	}
	parts := strings.SplitN(s[len(path)+1:], ":", 3)
	if len(parts) < 3 {
		return path, 0, 0, s
	}
	line, err1 := strconv.Atoi(parts[0])
	offset, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return path, 0, 0, s
	}
	return path, line, runeCol(files[path], line, offset), strings.TrimPrefix(parts[2], " ")
}

// runeCol converts a 0-based byte offset in a line of src to a 1-based rune column.
func runeCol(src []byte, line, offset int) int {
	lines := strings.SplitN(string(src), "\n", line+1)
	if line < 1 || line > len(lines) {
		return offset + 1
	}
	text := lines[line-1]
	if offset > len(text) {
		return offset + 1
	}
	return utf8.RuneCountInString(text[:offset]) + 1
}
