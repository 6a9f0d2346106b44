package runtime

import (
	"fmt"
	"math"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Hashing and comparing values run inside one instruction, in go.starlark.net, without a
// budget and without seeing cancellation. Tuple.Hash visits a value once per path that
// reaches it, so t = (t, t) repeated 62 times, used as a dict key, would take longer than
// the universe's age; == and < descend 10 levels (starlark.CompareLimit) into lists and
// tuples of any width, so two lists of 10 lists of 10 lists... cost 10^10 element
// comparisons. So before every operation that hashes or compares containers (d[k], k in
// d, ==, <, x in list, sorted, dict(), set(), the methods of dicts, sets and lists that
// take a key), a check computes how many values the operation would visit, counting
// shared structure once per path as the operation does, refuses the operation over
// MaxOperationVisits, and charges the visits to the execution's steps. The count itself
// is memoised per container, so it is linear in the distinct containers it meets, and it
// stops as soon as it passes its budget: its own work is bounded by the budget too.
// Scalars (numbers, strings, None, booleans) are hashed and compared in time linear in
// their size and cost nothing in the count.

// MaxOperationVisits bounds the values one hash or comparison operation may visit
// (counting a value once per path that reaches it): 0.1-0.9 s on a loaded 2-core machine
// (BenchmarkWork_LargestAdmittedOperation). Operations
// that would visit more are refused with ErrStepLimit before they start.
const MaxOperationVisits = 1 << 22

// visitsPerStep converts visits to steps: one Starlark step (an instruction) costs
// about as much as 16 visits of hashing or comparing.
const visitsPerStep = 16

// weigher counts the visits of hashing or comparing values, within budget.
type weigher struct {
	budget int64 // stop counting past this many visits
	spent  int64 // containers and elements the count itself visited
	err    error // first error (a value nested too deep)
	// topFree: scalar elements of the operands themselves cost nothing (one comparison
	// of two lists of scalars is linear in their size, which the memory checks bound).
	topFree bool

	hashes   map[any]int64       // visits of hashing each container
	compares map[weightKey]int64 // visits of comparing each container, by depth left
}

type weightKey struct {
	node  any
	depth int
}

// identity returns a key naming container v for memoisation, or nil if v holds no
// values. A tuple is a slice, named by its first slot and length.
func identity(v starlark.Value) any {
	switch v := v.(type) {
	case starlark.Tuple:
		if len(v) == 0 {
			return nil
		}
		return tupleKey{&v[0], len(v)}
	case *starlark.List, *starlark.Dict, *starlark.Set, *starlarkstruct.Struct:
		return v
	}
	return nil
}

// over reports whether the count has passed its budget; past it every count is
// saturated, so the caller's total is over too.
func (w *weigher) over() bool { return w.spent > w.budget || w.err != nil }

// visit counts one element the count itself walked.
func (w *weigher) visit() bool {
	w.spent++
	return !w.over()
}

// scalarCost is what hashing or comparing a scalar costs, in visits: strings and bytes
// are hashed and compared at gigabytes per second, so a long one counts a little.
func scalarCost(v starlark.Value) int64 {
	switch v := v.(type) {
	case starlark.String:
		return 1 + int64(len(v))>>12
	case starlark.Bytes:
		return 1 + int64(len(v))>>12
	}
	return 1
}

// hash returns how many values v.Hash() visits.
func (w *weigher) hash(v starlark.Value, depth int) int64 {
	if depth > maxNesting {
		if w.err == nil {
			w.err = fmt.Errorf("%w: a %s nested more than %d levels deep cannot be hashed", ErrDepthLimit, v.Type(), maxNesting)
		}
		return math.MaxInt64
	}
	var fields func(func(starlark.Value) bool)
	extra := int64(0)
	switch x := v.(type) {
	case starlark.Tuple:
		if len(x) == 0 {
			return 1
		}
		fields = x.Elements()
	case *starlarkstruct.Struct:
		extra = 1 // each field's name is hashed too
		fields = func(yield func(starlark.Value) bool) {
			for _, val := range x.Entries() {
				if !yield(val) {
					return
				}
			}
		}
	default:
		// Scalars, and values that hash without walking anything (functions, models) or
		// refuse to be hashed (lists, dicts, sets, stored objects).
		return scalarCost(v)
	}
	key := identity(v)
	if c, ok := w.hashes[key]; ok {
		return c
	}
	if w.over() {
		return math.MaxInt64
	}
	total := int64(1)
	for e := range fields {
		if !w.visit() {
			return math.MaxInt64
		}
		total = satAdd(total, satAdd(extra, w.hash(e, depth+1)))
		if total > w.budget {
			return math.MaxInt64
		}
		if !hashable(e) {
			break // Hash stops at the first element that refuses
		}
	}
	if w.hashes == nil {
		w.hashes = make(map[any]int64)
	}
	w.hashes[key] = total
	return total
}

// hashable reports whether v can be hashed without a walk being cut short: lists, dicts
// and sets refuse.
func hashable(v starlark.Value) bool {
	switch v.(type) {
	case *starlark.List, *starlark.Dict, *starlark.Set:
		return false
	}
	return true
}

// compare returns an upper bound of the values comparing v with any other value visits,
// with depth levels left (starlark.CompareDepth): a comparison walks the two values in
// step, so it visits at most the paths of either one.
func (w *weigher) compare(v starlark.Value, depth int) int64 {
	if depth < 1 {
		return 1 // the comparison fails here
	}
	key := identity(v)
	if key == nil {
		return scalarCost(v)
	}
	wk := weightKey{key, depth}
	if c, ok := w.compares[wk]; ok {
		return c
	}
	if w.over() {
		return math.MaxInt64
	}
	total := int64(1)
	add := func(n int64) bool {
		total = satAdd(total, n)
		return total <= w.budget && w.visit()
	}
	switch x := v.(type) {
	case starlark.Tuple:
		for _, e := range x {
			if w.free(e, depth) {
				continue
			}
			if !add(w.compare(e, depth-1)) {
				return math.MaxInt64
			}
		}
	case *starlark.List:
		for e := range x.Elements() {
			if w.free(e, depth) {
				continue
			}
			if !add(w.compare(e, depth-1)) {
				return math.MaxInt64
			}
		}
	case *starlark.Dict:
		// == looks each key up in the other dict (a hash) and compares the values.
		for k, val := range x.Entries() {
			if !add(satAdd(w.hash(k, 0), w.compare(val, depth-1))) {
				return math.MaxInt64
			}
		}
	case *starlark.Set:
		for e := range x.Elements() {
			if !add(w.hash(e, 0)) {
				return math.MaxInt64
			}
		}
	case *starlarkstruct.Struct:
		for _, val := range x.Entries() {
			if !add(satAdd(1, w.compare(val, depth-1))) {
				return math.MaxInt64
			}
		}
	}
	if w.compares == nil {
		w.compares = make(map[weightKey]int64)
	}
	w.compares[wk] = total
	return total
}

// free reports whether e, an element of a list or tuple at depth, costs nothing (see
// topFree).
func (w *weigher) free(e starlark.Value, depth int) bool {
	return w.topFree && depth == starlark.CompareLimit && isScalar(e)
}

// isScalar reports whether hashing or comparing v visits nothing but v.
func isScalar(v starlark.Value) bool {
	switch v.(type) {
	case starlark.Int, starlark.String, starlark.Float, starlark.Bool, starlark.NoneType, starlark.Bytes:
		return true
	}
	return false
}

// hashVisits returns how many values hashing v visits, saturated past budget.
func hashVisits(v starlark.Value, budget int64) (int64, error) {
	if isScalar(v) {
		return scalarCost(v), nil
	}
	w := &weigher{budget: budget}
	n := w.hash(v, 0)
	return n, w.err
}

// compareVisits returns an upper bound of the values comparing x and y visits, saturated
// past budget.
func compareVisits(x, y starlark.Value, budget int64) int64 {
	if isScalar(x) || isScalar(y) {
		return min(scalarCost(x), scalarCost(y))
	}
	w := &weigher{budget: budget, topFree: true}
	ny := w.compare(y, starlark.CompareLimit)
	if ny <= 1 {
		return ny
	}
	w.budget = min(budget, ny)
	w.spent = 0
	return min(ny, w.compare(x, starlark.CompareLimit))
}

// work admits an operation what that visits n values (hashing or comparing), or refuses
// it: over MaxOperationVisits with ErrStepLimit, and past the execution's step limit or
// once it must stop (ChargeSteps). Admitted visits are charged to the steps.
func work(thread *starlark.Thread, what string, n int64) error {
	return workOf(thread, func() string { return what }, n)
}

// workOf is work with the operation described only if it is refused (checks run on every
// comparison).
func workOf(thread *starlark.Thread, what func() string, n int64) error {
	if n < visitsPerStep {
		return nil
	}
	if n > MaxOperationVisits {
		return fmt.Errorf("%w: %s would visit more than %d values in one operation (runtime.MaxOperationVisits); shared structure counts once per path that reaches it", ErrStepLimit, what(), MaxOperationVisits)
	}
	return ChargeSteps(thread, uint64(n/visitsPerStep))
}

// weighElements returns the visits of hashing every element of iterable (set(x), dict(x)
// of pairs hashes each pair's key), within MaxOperationVisits; pairs selects the first
// element of each.
func weighElements(iterable starlark.Value, pairs bool) (int64, error) {
	var it starlark.Iterable
	switch x := iterable.(type) {
	case *starlark.List, starlark.Tuple, *starlark.Dict, *starlark.Set:
		it = x.(starlark.Iterable)
	default:
		// Lazy iterables (range, the elements of a string) yield scalars, and may be
		// endless: the operation's own iteration is metered instead.
		return 0, nil
	}
	w := &weigher{budget: MaxOperationVisits}
	var total int64
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		if pairs {
			if t, ok := x.(starlark.Tuple); ok && len(t) > 0 {
				x = t[0]
			} else if l, ok := x.(*starlark.List); ok && l.Len() > 0 {
				x = l.Index(0)
			}
		}
		if isScalar(x) {
			continue // linear in the operand, like the operation's own iteration
		}
		total = satAdd(total, w.hash(x, 0))
		if w.err != nil {
			return 0, w.err
		}
		if total > MaxOperationVisits || !w.visit() {
			return math.MaxInt64, nil
		}
	}
	return total, nil
}

// weighSearch returns an upper bound of the visits comparing x with each element of
// iterable (x in list, list.index(x), list.remove(x)).
func weighSearch(x, iterable starlark.Value) int64 {
	it, ok := iterable.(starlark.Iterable)
	if !ok {
		return 0
	}
	if isScalar(x) {
		return 0 // one cheap comparison per element: linear in the operand
	}
	w := &weigher{budget: MaxOperationVisits}
	nx := w.compare(x, starlark.CompareLimit)
	var total int64
	iter := it.Iterate()
	defer iter.Done()
	var e starlark.Value
	for iter.Next(&e) {
		if isScalar(e) {
			continue
		}
		c := min(nx, w.compare(e, starlark.CompareLimit))
		if total = satAdd(total, c); total > MaxOperationVisits || !w.visit() {
			return math.MaxInt64
		}
	}
	return total
}
