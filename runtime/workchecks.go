package runtime

import (
	"fmt"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// The checks of the operations that hash or compare (work.go): the rewriting inserts
// $key(k) around a dict key or index (d[k], d[k] = v, {k: v}), and calls the checks of
// comparisons, membership and set operators (x == y -> $eq(x, y), x in y -> $in(x, y),
// s | t -> $or(s, t)); the universe functions and methods that hash or compare are
// replaced by checked ones.

// Names of the work checks the rewriting inserts.
const (
	checkKey    = "$key"
	checkSliced = "$sliced"
)

// compareChecks maps a comparison or membership operator to its check.
var compareChecks = map[syntax.Token]string{
	syntax.EQL: "$eq", syntax.NEQ: "$ne", syntax.LT: "$lt", syntax.LE: "$le",
	syntax.GT: "$gt", syntax.GE: "$ge", syntax.IN: "$in", syntax.NOT_IN: "$not_in",
}

// setChecks maps an operator that builds a set or dict from two (|, &, ^, -) to its check.
var setChecks = map[syntax.Token]string{
	syntax.PIPE: "$or", syntax.AMP: "$and", syntax.CIRCUMFLEX: "$xor", syntax.MINUS: "$sub",
}

// addWorkChecks adds the work checks to d, the checks' predeclared names, and wraps the
// universe functions there that hash or compare.
func (c *checks) addWorkChecks(d starlark.StringDict) {
	d[checkKey] = newCheck("hash", c.key)
	d[checkSliced] = newCheck("slice", c.sliced)
	for op, name := range compareChecks {
		d[name] = newCheck(op.String(), c.compare(op))
	}
	for op, name := range setChecks {
		d[name] = newCheck(op.String(), c.setOp(op))
	}
	d["dict"] = c.weighed(starlark.Universe["dict"].(*starlark.Builtin), func(args starlark.Tuple, _ []starlark.Tuple) (int64, int64, error) {
		if len(args) != 1 {
			return 0, 0, nil
		}
		n, _ := length(args[0], c.maxElems())
		_, isDict := args[0].(*starlark.Dict)
		visits, err := weighElements(args[0], !isDict)
		return satMul(n, setItemBytes), visits, err
	})
	d["set"] = c.weighed(d["set"].(*starlark.Builtin), func(args starlark.Tuple, _ []starlark.Tuple) (int64, int64, error) {
		if len(args) != 1 {
			return 0, 0, nil
		}
		visits, err := weighElements(args[0], false)
		return 0, visits, err
	})
	d["sorted"] = c.wrap(starlark.NewBuiltin("sorted", c.sorted), c.collection("sorted", slotBytes))
	for _, name := range []string{"min", "max"} {
		d[name] = starlark.NewBuiltin(name, c.minmax(starlark.Universe[name].(*starlark.Builtin)))
	}
}

// weighed returns inner checked by estimate, which returns the bytes the call allocates
// and the values it hashes or compares.
func (c *checks) weighed(inner *starlark.Builtin, estimate func(starlark.Tuple, []starlark.Tuple) (int64, int64, error)) *starlark.Builtin {
	return newWrapper(inner, inner.Name(), func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		size, visits, err := estimate(args, kwargs)
		if err != nil {
			return nil, err
		}
		if err := c.alloc(thread, inner.Name()+"()", size); err != nil {
			return nil, err
		}
		if err := work(thread, inner.Name()+"()", visits); err != nil {
			return nil, err
		}
		return inner.CallInternal(thread, args, kwargs)
	})
}

// key is $key(k): it admits hashing k and returns it.
func (c *checks) key(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 1 || len(kwargs) != 0 {
		return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
	}
	k := args[0]
	if isScalar(k) {
		return k, nil
	}
	n, err := hashVisits(k, MaxOperationVisits)
	if err != nil {
		return nil, err
	}
	return k, workOf(thread, func() string { return "hashing a " + k.Type() }, n)
}

// compare returns the check of x op y, for a comparison or membership operator, which
// then computes it.
func (c *checks) compare(op syntax.Token) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) != 2 || len(kwargs) != 0 {
			return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
		}
		x, y := args[0], args[1]
		if op == syntax.IN || op == syntax.NOT_IN {
			if !isScalar(x) {
				var n int64
				switch y.(type) {
				case *starlark.Dict, *starlark.Set:
					var err error
					if n, err = hashVisits(x, MaxOperationVisits); err != nil {
						return nil, err
					}
				case *starlark.List, starlark.Tuple:
					n = weighSearch(x, y)
				}
				if err := workOf(thread, func() string { return x.Type() + " " + op.String() + " " + y.Type() }, n); err != nil {
					return nil, err
				}
			}
			return starlark.Binary(op, x, y)
		}
		if !isScalar(x) && !isScalar(y) {
			n := compareVisits(x, y, MaxOperationVisits)
			if err := workOf(thread, func() string { return "comparing a " + x.Type() + " with a " + y.Type() }, n); err != nil {
				return nil, err
			}
		}
		ok, err := starlark.Compare(op, x, y)
		if err != nil {
			return nil, err
		}
		return starlark.Bool(ok), nil
	}
}

// setOp returns the check of x op y for |, &, ^ and -: on sets (and | on dicts) it admits
// the new set's memory and the hashing of both operands' elements.
func (c *checks) setOp(op syntax.Token) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) != 2 || len(kwargs) != 0 {
			return nil, fmt.Errorf("internal error: %s check called with %d arguments", b.Name(), len(args))
		}
		x, y := args[0], args[1]
		switch x.(type) {
		case *starlark.Set, *starlark.Dict:
			if x.Type() == y.Type() {
				what := x.Type() + " " + op.String() + " " + y.Type()
				nx, _ := length(x, c.maxElems())
				ny, _ := length(y, c.maxElems())
				if err := c.alloc(thread, what, satMul(satAdd(nx, ny), setItemBytes)); err != nil {
					return nil, err
				}
				vx, err := weighElements(x, false)
				if err != nil {
					return nil, err
				}
				vy, err := weighElements(y, false)
				if err != nil {
					return nil, err
				}
				if err := work(thread, what, satAdd(vx, vy)); err != nil {
					return nil, err
				}
			}
		}
		return starlark.Binary(op, x, y)
	}
}

// sliced is $sliced(v, copied): it charges the slice v just made to the execution (a
// slice of a list or tuple is a copy of its slots; of a string or bytes, a copy when the
// slice has a step, copied) and returns it.
func (c *checks) sliced(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	v := args[0]
	switch x := v.(type) {
	case *starlark.List:
		c.charge(thread, satMul(int64(x.Len()), slotBytes))
	case starlark.Tuple:
		c.charge(thread, satMul(int64(len(x)), slotBytes))
	case starlark.String:
		if len(args) > 1 && args[1] == starlark.True {
			c.charge(thread, int64(len(x)))
		}
	case starlark.Bytes:
		if len(args) > 1 && args[1] == starlark.True {
			c.charge(thread, int64(len(x)))
		}
	}
	return v, nil
}

// keyWeigher wraps the key function of sorted, min and max: it admits the comparisons
// each key will take part in, per (perCompare) of the other operand.
type keyWeigher struct {
	fn     starlark.Callable
	w      *weigher
	weighs []int64 // the weight of each key, in order
}

func (k *keyWeigher) call(thread *starlark.Thread, x starlark.Value) (starlark.Value, error) {
	v, err := starlark.Call(thread, k.fn, starlark.Tuple{x}, nil)
	if err != nil {
		return nil, err
	}
	k.weighs = append(k.weighs, k.w.compare(v, starlark.CompareLimit))
	return v, nil
}

// sortStop is the panic that ends a sort early, with why.
type sortStop struct{ err error }

// sorted is the universe sorted(iterable, key=None, reverse=False), cancellable: it
// admits each comparison's cost before sorting (the weight of the second heaviest key:
// a comparison visits at most the lighter operand's paths) and charges the comparisons
// to the steps as it goes, stopping at the step limit, the deadline or a stop.
func (c *checks) sorted(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (v starlark.Value, err error) {
	var iterable starlark.Iterable
	var key starlark.Callable
	var reverse bool
	if err := starlark.UnpackArgs("sorted", args, kwargs, "iterable", &iterable, "key?", &key, "reverse?", &reverse); err != nil {
		return nil, err
	}
	var values []starlark.Value
	if n := starlark.Len(iterable); n > 0 {
		values = make([]starlark.Value, 0, n)
	}
	for x := range starlark.Elements(iterable) {
		values = append(values, x)
	}
	keys := values
	var weights []int64
	w := &weigher{budget: MaxOperationVisits}
	if key != nil {
		kw := &keyWeigher{fn: key, w: w}
		keys = make([]starlark.Value, len(values))
		for i, x := range values {
			if keys[i], err = kw.call(thread, x); err != nil {
				return nil, err
			}
		}
		weights = kw.weighs
	} else {
		weights = make([]int64, len(values))
		for i, x := range values {
			weights[i] = w.compare(x, starlark.CompareLimit)
		}
	}
	var first, second int64 = 1, 1
	for _, n := range weights {
		if n > first {
			first, second = n, first
		} else if n > second {
			second = n
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	if err := work(thread, "a comparison of sorted()", second); err != nil {
		return nil, err
	}
	s := &sortSlice{thread: thread, values: values, perCompare: uint64(second), reverse: reverse}
	if key != nil {
		s.keys = keys
	}
	defer func() {
		if r := recover(); r != nil {
			stop, ok := r.(sortStop)
			if !ok {
				panic(r)
			}
			v, err = nil, stop.err
		}
	}()
	sort.Stable(s)
	if err := s.flush(); err != nil {
		return nil, err
	}
	return starlark.NewList(s.values), nil
}

// sortSlice sorts values by keys (values themselves if keys is nil), as go.starlark.net's
// sorted does, counting its comparisons.
type sortSlice struct {
	thread     *starlark.Thread
	keys       []starlark.Value
	values     []starlark.Value
	reverse    bool
	perCompare uint64 // visits of one comparison, at most
	compares   uint64 // since the last charge
}

func (s *sortSlice) Len() int { return len(s.values) }

func (s *sortSlice) Less(i, j int) bool {
	if s.compares++; s.compares == stepBatch {
		if err := s.flush(); err != nil {
			panic(sortStop{err})
		}
	}
	keys := s.keys
	if keys == nil {
		keys = s.values
	}
	if s.reverse {
		i, j = j, i
	}
	ok, err := starlark.Compare(syntax.LT, keys[i], keys[j])
	if err != nil {
		panic(sortStop{err})
	}
	return ok
}

func (s *sortSlice) Swap(i, j int) {
	if s.keys != nil {
		s.keys[i], s.keys[j] = s.keys[j], s.keys[i]
	}
	s.values[i], s.values[j] = s.values[j], s.values[i]
}

// flush charges the comparisons made since the last charge to the steps.
func (s *sortSlice) flush() error {
	n := satMul(int64(s.compares), int64(s.perCompare)) / visitsPerStep
	s.compares = 0
	return ChargeSteps(s.thread, uint64(n))
}

// minmax returns the checked min or max: each element (or key) is weighed as it is
// reached, since it is compared with the extreme so far, and each counts a step.
func (c *checks) minmax(inner *starlark.Builtin) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		w := &weigher{budget: MaxOperationVisits}
		what := b.Name() + "()"
		var total int64
		admit := func(v starlark.Value) error {
			if isScalar(v) {
				return nil
			}
			n := w.compare(v, starlark.CompareLimit)
			if w.err != nil {
				return w.err
			}
			if total = satAdd(total, n); total > MaxOperationVisits {
				return work(thread, what, total) // refused
			}
			return work(thread, what, n)
		}
		for i, kw := range kwargs {
			if kw[0] != starlark.String("key") {
				continue
			}
			fn, ok := kw[1].(starlark.Callable)
			if !ok {
				break // the function refuses it
			}
			kwargs = append([]starlark.Tuple(nil), kwargs...)
			kwargs[i] = starlark.Tuple{kw[0], starlark.NewBuiltin(fn.Name(), func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
				v, err := starlark.Call(thread, fn, args, kwargs)
				if err != nil {
					return nil, err
				}
				return v, admit(v)
			})}
		}
		if len(args) != 1 {
			for _, a := range args {
				if err := admit(a); err != nil {
					return nil, err
				}
			}
			return inner.CallInternal(thread, args, kwargs)
		}
		it, ok := args[0].(starlark.Iterable)
		if !ok {
			return inner.CallInternal(thread, args, kwargs)
		}
		wi := &weighingIterable{Iterable: it, admit: admit}
		v, err := callMetered(thread, inner, starlark.Tuple{wi}, kwargs)
		if wi.err != nil {
			return nil, wi.err
		}
		return v, err
	}
}

// weighingIterable admits each element it yields; it ends at the first refusal, which
// err records.
type weighingIterable struct {
	starlark.Iterable
	admit func(starlark.Value) error
	err   error
}

func (w *weighingIterable) Iterate() starlark.Iterator {
	return &weighingIterator{Iterator: w.Iterable.Iterate(), w: w}
}

type weighingIterator struct {
	starlark.Iterator
	w *weighingIterable
}

func (it *weighingIterator) Next(p *starlark.Value) bool {
	if it.w.err != nil || !it.Iterator.Next(p) {
		return false
	}
	if it.w.err = it.w.admit(*p); it.w.err != nil {
		return false
	}
	return true
}

// workMethodChecks returns the checks of the methods that hash or compare their
// arguments, and of those that allocate in proportion to their receiver (upper(),
// items(), ...), whose allocation is charged so that the heap guard sees it.
func (c *checks) workMethodChecks() map[methodKey]methodCheck {
	hashArg := func(recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
		if len(args) == 0 || isScalar(args[0]) {
			return 0, nil
		}
		return hashVisits(args[0], MaxOperationVisits)
	}
	hashArgs := func(recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (int64, error) {
		var total int64
		for _, a := range args {
			_, isDict := a.(*starlark.Dict)
			n, err := weighElements(a, recv.Type() == "dict" && !isDict)
			if err != nil {
				return 0, err
			}
			total = satAdd(total, n)
		}
		return total, nil
	}
	search := func(recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
		if len(args) == 0 {
			return 0, nil
		}
		return weighSearch(args[0], recv), nil
	}
	// A string made from s, rune by rune: upper() can make a 2-byte rune 3 bytes long.
	recase := func(recv starlark.Value, _ starlark.Tuple, _ []starlark.Tuple) (int64, error) {
		n := int64(len(recv.(starlark.String)))
		return satAdd(n, n/2), nil
	}
	view := func(perEntry int64) func(starlark.Value, starlark.Tuple, []starlark.Tuple) (int64, error) {
		return func(recv starlark.Value, _ starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			return satMul(int64(recv.(*starlark.Dict).Len()), perEntry), nil
		}
	}
	return map[methodKey]methodCheck{
		{"dict", "get"}:                 {visits: hashArg},
		{"dict", "pop"}:                 {visits: hashArg},
		{"dict", "setdefault"}:          {visits: hashArg},
		{"dict", "update"}:              {visits: hashArgs, estimate: c.updateSize},
		{"dict", "items"}:               {estimate: view(slotBytes + 3*slotBytes)}, // a slot, a tuple of 2
		{"dict", "keys"}:                {estimate: view(slotBytes)},
		{"dict", "values"}:              {estimate: view(slotBytes)},
		{"set", "add"}:                  {visits: hashArg},
		{"set", "remove"}:               {visits: hashArg},
		{"set", "discard"}:              {visits: hashArg},
		{"set", "update"}:               {visits: hashArgs},
		{"set", "union"}:                {visits: hashArgs},
		{"set", "intersection"}:         {visits: hashArgs},
		{"set", "difference"}:           {visits: hashArgs},
		{"set", "issubset"}:             {visits: hashArgs},
		{"set", "issuperset"}:           {visits: hashArgs},
		{"set", "symmetric_difference"}: {visits: hashArgs},
		{"list", "index"}:               {visits: search},
		{"list", "remove"}:              {visits: search},
		{"string", "upper"}:             {estimate: recase},
		{"string", "lower"}:             {estimate: recase},
		{"string", "title"}:             {estimate: recase},
		{"string", "capitalize"}:        {estimate: recase},
	}
}

// updateSize returns what d.update(x, **kwargs) may add to d.
func (c *checks) updateSize(_ starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (int64, error) {
	n := int64(len(kwargs))
	for _, a := range args {
		k, _ := length(a, c.maxElems())
		n = satAdd(n, k)
	}
	return satMul(n, setItemBytes), nil
}
