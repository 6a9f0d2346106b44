package runtime

import (
	"strings"

	"go.starlark.net/syntax"
)

// The compiler cannot be hooked, and go.starlark.net checks the size of only one
// operation (repetition, against a fixed 1 GiB of elements, which for a list is 16 GiB).
// So, before compiling, the loader rewrites each expression that can allocate much more
// than its operands into a call of a check, a predeclared builtin that computes the size
// the operation would allocate, refuses it over Limits.MaxAllocBytes, and otherwise
// performs exactly the original operation:
//
//	x + y      ->  $add(x, y)       (not when an operand is a number literal: i + 1)
//	x + y + z  ->  $concat(x, y, z) (a chain of + fused into one check, see below)
//	x * y      ->  $mul(x, y)       (not when an operand is a float literal)
//	x % y      ->  $mod(x, y)       (not when an operand is a number literal: i % 2)
//	x << y     ->  $shl(x, y)
//	t op= y    ->  t op= $augment_op(t, y)   for +=, *=, %=, <<=; the check returns y
//	x.name     ->  $attr(x, "name") for the method names that allocate or iterate (see
//	               checkedMethods); getattr(x, name) is checked the same way (checks.go)
//	f(*x)      ->  f(*$star(x))     (the call collects the elements of x)
//	x.join(y)  ->  $call_join(x, y) (and x.replace(...), x.format(...), x.append(...),
//	               x.insert(...): a direct call of one of these methods, without *args or
//	               **kwargs, is one builtin call, with no bound method; format.go)
//	x.replace("a", "b").replace("c", "d")
//	           ->  $call_replace_chain(x, "a", "b", "c", "d") (a chain of replaces of string
//	               literals by string literals is one call; replaceChain)
//	x == y     ->  $eq(x, y)        and !=, <, <=, >, >= (not when an operand is a literal),
//	x in y     ->  $in(x, y)        not in (not when y is a literal): these hash or
//	                                compare, which costs a visit per path (work.go)
//	x | y      ->  $or(x, y)        and &, ^, - (not when an operand is a number literal):
//	                                on sets and dicts they copy and hash
//	x[k]       ->  x[$key(k)]       (not when k is a literal), also as a target, and the
//	                                keys of dict displays {k: v}: a dict key is hashed
//	x[i:j]     ->  $sliced(x[i:j])  charges the copy a slice makes
//
// The depth of calls is bounded by the interpreter (Thread.SetMaxCallDepth in the fork of
// go.starlark.net), not by a check in each function.
//
// A chain a + b + c (left to right, without parentheses) becomes one $concat(a, b, c),
// which joins strings with one allocation instead of one per +, and otherwise adds pair by
// pair from the left exactly as the chain would. What differs is only the order of
// evaluation when an addition fails: every operand of the chain is evaluated first, so
// in "a" + 1 + f(), f is called before the type error of "a" + 1 is reported.
//
// Universe functions that allocate (list, str, sorted, ...) are replaced by checked
// versions of the same name instead (see checks.go); they need no rewriting.
//
// Names starting with "$" cannot be written in Starlark, so stored code can neither call
// the checks nor shadow them. Each inserted call is placed at the position of the operator
// it replaces, so tracebacks point where they did. rewriteVersion is part of every cache
// key: change it whenever the rewriting changes.
const rewriteVersion = "checks-8"

// Names of the checks the rewriting inserts.
const (
	checkAdd  = "$add"
	checkMul  = "$mul"
	checkMod  = "$mod"
	checkShl  = "$shl"
	checkAttr = "$attr"
	checkStar = "$star"

	checkAugmentAdd = "$augment_add"
	checkAugmentMul = "$augment_mul"
	checkAugmentMod = "$augment_mod"
	checkAugmentShl = "$augment_shl"
)

// checkedMethods are the method names whose result can be much larger than their operands
// (join, replace, format, split...), that materialise a lazy argument (extend(range(n))),
// or that iterate one inside their call (set([0]).issuperset(range(1 << 60))). x.name for
// these names is rewritten whatever x is; the check looks at x's type.
var checkedMethods = map[string]bool{
	"join": true, "replace": true, "format": true,
	"split": true, "rsplit": true, "splitlines": true,
	"extend": true, "update": true, "union": true, "symmetric_difference": true,
	"intersection": true, "difference": true, "issubset": true, "issuperset": true,
	"in_location": true, // of the time module's times: refuses the server's "Local" zone
	// Hash or compare their argument (workchecks.go).
	"get": true, "pop": true, "setdefault": true, "add": true, "remove": true, "discard": true, "index": true,
	// Allocate in proportion to their receiver.
	"upper": true, "lower": true, "title": true, "capitalize": true, "items": true, "keys": true, "values": true,
}

// rewrite inserts the checks into f, in place, before it is resolved and compiled. It
// fails, with a syntax.Error at the statement, only on an augmented assignment it cannot
// check (see augment).
func rewrite(f *syntax.File) error {
	r := &rewriter{}
	f.Stmts = r.stmts(f.Stmts)
	return r.err
}

// rewriter rewrites one file; err is its first error.
type rewriter struct {
	err error
}

func (r *rewriter) fail(pos syntax.Position, msg string) {
	if r.err == nil {
		r.err = syntax.Error{Pos: pos, Msg: msg}
	}
}

func (r *rewriter) stmts(stmts []syntax.Stmt) []syntax.Stmt {
	for i, s := range stmts {
		stmts[i] = r.stmt(s)
	}
	return stmts
}

func (r *rewriter) stmt(s syntax.Stmt) syntax.Stmt {
	switch s := s.(type) {
	case *syntax.AssignStmt:
		if s.Op != syntax.EQ {
			return r.augment(s)
		}
		s.LHS = r.target(s.LHS)
		s.RHS = r.expr(s.RHS)
	case *syntax.DefStmt:
		r.params(s.Params)
		s.Body = r.stmts(s.Body)
	case *syntax.ExprStmt:
		s.X = r.expr(s.X)
	case *syntax.ForStmt:
		s.Vars = r.target(s.Vars)
		s.X = r.expr(s.X)
		s.Body = r.stmts(s.Body)
	case *syntax.WhileStmt:
		s.Cond = r.expr(s.Cond)
		s.Body = r.stmts(s.Body)
	case *syntax.IfStmt:
		s.Cond = r.expr(s.Cond)
		s.True = r.stmts(s.True)
		s.False = r.stmts(s.False)
	case *syntax.ReturnStmt:
		if s.Result != nil {
			s.Result = r.expr(s.Result)
		}
	case *syntax.BranchStmt, *syntax.LoadStmt:
	}
	return s
}

// params rewrites the default values of parameters.
func (r *rewriter) params(params []syntax.Expr) {
	for _, p := range params {
		if b, ok := p.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
			b.Y = r.expr(b.Y)
		}
	}
}

// augmentChecks maps an augmented assignment operator to its check.
var augmentChecks = map[syntax.Token]string{
	syntax.PLUS_EQ:    checkAugmentAdd,
	syntax.STAR_EQ:    checkAugmentMul,
	syntax.PERCENT_EQ: checkAugmentMod,
	syntax.LTLT_EQ:    checkAugmentShl,
}

// augment rewrites t op= y into t op= $augment_op(t, y): the check sees both operands and
// returns y, and the assignment then does what it always did (for a list, += extends it
// in place). t is evaluated twice, which is harmless only if evaluating it has no effect,
// so t must be pure (names, literals, attributes and indexes of those); otherwise += is
// rewritten to t += $augment_add(None, y), which checks y alone (growth by concatenation
// is bounded by the heap guard), and *=, %= and <<= are refused.
func (r *rewriter) augment(s *syntax.AssignStmt) syntax.Stmt {
	s.LHS = r.target(s.LHS)
	s.RHS = r.expr(s.RHS)
	check, ok := augmentChecks[s.Op]
	if !ok {
		return s
	}
	if !pure(s.LHS) {
		if s.Op != syntax.PLUS_EQ {
			r.fail(s.OpPos, "the target of "+s.Op.String()+" calls a function, so the size of the result cannot be checked: assign the value to a variable and use "+s.Op.String()+" on it")
			return s
		}
		s.RHS = call(s.OpPos, check, &syntax.Ident{NamePos: s.OpPos, Name: "None"}, s.RHS)
		return s
	}
	s.RHS = call(s.OpPos, check, clone(s.LHS), s.RHS)
	return s
}

// target rewrites the expressions inside an assignment target, leaving the target itself
// assignable.
func (r *rewriter) target(e syntax.Expr) syntax.Expr {
	switch e := e.(type) {
	case *syntax.IndexExpr:
		e.X = r.expr(e.X)
		e.Y = key(r.expr(e.Y))
	case *syntax.DotExpr:
		e.X = r.expr(e.X)
	case *syntax.TupleExpr:
		for i, x := range e.List {
			e.List[i] = r.target(x)
		}
	case *syntax.ListExpr:
		for i, x := range e.List {
			e.List[i] = r.target(x)
		}
	case *syntax.ParenExpr:
		e.X = r.target(e.X)
	}
	return e
}

func (r *rewriter) exprs(list []syntax.Expr) {
	for i, x := range list {
		list[i] = r.expr(x)
	}
}

func (r *rewriter) expr(e syntax.Expr) syntax.Expr {
	switch e := e.(type) {
	case *syntax.BinaryExpr:
		e.X = r.expr(e.X)
		e.Y = r.expr(e.Y)
		return binary(e)
	case *syntax.UnaryExpr:
		if e.X != nil {
			e.X = r.expr(e.X)
		}
	case *syntax.CallExpr:
		if dot, ok := e.Fn.(*syntax.DotExpr); ok && directMethods[dot.Name.Name] != "" && !hasStarArgs(e.Args) {
			// x.name(args) -> $call_name(x, args): keyword arguments stay after x.
			dot.X = r.expr(dot.X)
			r.exprs(e.Args)
			e.Fn = &syntax.Ident{NamePos: dot.Dot, Name: directMethods[dot.Name.Name]}
			e.Args = append([]syntax.Expr{dot.X}, e.Args...)
			return replaceChain(e)
		}
		e.Fn = r.expr(e.Fn)
		r.exprs(e.Args) // keyword arguments are BinaryExpr{EQ}: only their value changes
		for _, a := range e.Args {
			if star, ok := a.(*syntax.UnaryExpr); ok && star.Op == syntax.STAR {
				star.X = call(star.OpPos, checkStar, star.X)
			}
		}
	case *syntax.DotExpr:
		e.X = r.expr(e.X)
		if checkedMethods[e.Name.Name] {
			name := &syntax.Literal{Token: syntax.STRING, TokenPos: e.NamePos, Raw: `"` + e.Name.Name + `"`, Value: e.Name.Name}
			return call(e.Dot, checkAttr, e.X, name)
		}
	case *syntax.IndexExpr:
		e.X = r.expr(e.X)
		e.Y = key(r.expr(e.Y))
	case *syntax.SliceExpr:
		e.X = r.expr(e.X)
		for _, p := range []*syntax.Expr{&e.Lo, &e.Hi, &e.Step} {
			if *p != nil {
				*p = r.expr(*p)
			}
		}
		if e.Step != nil {
			return call(e.Lbrack, checkSliced, e, &syntax.Ident{NamePos: e.Lbrack, Name: "True"})
		}
		return call(e.Lbrack, checkSliced, e)
	case *syntax.ParenExpr:
		e.X = r.expr(e.X)
	case *syntax.TupleExpr:
		r.exprs(e.List)
	case *syntax.ListExpr:
		r.exprs(e.List)
	case *syntax.DictExpr:
		r.exprs(e.List)
	case *syntax.DictEntry:
		e.Key = key(r.expr(e.Key))
		e.Value = r.expr(e.Value)
	case *syntax.CondExpr:
		e.Cond = r.expr(e.Cond)
		e.True = r.expr(e.True)
		e.False = r.expr(e.False)
	case *syntax.Comprehension:
		e.Body = r.expr(e.Body)
		for _, c := range e.Clauses {
			switch c := c.(type) {
			case *syntax.ForClause:
				c.Vars = r.target(c.Vars)
				c.X = r.expr(c.X)
			case *syntax.IfClause:
				c.Cond = r.expr(c.Cond)
			}
		}
	case *syntax.LambdaExpr:
		r.params(e.Params)
		e.Body = r.expr(e.Body)
	case *syntax.Ident, *syntax.Literal:
	}
	return e
}

// binaryChecks maps a binary operator to its check.
var binaryChecks = map[syntax.Token]string{
	syntax.PLUS:    checkAdd,
	syntax.STAR:    checkMul,
	syntax.PERCENT: checkMod,
	syntax.LTLT:    checkShl,
}

// key returns the check of k as a dict key, or k if it is a scalar.
func key(k syntax.Expr) syntax.Expr {
	if scalar(k) {
		return k
	}
	pos, _ := k.Span()
	return call(pos, checkKey, k)
}

// binary returns the check call replacing e, or e when its operator cannot allocate much
// or an operand shows it is arithmetic.
func binary(e *syntax.BinaryExpr) syntax.Expr {
	if check, ok := compareChecks[e.Op]; ok {
		if scalar(e.X) || scalar(e.Y) {
			return e // comparing with a scalar (or finding one) visits nothing else
		}
		return call(e.OpPos, check, e.X, e.Y)
	}
	if check, ok := setChecks[e.Op]; ok {
		if isNumber(e.X, true) || isNumber(e.Y, true) {
			return e
		}
		return call(e.OpPos, check, e.X, e.Y)
	}
	check, ok := binaryChecks[e.Op]
	if !ok {
		return e
	}
	switch e.Op {
	case syntax.PLUS, syntax.PERCENT:
		// A number literal operand makes this arithmetic (or a type error): i + 1, i % 2.
		if isNumber(e.X, true) || isNumber(e.Y, true) {
			return e
		}
	case syntax.STAR:
		// "ab" * 3 repeats, so an int literal proves nothing; a float literal does.
		if isNumber(e.X, false) || isNumber(e.Y, false) {
			return e
		}
	}
	if e.Op == syntax.PLUS {
		// A sum of string literals is folded by the compiler, and bounded by the source.
		if stringSum(e) {
			return e
		}
		// (a + b) + c, already rewritten to $add(a, b) or $concat(a, b, ...): one $concat.
		if x, ok := e.X.(*syntax.CallExpr); ok {
			if id, ok := x.Fn.(*syntax.Ident); ok && (id.Name == checkAdd || id.Name == checkConcat) && len(x.Args) < maxConcat {
				id.Name = checkConcat
				last := &x.Args[len(x.Args)-1]
				if stringSum(*last) && stringSum(e.Y) {
					// Adjacent literals stay a sum, which the compiler folds.
					*last = &syntax.BinaryExpr{X: *last, OpPos: e.OpPos, Op: syntax.PLUS, Y: e.Y}
				} else {
					x.Args = append(x.Args, e.Y)
				}
				_, x.Rparen = e.Y.Span()
				return x
			}
		}
	}
	return call(e.OpPos, check, e.X, e.Y)
}

// stringSum reports whether e is a string literal or a sum of them (without parentheses).
func stringSum(e syntax.Expr) bool {
	switch e := e.(type) {
	case *syntax.Literal:
		return e.Token == syntax.STRING
	case *syntax.BinaryExpr:
		return e.Op == syntax.PLUS && stringSum(e.X) && stringSum(e.Y)
	}
	return false
}

// maxConcat is the most operands of one $concat (a call has at most 255 arguments); a
// longer chain nests: $concat($concat(...), ...).
const maxConcat = 128

// hasStarArgs reports whether a call's arguments include *args or **kwargs.
func hasStarArgs(args []syntax.Expr) bool {
	for _, a := range args {
		if u, ok := a.(*syntax.UnaryExpr); ok && (u.Op == syntax.STAR || u.Op == syntax.STARSTAR) {
			return true
		}
	}
	return false
}

// scalar reports whether e certainly evaluates to a scalar (a number, string or bool) or
// fails: hashing or comparing it visits nothing else. It is a literal, a unary operation,
// a comparison, or arithmetic with a number literal (i + 1, i % 100: a list or tuple
// operand fails, a string % formats a string).
func scalar(e syntax.Expr) bool {
	switch e := e.(type) {
	case *syntax.Literal, *syntax.UnaryExpr:
		return true
	case *syntax.ParenExpr:
		return scalar(e.X)
	case *syntax.BinaryExpr:
		switch e.Op {
		case syntax.EQL, syntax.NEQ, syntax.LT, syntax.LE, syntax.GT, syntax.GE, syntax.IN, syntax.NOT_IN:
			return true
		case syntax.PLUS, syntax.MINUS, syntax.PERCENT, syntax.SLASH, syntax.SLASHSLASH:
			return isNumber(e.X, true) || isNumber(e.Y, true)
		}
	case *syntax.CallExpr:
		// A comparison already rewritten into its check.
		if id, ok := e.Fn.(*syntax.Ident); ok {
			for _, name := range compareChecks {
				if id.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// isNumber reports whether e is a float literal, or an int literal if ints is set.
func isNumber(e syntax.Expr, ints bool) bool {
	lit, ok := e.(*syntax.Literal)
	return ok && (lit.Token == syntax.FLOAT || ints && lit.Token == syntax.INT)
}

// replaceChain fuses e, a direct call $call_replace(x, old, new), into the call of its
// receiver when both replace a string literal with one:
//
//	x.replace("&", "&amp;").replace("<", "&lt;")
//	    ->  $call_replace_chain(x, "&", "&amp;", "<", "&lt;")
//
// and so on along a longer chain. The literals are evaluated in any order with the same
// effect, so x first, then the replacements in order, is what the chain did; the fused call
// keeps the position of the first replace, where an error of x.replace points.
func replaceChain(e *syntax.CallExpr) syntax.Expr {
	if e.Fn.(*syntax.Ident).Name != checkRepl || !stringLiterals(e.Args[1:]) || len(e.Args) != 3 {
		return e
	}
	inner, ok := e.Args[0].(*syntax.CallExpr)
	if !ok {
		return e
	}
	fn, ok := inner.Fn.(*syntax.Ident)
	if !ok || !(fn.Name == checkRepl && len(inner.Args) == 3 || fn.Name == checkReplChain) || !stringLiterals(inner.Args[1:]) {
		return e
	}
	fn.Name = checkReplChain
	inner.Args = append(inner.Args, e.Args[1:]...)
	inner.Rparen = e.Rparen
	return inner
}

// stringLiterals reports whether every one of args is a string literal (not a keyword
// argument).
func stringLiterals(args []syntax.Expr) bool {
	for _, a := range args {
		if lit, ok := a.(*syntax.Literal); !ok || lit.Token != syntax.STRING {
			return false
		}
	}
	return true
}

// call returns the call name(args...) placed at pos.
func call(pos syntax.Position, name string, args ...syntax.Expr) *syntax.CallExpr {
	end := pos
	if len(args) > 0 {
		_, end = args[len(args)-1].Span()
	}
	return &syntax.CallExpr{Fn: &syntax.Ident{NamePos: pos, Name: name}, Lparen: pos, Args: args, Rparen: end}
}

// pure reports whether evaluating e has no effect other than its value (and perhaps an
// error), so that evaluating it twice is harmless.
func pure(e syntax.Expr) bool {
	switch e := e.(type) {
	case *syntax.Ident, *syntax.Literal:
		return true
	case *syntax.ParenExpr:
		return pure(e.X)
	case *syntax.DotExpr:
		return pure(e.X)
	case *syntax.IndexExpr:
		return pure(e.X) && pure(e.Y)
	case *syntax.UnaryExpr:
		return e.X != nil && pure(e.X)
	case *syntax.BinaryExpr:
		return pure(e.X) && pure(e.Y)
	case *syntax.CallExpr:
		// A check inserted by rewriting (x[i * 2]) has no effect besides its check.
		// ($call_name calls a method, which may be a function of stored code.)
		if id, ok := e.Fn.(*syntax.Ident); ok && id.Name != "" && id.Name[0] == '$' && !strings.HasPrefix(id.Name, "$call_") {
			for _, a := range e.Args {
				if !pure(a) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// clone returns a copy of the pure expression e whose nodes are not shared with e (the
// resolver annotates identifiers in place).
func clone(e syntax.Expr) syntax.Expr {
	switch e := e.(type) {
	case *syntax.Ident:
		return &syntax.Ident{NamePos: e.NamePos, Name: e.Name}
	case *syntax.Literal:
		c := *e
		return &c
	case *syntax.ParenExpr:
		return &syntax.ParenExpr{Lparen: e.Lparen, X: clone(e.X), Rparen: e.Rparen}
	case *syntax.DotExpr:
		return &syntax.DotExpr{X: clone(e.X), Dot: e.Dot, NamePos: e.NamePos, Name: &syntax.Ident{NamePos: e.Name.NamePos, Name: e.Name.Name}}
	case *syntax.IndexExpr:
		return &syntax.IndexExpr{X: clone(e.X), Lbrack: e.Lbrack, Y: clone(e.Y), Rbrack: e.Rbrack}
	case *syntax.UnaryExpr:
		return &syntax.UnaryExpr{OpPos: e.OpPos, Op: e.Op, X: clone(e.X)}
	case *syntax.BinaryExpr:
		return &syntax.BinaryExpr{OpPos: e.OpPos, Op: e.Op, X: clone(e.X), Y: clone(e.Y)}
	case *syntax.CallExpr:
		args := make([]syntax.Expr, len(e.Args))
		for i, a := range e.Args {
			args[i] = clone(a)
		}
		return &syntax.CallExpr{Fn: clone(e.Fn), Lparen: e.Lparen, Args: args, Rparen: e.Rparen}
	}
	panic("runtime: clone of an impure expression") // pure() admitted only the types above
}
