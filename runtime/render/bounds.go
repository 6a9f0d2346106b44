package render

import (
	"fmt"
	"html/template"
	"maps"
	"reflect"
	"sort"
	"strings"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/starbase/starbase/runtime/traceback"
)

// Templates are stored code too, and html/template runs them with no bound of its own:
// {{range 300000000}}{{end}} loops inside the one Starlark instruction that called
// render(), a template that includes itself recurses 100,000 levels deep (128 MiB of
// goroutine stack), and escaping a template costs twice as much for each level of
// {{range}} nesting (22 levels took 7s). So:
//
//   - Parse refuses templates that include themselves (directly or through others), that
//     nest more than maxNesting levels of if, range, with and {{template}} calls (through
//     the templates they call), or more than maxRangeNesting levels of range. These are
//     static, so the validation gate refuses them before a commit is served.
//   - Parse inserts a tick, an empty text node, at the start of every template and of
//     every range's body. Executing a text node writes it, and the writer of a render
//     (see output) counts every write as a step of the calling Starlark thread and stops
//     the template at the thread's step limit, or when the request's context ends (its
//     deadline, Limits.Timeout). A template therefore cannot loop, or call templates,
//     without passing a tick at every iteration.
//   - The functions that build text from their arguments (print, printf, println, html,
//     js, urlquery) first bound the size of their result, and refuse one larger than a
//     render may output (Options.MaxOutput): {{print . . . . }} of a large value would
//     otherwise multiply it inside one action, whose result need not even be written.

// Limits of a template's shape, checked by Parse.
const (
	maxNesting      = 100
	maxRangeNesting = 8
)

// shape is the deepest nesting below a node: of if, range, with and template calls, and
// of range alone.
type shape struct {
	nesting, ranges int
}

func (s shape) max(o shape) shape {
	return shape{max(s.nesting, o.nesting), max(s.ranges, o.ranges)}
}

// shaper computes the shape of every template of a set, following {{template}} calls,
// and reports recursion.
type shaper struct {
	set      *template.Template
	files    map[string][]byte
	shapes   map[string]shape // of the templates done
	visiting []string         // templates being walked, outermost first
	problems []*traceback.SourceError
}

// shapeProblems returns the templates of set that include themselves or nest too deeply.
func shapeProblems(set *template.Template, files map[string][]byte) []*traceback.SourceError {
	s := &shaper{set: set, files: files, shapes: map[string]shape{}}
	templates := set.Templates()
	sort.Slice(templates, func(i, j int) bool { return templates[i].Name() < templates[j].Name() })
	for _, t := range templates {
		if t.Tree != nil && t.Tree.Root != nil {
			s.template(t.Name())
		}
	}
	if len(s.problems) > 0 {
		sortProblems(s.problems)
		return s.problems
	}
	// Report each template that is too deep by itself, not every one that calls it.
	for _, t := range templates {
		if t.Tree == nil || t.Tree.Root == nil || !s.tooDeep(s.shapes[t.Name()]) || s.callsTooDeep(t.Tree.Root) {
			continue
		}
		got, at := s.list(t.Tree.Root)
		what := fmt.Sprintf("nests %d levels of if, range, with and {{template}} (counting the templates it calls), over the limit of %d; the template engine recurses once per level",
			got.nesting, maxNesting)
		if got.nesting <= maxNesting {
			what = fmt.Sprintf("nests {{range}} %d levels deep (counting the templates it calls), over the limit of %d; escaping a template costs twice as much for each level of range",
				got.ranges, maxRangeNesting)
		}
		s.report(t, at, fmt.Errorf("template %q %s", t.Name(), what))
	}
	sortProblems(s.problems)
	return s.problems
}

func (s *shaper) tooDeep(sh shape) bool {
	return sh.nesting > maxNesting || sh.ranges > maxRangeNesting
}

// callsTooDeep reports whether a template called from n is too deep by itself.
func (s *shaper) callsTooDeep(n parse.Node) bool {
	deep := false
	walk(n, func(n parse.Node) {
		if tn, ok := n.(*parse.TemplateNode); ok && s.tooDeep(s.shapes[tn.Name]) {
			deep = true
		}
	})
	return deep
}

// template returns the shape of the template name, walking it once.
func (s *shaper) template(name string) shape {
	if sh, ok := s.shapes[name]; ok {
		return sh
	}
	t := s.set.Lookup(name)
	if t == nil || t.Tree == nil || t.Tree.Root == nil {
		return shape{} // undefined templates are reported by undefinedTemplates
	}
	s.visiting = append(s.visiting, name)
	sh, _ := s.list(t.Tree.Root)
	s.visiting = s.visiting[:len(s.visiting)-1]
	s.shapes[name] = sh
	return sh
}

// list returns the shape of l and the node of l that reaches it.
func (s *shaper) list(l *parse.ListNode) (shape, parse.Node) {
	var deepest shape
	var at parse.Node
	if l == nil {
		return deepest, nil
	}
	for _, n := range l.Nodes {
		sh := s.node(n)
		if at == nil || sh.nesting > deepest.nesting || sh.ranges > deepest.ranges {
			at = n
		}
		deepest = deepest.max(sh)
	}
	return deepest, at
}

func (s *shaper) node(n parse.Node) shape {
	switch n := n.(type) {
	case *parse.IfNode:
		return s.branch(&n.BranchNode, false)
	case *parse.WithNode:
		return s.branch(&n.BranchNode, false)
	case *parse.RangeNode:
		return s.branch(&n.BranchNode, true)
	case *parse.TemplateNode:
		for i, name := range s.visiting {
			if name == n.Name {
				s.recursion(n, s.visiting[i:])
				return shape{}
			}
		}
		sh := s.template(n.Name)
		return shape{sh.nesting + 1, sh.ranges}
	}
	return shape{}
}

func (s *shaper) branch(b *parse.BranchNode, isRange bool) shape {
	body, _ := s.list(b.List)
	alt, _ := s.list(b.ElseList)
	sh := body.max(alt)
	sh.nesting++
	if isRange {
		sh.ranges++
	}
	return sh
}

// recursion reports the call n that closes the cycle of templates.
func (s *shaper) recursion(n *parse.TemplateNode, cycle []string) {
	caller := s.set.Lookup(cycle[len(cycle)-1])
	path := strings.Join(append(quoteAll(cycle), fmt.Sprintf("%q", n.Name)), " -> ")
	s.report(caller, n, fmt.Errorf("template %q includes itself (%s): recursive templates are not allowed, since nothing bounds their depth; pass the nested data flattened (a list of rows with their depth) and range over it",
		n.Name, path))
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = fmt.Sprintf("%q", name)
	}
	return out
}

// report adds a problem located at node n of template t.
func (s *shaper) report(t *template.Template, n parse.Node, err error) {
	problem := &traceback.SourceError{Path: t.Name(), Function: templateFunction(t.Name()), Err: err}
	if n != nil {
		loc, _ := t.Tree.ErrorContext(n)
		if path, line, col, _ := splitLocation(loc+": ", s.files); path != "" {
			problem.Path, problem.Line, problem.Col = path, line, col
		}
	}
	s.problems = append(s.problems, problem)
}

// insertTicks puts an empty text node at the start of every template of set and of
// every range's body (see above).
func insertTicks(set *template.Template) {
	done := map[*parse.ListNode]bool{}
	tick := func(l *parse.ListNode) {
		if l == nil || done[l] {
			return
		}
		done[l] = true
		l.Nodes = append([]parse.Node{&parse.TextNode{NodeType: parse.NodeText, Pos: l.Pos}}, l.Nodes...)
	}
	for _, t := range set.Templates() {
		if t.Tree == nil || t.Tree.Root == nil {
			continue
		}
		tick(t.Tree.Root)
		walk(t.Tree.Root, func(n parse.Node) {
			if r, ok := n.(*parse.RangeNode); ok {
				if r.List == nil {
					r.List = &parse.ListNode{NodeType: parse.NodeList, Pos: r.Pos}
				}
				tick(r.List)
			}
		})
	}
}

// funcs returns the text-building functions of templates, bounded to results of at most
// maxOutput bytes: text/template's, each of which behaves as the function of the same name
// otherwise, and the helpers (helpers.go).
func funcs(maxOutput int) template.FuncMap {
	bounded := func(name string, expand int64, size func(args []any, budget int64) int64, f func(args ...any) string) func(args ...any) (string, error) {
		return func(args ...any) (string, error) {
			budget := int64(maxOutput) / expand
			if n := size(args, budget); n > budget {
				return "", fmt.Errorf("%w: %s would produce more than the %d bytes a render may output (Options.MaxOutput)", ErrOutputTooLarge, name, maxOutput)
			}
			return f(args...), nil
		}
	}
	sprint := func(args []any, budget int64) int64 { return argsSize(args, budget) + int64(len(args)) + 1 }
	fm := helperFuncs(maxOutput)
	maps.Copy(fm, template.FuncMap{
		"print":    bounded("print", 1, sprint, fmt.Sprint),
		"println":  bounded("println", 1, sprint, fmt.Sprintln),
		"html":     bounded("html", 6, sprint, texttemplate.HTMLEscaper),         // " becomes &#34;
		"js":       bounded("js", 6, sprint, texttemplate.JSEscaper),             // < becomes \u003C
		"urlquery": bounded("urlquery", 3, sprint, texttemplate.URLQueryEscaper), // %XX
		"printf": func(format string, args ...any) (string, error) {
			if n := printfSize(format, args, int64(maxOutput)); n > int64(maxOutput) {
				return "", fmt.Errorf("%w: printf would produce more than the %d bytes a render may output (Options.MaxOutput)", ErrOutputTooLarge, maxOutput)
			}
			return fmt.Sprintf(format, args...), nil
		},
	})
	return fm
}

// argsSize returns an upper bound of the text of args printed with %v, or a value over
// budget.
func argsSize(args []any, budget int64) int64 {
	var total int64
	for _, a := range args {
		n, _ := textSize(reflect.ValueOf(a), budget-total, 0)
		if total += n; total > budget {
			break
		}
	}
	return total
}

// textSize returns an upper bound of the length of v printed with %v, or a value over
// budget, and the number of its leaves (the values a verb's width applies to: fmt pads
// each element of a slice). It stops walking over budget, and every part it visits counts
// at least one byte, so its own work is bounded by the budget too.
func textSize(v reflect.Value, budget int64, depth int) (size, leaves int64) {
	if depth > maxNesting {
		return budget + 1, 1
	}
	if !v.IsValid() {
		return 5, 1 // <nil>
	}
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len()), 1
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 4*int64(v.Len()) + 2, int64(v.Len()) // [1 2 255]
		}
		size = 2
		for i := 0; i < v.Len() && size <= budget; i++ {
			n, l := textSize(v.Index(i), budget-size, depth+1)
			size, leaves = size+1+n, leaves+l
		}
		return size, leaves
	case reflect.Map:
		size = 5 // map[]
		for it := v.MapRange(); it.Next() && size <= budget; {
			k, lk := textSize(it.Key(), budget-size, depth+1)
			e, le := textSize(it.Value(), budget-size-k, depth+1)
			size, leaves = size+2+k+e, leaves+lk+le
		}
		return size, leaves
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 5, 1
		}
		size, leaves = textSize(v.Elem(), budget, depth+1)
		return size + 1, leaves // &{...}
	case reflect.Struct:
		size = 2
		for i := 0; i < v.NumField() && size <= budget; i++ {
			n, l := textSize(v.Field(i), budget-size, depth+1)
			size, leaves = size+1+n, leaves+l
		}
		return size, leaves
	}
	return 64, 1 // a number, a bool, a complex number, a function's address
}

// printfSize returns an upper bound of len(fmt.Sprintf(format, args...)), or a value over
// budget. Each verb writes its operand (quoted or in hex if it says so, or in an error
// that repeats it) with every element padded to its width and precision, which fmt caps
// at 10^6.
func printfSize(format string, args []any, budget int64) int64 {
	const maxWidth = 1e6
	sizes := make([]int64, len(args))
	leaves := make([]int64, len(args))
	var largest, mostLeaves, all int64
	for i, a := range args {
		sizes[i], leaves[i] = textSize(reflect.ValueOf(a), budget, 0)
		largest, mostLeaves = max(largest, sizes[i]), max(mostLeaves, leaves[i])
		all += sizes[i]
	}
	total := int64(len(format)) + all + 32*int64(len(args)) // %!(EXTRA ...) repeats unused operands
	next := 0                                               // the operand of the next verb, unless it says which
	skipIndex := func(i int) (int, bool) {
		if i < len(format) && format[i] == '[' {
			if end := strings.IndexByte(format[i:], ']'); end >= 0 {
				return i + end + 1, true
			}
		}
		return i, false
	}
	number := func(i int) (int, int64) {
		if i < len(format) && format[i] == '*' {
			next++
			return i + 1, maxWidth
		}
		var n int64
		for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
			n = min(n*10+int64(format[i]-'0'), maxWidth)
		}
		return i, n
	}
	for i := 0; i < len(format) && total <= budget; i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		var indexed, ix bool
		var width, precision int64
		i, indexed = skipIndex(i)
		i, width = number(i)
		if i < len(format) && format[i] == '.' {
			i, ix = skipIndex(i + 1)
			indexed = indexed || ix
			i, precision = number(i)
		}
		i, ix = skipIndex(i)
		indexed = indexed || ix
		if i >= len(format) || format[i] == '%' {
			continue
		}
		operand, parts := largest, mostLeaves
		if !indexed && next < len(sizes) {
			operand, parts = sizes[next], leaves[next]
		}
		next++
		expand := int64(1) // %v and %s print the operand as it is
		switch format[i] {
		case 'v', 's':
		case 'q':
			expand = 6 // \u00e9, and quotes around each element
		case 'x', 'X':
			expand = 3 // "% x" of a string: "68 69"
		default:
			expand = 16 // a mismatch such as %!d(string=...) wraps each element
		}
		// Width and precision apply to each element of a slice or map.
		total += 32 + expand*operand + (width+precision+16)*parts
	}
	return total
}
