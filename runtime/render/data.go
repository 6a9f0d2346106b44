package render

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	libtime "go.starlark.net/lib/time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/starbase/starbase/decimal"
)

// Bytes charged for converting data, per value. They bound what the conversion allocates
// and, because strings count by their length, what printing the data can produce: a list
// that holds the same 1 MiB string a thousand times is 1000 MiB of text to a template.
const (
	valueBytes = 24 // an interface slot and a boxed number
	entryBytes = 64 // one entry of a map[string]any, with its share of the table
)

// bigInt is an integer beyond int64, as a template sees it: its decimal text. (A *big.Int
// would hand templates its methods, such as Exp and Lsh, which compute numbers of any
// size inside one action.)
type bigInt string

// converter converts the data of one render call to the Go values a template sees, within
// max bytes (see valueBytes): charge reports the excess, before the conversion allocates
// it. Every value visited is charged, so values that share structure (l = [l, l], twenty
// times) are charged by the paths to them, as printing them would cost.
type converter struct {
	max    int64
	size   int64
	refuse func(size int64) error // the error for a conversion of size bytes, over max
}

// charge adds n bytes, failing over max.
func (c *converter) charge(n int64) error {
	if n > c.max-c.size {
		return c.refuse(c.size + min(n, math.MaxInt64-c.size))
	}
	c.size += n
	return nil
}

// chargeEach adds count times each bytes, failing over max.
func (c *converter) chargeEach(count, each int64) error {
	if count > (c.max-c.size)/each {
		hi, lo := bits.Mul64(uint64(count), uint64(each))
		if hi != 0 || lo > math.MaxInt64 {
			return c.refuse(math.MaxInt64)
		}
		return c.refuse(c.size + min(int64(lo), math.MaxInt64-c.size))
	}
	c.size += count * each
	return nil
}

// toGo converts a Starlark value to the Go value a template sees: None is nil, bools,
// ints (int64, or their decimal text beyond), floats and strings are themselves, decimals
// their text, bytes are
// strings, lists, tuples and ranges are []any, dicts with string keys and structs are
// map[string]any.
func (c *converter) toGo(v starlark.Value, depth int) (any, error) {
	if depth > maxDataDepth {
		return nil, fmt.Errorf("nested more than %d levels deep (a list or dict that contains itself?)", maxDataDepth)
	}
	if err := c.charge(valueBytes); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		// Integers are bounded by runtime.MaxIntBits: about 0.3 digits per bit.
		if err := c.charge(int64(v.BigInt().BitLen())*30103/100000 + 2); err != nil {
			return nil, err
		}
		return bigInt(v.String()), nil
	case starlark.Float:
		return float64(v), nil
	case starlark.String:
		return string(v), c.charge(int64(len(v)))
	case *decimal.Decimal:
		s := v.String() // its text, exact: 12.50
		return s, c.charge(int64(len(s)))
	case starlark.Bytes:
		return string(v), c.charge(int64(len(v)))
	case *starlark.Dict:
		if err := c.chargeEach(int64(v.Len()), entryBytes); err != nil {
			return nil, err
		}
		m := make(map[string]any, v.Len())
		for k, val := range v.Entries() {
			key, ok := starlark.AsString(k)
			if !ok {
				return nil, fmt.Errorf("dict key %s is %s; templates need string keys", k, k.Type())
			}
			if err := c.charge(int64(len(key))); err != nil {
				return nil, err
			}
			x, err := c.toGo(val, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", key, err)
			}
			m[key] = x
		}
		return m, nil
	case *starlarkstruct.Struct:
		names := v.AttrNames()
		if err := c.chargeEach(int64(len(names)), entryBytes); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(names))
		for _, name := range names {
			attr, err := v.Attr(name)
			if err != nil {
				return nil, err
			}
			if err := c.charge(int64(len(name))); err != nil {
				return nil, err
			}
			x, err := c.toGo(attr, depth+1)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", name, err)
			}
			m[name] = x
		}
		return m, nil
	case starlark.Indexable: // list, tuple, range
		return c.listToGo(v, depth)
	case libtime.Time:
		return time.Time(v), nil
	case libtime.Duration:
		return time.Duration(v), nil
	case starlark.IterableMapping: // a multidict (req.query, req.form()): each key's first value
		return c.mapToGo(v.Type(), v.Items(), depth)
	case starlark.HasAttrs: // a stored object, and other values with fields: their fields
		var items []starlark.Tuple
		for _, name := range v.AttrNames() {
			attr, err := v.Attr(name)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", name, err)
			}
			if _, isMethod := attr.(starlark.Callable); isMethod || attr == nil {
				continue
			}
			items = append(items, starlark.Tuple{starlark.String(name), attr})
		}
		return c.mapToGo(v.Type(), items, depth)
	}
	return nil, fmt.Errorf("a %s cannot be passed to a template (pass strings, numbers, lists, dicts or structs)", v.Type())
}

// mapToGo converts the (string key, value) items of a value of type typ to a map.
func (c *converter) mapToGo(typ string, items []starlark.Tuple, depth int) (map[string]any, error) {
	if err := c.chargeEach(int64(len(items)), entryBytes); err != nil {
		return nil, err
	}
	m := make(map[string]any, len(items))
	for _, item := range items {
		key, ok := starlark.AsString(item[0])
		if !ok {
			return nil, fmt.Errorf("%s key %s is %s; templates need string keys", typ, item[0], item[0].Type())
		}
		if err := c.charge(int64(len(key))); err != nil {
			return nil, err
		}
		x, err := c.toGo(item[1], depth+1)
		if err != nil {
			return nil, fmt.Errorf("[%q]: %w", key, err)
		}
		m[key] = x
	}
	return m, nil
}

func (c *converter) listToGo(v starlark.Indexable, depth int) ([]any, error) {
	n := v.Len()
	// Each element costs at least valueBytes: refuse range(1 << 40) before making its slice.
	if err := c.chargeEach(int64(n), valueBytes); err != nil {
		return nil, err
	}
	c.size -= int64(n) * valueBytes // each element charges itself below
	out := make([]any, n)
	for i := range out {
		x, err := c.toGo(v.Index(i), depth+1)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = x
	}
	return out, nil
}
