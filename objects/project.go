package objects

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/decimal"
)

// The SQL tiers store each object's fields twice: exactly, in the record encoding (column
// data), which is what every read decodes; and as a JSON object (column fields), which is
// what SQL filters, orders, indexes and aggregates. The JSON is a projection, not a second
// encoding: str is a string; int and float are numbers (ints of any size); bool is true or
// false; bytes is a base64 string; a decimal is a string of its text; list, tuple and set are arrays; a dict is an object when
// its keys are strings, else an array of [key, value] pairs. Fields that are None, and
// floats that are NaN or infinite, are left out, so that SQL sees them as NULL on every
// engine (and queries treat them as having no value). Strings in queries compare bytewise
// (UTF-8 order): PostgreSQL's database must use the C collation for that (see
// objects/postgres).

// projectFields returns the JSON projection of a record's fields.
func projectFields(r *record) ([]byte, error) {
	b := []byte{'{'}
	first := true
	for _, name := range r.names {
		v := r.fields[name]
		if !projectable(v) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendQuote(b, name) // identifiers: no escapes needed, quoting is exact
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, v, 0); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// projectable reports whether a top-level field value has a JSON projection (None, NaN and
// the infinities have none: they are left out).
func projectable(v starlark.Value) bool {
	switch v := v.(type) {
	case starlark.NoneType:
		return false
	case starlark.Float:
		return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
	}
	return true
}

// appendJSON appends v's JSON projection. Values reaching here were encoded by EncodeValue,
// so their nesting is bounded by maxDepth.
func appendJSON(b []byte, v starlark.Value, depth int) ([]byte, error) {
	if depth > maxDepth {
		return append(b, "null"...), nil
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return append(b, "null"...), nil
	case starlark.Bool:
		return strconv.AppendBool(b, bool(v)), nil
	case starlark.Int:
		return append(b, v.String()...), nil
	case starlark.Float:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case starlark.String:
		s, err := json.Marshal(projectString(string(v)))
		return append(b, s...), err
	case *decimal.Decimal:
		return strconv.AppendQuote(b, v.String()), nil // its text: digits, - and .
	case starlark.Bytes:
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString([]byte(v))), nil
	case *starlark.Dict:
		items := v.Items()
		allStrings := true
		for _, kv := range items {
			if _, ok := kv[0].(starlark.String); !ok {
				allStrings = false
			}
		}
		if allStrings {
			b = append(b, '{')
			for i, kv := range items {
				if i > 0 {
					b = append(b, ',')
				}
				k, _ := json.Marshal(projectString(string(kv[0].(starlark.String))))
				b = append(append(b, k...), ':')
				var err error
				if b, err = appendJSON(b, kv[1], depth+1); err != nil {
					return nil, err
				}
			}
			return append(b, '}'), nil
		}
		b = append(b, '[')
		for i, kv := range items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, starlark.Tuple{kv[0], kv[1]}, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case starlark.Iterable:
		b = append(b, '[')
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for i := 0; it.Next(&x); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, x, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return append(b, "null"...), nil
}

// A scalar is a field value as SQL compares it: a string, an int64 or *big.Int, a float64,
// or a bool; sqlScalar returns it for the values that have one.
func sqlScalar(v starlark.Value) (any, bool) {
	switch v := v.(type) {
	case starlark.String:
		return projectString(string(v)), true
	case starlark.Bool:
		return bool(v), true
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, true
		}
		return v.BigInt(), true
	case starlark.Float:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return f, true
	}
	return nil, false
}

// scalarValue turns a scalar back into a Starlark value.
func scalarValue(x any) starlark.Value {
	switch x := x.(type) {
	case string:
		return starlark.String(x)
	case bool:
		return starlark.Bool(x)
	case int64:
		return starlark.MakeInt64(x)
	case *big.Int:
		return starlark.MakeBigInt(x)
	case float64:
		return starlark.Float(x)
	}
	return starlark.None
}

// projectString is a string as the projection holds it: valid UTF-8 without NUL (PostgreSQL's
// jsonb holds neither), invalid bytes and NUL replaced by U+FFFD.
func projectString(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
