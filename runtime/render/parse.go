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
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"regexp"
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

// StaticDir is the directory of static files, which the server serves as they are at
// /static/...: no file below it is a template, whatever its name.
const StaticDir = "static/"

// IsTemplate reports whether the file at path is a template: a file under templates/ or
// any file whose name ends in ".html", except the files under static/.
func IsTemplate(path string) bool {
	if strings.HasPrefix(path, StaticDir) {
		return false
	}
	return strings.HasPrefix(path, Dir) || strings.HasSuffix(path, ".html")
}

// Parse parses the templates among files (see IsTemplate) into one set, each named by its
// path, checks them, and escapes each for its HTML contexts. It returns every problem it
// finds, sorted by path and line, and the set only when there is none. A tree's templates
// pass when:
//
//   - each is UTF-8 text with no NUL byte: binary files (images, fonts) belong under
//     static/, which is served as it is;
//   - each parses;
//   - each name is defined in one file only: the templates of a tree form one set, where a
//     {{define}} or {{block}} of a name given in two files would make every page that uses
//     the name render the same one of them, silently. A layout is shared by including its
//     parts by path ({{template "templates/header.html" .}}), not by redefining its blocks;
//   - every {{template "name"}} action names a template the set defines;
//   - no template includes itself, and none nests too deeply (see bounds.go);
//   - each template file escapes on its own, as render() runs it: it starts and ends in
//     HTML text (a tag, attribute value, comment, <script> or <style> it opens, it closes),
//     its branches end in the same context, and it uses no escaper (html, urlquery) where
//     html/template escapes by itself. html/template finds these errors only when a
//     template is first executed; Parse executes every file (stopped at its first write,
//     before it reads any data) so that they are found here instead.
func Parse(files map[string][]byte) (*template.Template, []*traceback.SourceError) {
	set, _, problems := parseSet(files, false)
	return set, problems
}

// parseSet is Parse, and, if forRenders and a template of the set calls csrf_token or
// csrf_field, also returns a copy of the set made before it was escaped (executed), which
// renders copy (see csrfCopy; html/template copies only unexecuted sets).
func parseSet(files map[string][]byte, forRenders bool) (set, pristine *template.Template, problems []*traceback.SourceError) {
	var paths []string
	for p := range files {
		if IsTemplate(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)

	definedIn := map[string]string{} // template name -> the first file that defines it
	for _, p := range paths {
		src := files[p]
		if !utf8.Valid(src) || bytes.IndexByte(src, 0) >= 0 {
			problems = append(problems, &traceback.SourceError{Path: p, Function: templateFunction(p),
				Err: fmt.Errorf("%s is not a text file (it is not UTF-8 or has a NUL byte): every file under %s is a template; put images, fonts and other binary files under static/", p, Dir)})
			continue
		}
		t, err := template.New(p).Funcs(funcs(DefaultMaxOutput)).Parse(string(src))
		if err != nil {
			problems = append(problems, parseError(p, string(src), err))
			continue
		}
		problems = append(problems, redefinitions(t, p, string(src), definedIn)...)
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, nil, problems
	}
	set = template.New("").Funcs(funcs(DefaultMaxOutput))
	for _, p := range paths {
		if _, err := set.New(p).Parse(string(files[p])); err != nil {
			// Each file parsed alone and no name is defined twice: this is not expected.
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
		return nil, nil, problems
	}
	insertTicks(set)
	if forRenders && callsCSRF(set) {
		var err error
		if pristine, err = set.Clone(); err != nil {
			// set was never executed: this is not expected.
			return nil, nil, []*traceback.SourceError{{Path: paths[0], Function: templateFunction(paths[0]), Err: err}}
		}
	}
	if problems = escapeAll(set, paths, files); len(problems) > 0 {
		return nil, nil, problems
	}
	return set, pristine, nil
}

// redefinitions reports the names that t, the template file at path, defines and that an
// earlier file already defines; it records the others in definedIn.
func redefinitions(t *template.Template, path, src string, definedIn map[string]string) []*traceback.SourceError {
	var problems []*traceback.SourceError
	var names []string
	for _, d := range t.Templates() {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		first, ok := definedIn[name]
		if !ok {
			definedIn[name] = path
			continue
		}
		line, col := definePos(src, name)
		problems = append(problems, &traceback.SourceError{Path: path, Line: line, Col: col, Function: templateFunction(path),
			Err: fmt.Errorf("template %q is already defined in %s: the templates of a tree form one set, where each name has one definition (or every page using it would render the same one); give this one its own name, and share a layout by including its parts by path, such as {{template %q .}}",
				name, first, first)})
	}
	return problems
}

// definePos returns the line and column of the {{define}} or {{block}} of name in src,
// or 1, 1 if it cannot find it (the name is that of the file itself).
func definePos(src, name string) (line, col int) {
	re := regexp.MustCompile(`\{\{-?\s*(define|block)\s+` + regexp.QuoteMeta(strconv.Quote(name)))
	loc := re.FindStringIndex(src)
	if loc == nil {
		return 1, 1
	}
	before := src[:loc[0]]
	line = strings.Count(before, "\n") + 1
	return line, utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
}

// errEscaped stops the execution that escapes a template, at its first write.
var errEscaped = errors.New("escaped")

// stopWriter fails every write with errEscaped.
type stopWriter struct{}

func (stopWriter) Write([]byte) (int, error) { return 0, errEscaped }

// escapeAll escapes every template file of set, as render() will execute it, and returns
// the problems escaping finds. html/template escapes a template (and those it calls, in
// the contexts it calls them in) when it is first executed; each file is executed here
// with no data and a writer that stops it at its first write, the tick insertTicks put at
// its start, so that nothing of the template runs.
//
// Once escaping a template failed, html/template leaves it without a tree, and escaping
// another file that calls it panics (a nil dereference in Go's escaper, go1.26): such a
// panic after a problem was found is its consequence, and adds none.
func escapeAll(set *template.Template, paths []string, files map[string][]byte) []*traceback.SourceError {
	var problems []*traceback.SourceError
	for _, p := range paths {
		panicked, err := escapeOne(set.Lookup(p))
		if err == nil || errors.Is(err, errEscaped) || panicked && len(problems) > 0 {
			continue
		}
		problems = append(problems, escapeError(err, p, files))
	}
	sortProblems(problems)
	return dedupeProblems(problems)
}

// escapeOne executes t as escapeAll does, turning a panic of html/template into an error.
func escapeOne(t *template.Template) (panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked, err = true, fmt.Errorf("html/template failed while escaping this template (%v): simplify its {{if}}, {{range}} and {{template}} actions, which html/template could not follow", p)
		}
	}()
	return false, t.Execute(stopWriter{}, nil)
}

// escapeError locates err, the failure to escape the template file at path.
func escapeError(err error, path string, files map[string][]byte) *traceback.SourceError {
	var herr *template.Error
	if errors.As(err, &herr) && herr.ErrorCode == template.ErrEndContext {
		src := string(files[path])
		line, col := lastTagPos(src)
		return &traceback.SourceError{Path: path, Line: line, Col: col, Function: templateFunction(path),
			Err: fmt.Errorf("the template ends inside %s, opened at or after this point: render() outputs a template file on its own, so it must end in HTML text; close the tag, attribute value, comment or element it leaves open",
				endContext(herr.Description))}
	}
	if se, ok := execError(err, files).(*traceback.SourceError); ok {
		return se
	}
	return &traceback.SourceError{Path: path, Function: templateFunction(path), Err: err}
}

// lastTagPos returns the line and column of the last '<' of src (where what a template
// leaves open most likely starts), or of its end if it has none.
func lastTagPos(src string) (line, col int) {
	at := strings.LastIndexByte(src, '<')
	if at < 0 {
		at = len(src)
	}
	before := src[:at]
	line = strings.Count(before, "\n") + 1
	return line, utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
}

// endContext names the HTML context html/template describes as "ends in a non-text
// context: {stateAttr delimDoubleQuote ...}".
func endContext(desc string) string {
	_, ctx, _ := strings.Cut(desc, "{")
	state, _, _ := strings.Cut(strings.TrimSuffix(ctx, "}"), " ")
	quoted := strings.Contains(ctx, "delimDoubleQuote") || strings.Contains(ctx, "delimSingleQuote")
	switch {
	case quoted:
		return "a quoted attribute value"
	case strings.HasPrefix(state, "stateHTMLCmt"):
		return "an HTML comment"
	case strings.HasPrefix(state, "stateRCDATA"):
		return "a <textarea> or <title> element"
	case strings.HasPrefix(state, "stateJS"):
		return "a <script> element or a JavaScript attribute"
	case strings.HasPrefix(state, "stateCSS"):
		return "a <style> element or a style attribute"
	case strings.HasPrefix(state, "stateAttr"), strings.HasPrefix(state, "stateURL"), strings.HasPrefix(state, "stateSrcset"):
		return "an attribute value"
	case state == "":
		return "a non-text context"
	}
	return "a tag"
}

// dedupeProblems drops repeated problems from sorted problems (a template called by
// several files fails to escape once per caller).
func dedupeProblems(problems []*traceback.SourceError) []*traceback.SourceError {
	out := problems[:0]
	for i, p := range problems {
		if i > 0 {
			q := out[len(out)-1]
			if p.Path == q.Path && p.Line == q.Line && p.Col == q.Col && p.Err.Error() == q.Err.Error() {
				continue
			}
		}
		out = append(out, p)
	}
	return out
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

// walk calls f on n and every node below it, the pipelines of actions included (their
// commands and arguments: what a template calls). Its recursion is bounded by the nesting
// text/template's parser allows.
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
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.TemplateNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, f)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, f)
		}
	case *parse.ChainNode:
		walk(n.Node, f)
	case *parse.IfNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		walk(n.Pipe, f)
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
