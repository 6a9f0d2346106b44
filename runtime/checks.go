package runtime

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// MaxIntBits bounds the integers that multiplication, shifting and int() of a string can
// make. Big-integer arithmetic runs inside one instruction, which cannot be cancelled, and
// its time grows faster than the size of its operands; a million bits keeps one operation
// within milliseconds. Addition can still grow an integer by one bit per step.
const MaxIntBits = 1 << 20

// checks holds one Loader's limits and provides the builtins that enforce them: the
// checks the rewriting inserts (rewrite.go), and checked versions of the universe
// functions that allocate. Each check computes what the operation would allocate before
// it runs, refuses it over MaxAllocBytes with ErrMemoryLimit, charges it to the
// execution (for the heap guard), and then performs exactly the original operation.
type checks struct {
	maxAlloc    int64
	maxResponse int64

	universeGetattr *starlark.Builtin // the unchecked getattr, which c.getattr calls

	// methods are the checked methods, unbound (methods.go). Like the rest of checks, it
	// is built once and only read after: checks are safe for concurrent use.
	methods map[methodKey]*starlark.Builtin
}

func newChecks(lim Limits) *checks {
	c := &checks{
		maxAlloc: int64(lim.MaxAllocBytes), maxResponse: int64(lim.MaxResponseBytes),
		universeGetattr: starlark.Universe["getattr"].(*starlark.Builtin),
	}
	c.methods = c.buildMethods()
	return c
}

// predeclared returns the checks and the checked universe functions, by the names stored
// code reaches them with. They override the universe and the unchecked builtins.
func (c *checks) predeclared() starlark.StringDict {
	d := starlark.StringDict{
		checkAdd:        newCheck("+", c.binary(syntax.PLUS)),
		checkMul:        newCheck("*", c.binary(syntax.STAR)),
		checkMod:        newCheck("%", c.percent(c.binary(syntax.PERCENT))), // percentflags.go
		checkShl:        newCheck("<<", c.binary(syntax.LTLT)),
		checkAugmentAdd: newCheck("+=", c.augment(syntax.PLUS)),
		checkAugmentMul: newCheck("*=", c.augment(syntax.STAR)),
		checkAugmentMod: newCheck("%=", c.augment(syntax.PERCENT)),
		checkAugmentShl: newCheck("<<=", c.augment(syntax.LTLT)),
		checkAttr:       newCheck("getattr", c.attr),
		checkStar:       newCheck("*", c.star),
		"getattr":       starlark.NewBuiltin("getattr", c.getattr),
		"response":      starlark.NewBuiltin("response", c.response),
		"json":          c.json(),
	}
	for name, estimate := range map[string]estimator{
		"list":      c.collection("list", 0),
		"tuple":     c.collection("tuple", 0),
		"reversed":  c.collection("reversed", 0),
		"sorted":    c.collection("sorted", slotBytes),
		"set":       {c.set, c.describeCollection("set")},
		"enumerate": c.collection("enumerate", slotBytes+2*slotBytes+24),
		"zip":       {c.zip, c.describeZip},
		"bytes":     {c.bytes, c.describeBytes},
		"repr":      c.text(true),
		"print":     {c.joined, describedAs("the text of print() or fail()")},
		"fail":      {c.joined, describedAs("the text of print() or fail()")},
		"int":       {c.int, describedAs("int() of a string")},
	} {
		d[name] = c.wrap(starlark.Universe[name].(*starlark.Builtin), estimate)
	}
	general := c.wrap(starlark.Universe["str"].(*starlark.Builtin), c.text(false))
	d["str"] = newWrapper(general, "str", c.str(general))
	d[checkConcat] = newCheck("+", c.concat)
	for name, b := range c.directMethodBuiltins() {
		d[name] = b
	}
	// These iterate their argument inside one instruction: min(range(1 << 60)) would run
	// for years. Each element they visit counts as a step.
	for _, name := range []string{"min", "max", "any", "all"} {
		inner := starlark.Universe[name].(*starlark.Builtin)
		d[name] = newWrapper(inner, name, func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return callMetered(thread, inner, args, kwargs)
		})
	}
	c.addWorkChecks(d)
	return d
}

// An estimator bounds what a call would allocate: size returns it in bytes, or 0 when it
// cannot tell (for example on arguments of the wrong type), leaving the error to the
// function itself; describe names the operation for the error message. Only a refusal
// needs the description, so it is built only then: checks run on every call.
type estimator struct {
	size     func(args starlark.Tuple, kwargs []starlark.Tuple) (int64, error)
	describe func(args starlark.Tuple) string
}

// describedAs returns a describe function that always says what.
func describedAs(what string) func(starlark.Tuple) string {
	return func(starlark.Tuple) string { return what }
}

// wrap returns a builtin of the same name as inner that checks estimate first. inner is
// called without a frame of its own, so tracebacks are those of the unchecked function.
func (c *checks) wrap(inner *starlark.Builtin, estimate estimator) *starlark.Builtin {
	return newWrapper(inner, inner.Name(), func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		size, err := estimate.size(args, kwargs)
		if err != nil {
			return nil, err
		}
		if size > c.maxAlloc {
			return nil, c.refuse(estimate.describe(args), size)
		}
		c.charge(thread, size)
		return inner.CallInternal(thread, args, kwargs)
	})
}

// alloc admits an allocation of size bytes by the operation what, or refuses it.
func (c *checks) alloc(thread *starlark.Thread, what string, size int64) error {
	if size <= 0 {
		return nil
	}
	if size > c.maxAlloc {
		return c.refuse(what, size)
	}
	c.charge(thread, size)
	return nil
}

// charge counts an admitted allocation of size bytes in the execution's usage, which the
// heap guard weighs.
func (c *checks) charge(thread *starlark.Thread, size int64) {
	if size <= 0 {
		return
	}
	if e := executionOf(thread); e != nil {
		e.charged.Add(size)
		e.budget.charge(e, size)
		e.loader.watchdog.throttle(e, size)
	}
}

// maxElems is the most elements a collection built in one operation can have: each
// needs a slot. Counting a lazy iterable stops past it.
func (c *checks) maxElems() int64 { return c.maxAlloc/slotBytes + 1 }

func (c *checks) refuse(what string, size int64) error { return allocError(what, size, c.maxAlloc) }

// star is the check of f(*x): the interpreter collects the elements of x into the
// arguments inside the call instruction, so f(*range(1 << 30)) would allocate 16 GiB at
// once. It returns x.
func (c *checks) star(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 1 || len(kwargs) != 0 {
		return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
	}
	x := args[0]
	if n, ok := length(x, c.maxElems()); ok {
		if err := c.alloc(thread, fmt.Sprintf("*args of a %s of %d elements", x.Type(), n), satMul(n, elemBytes(x))); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// binary returns the check of x op y, which then computes x op y. The common cases,
// int + int, string + string and % of a string, take the fast paths of format.go: they
// run at every step of most loops.
func (c *checks) binary(op syntax.Token) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) != 2 || len(kwargs) != 0 {
			return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
		}
		x, y := args[0], args[1]
		switch op {
		case syntax.PLUS:
			return c.add(thread, x, y) // format.go
		case syntax.PERCENT:
			if format, ok := x.(starlark.String); ok {
				if s, ok := fastPercent(string(format), y, c.maxAlloc); ok { // format.go
					if len(s) >= smallBytes {
						c.charge(thread, int64(len(s)))
					}
					return starlark.String(s), nil
				}
			}
		}
		if err := c.checkBinary(thread, op, x, y); err != nil {
			return nil, err
		}
		return starlark.Binary(op, x, y)
	}
}

// augment returns the check of t op= y: it checks and returns y, and the assignment
// computes t op= y itself (for a list, += extends it in place). t is None when the
// target could not be evaluated twice; then only y is checked.
func (c *checks) augment(op syntax.Token) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) != 2 || len(kwargs) != 0 {
			return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
		}
		t, y := args[0], args[1]
		if list, ok := t.(*starlark.List); ok && op == syntax.PLUS {
			// list += iterable extends the list with any iterable, even a range.
			if _, isList := y.(*starlark.List); !isList {
				if n, ok := length(y, c.maxElems()); ok {
					size := satAdd(satMul(int64(list.Len()), slotBytes), satMul(n, elemBytes(y)))
					return y, c.alloc(thread, "list += "+y.Type(), size)
				}
			}
		}
		if t == starlark.None {
			if _, isString := y.(starlark.String); !isString {
				if n, ok := length(y, c.maxElems()); ok {
					return y, c.alloc(thread, "+= "+y.Type(), satMul(n, elemBytes(y)))
				}
			}
			return y, nil
		}
		return y, c.checkBinary(thread, op, t, y)
	}
}

type builtinFunc = func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)

// checkBinary checks what x op y would allocate.
func (c *checks) checkBinary(thread *starlark.Thread, op syntax.Token, x, y starlark.Value) error {
	var size int64
	switch op {
	case syntax.PLUS:
		size = concatSize(x, y)
	case syntax.STAR:
		if xi, ok := x.(starlark.Int); ok {
			if yi, ok := y.(starlark.Int); ok {
				if n := satAdd(intBits(xi), intBits(yi)); n > MaxIntBits {
					return intBitsError(describeBinary(op, x, y), n)
				}
				return nil
			}
			size = repeatSize(y, xi) // 3 * "ab" repeats like "ab" * 3
		} else if n, ok := y.(starlark.Int); ok {
			size = repeatSize(x, n)
		}
	case syntax.PERCENT:
		if format, ok := x.(starlark.String); ok {
			var err error
			if size, err = percentSize(string(format), y, c.maxAlloc); err != nil {
				return err
			}
		}
	case syntax.LTLT:
		if xi, ok := x.(starlark.Int); ok {
			if n, ok := y.(starlark.Int); ok {
				shift, _ := n.Int64()
				if bits := satAdd(intBits(xi), max(shift, 0)); bits > MaxIntBits {
					return intBitsError(describeBinary(op, x, y), bits)
				}
				return nil
			}
		}
	}
	if size > c.maxAlloc {
		return c.refuse(describeBinary(op, x, y), size)
	}
	c.charge(thread, size)
	return nil
}

// describeBinary names x op y for an error message.
func describeBinary(op syntax.Token, x, y starlark.Value) string {
	return x.Type() + " " + op.String() + " " + y.Type()
}

// intBitsError is the refusal of an operation what that would make an integer of n bits.
func intBitsError(what string, n int64) error {
	return fmt.Errorf("%w: %s would make an integer of %d bits, over the limit of %d bits (runtime.MaxIntBits)", ErrMemoryLimit, what, n, MaxIntBits)
}

// concatSize returns what x + y allocates when both are strings, bytes, lists or tuples.
func concatSize(x, y starlark.Value) int64 {
	switch x := x.(type) {
	case starlark.String:
		if y, ok := y.(starlark.String); ok {
			return int64(len(x)) + int64(len(y))
		}
	case starlark.Bytes:
		if y, ok := y.(starlark.Bytes); ok {
			return int64(len(x)) + int64(len(y))
		}
	case *starlark.List:
		if y, ok := y.(*starlark.List); ok {
			return slotBytes * (int64(x.Len()) + int64(y.Len()))
		}
	case starlark.Tuple:
		if y, ok := y.(starlark.Tuple); ok {
			return slotBytes * (int64(len(x)) + int64(len(y)))
		}
	}
	return 0
}

// repeatSize returns what x * n allocates when x is a string, bytes, list or tuple.
func repeatSize(x starlark.Value, n starlark.Int) int64 {
	times, ok := n.Int64()
	if !ok {
		times = 1 << 62 // too large for anything; go.starlark.net refuses it too
	}
	if times <= 0 {
		return 0
	}
	var unit int64
	switch x := x.(type) {
	case starlark.String:
		unit = int64(len(x))
	case starlark.Bytes:
		unit = int64(len(x))
	case *starlark.List:
		unit = slotBytes * int64(x.Len())
	case starlark.Tuple:
		unit = slotBytes * int64(len(x))
	}
	return satMul(unit, times)
}

// percentSize returns an upper bound of len(format % y).
func percentSize(format string, y starlark.Value, budget int64) (int64, error) {
	positional, isTuple := y.(starlark.Tuple)
	if !isTuple {
		positional = starlark.Tuple{y}
	}
	mapping, _ := y.(starlark.Mapping)
	size := int64(len(format))
	next := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i >= len(format) || format[i] == '%' {
			continue
		}
		var arg starlark.Value
		if format[i] == '(' {
			end := strings.IndexByte(format[i:], ')')
			if end < 0 || mapping == nil {
				break // the operation fails by itself
			}
			arg, _, _ = mapping.Get(starlark.String(format[i+1 : i+end]))
			i += end + 1
		} else if next < len(positional) {
			arg = positional[next]
			next++
		}
		if arg == nil || i >= len(format) {
			continue
		}
		n, err := renderedSize(arg, format[i] == 'r', false, budget-size)
		if err != nil {
			return 0, err
		}
		if size = satAdd(size, n); size > budget {
			break
		}
	}
	return size, nil
}

// formatSize returns an upper bound of len(format.format(*args, **kwargs)).
func formatSize(format string, args starlark.Tuple, kwargs []starlark.Tuple, budget int64) (int64, error) {
	size := int64(len(format))
	auto := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '{' {
			continue
		}
		if i+1 < len(format) && format[i+1] == '{' {
			i++
			continue
		}
		end := strings.IndexByte(format[i:], '}')
		if end < 0 {
			break
		}
		field := format[i+1 : i+end]
		i += end
		name, conv, _ := strings.Cut(field, "!")
		var arg starlark.Value
		if name == "" {
			if auto < len(args) {
				arg = args[auto]
			}
			auto++
		} else if n, err := strconv.Atoi(name); err == nil {
			if n >= 0 && n < len(args) {
				arg = args[n]
			}
		} else {
			for _, kw := range kwargs {
				if kw[0] == starlark.String(name) {
					arg = kw[1]
				}
			}
		}
		if arg == nil {
			continue
		}
		n, err := renderedSize(arg, conv == "r", false, budget-size)
		if err != nil {
			return 0, err
		}
		if size = satAdd(size, n); size > budget {
			break
		}
	}
	return size, nil
}

// getattr returns x.name as the interpreter would.
func getattr(x starlark.Value, name string) (starlark.Value, error) {
	if h, ok := x.(starlark.HasAttrs); ok {
		v, err := h.Attr(name)
		if err != nil || v != nil {
			return v, err
		}
	}
	return nil, fmt.Errorf("%s has no .%s field or method", x.Type(), name)
}

// joinSize returns what sep.join(iterable) allocates.
func (c *checks) joinSize(recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	if len(args) != 1 {
		return 0, nil
	}
	iterable, ok := args[0].(starlark.Iterable)
	if !ok {
		return 0, nil
	}
	// The pieces are collected first (a slot each), then joined with sep between them.
	sep := int64(len(recv.(starlark.String)))
	var size int64
	first := true
	for e := range starlark.Elements(iterable) {
		size = satAdd(size, slotBytes)
		if !first {
			size = satAdd(size, sep)
		}
		first = false
		if s, ok := e.(starlark.String); ok {
			size = satAdd(size, int64(len(s)))
		}
		if size > c.maxAlloc {
			break
		}
	}
	return size, nil
}

// replaceSize returns what s.replace(old, new[, count]) allocates.
func replaceSize(recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	s := string(recv.(starlark.String))
	if len(args) < 2 {
		return 0, nil
	}
	old, ok1 := args[0].(starlark.String)
	repl, ok2 := args[1].(starlark.String)
	if !ok1 || !ok2 || len(repl) <= len(old) {
		return int64(len(s)), nil
	}
	var n int64
	if old == "" {
		n = int64(utf8.RuneCountInString(s)) + 1
	} else {
		n = int64(strings.Count(s, string(old)))
	}
	if len(args) > 2 {
		if count, ok := args[2].(starlark.Int); ok {
			if k, ok := count.Int64(); ok && k >= 0 && k < n {
				n = k
			}
		}
	}
	return satAdd(int64(len(s)), satMul(n, int64(len(repl)-len(old)))), nil
}

// splitSize returns what s.split(sep=None, maxsplit=-1) (or rsplit) allocates: a string
// header and a slot for each piece (the pieces share the bytes of s).
func splitSize(recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (int64, error) {
	s := string(recv.(starlark.String))
	sep, maxsplit := starlark.Value(starlark.None), starlark.Value(starlark.None)
	if len(args) > 0 {
		sep = args[0]
	}
	if len(args) > 1 {
		maxsplit = args[1]
	}
	for _, kw := range kwargs {
		switch kw[0] {
		case starlark.String("sep"):
			sep = kw[1]
		case starlark.String("maxsplit"):
			maxsplit = kw[1]
		}
	}
	pieces := int64(len(s))/2 + 1 // words separated by white space
	if sep, ok := sep.(starlark.String); ok && sep != "" {
		pieces = int64(strings.Count(s, string(sep))) + 1
	}
	if m, ok := maxsplit.(starlark.Int); ok {
		if k, ok := m.Int64(); ok && k >= 0 && k+1 < pieces {
			pieces = k + 1
		}
	}
	return satMul(pieces, slotBytes+boxedBytes), nil
}

// collection estimates list(x), tuple(x), sorted(x), reversed(x) or enumerate(x): extra
// bytes per element besides the element's slot.
func (c *checks) collection(name string, extra int64) estimator {
	return estimator{
		size: func(args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			if len(args) == 0 {
				return 0, nil
			}
			n, _ := length(args[0], c.maxElems())
			return satMul(n, elemBytes(args[0])+extra), nil
		},
		describe: c.describeCollection(name),
	}
}

// describeCollection describes name(x) for the error message.
func (c *checks) describeCollection(name string) func(starlark.Tuple) string {
	return func(args starlark.Tuple) string {
		n, _ := length(args[0], c.maxElems())
		return fmt.Sprintf("%s() of a %s of %d elements", name, args[0].Type(), n)
	}
}

func (c *checks) set(args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	if len(args) == 0 {
		return 0, nil
	}
	n, _ := length(args[0], c.maxElems())
	return satMul(n, setItemBytes), nil
}

func (c *checks) zip(args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	shortest := c.shortest(args)
	if shortest <= 0 {
		return 0, nil
	}
	perTuple := slotBytes + 24 + boxedBytes + slotBytes*int64(len(args))
	return satMul(shortest, perTuple), nil
}

func (c *checks) describeZip(args starlark.Tuple) string {
	return fmt.Sprintf("zip() of %d elements", c.shortest(args))
}

// shortest returns the length of the shortest of args that has one, or -1.
func (c *checks) shortest(args starlark.Tuple) int64 {
	var shortest int64 = -1
	for _, a := range args {
		if n, ok := length(a, c.maxElems()); ok && (shortest < 0 || n < shortest) {
			shortest = n
		}
	}
	return shortest
}

func (c *checks) bytes(args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
	if len(args) != 1 {
		return 0, nil
	}
	switch x := args[0].(type) {
	case starlark.String:
		return int64(len(x)) * 3, nil // invalid UTF-8 becomes U+FFFD
	case starlark.Bytes:
		return 0, nil
	}
	n, _ := length(args[0], c.maxElems())
	return n, nil
}

func (c *checks) describeBytes(args starlark.Tuple) string {
	if _, ok := args[0].(starlark.String); ok {
		return "bytes() of a string"
	}
	n, _ := length(args[0], c.maxElems())
	return fmt.Sprintf("bytes() of %d elements", n)
}

// text estimates str(x) or repr(x).
func (c *checks) text(quote bool) estimator {
	name := "str"
	if quote {
		name = "repr"
	}
	return estimator{
		size: func(args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			if len(args) != 1 {
				return 0, nil
			}
			// The scalars are sized as renderedSize would, without its walk: str(i) is
			// among the most common calls of all.
			switch x := args[0].(type) {
			case starlark.String:
				if !quote {
					return 0, nil // str of a string is the string itself
				}
			case starlark.Int:
				return intTextLen(x), nil
			case starlark.Float, starlark.Bool, starlark.NoneType:
				return 32, nil
			}
			return renderedSize(args[0], quote, false, c.maxAlloc)
		},
		describe: func(args starlark.Tuple) string { return fmt.Sprintf("%s() of a %s", name, args[0].Type()) },
	}
}

// joined estimates print(*args, sep=" ") and fail(*args, sep=" "), which convert their
// arguments with str and join them.
func (c *checks) joined(args starlark.Tuple, kwargs []starlark.Tuple) (int64, error) {
	var size int64
	for _, kw := range kwargs {
		if s, ok := kw[1].(starlark.String); ok && kw[0] == starlark.String("sep") {
			size = satMul(int64(len(s)), int64(len(args)))
		}
	}
	size = satAdd(size, int64(len(args))+8)
	for _, a := range args {
		n, err := renderedSize(a, false, false, c.maxAlloc-size)
		if err != nil {
			return 0, err
		}
		if size = satAdd(size, n); size > c.maxAlloc {
			break
		}
	}
	return size, nil
}

// int refuses to parse integers of more than MaxIntBits.
func (c *checks) int(args starlark.Tuple, kwargs []starlark.Tuple) (int64, error) {
	if len(args) == 0 {
		return 0, nil
	}
	s, ok := args[0].(starlark.String)
	if !ok {
		return 0, nil
	}
	base := starlark.Value(starlark.MakeInt(10))
	if len(args) > 1 {
		base = args[1]
	}
	for _, kw := range kwargs {
		if kw[0] == starlark.String("base") {
			base = kw[1]
		}
	}
	bitsPerDigit := int64(6) // bounds every base up to 36 (and 0, which reads the prefix)
	if b, ok := base.(starlark.Int); ok {
		if b, ok := b.Int64(); ok && b >= 2 && b <= 36 {
			bitsPerDigit = int64(bits.Len64(uint64(b - 1)))
		}
	}
	if n := satMul(int64(len(s)), bitsPerDigit); n > MaxIntBits {
		return 0, intBitsError("int() of a string", n)
	}
	return 0, nil
}

// response refuses a body over MaxResponseBytes, then builds the response.
func (c *checks) response(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	body := starlark.Value(starlark.None)
	if len(args) > 0 {
		body = args[0]
	}
	for _, kw := range kwargs {
		if kw[0] == starlark.String("body") {
			body = kw[1]
		}
	}
	var n int
	switch body := body.(type) {
	case starlark.String:
		n = len(body)
	case starlark.Bytes:
		n = len(body)
	}
	if int64(n) > c.maxResponse {
		return nil, fmt.Errorf("%w: a body of %s, over the limit of %s (Limits.MaxResponseBytes)",
			ErrResponseTooLarge, ByteSize(n), ByteSize(c.maxResponse))
	}
	return makeResponse(thread, b, args, kwargs)
}

// json returns the json module with its functions checked.
func (c *checks) json() *starlarkstruct.Module {
	member := func(name string) *starlark.Builtin { return json.Module.Members[name].(*starlark.Builtin) }
	encode, indent := member("encode"), member("indent")
	encodeSize := estimator{
		size: func(args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			if len(args) != 1 {
				return 0, nil
			}
			return renderedSize(args[0], true, true, c.maxAlloc)
		},
		describe: func(args starlark.Tuple) string { return "json.encode of a " + args[0].Type() },
	}
	indentSize := func(args starlark.Tuple, kwargs []starlark.Tuple) (int64, error) {
		if len(args) != 1 {
			return 0, nil
		}
		s, ok := args[0].(starlark.String)
		if !ok {
			return 0, nil
		}
		prefix, unit := "", "\t"
		for _, kw := range kwargs {
			if v, ok := kw[1].(starlark.String); ok {
				switch kw[0] {
				case starlark.String("prefix"):
					prefix = string(v)
				case starlark.String("indent"):
					unit = string(v)
				}
			}
		}
		return indentedSize(string(s), prefix, unit), nil
	}
	decodeSize := func(args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
		if len(args) == 0 {
			return 0, nil
		}
		s, _ := starlark.AsString(args[0])
		return decodedSize(s), nil
	}
	decode := c.wrap(member("decode"), estimator{decodeSize, describedAs("json.decode")})
	members := starlark.StringDict{
		"encode": c.wrap(encode, encodeSize),
		// The shape is checked first: the decoder recurses per level of nesting.
		"decode": starlark.NewBuiltin("json.decode", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(args) > 0 {
				if s, ok := starlark.AsString(args[0]); ok {
					if err := checkJSONShape(s); err != nil {
						// Like any text the decoder refuses: the default, if given.
						if def := decodeDefault(args, kwargs); def != nil {
							return def, nil
						}
						return nil, err
					}
				}
			}
			return decode.CallInternal(thread, args, kwargs)
		}),
		"indent": c.wrap(indent, estimator{indentSize, describedAs("json.indent")}),
	}
	// encode_indent(x, prefix=, indent=) is encode then indent: check both.
	members["encode_indent"] = starlark.NewBuiltin("json.encode_indent", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var x starlark.Value
		var prefix, unit starlark.String = "", "\t"
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "x", &x, "prefix?", &prefix, "indent?", &unit); err != nil {
			return nil, err
		}
		text, err := starlark.Call(thread, members["encode"], starlark.Tuple{x}, nil)
		if err != nil {
			return nil, err
		}
		return starlark.Call(thread, members["indent"], starlark.Tuple{text}, []starlark.Tuple{
			{starlark.String("prefix"), prefix}, {starlark.String("indent"), unit},
		})
	})
	return &starlarkstruct.Module{Name: "json", Members: members}
}

// decodeDefault returns the default argument of json.decode(x, default=...), or nil.
func decodeDefault(args starlark.Tuple, kwargs []starlark.Tuple) starlark.Value {
	if len(args) > 1 {
		return args[1]
	}
	for _, kw := range kwargs {
		if kw[0] == starlark.String("default") {
			return kw[1]
		}
	}
	return nil
}

// indentedSize returns an upper bound of the length of the JSON text s indented with
// prefix and unit, as json.indent does: each bracket and comma starts a new line of
// prefix and one unit per level of depth, and each colon gains a space.
func indentedSize(s, prefix, unit string) int64 {
	size := int64(len(s))
	depth := int64(0)
	line := func() { size = satAdd(size, satAdd(int64(len(prefix))+1, satMul(depth+1, int64(len(unit))))) }
	eachStructural(s, func(c byte) {
		switch c {
		case '[', '{':
			depth++
			line()
		case ']', '}':
			depth--
			line()
		case ',':
			line()
		case ':':
			size++
		}
	})
	return size
}

// eachStructural calls f with every byte of the JSON text s that is not inside a string.
func eachStructural(s string, f func(c byte)) {
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && c == '\\':
			i++
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		default:
			f(c)
		}
	}
}

// decodedSize returns an upper bound of what json.decode(s) allocates: its strings, and
// for each value a slot and its own representation.
func decodedSize(s string) int64 {
	values := int64(1)
	eachStructural(s, func(c byte) {
		switch c {
		case '[', '{', ',', ':':
			values++
		}
	})
	return satAdd(int64(len(s)), satMul(values, setItemBytes))
}
