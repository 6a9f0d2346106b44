package runtime

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Fast paths of the checks for the operations that build pages: concatenation chains,
// str(), % and str.format on strings, ints, bools and None, and the string methods join,
// replace and format called directly (x.join(y)).
//
// Each fast path computes exactly what go.starlark.net computes, for the operands it
// knows, and declines anything else (another type, a conversion it does not do, an
// error, an output that the checks would refuse): the general path then checks and runs
// the upstream operation, so errors and refusals are the upstream ones, word for word.
// TestFastPaths_MatchUpstream compares every fast path with the upstream operation on
// generated operands, and FuzzPercent and FuzzFormat on fuzzed ones.
//
// Their output is bounded before anything is allocated: a string counts its length, an
// int at most 20 digits, True, False and None their names, so the size is known before
// the text is built. A fast path never admits what the general check would refuse: it
// declines (and the general path refuses) whenever the general check's own estimate
// (sizes.go: 20 bytes for an int, 32 for a bool or None, a slot per element joined) is
// over MaxAllocBytes, so refusals do not depend on which path ran
// (TestFastPaths_AdmitNothingTheGeneralCheckRefuses). An operation whose output is bounded by construction below
// smallBytes is not charged to the execution: the 8 bytes per step the heap guard counts
// (guard.go) stand for such small allocations.

// smallBytes is the size below which a bounded allocation is not charged.
const smallBytes = 64

// Names of the checks of fused concatenation and of direct method calls.
const (
	checkConcat = "$concat"
	checkJoin   = "$call_join"
	checkRepl   = "$call_replace"
	checkFormat = "$call_format"
	checkAppend = "$call_append"
	checkInsert = "$call_insert"

	// checkReplChain is a chain of replace calls with literal arguments (replaceChain).
	checkReplChain = "$call_replace_chain"
)

// directMethods are the methods whose direct calls x.name(args) (without *args or
// **kwargs) are rewritten to $call_name(x, args...): one builtin call instead of two (the
// checked x.name, then its call) and no bound method allocated. join, replace and format
// build strings (checked, with native fast paths); append and insert are the methods
// pages call most, in loops.
var directMethods = map[string]string{
	"join":    checkJoin,
	"replace": checkRepl,
	"format":  checkFormat,
	"append":  checkAppend,
	"insert":  checkInsert,
}

// scalarLen returns the length of the text of v as str (or, with quote, repr) writes it,
// for the values the fast paths know: strings (str only), ints of 64 bits, bools and
// None.
func scalarLen(v starlark.Value, quote bool) (int64, bool) {
	switch v := v.(type) {
	case starlark.String:
		return int64(len(v)), !quote
	case starlark.Int:
		i, ok := v.Int64()
		if !ok {
			return 0, false
		}
		var buf [24]byte
		return int64(len(strconv.AppendInt(buf[:0], i, 10))), true
	case starlark.Bool:
		if v {
			return 4, true
		}
		return 5, true
	case starlark.NoneType:
		return 4, true
	}
	return 0, false
}

// estimatedLen is what the general check (renderedSize) counts for a scalar of scalarLen.
func estimatedLen(v starlark.Value) int64 {
	if s, ok := v.(starlark.String); ok {
		return int64(len(s))
	}
	if _, ok := v.(starlark.Int); ok {
		return 20 // intTextLen of an int64
	}
	return 32
}

// writeScalar writes the text of a value scalarLen accepted, as go.starlark.net's str
// writes it (an int in decimal, as Int.String and %d do).
func writeScalar(b *strings.Builder, v starlark.Value) {
	switch v := v.(type) {
	case starlark.String:
		b.WriteString(string(v))
	case starlark.Int:
		i, _ := v.Int64()
		var buf [24]byte
		b.Write(strconv.AppendInt(buf[:0], i, 10))
	case starlark.Bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case starlark.NoneType:
		b.WriteString("None")
	}
}

// smallIntTexts are str(i) for 0 <= i < 1000, made once: str() of a small int then
// allocates nothing.
var smallIntTexts = func() []starlark.Value {
	texts := make([]starlark.Value, 1000)
	for i := range texts {
		texts[i] = starlark.String(strconv.Itoa(i))
	}
	return texts
}()

// str is the checked str(x): the scalars directly, anything else through the general
// check of str (a list can print to far more than it holds).
func (c *checks) str(general *starlark.Builtin) builtinFunc {
	return func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) == 1 && len(kwargs) == 0 && c.maxAlloc >= 32 { // what the general check allows any scalar
			switch x := args[0].(type) {
			case starlark.String:
				return x, nil
			case starlark.Int:
				if i, ok := x.Int64(); ok {
					if i >= 0 && i < int64(len(smallIntTexts)) {
						return smallIntTexts[i], nil
					}
					return starlark.String(strconv.FormatInt(i, 10)), nil // as Int.String
				}
			case starlark.Bool, starlark.NoneType:
				return starlark.String(x.String()), nil
			}
		}
		return general.CallInternal(thread, args, kwargs)
	}
}

// concat is the check of a chain x0 + x1 + ... + xn (n >= 2), which the rewriting fuses
// into one call: strings are joined at once, with one allocation; anything else is added
// pair by pair from the left, each pair checked as $add checks it. The result is always
// that of ((x0 + x1) + ...) + xn; the only difference is that every operand is evaluated
// before the first addition, so when an addition fails (a type error) the operands to its
// right have been evaluated (see rewrite.go).
func (c *checks) concat(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 2 || len(kwargs) != 0 {
		return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
	}
	var size int64
	strs := true
	for _, a := range args {
		s, ok := a.(starlark.String)
		if !ok {
			strs = false
			break
		}
		size += int64(len(s)) // cannot overflow: each string exists
	}
	if strs && size <= c.maxAlloc {
		var sb strings.Builder
		sb.Grow(int(size))
		for _, a := range args {
			sb.WriteString(string(a.(starlark.String)))
		}
		if size >= smallBytes {
			c.charge(thread, size)
		}
		return starlark.String(sb.String()), nil
	}
	// Pair by pair, as the unfused chain would: the first refusal or error is the one
	// the chain would have met.
	x := args[0]
	for _, y := range args[1:] {
		var err error
		if x, err = c.add(thread, x, y); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// add is $add(x, y): x + y, checked.
func (c *checks) add(thread *starlark.Thread, x, y starlark.Value) (starlark.Value, error) {
	switch x := x.(type) {
	case starlark.Int:
		return starlark.Binary(syntax.PLUS, x, y) // integers grow by one bit
	case starlark.String:
		if y, ok := y.(starlark.String); ok {
			size := int64(len(x)) + int64(len(y))
			if size > c.maxAlloc {
				return nil, c.refuse(describeBinary(syntax.PLUS, x, y), size)
			}
			c.charge(thread, size)
			return x + y, nil // what starlark.Binary computes
		}
	}
	if err := c.checkBinary(thread, syntax.PLUS, x, y); err != nil {
		return nil, err
	}
	return starlark.Binary(syntax.PLUS, x, y)
}

// fastPercent computes format % y as go.starlark.net does (interpolate), when every
// conversion is %s, %d, %i, %r or %% and every argument a scalar of scalarLen (%d and %i:
// an int; %r: not a string), and the text is at most max bytes. ok is false otherwise.
func fastPercent(format string, y starlark.Value, max int64) (string, bool) {
	tuple, isTuple := y.(starlark.Tuple)
	nargs := 1
	if isTuple {
		nargs = len(tuple)
	}
	arg := func(i int) starlark.Value {
		if isTuple {
			return tuple[i]
		}
		return y
	}
	// First pass: check every conversion and size the text; estimate is percentSize's.
	size, estimate := int64(0), int64(len(format))
	index := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			size++
			continue
		}
		i++
		if i == len(format) {
			return "", false
		}
		c := format[i]
		if c == '%' {
			size++
			continue
		}
		if index >= nargs {
			return "", false
		}
		a := arg(index)
		index++
		var n int64
		var ok bool
		switch c {
		case 's':
			n, ok = scalarLen(a, false)
		case 'r':
			n, ok = scalarLen(a, true)
		case 'd', 'i':
			if _, isInt := a.(starlark.Int); isInt {
				n, ok = scalarLen(a, false)
			}
		}
		if !ok {
			return "", false
		}
		size += n
		estimate += estimatedLen(a)
	}
	if index != nargs || size > max || estimate > max {
		return "", false
	}
	// Second pass: write it.
	var sb strings.Builder
	sb.Grow(int(size))
	index = 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			j := strings.IndexByte(format[i:], '%')
			if j < 0 {
				sb.WriteString(format[i:])
				break
			}
			sb.WriteString(format[i : i+j])
			i += j - 1
			continue
		}
		i++
		if format[i] == '%' {
			sb.WriteByte('%')
			continue
		}
		writeScalar(&sb, arg(index))
		index++
	}
	return sb.String(), true
}

// fastFormat computes format.format(*args, **kwargs) as go.starlark.net does
// (string_format), when every field is {} or {name} without conversion or spec, every
// argument it names a scalar of scalarLen, and the text is at most max bytes. ok is
// false otherwise.
func fastFormat(format string, args starlark.Tuple, kwargs []starlark.Tuple, max int64) (string, bool) {
	// field returns the argument of the field at format[start:end], and the next
	// automatic index.
	field := func(name string, auto int) (starlark.Value, int, bool) {
		if name == "" {
			if auto >= len(args) {
				return nil, auto, false
			}
			return args[auto], auto + 1, true
		}
		if name[0] >= '0' && name[0] <= '9' {
			return nil, auto, false // manual numbering: the general path
		}
		for _, kv := range kwargs {
			if string(kv[0].(starlark.String)) == name {
				return kv[1], auto, true
			}
		}
		return nil, auto, false
	}
	size, estimate := int64(0), int64(len(format)) // estimate is formatSize's
	auto := 0
	for i := 0; i < len(format); i++ {
		switch format[i] {
		case '{':
			if i+1 < len(format) && format[i+1] == '{' {
				size++
				i++
				continue
			}
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				return "", false
			}
			name := format[i+1 : i+end]
			if strings.ContainsAny(name, "!:{.[") {
				return "", false
			}
			var a starlark.Value
			var ok bool
			if a, auto, ok = field(name, auto); !ok {
				return "", false
			}
			n, ok := scalarLen(a, false)
			if !ok {
				return "", false
			}
			size += n
			estimate += estimatedLen(a)
			i += end
		case '}':
			if i+1 == len(format) || format[i+1] != '}' {
				return "", false
			}
			size++
			i++
		default:
			size++
		}
	}
	if size > max || estimate > max {
		return "", false
	}
	var sb strings.Builder
	sb.Grow(int(size))
	auto = 0
	for i := 0; i < len(format); i++ {
		switch format[i] {
		case '{':
			if format[i+1] == '{' {
				sb.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(format[i:], '}')
			var a starlark.Value
			a, auto, _ = field(format[i+1:i+end], auto)
			writeScalar(&sb, a)
			i += end
		case '}':
			sb.WriteByte('}')
			i++
		default:
			j := strings.IndexAny(format[i:], "{}")
			if j < 0 {
				sb.WriteString(format[i:])
				i = len(format)
				continue
			}
			sb.WriteString(format[i : i+j])
			i += j - 1
		}
	}
	return sb.String(), true
}

// fastJoin computes sep.join(x) as go.starlark.net does when x is a list or tuple of
// strings and the text is at most max bytes.
func fastJoin(sep string, x starlark.Value, max int64) (string, bool) {
	var elems starlark.Indexable
	switch x := x.(type) {
	case *starlark.List:
		elems = x
	case starlark.Tuple:
		elems = x
	default:
		return "", false
	}
	n := elems.Len()
	if n == 0 {
		return "", true
	}
	size := int64(len(sep)) * int64(n-1)
	for i := range n {
		s, ok := elems.Index(i).(starlark.String)
		if !ok {
			return "", false
		}
		size += int64(len(s))
	}
	if size > max || size+slotBytes*int64(n) > max { // joinSize counts a slot per element
		return "", false
	}
	var sb strings.Builder
	sb.Grow(int(size))
	for i := range n {
		if i > 0 {
			sb.WriteString(sep)
		}
		sb.WriteString(string(elems.Index(i).(starlark.String)))
	}
	return sb.String(), true
}

// direct returns the builtin of $call_name(x, args...), the rewriting of the direct call
// x.name(args...): fast answers the calls it knows; otherwise the method x.name, checked
// as x.name is, is called with args. The builtin has the method's name, so tracebacks
// read as those of the method.
func (c *checks) direct(name string, fast func(thread *starlark.Thread, recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool)) *starlark.Builtin {
	return newCheck(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) == 0 {
			return nil, fmt.Errorf("internal error: %s check called with no receiver", b.Name())
		}
		recv, rest := args[0], args[1:]
		if v, ok := fast(thread, recv, rest, kwargs); ok {
			return v, nil
		}
		var m starlark.Value
		if checked := c.checkedMethod(recv, name); checked != nil {
			m = checked
		} else {
			var err error
			if m, err = getattr(recv, name); err != nil {
				return nil, err
			}
		}
		rest = forward(m, rest)
		if bm, ok := m.(*starlark.Builtin); ok {
			return bm.CallInternal(thread, rest, kwargs) // this call's frame stands for the method's
		}
		return starlark.Call(thread, m, rest, kwargs)
	})
}

// fastReplace is strings.Replace(s, old, repl, -1), checked and charged as str.replace
// is; replaced is false when old does not occur in s (r is s itself), and ok is false if
// the result would exceed MaxAllocBytes (the method then refuses it).
func (c *checks) fastReplace(thread *starlark.Thread, s, old, repl string) (r string, replaced, ok bool) {
	if int64(len(s)) > c.maxAlloc { // replaceSize counts at least s
		return "", false, false
	}
	if old == "" {
		size, _ := replaceSize(starlark.String(s), starlark.Tuple{starlark.String(old), starlark.String(repl)}, nil)
		if size > c.maxAlloc {
			return "", false, false
		}
		c.charge(thread, size)
		return strings.Replace(s, "", repl, -1), true, true // as string_replace
	}
	first := strings.Index(s, old)
	if first < 0 {
		return s, false, true // strings.Replace would return s itself
	}
	n := 1 + strings.Count(s[first+len(old):], old)
	size := satAdd(int64(len(s)), satMul(int64(n), int64(len(repl)-len(old))))
	if size > c.maxAlloc {
		return "", false, false
	}
	if len(repl) > len(old) {
		c.charge(thread, size)
	}
	return replaceAll(s, old, repl, first, n, int(size)), true, true
}

// replaceChain is $call_replace_chain(x, old1, new1, old2, new2, ...), the rewriting of a chain
// x.replace(old1, new1).replace(old2, new2)... whose arguments are string literals (see
// rewrite.go): each replace runs as its direct call (replace) would, in order, and only
// the last result becomes a value. A replace the fast path declines is the direct call,
// on the value so far, so that it answers or fails exactly as the chain would.
func (c *checks) replaceChain(thread *starlark.Thread, b, replace *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 5 || len(args)%2 == 0 || len(kwargs) != 0 {
		return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
	}
	cur := args[0] // the value so far, unless str holds it
	s, isStr := cur.(starlark.String)
	if isStr {
		if r, changed, ok := c.byteChain(thread, string(s), args[1:]); ok {
			if !changed {
				return cur, nil
			}
			return starlark.String(r), nil
		}
	}
	str, changed := string(s), false
	for i := 1; i < len(args); i += 2 {
		old, ok1 := args[i].(starlark.String)
		repl, ok2 := args[i+1].(starlark.String)
		if isStr && ok1 && ok2 {
			r, replaced, ok := c.fastReplace(thread, str, string(old), string(repl))
			if ok {
				str, changed = r, changed || replaced
				continue
			}
		}
		if changed {
			cur, changed = starlark.String(str), false
		}
		v, err := replace.CallInternal(thread, starlark.Tuple{cur, args[i], args[i+1]}, nil)
		if err != nil {
			return nil, err
		}
		cur = v
		s, isStr = cur.(starlark.String)
		str = string(s)
	}
	if changed {
		return starlark.String(str), nil
	}
	return cur, nil
}

// maxByteChain is the longest chain byteChain fuses (a chain of replaces of bytes longer
// than this is unusual; the steps then run one by one).
const maxByteChain = 16

// byteChain is the fast path of a replace chain whose olds are distinct single bytes and
// whose replacement strings contain none of the olds of later steps, as in HTML escaping
// (s.replace("&", "&amp;").replace("<", "&lt;")...): each byte of s that is an old is then
// replaced by its step's string and by nothing else, so the chain is one pass over s that
// allocates once. It answers what the steps would, one after the other, answer: the same
// string, changed false when no step found its old (the receiver is then the result), and
// the same checks and charges, in order: each step's input over MaxAllocBytes, or its result
// when it replaces something, declines (ok false: the steps then run one by one, and fail or
// answer as before), and a step that lengthens the string charges its result's size. Nothing
// is charged before the chain is known to be admitted.
func (c *checks) byteChain(thread *starlark.Thread, s string, pairs starlark.Tuple) (r string, changed, ok bool) {
	k := len(pairs) / 2
	if k > maxByteChain {
		return "", false, false
	}
	var step [256]uint8 // the step (1-based) whose old is the byte, 0 for none
	var repls [maxByteChain]string
	for i := range k {
		old, ok1 := pairs[2*i].(starlark.String)
		repl, ok2 := pairs[2*i+1].(starlark.String)
		if !ok1 || !ok2 || len(old) != 1 || step[old[0]] != 0 {
			return "", false, false
		}
		step[old[0]] = uint8(i + 1)
		repls[i] = string(repl)
	}
	// A byte a replacement brings in must be no later step's old (earlier steps are done).
	for i := range k {
		for j := 0; j < len(repls[i]); j++ {
			if later := step[repls[i][j]]; later > uint8(i+1) {
				return "", false, false
			}
		}
	}
	var count [maxByteChain]int64
	for i := 0; i < len(s); i++ {
		if st := step[s[i]]; st != 0 {
			count[st-1]++
		}
	}
	// The size after each step, checked as the step would check it.
	var sizes [maxByteChain]int64
	size := int64(len(s))
	for i := range k {
		if size > c.maxAlloc {
			return "", false, false
		}
		if count[i] > 0 {
			size = satAdd(size, satMul(count[i], int64(len(repls[i])-1)))
			if size > c.maxAlloc {
				return "", false, false
			}
			changed = true
		}
		sizes[i] = size
	}
	if !changed {
		return s, false, true
	}
	for i := range k {
		if count[i] > 0 && len(repls[i]) > 1 {
			c.charge(thread, sizes[i])
		}
	}
	var b strings.Builder
	b.Grow(int(size))
	start := 0
	for i := 0; i < len(s); i++ {
		if st := step[s[i]]; st != 0 {
			b.WriteString(s[start:i])
			b.WriteString(repls[st-1])
			start = i + 1
		}
	}
	b.WriteString(s[start:])
	return b.String(), true, true
}

// replaceAll is strings.Replace(s, old, repl, -1) for a non-empty old, whose n
// occurrences in s (the first at index first) make a result of size bytes: it scans s
// once more, where strings.Replace would count them again first.
func replaceAll(s, old, repl string, first, n, size int) string {
	var b strings.Builder
	b.Grow(size)
	start, at := 0, first
	for k := range n {
		b.WriteString(s[start:at])
		b.WriteString(repl)
		start = at + len(old)
		if k < n-1 {
			at = start + strings.Index(s[start:], old)
		}
	}
	b.WriteString(s[start:])
	return b.String()
}

// onString is the fast path of a direct call for a string receiver s.
func onString(fast func(thread *starlark.Thread, recv starlark.Value, s string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool)) func(*starlark.Thread, starlark.Value, starlark.Tuple, []starlark.Tuple) (starlark.Value, bool) {
	return func(thread *starlark.Thread, recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool) {
		if s, ok := recv.(starlark.String); ok {
			return fast(thread, recv, string(s), args, kwargs)
		}
		return nil, false
	}
}

// directMethodBuiltins returns the builtins of the direct method calls, by check name.
func (c *checks) directMethodBuiltins() starlark.StringDict {
	replace := c.direct("replace", onString(func(thread *starlark.Thread, recv starlark.Value, s string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool) {
		if len(args) != 2 || len(kwargs) != 0 {
			return nil, false
		}
		old, ok1 := args[0].(starlark.String)
		repl, ok2 := args[1].(starlark.String)
		if !ok1 || !ok2 {
			return nil, false
		}
		r, replaced, ok := c.fastReplace(thread, s, string(old), string(repl))
		if !ok {
			return nil, false
		}
		if !replaced {
			return recv, true // unchanged: s itself, already a value
		}
		return starlark.String(r), true
	}))
	return starlark.StringDict{
		checkJoin: c.direct("join", onString(func(thread *starlark.Thread, _ starlark.Value, sep string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool) {
			if len(args) != 1 || len(kwargs) != 0 {
				return nil, false
			}
			s, ok := fastJoin(sep, args[0], c.maxAlloc)
			if ok && int64(len(s)) >= smallBytes {
				c.charge(thread, int64(len(s)))
			}
			return starlark.String(s), ok
		})),
		checkRepl: replace,
		checkReplChain: newCheck("replace", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return c.replaceChain(thread, b, replace, args, kwargs)
		}),
		checkFormat: c.direct("format", onString(func(thread *starlark.Thread, _ starlark.Value, format string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool) {
			s, ok := fastFormat(format, args, kwargs, c.maxAlloc)
			if ok && int64(len(s)) >= smallBytes {
				c.charge(thread, int64(len(s)))
			}
			return starlark.String(s), ok
		})),
		checkAppend: c.direct("append", func(_ *starlark.Thread, recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool) {
			l, ok := recv.(*starlark.List)
			if !ok || len(args) != 1 || len(kwargs) != 0 || l.Append(args[0]) != nil {
				return nil, false // the method answers, or fails as it does
			}
			return starlark.None, true
		}),
		checkInsert: c.direct("insert", func(_ *starlark.Thread, recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool) {
			l, ok := recv.(*starlark.List)
			if !ok || len(args) != 2 || len(kwargs) != 0 {
				return nil, false
			}
			index, ok := args[0].(starlark.Int)
			if !ok {
				return nil, false
			}
			// An index beyond 32 bits (far out of any list) takes the method's path.
			i, exact := index.Int64()
			if !exact || i < math.MinInt32 || i > math.MaxInt32 || l.Insert(int(i), args[1]) != nil {
				return nil, false // the method answers, or fails as it does
			}
			return starlark.None, true
		}),
	}
}
