package runtime

import (
	"fmt"
	"strings"

	libtime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
)

// The methods of strings, lists and sets that allocate much more than their operands, or
// iterate a lazy argument inside one instruction, are replaced by checked versions when
// stored code reaches them: x.name (rewritten to $attr(x, "name"), see rewrite.go) and
// getattr(x, name). A checked method is built once per Loader for each (type, name), unbound;
// reaching it binds it to its receiver, which costs one allocation, as reaching the
// unchecked method does.

// methodKey names a checked method: the type of its receiver (as Value.Type says it) and
// its name.
type methodKey struct {
	receiver string
	name     string
}

// methodCheck is the check of a method: estimate returns what a call would allocate (0
// if unknown), and metered methods iterate their argument without side effects, so a
// meter can stop them (see callMetered).
type methodCheck struct {
	estimate func(recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (int64, error)
	metered  bool
	// visits, if set, returns how many values the call hashes or compares (work.go).
	visits func(recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (int64, error)
}

// methodChecks returns the check of each checked method.
func (c *checks) methodChecks() map[methodKey]methodCheck {
	setGrowth := func(copies bool) func(starlark.Value, starlark.Tuple, []starlark.Tuple) (int64, error) {
		return func(recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			var size int64
			if copies {
				size = satMul(int64(recv.(*starlark.Set).Len()), setItemBytes)
			}
			for _, a := range args {
				n, _ := length(a, c.maxElems())
				size = satAdd(size, satMul(n, setItemBytes))
			}
			return size, nil
		}
	}
	checks := map[methodKey]methodCheck{
		{"string", "join"}:    {estimate: c.joinSize},
		{"string", "replace"}: {estimate: replaceSize},
		{"string", "format"}: {estimate: func(recv starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (int64, error) {
			return formatSize(string(recv.(starlark.String)), args, kwargs, c.maxAlloc)
		}},
		{"string", "split"}:  {estimate: splitSize},
		{"string", "rsplit"}: {estimate: splitSize},
		{"string", "splitlines"}: {estimate: func(recv starlark.Value, _ starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			lines := int64(strings.Count(string(recv.(starlark.String)), "\n")) + 1
			return satMul(lines, slotBytes+boxedBytes), nil
		}},
		{"list", "extend"}: {estimate: func(recv starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			if len(args) != 1 {
				return 0, nil
			}
			n, _ := length(args[0], c.maxElems())
			return satAdd(satMul(int64(recv.(*starlark.List).Len()), slotBytes), satMul(n, elemBytes(args[0]))), nil
		}},
		{"set", "update"}: {estimate: setGrowth(false)},
		{"set", "union"}:  {estimate: setGrowth(true)},
		// symmetric_difference(x) copies the set and adds the elements of x it lacks.
		{"set", "symmetric_difference"}: {estimate: setGrowth(true), metered: true},
		// These make at most a copy of the set, but iterate their argument, which can be
		// range(1 << 60).
		{"set", "intersection"}: {metered: true},
		{"set", "difference"}:   {metered: true},
		{"set", "issubset"}:     {metered: true},
		{"set", "issuperset"}:   {metered: true},
		// The time module's times (go.starlark.net/lib/time, see runtime/stdlib): format
		// writes at most twice its layout ("1" is the month, "12"), and in_location("Local")
		// would give the zone of whichever server runs the request.
		{"time.time", "format"}: {estimate: func(_ starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			if len(args) == 1 {
				if layout, ok := args[0].(starlark.String); ok {
					return satAdd(satMul(int64(len(layout)), 2), 64), nil
				}
			}
			return 0, nil
		}},
		{"time.time", "in_location"}: {estimate: func(_ starlark.Value, args starlark.Tuple, _ []starlark.Tuple) (int64, error) {
			if len(args) == 1 && args[0] == starlark.String("Local") {
				return 0, fmt.Errorf("in_location: %w", ErrLocalZone)
			}
			return 0, nil
		}},
	}
	for key, check := range c.workMethodChecks() {
		old := checks[key]
		if check.estimate == nil {
			check.estimate = old.estimate
		}
		check.metered = check.metered || old.metered
		checks[key] = check
	}
	return checks
}

// buildMethods builds the unbound checked method of each methodKey.
func (c *checks) buildMethods() map[methodKey]*starlark.Builtin {
	receivers := map[string]starlark.HasAttrs{
		"string":    starlark.String(""),
		"list":      starlark.NewList(nil),
		"set":       starlark.NewSet(0),
		"dict":      starlark.NewDict(0),
		"time.time": libtime.Time{},
	}
	methods := make(map[methodKey]*starlark.Builtin)
	for key, check := range c.methodChecks() {
		v, err := receivers[key.receiver].Attr(key.name)
		inner, ok := v.(*starlark.Builtin)
		if err != nil || !ok {
			panic("runtime: go.starlark.net has no method " + key.receiver + "." + key.name)
		}
		methods[key] = newWrapper(inner, key.name, c.methodFunc(inner, key.receiver+"."+key.name, check))
	}
	return methods
}

// methodFunc returns the function of a checked method: it checks a call of inner (a
// method bound to a placeholder receiver) on its own receiver, then makes it.
func (c *checks) methodFunc(inner *starlark.Builtin, what string, check methodCheck) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		recv := b.Receiver()
		if check.visits != nil {
			n, err := check.visits(recv, args, kwargs)
			if err != nil {
				return nil, err
			}
			if err := work(thread, what, n); err != nil {
				return nil, err
			}
		}
		if check.estimate != nil {
			size, err := check.estimate(recv, args, kwargs)
			if err != nil {
				return nil, err
			}
			if err := c.alloc(thread, what, size); err != nil {
				return nil, err
			}
		}
		method := inner.BindReceiver(recv)
		if check.metered {
			return callMetered(thread, method, args, kwargs)
		}
		return method.CallInternal(thread, args, kwargs)
	}
}

// checkedMethod returns x's checked method name, bound to x, or nil if x's method name
// (if any) is not checked.
func (c *checks) checkedMethod(x starlark.Value, name string) *starlark.Builtin {
	var receiver string
	switch x.(type) {
	case starlark.String:
		receiver = "string"
	case *starlark.List:
		receiver = "list"
	case *starlark.Set:
		receiver = "set"
	case *starlark.Dict:
		receiver = "dict"
	case libtime.Time:
		receiver = "time.time"
	default:
		return nil
	}
	m, ok := c.methods[methodKey{receiver, name}]
	if !ok {
		return nil
	}
	return m.BindReceiver(x)
}

// attr implements x.name for the names of checkedMethods: for the types whose method of
// that name allocates or iterates, it returns the method with its check; otherwise the
// attribute.
func (c *checks) attr(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	x, name := args[0], string(args[1].(starlark.String))
	if m := c.checkedMethod(x, name); m != nil {
		return m, nil
	}
	return getattr(x, name)
}

// getattr implements the universe getattr(x, name[, default]), which reaches any method
// by a name computed at run time (getattr(",", "jo" + "in"), or every name of dir(x)):
// the methods that x.name would return checked are returned checked here too.
func (c *checks) getattr(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v, err := c.universeGetattr.CallInternal(thread, args, kwargs)
	if err != nil || len(args) < 2 {
		return v, err
	}
	name, ok := args[1].(starlark.String)
	if !ok {
		return v, nil
	}
	if m := c.checkedMethod(args[0], string(name)); m != nil {
		return m, nil
	}
	return v, nil
}
