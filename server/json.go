package server

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/decimal"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// maxJSONDepth bounds the nesting of a JSON reply; it also stops cyclic values.
const maxJSONDepth = 64

// encodeJSON renders a handler's result as JSON, the way a Python user expects: dicts keep
// their insertion order, stored objects become {"id": ..., field: value, ...}, and values JSON
// cannot hold (functions, NaN, non-string keys) are refused naming where they are. Strings
// are escaped exactly as encoding/json escapes them (HTML characters included).
//
// The result is encoded once, into a buffer that may not grow past max: a result whose
// JSON would be larger is refused with runtime.ErrResponseTooLarge as soon as the encoder
// knows it, so a result that shares structure (one big string referenced a thousand times)
// costs at most max bytes, never its expansion.
func encodeJSON(v starlark.Value, max runtime.ByteSize) ([]byte, error) {
	e := jsonEncoder{buf: make([]byte, 0, 128), max: int(min(max, math.MaxInt)), top: v}
	if err := e.value(v, 0); err != nil {
		var bad *jsonError
		if errors.As(err, &bad) {
			return nil, fmt.Errorf("handler result is not JSON-encodable: %w", err)
		}
		return nil, err
	}
	return e.buf, nil
}

// jsonEncoder appends JSON to buf, failing once buf would pass max bytes: a string is
// checked before it is written, every value once written, so buf passes max by at most
// one short scalar or bracket.
type jsonEncoder struct {
	buf []byte
	max int
	top starlark.Value // the result, for the too-large error
}

// jsonError is a value with no JSON form. Its path (result["items"][3].name) is built
// as the encoder unwinds, so a success builds none.
type jsonError struct {
	segments []string // innermost first
	msg      string
	err      error // the cause, if any
}

func (e *jsonError) Error() string {
	var b strings.Builder
	b.WriteString("result")
	for _, s := range slices.Backward(e.segments) {
		b.WriteString(s)
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	return b.String()
}

func (e *jsonError) Unwrap() error { return e.err }

// within prefixes the path of err, if it is a *jsonError, with the segment segment()
// (called only then).
func within(err error, segment func() string) error {
	if bad, ok := err.(*jsonError); ok {
		bad.segments = append(bad.segments, segment())
	}
	return err
}

func (e *jsonEncoder) tooLarge() error {
	return fmt.Errorf("%w: the handler returned a %s whose JSON would be larger than %s, over the limit of %s (Limits.MaxResponseBytes, serve --max-response)",
		runtime.ErrResponseTooLarge, e.top.Type(), runtime.ByteSize(e.max), runtime.ByteSize(e.max))
}

func (e *jsonEncoder) value(v starlark.Value, depth int) error {
	if depth > maxJSONDepth {
		return &jsonError{msg: "nested more than " + strconv.Itoa(maxJSONDepth) + " levels deep (or cyclic)"}
	}
	switch v := v.(type) {
	case starlark.NoneType:
		e.buf = append(e.buf, "null"...)
	case starlark.Bool:
		e.buf = strconv.AppendBool(e.buf, bool(v))
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			e.buf = strconv.AppendInt(e.buf, i, 10)
			break
		}
		s := v.String()
		if len(e.buf)+len(s) > e.max {
			return e.tooLarge()
		}
		e.buf = append(e.buf, s...)
	case starlark.Float:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return &jsonError{msg: v.String() + " has no JSON form"}
		}
		e.buf = strconv.AppendFloat(e.buf, f, 'g', -1, 64)
	case starlark.String:
		return e.string(string(v))
	case *decimal.Decimal:
		return e.string(v.String()) // its exact text, a string: no reader takes it for a float
	case *starlark.Dict:
		e.buf = append(e.buf, '{')
		// Keys and Get cost one allocation; Items costs two, and ranging over Entries
		// moves the loop's state to the heap.
		for i, k := range v.Keys() {
			key, ok := k.(starlark.String)
			if !ok {
				return &jsonError{msg: "dict key " + k.String() + " is a " + k.Type() + "; JSON keys must be strings"}
			}
			val, _, _ := v.Get(k) // a string key hashes
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.string(string(key)); err != nil {
				return err
			}
			e.buf = append(e.buf, ':')
			if err := e.value(val, depth+1); err != nil {
				return within(err, func() string { return "[" + strconv.Quote(string(key)) + "]" })
			}
		}
		e.buf = append(e.buf, '}')
	case *objects.Object:
		e.buf = append(e.buf, `{"id":`...)
		if err := e.string(v.ID()); err != nil {
			return err
		}
		for _, name := range v.FieldNames() {
			field, _ := v.Field(name)
			e.buf = append(e.buf, ',')
			if err := e.string(name); err != nil {
				return err
			}
			e.buf = append(e.buf, ':')
			if err := e.value(field, depth+1); err != nil {
				return within(err, func() string { return "." + name })
			}
		}
		e.buf = append(e.buf, '}')
	case starlark.Bytes: // Indexable, but its elements are bytes again
		return &jsonError{msg: "bytes have no JSON form (make a string: str(b), or base64.encode(b))"}
	case starlark.IterableMapping: // req.query and the other multidicts: each key's first value
		e.buf = append(e.buf, '{')
		for i, item := range v.Items() {
			key, ok := item[0].(starlark.String)
			if !ok {
				return &jsonError{msg: v.Type() + " key " + item[0].String() + " is a " + item[0].Type() + "; JSON keys must be strings"}
			}
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.string(string(key)); err != nil {
				return err
			}
			e.buf = append(e.buf, ':')
			if err := e.value(item[1], depth+1); err != nil {
				return within(err, func() string { return "[" + strconv.Quote(string(key)) + "]" })
			}
		}
		e.buf = append(e.buf, '}')
	case starlark.Indexable: // list, tuple
		e.buf = append(e.buf, '[')
		for i := range v.Len() {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(v.Index(i), depth+1); err != nil {
				return within(err, func() string { return "[" + strconv.Itoa(i) + "]" })
			}
		}
		e.buf = append(e.buf, ']')
	case starlark.HasAttrs: // struct
		e.buf = append(e.buf, '{')
		for i, name := range v.AttrNames() {
			attr, err := v.Attr(name)
			if err != nil {
				return &jsonError{segments: []string{"." + name}, msg: err.Error(), err: err}
			}
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.string(name); err != nil {
				return err
			}
			e.buf = append(e.buf, ':')
			if err := e.value(attr, depth+1); err != nil {
				return within(err, func() string { return "." + name })
			}
		}
		e.buf = append(e.buf, '}')
	default:
		return &jsonError{msg: "a " + v.Type() + " has no JSON form"}
	}
	// Scalars are checked once written (they are short); a string before and after.
	if len(e.buf) > e.max {
		return e.tooLarge()
	}
	return nil
}

// string appends s as a JSON string, or fails if that would pass the limit. A string
// that might not fit once escaped is measured first, so a refused string is never written.
func (e *jsonEncoder) string(s string) error {
	room := e.max - len(e.buf)
	if len(s)+2 > room || len(s) > (room-2)/6 && jsonStringLen(s) > room {
		return e.tooLarge()
	}
	e.buf = appendJSONString(e.buf, s)
	return nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s to buf as encoding/json.Marshal writes a string, byte for
// byte: quotes, backslash and control characters escaped (\b \f \n \r \t or \u00XX), the
// HTML characters <, > and & as \u003c, \u003e and \u0026, U+2028 and U+2029 (which
// JavaScript treats as line ends) as \u2028 and \u2029, and each byte of invalid UTF-8 as
// \ufffd.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0 // s[start:i] is pending, to be copied as it is
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '\\', '"':
				buf = append(buf, '\\', b)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default: // other control characters, and <, > and &
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// jsonStringLen returns len(appendJSONString(nil, s)), without writing it.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			switch {
			case b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&':
				n++
			case b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			default:
				n += 6
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}
