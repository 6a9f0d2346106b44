package runtime

import (
	"fmt"
	"math"
	"math/bits"
	"unicode"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Sizes used to estimate allocations. They are upper bounds for 64-bit Go.
const (
	slotBytes    = 16 // one Value in a list or tuple (an interface)
	boxedBytes   = 16 // a value made for a new slot: a string header, a small tuple...
	setItemBytes = 64 // one entry of a set or dict, with its share of the table
	maxNesting   = 1000
)

// satAdd and satMul add and multiply non-negative sizes, saturating at MaxInt64.
func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

func satMul(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// sizer bounds the length of the text str(), repr() or json.encode would produce for a
// value, without producing it. It stops walking as soon as the total exceeds budget, and
// every part it visits adds at least one byte, so its own work is bounded by the budget
// too, however much structure the value shares (a list of the same big string 1000 times,
// tuples nested as a DAG).
type sizer struct {
	budget int64
	json   bool  // JSON rules (strings always quoted, None is null)
	total  int64 // bytes so far
	path   []any // containers being walked, to detect cycles as str() does
}

// A multiMapping is a mapping whose keys may have several values (web.MultiDict): its
// str() writes every pair, where json.encode writes each key's first value (Items).
type multiMapping interface {
	// AllPairs calls yield with each key and value, in order, until it returns false.
	AllPairs(yield func(k, v starlark.Value) bool)
}

// A textSized value of another package knows the length of its str() (decimal), which
// its attributes (methods) do not tell.
type textSized interface {
	starlark.Value
	TextLen() int
}

// renderedSize returns an upper bound of len(str(v)), len(repr(v)) if quote, or
// len(json.encode(v)) if json. A result over budget means "more than budget". It fails
// only on values nested more than maxNesting levels deep.
func renderedSize(v starlark.Value, quote, json bool, budget int64) (int64, error) {
	z := &sizer{budget: budget, json: json}
	if err := z.value(v, quote || json, 0); err != nil {
		return 0, err
	}
	return z.total, nil
}

// add counts n bytes and reports whether the budget still holds.
func (z *sizer) add(n int64) bool {
	z.total = satAdd(z.total, n)
	return z.total <= z.budget
}

func (z *sizer) value(v starlark.Value, quote bool, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("%w: a %s nested more than %d levels deep cannot be converted to text", ErrDepthLimit, v.Type(), maxNesting)
	}
	if z.total > z.budget {
		return nil
	}
	switch v := v.(type) {
	case starlark.String:
		if quote {
			z.add(quotedLen(string(v)))
		} else {
			z.add(int64(len(v)))
		}
	case starlark.Bytes:
		z.add(quotedLen(string(v)) + 1)
	case starlark.Int:
		z.add(intTextLen(v))
	case starlark.Float, starlark.Bool, starlark.NoneType:
		z.add(32)
	case *starlark.List:
		return z.sequence(v, v.Len(), v.Elements(), depth)
	case starlark.Tuple:
		return z.sequence(nil, len(v), v.Elements(), depth)
	case *starlark.Set:
		z.add(7) // set([ ])
		return z.sequence(v, v.Len(), v.Elements(), depth)
	case *starlark.Dict:
		if z.enter(v) {
			return nil
		}
		defer z.leave()
		z.add(2)
		for k, val := range v.Entries() {
			if !z.add(4) {
				return nil
			}
			if err := z.value(k, true, depth+1); err != nil {
				return err
			}
			if err := z.value(val, true, depth+1); err != nil {
				return err
			}
		}
	case *starlarkstruct.Struct:
		if z.enter(v) {
			return nil
		}
		defer z.leave()
		z.add(int64(len(v.Constructor().String())) + 8)
		for name, val := range v.Entries() {
			if !z.add(int64(len(name)) + 6) {
				return nil
			}
			if err := z.value(val, true, depth+1); err != nil {
				return err
			}
		}
	case starlark.IterableMapping:
		// A mapping of another package (web.MultiDict: req.query, req.form()...):
		// json.encode writes its Items, str() every pair it holds. A multidict is walked
		// by its pairs for both (more than JSON writes, by its repeated keys' other
		// values), since Items allocates a slice each time a shared multidict is visited.
		if z.enter(v) {
			return nil
		}
		defer z.leave()
		z.add(int64(len(v.Type())) + 4)
		pairs := func(yield func(k, v starlark.Value) bool) {
			for _, item := range v.Items() {
				if !yield(item[0], item[1]) {
					return
				}
			}
		}
		if m, ok := v.(multiMapping); ok {
			pairs = m.AllPairs
		}
		var err error
		pairs(func(k, val starlark.Value) bool {
			if !z.add(6) {
				return false
			}
			if err = z.value(k, true, depth+1); err == nil {
				err = z.value(val, true, depth+1)
			}
			return err == nil && z.total <= z.budget
		})
		return err
	case starlark.Indexable:
		if !z.json {
			z.add(int64(len(v.String())) + 2)
			return nil
		}
		// A JSON encoder writes each element of a sequence (a range, too).
		n := v.Len()
		return z.sequence(nil, n, func(yield func(starlark.Value) bool) {
			for i := range n {
				if !yield(v.Index(i)) {
					return
				}
			}
		}, depth)
	case textSized:
		if !z.json {
			z.add(int64(v.TextLen()) + 2)
			return nil
		}
		z.add(int64(len(v.Type())) + 8) // json.encode refuses it (its methods)
	case starlark.HasAttrs:
		// A record of another package (a stored object, a response, a module): its
		// fields, as a struct's.
		if z.enter(v) {
			return nil
		}
		defer z.leave()
		z.add(int64(len(v.Type())) + 8)
		for _, name := range v.AttrNames() {
			if !z.add(int64(len(name)) + 6) {
				return nil
			}
			if attr, err := v.Attr(name); err == nil && attr != nil {
				if err := z.value(attr, true, depth+1); err != nil {
					return err
				}
			}
		}
	default:
		// A Go value of another package (a function...): its String is what str() and
		// repr() write, and it does not share structure.
		z.add(int64(len(v.String())) + 2)
	}
	return nil
}

// sequence walks the elements of a list, tuple or set; container is nil for a tuple
// (which cannot contain itself).
func (z *sizer) sequence(container any, n int, elems func(func(starlark.Value) bool), depth int) error {
	if container != nil {
		if z.enter(container) {
			return nil
		}
		defer z.leave()
	}
	if !z.add(3) {
		return nil
	}
	var err error
	elems(func(e starlark.Value) bool {
		if !z.add(2) {
			return false
		}
		err = z.value(e, true, depth+1)
		return err == nil && z.total <= z.budget
	})
	return err
}

// enter pushes container on the path, or reports a cycle (printed as "[...]").
func (z *sizer) enter(container any) (cycle bool) {
	for _, c := range z.path {
		if c == container {
			z.add(5)
			return true
		}
	}
	z.path = append(z.path, container)
	return false
}

func (z *sizer) leave() { z.path = z.path[:len(z.path)-1] }

// quotedLen returns an upper bound of the length of s quoted by repr() or json.encode:
// printable text is copied, quotes and backslashes are escaped, other bytes and runes
// become \xNN, \uNNNN or \UNNNNNNNN.
func quotedLen(s string) int64 {
	n := int64(2)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r':
				n += 2
			case c < ' ' || c == 0x7f:
				n += 6 // \x1f in Starlark, \u001f in JSON
			case c == '<' || c == '>' || c == '&':
				n += 6 // JSON encoders may escape these
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case unicode.IsPrint(r) && r != '\u2028' && r != '\u2029':
			n += int64(size)
		default:
			n += 10
		}
		i += size
	}
	return n
}

// intTextLen returns an upper bound of the number of decimal digits of x, with its sign.
func intTextLen(x starlark.Int) int64 {
	if _, ok := x.Int64(); ok {
		return 20
	}
	return int64(x.BigInt().BitLen())*30103/100000 + 3
}

// intBits returns the number of bits of |x|.
func intBits(x starlark.Int) int64 {
	if v, ok := x.Int64(); ok {
		if v < 0 {
			v = -v
		}
		return int64(bits.Len64(uint64(v)))
	}
	return int64(x.BigInt().BitLen())
}

// length returns the number of elements of the iterable v, counting them by iterating
// when v does not know its length; it stops counting past limit. ok is false if v is not
// iterable.
func length(v starlark.Value, limit int64) (n int64, ok bool) {
	if l := starlark.Len(v); l >= 0 {
		return int64(l), true
	}
	iterable, ok := v.(starlark.Iterable)
	if !ok {
		return 0, false
	}
	it := iterable.Iterate()
	defer it.Done()
	var x starlark.Value
	for it.Next(&x) {
		if n++; n > limit {
			break
		}
	}
	return n, true
}

// elemBytes returns the bytes per element of a list or tuple built from v: the slot, and
// for an iterable that makes its elements as it goes (a range, the characters of a
// string), the element itself.
func elemBytes(v starlark.Value) int64 {
	switch v.(type) {
	case *starlark.List, starlark.Tuple, *starlark.Dict, *starlark.Set:
		return slotBytes
	}
	return slotBytes + boxedBytes
}

// freezeCost returns how many values Freeze would visit in globals, up to limit. Lists,
// dicts, sets and structs are visited once (they record that they are frozen), but a
// tuple is visited again through every path that reaches it, so tuples nested as a DAG
// ((t, t), ((t, t), (t, t)), ...) cost 2^depth: a module could make its own freezing run
// for hours. Costs of tuples are memoised, so this count itself is linear.
func freezeCost(globals starlark.StringDict, limit int64) int64 {
	f := freezeCounter{seen: map[any]bool{}, tuples: map[tupleKey]int64{}}
	var total int64
	for _, v := range globals {
		if total = satAdd(total, f.cost(v, 0)); total > limit {
			break
		}
	}
	return total
}

type tupleKey struct {
	first *starlark.Value
	n     int
}

type freezeCounter struct {
	seen   map[any]bool       // containers with a frozen flag already counted
	tuples map[tupleKey]int64 // cost of each tuple
}

func (f *freezeCounter) cost(v starlark.Value, depth int) int64 {
	if depth > maxNesting {
		return math.MaxInt64 // Freeze would recurse this deep in Go
	}
	var elems func(func(starlark.Value) bool)
	switch v := v.(type) {
	case starlark.Tuple:
		if len(v) == 0 {
			return 1
		}
		key := tupleKey{&v[0], len(v)}
		if c, ok := f.tuples[key]; ok {
			return c
		}
		c := int64(1)
		for _, e := range v {
			c = satAdd(c, f.cost(e, depth+1))
		}
		f.tuples[key] = c
		return c
	case *starlark.List:
		elems = v.Elements()
	case *starlark.Set:
		elems = v.Elements()
	case *starlark.Dict:
		elems = func(yield func(starlark.Value) bool) {
			for k, val := range v.Entries() {
				if !yield(k) || !yield(val) {
					return
				}
			}
		}
	case *starlarkstruct.Struct:
		elems = func(yield func(starlark.Value) bool) {
			for _, val := range v.Entries() {
				if !yield(val) {
					return
				}
			}
		}
	default:
		return 1
	}
	if f.seen[v] {
		return 1
	}
	f.seen[v] = true
	c := int64(1)
	for e := range elems {
		c = satAdd(c, f.cost(e, depth+1))
	}
	return c
}
