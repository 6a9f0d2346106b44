package runtime

import (
	"fmt"

	"go.starlark.net/syntax"
)

// MaxSyntaxDepth bounds the nesting of a module's syntax tree: statements within
// statements, and expressions within expressions. The parser bounds its own recursion
// (to 1000 levels of brackets, blocks and nested expressions), but it builds chains of
// binary operators, indexes, calls and attributes in a loop, so "a + a + ... + a" with 3
// million terms parses into a tree 3 million levels deep. The rewriter, the resolver and
// the compiler each walk the tree recursively, one Go frame (or several) per level,
// and such a tree overflowed the stack and killed the process. ParseModule therefore
// measures the depth of the tree, iteratively, before anything else walks it.
const MaxSyntaxDepth = 1000

// MaxModuleSourceBytes bounds the source of one module. Parsing cannot be interrupted,
// and its time and memory are linear in the source but large: 6 MB of "a + a + ..."
// took 7s and 1.5 GB to parse on the development machine. A module of at most 1 MiB
// parses within a fraction of a second; a larger program is split into modules (and
// large data belongs in the data store or in static files).
const MaxModuleSourceBytes = 1 * MiB

// ParseModule parses src, the module at path, in the Dialect. It refuses a source larger
// than MaxModuleSourceBytes before parsing it, and a syntax tree nested more than
// MaxSyntaxDepth levels deep with a syntax.Error at the first node past the limit
// ("path:line:col: ..."). Every module the runtime compiles goes through it, and so must
// anything else that parses, resolves or compiles stored modules.
func ParseModule(path string, src []byte) (*syntax.File, error) {
	if len(src) > int(MaxModuleSourceBytes) {
		return nil, syntax.Error{Pos: syntax.MakePosition(&path, 1, 1), Msg: fmt.Sprintf(
			"the module is %s, over the limit of %s for one module (runtime.MaxModuleSourceBytes): split it into several modules",
			ByteSize(len(src)), MaxModuleSourceBytes)}
	}
	f, err := Dialect().Parse(path, src, 0)
	if err != nil {
		return nil, err
	}
	if err := checkSyntaxDepth(f, MaxSyntaxDepth); err != nil {
		return nil, err
	}
	return f, nil
}

// checkSyntaxDepth returns a syntax.Error at the first node of f (in depth-first order)
// deeper than limit, or nil. It walks the tree with an explicit stack, so its own depth
// of recursion is constant.
func checkSyntaxDepth(f *syntax.File, limit int) error {
	type item struct {
		n     syntax.Node
		depth int
	}
	var stack []item
	push := func(depth int, nodes ...syntax.Node) {
		for i := len(nodes) - 1; i >= 0; i-- {
			if n := nodes[i]; n != nil {
				stack = append(stack, item{n, depth})
			}
		}
	}
	for _, s := range f.Stmts {
		push(1, s)
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.depth > limit {
			pos, _ := it.n.Span()
			return syntax.Error{Pos: pos, Msg: fmt.Sprintf(
				"statements and expressions nest more than %d levels deep here (runtime.MaxSyntaxDepth): split the expression (a long chain of operators, calls or indexes) into several statements",
				limit)}
		}
		push(it.depth+1, syntaxChildren(it.n)...)
	}
	return nil
}

// syntaxChildren returns the direct children of n (nil entries for absent parts).
func syntaxChildren(n syntax.Node) []syntax.Node {
	exprs := func(list []syntax.Expr) []syntax.Node {
		out := make([]syntax.Node, len(list))
		for i, e := range list {
			out[i] = e
		}
		return out
	}
	stmts := func(list []syntax.Stmt) []syntax.Node {
		out := make([]syntax.Node, len(list))
		for i, s := range list {
			out[i] = s
		}
		return out
	}
	orNil := func(e syntax.Expr) syntax.Node {
		if e == nil {
			return nil
		}
		return e
	}
	switch n := n.(type) {
	case *syntax.AssignStmt:
		return []syntax.Node{n.LHS, n.RHS}
	case *syntax.DefStmt:
		return append(exprs(n.Params), stmts(n.Body)...)
	case *syntax.ExprStmt:
		return []syntax.Node{n.X}
	case *syntax.ForStmt:
		return append([]syntax.Node{n.Vars, n.X}, stmts(n.Body)...)
	case *syntax.WhileStmt:
		return append([]syntax.Node{n.Cond}, stmts(n.Body)...)
	case *syntax.IfStmt:
		return append(append([]syntax.Node{n.Cond}, stmts(n.True)...), stmts(n.False)...)
	case *syntax.ReturnStmt:
		return []syntax.Node{orNil(n.Result)}
	case *syntax.LoadStmt, *syntax.BranchStmt, *syntax.Ident, *syntax.Literal:
		return nil
	case *syntax.BinaryExpr:
		return []syntax.Node{n.X, n.Y}
	case *syntax.UnaryExpr:
		return []syntax.Node{orNil(n.X)}
	case *syntax.CallExpr:
		return append([]syntax.Node{n.Fn}, exprs(n.Args)...)
	case *syntax.DotExpr:
		return []syntax.Node{n.X}
	case *syntax.IndexExpr:
		return []syntax.Node{n.X, n.Y}
	case *syntax.SliceExpr:
		return []syntax.Node{n.X, orNil(n.Lo), orNil(n.Hi), orNil(n.Step)}
	case *syntax.ParenExpr:
		return []syntax.Node{n.X}
	case *syntax.TupleExpr:
		return exprs(n.List)
	case *syntax.ListExpr:
		return exprs(n.List)
	case *syntax.DictExpr:
		return exprs(n.List)
	case *syntax.DictEntry:
		return []syntax.Node{n.Key, n.Value}
	case *syntax.CondExpr:
		return []syntax.Node{n.Cond, n.True, n.False}
	case *syntax.Comprehension:
		out := []syntax.Node{n.Body}
		for _, c := range n.Clauses {
			out = append(out, c)
		}
		return out
	case *syntax.ForClause:
		return []syntax.Node{n.Vars, n.X}
	case *syntax.IfClause:
		return []syntax.Node{n.Cond}
	case *syntax.LambdaExpr:
		return append(exprs(n.Params), n.Body)
	}
	// A node type this version does not know: counted as a leaf. The parser's own
	// recursion limit still bounds what it builds recursively.
	return nil
}
