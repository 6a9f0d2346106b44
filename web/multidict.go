package web

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// A MultiDict is an immutable mapping from a key to one or more values, in the order the
// keys first appeared: req.query, req.cookies, req.form() and req.files(). As Flask's
// MultiDict (request.args), it reads like a dict of each key's first value (d["tag"],
// d.get("tag", default), "tag" in d, len(d), for k in d, d.keys(), d.values(), d.items(),
// dict(d), json.encode(d)), and d.getlist("tag") gives every value of a key, in order
// ([] when there is none). Its Starlark type is "multidict".
type MultiDict struct {
	keys   []string
	values map[string][]starlark.Value
}

var (
	_ starlark.IterableMapping = (*MultiDict)(nil)
	_ starlark.Sequence        = (*MultiDict)(nil)
	_ starlark.HasAttrs        = (*MultiDict)(nil)
)

// newMultiDict returns an empty MultiDict.
func newMultiDict() *MultiDict { return &MultiDict{values: map[string][]starlark.Value{}} }

// add appends v to the values of key.
func (d *MultiDict) add(key string, v starlark.Value) {
	vs, ok := d.values[key]
	if !ok {
		d.keys = append(d.keys, key)
	}
	d.values[key] = append(vs, v)
}

// Get returns the first value of key.
func (d *MultiDict) Get(k starlark.Value) (starlark.Value, bool, error) {
	key, ok := k.(starlark.String)
	if !ok {
		return nil, false, nil
	}
	vs, ok := d.values[string(key)]
	if !ok {
		return nil, false, nil
	}
	return vs[0], true, nil
}

// Items returns each key with its first value.
func (d *MultiDict) Items() []starlark.Tuple {
	items := make([]starlark.Tuple, len(d.keys))
	for i, k := range d.keys {
		items[i] = starlark.Tuple{starlark.String(k), d.values[k][0]}
	}
	return items
}

// AllPairs calls yield with each key and each of its values, in the order String writes
// them, until yield returns false (the runtime's size checks walk a multidict with it).
func (d *MultiDict) AllPairs(yield func(k, v starlark.Value) bool) {
	for _, k := range d.keys {
		for _, v := range d.values[k] {
			if !yield(starlark.String(k), v) {
				return
			}
		}
	}
}

func (d *MultiDict) Iterate() starlark.Iterator { return &keyIterator{keys: d.keys} }
func (d *MultiDict) Len() int                   { return len(d.keys) }

type keyIterator struct{ keys []string }

func (it *keyIterator) Next(p *starlark.Value) bool {
	if len(it.keys) == 0 {
		return false
	}
	*p = starlark.String(it.keys[0])
	it.keys = it.keys[1:]
	return true
}
func (it *keyIterator) Done() {}

// String formats d as the pairs it holds: multidict([("tag", "a"), ("tag", "b")]).
func (d *MultiDict) String() string {
	var b strings.Builder
	b.WriteString("multidict([")
	n := 0
	for _, k := range d.keys {
		for _, v := range d.values[k] {
			if n > 0 {
				b.WriteString(", ")
			}
			n++
			fmt.Fprintf(&b, "(%s, %s)", starlark.String(k).String(), v.String())
		}
	}
	b.WriteString("])")
	return b.String()
}

func (d *MultiDict) Type() string         { return "multidict" }
func (d *MultiDict) Freeze()              {} // immutable; its values are frozen when added
func (d *MultiDict) Truth() starlark.Bool { return len(d.keys) > 0 }
func (d *MultiDict) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable type: multidict")
}

var multiDictMethods = []string{"get", "getlist", "items", "keys", "values"}

// Attr returns the methods get, getlist, items, keys and values.
func (d *MultiDict) Attr(name string) (starlark.Value, error) {
	var fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)
	switch name {
	case "get":
		fn = func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var key, def starlark.Value = nil, starlark.None
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &key, &def); err != nil {
				return nil, err
			}
			if v, ok, _ := d.Get(key); ok {
				return v, nil
			}
			return def, nil
		}
	case "getlist":
		fn = func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var key string
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &key); err != nil {
				return nil, err
			}
			return starlark.NewList(append([]starlark.Value(nil), d.values[key]...)), nil
		}
	case "keys", "values", "items":
		fn = func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
				return nil, err
			}
			out := make([]starlark.Value, len(d.keys))
			for i, item := range d.Items() {
				switch name {
				case "keys":
					out[i] = item[0]
				case "values":
					out[i] = item[1]
				default:
					out[i] = item
				}
			}
			return starlark.NewList(out), nil
		}
	default:
		return nil, nil
	}
	return starlark.NewBuiltin(name, fn).BindReceiver(d), nil
}

// AttrNames returns the method names, sorted.
func (d *MultiDict) AttrNames() []string { return append([]string(nil), multiDictMethods...) }
