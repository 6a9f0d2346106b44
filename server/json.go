package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
)

// maxJSONDepth bounds the nesting of a JSON reply; it also stops cyclic values.
const maxJSONDepth = 64

// encodeJSON renders a handler's result as JSON, the way a Python user expects: dicts keep
// their insertion order, stored objects become {"id": ..., field: value, ...}, and values JSON
// cannot hold (functions, NaN, non-string keys) are refused naming where they are.
func encodeJSON(v starlark.Value) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeJSONValue(&buf, v, "result", 0); err != nil {
		return nil, fmt.Errorf("handler result is not JSON-encodable: %w", err)
	}
	return buf.Bytes(), nil
}

func writeJSONValue(buf *bytes.Buffer, v starlark.Value, path string, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("%s: nested more than %d levels deep (or cyclic)", path, maxJSONDepth)
	}
	switch v := v.(type) {
	case starlark.NoneType:
		buf.WriteString("null")
	case starlark.Bool:
		buf.WriteString(strconv.FormatBool(bool(v)))
	case starlark.Int:
		buf.WriteString(v.String())
	case starlark.Float:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %v has no JSON form", path, v)
		}
		buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case starlark.String:
		writeJSONString(buf, string(v))
	case *starlark.Dict:
		buf.WriteByte('{')
		for i, item := range v.Items() {
			k, ok := item[0].(starlark.String)
			if !ok {
				return fmt.Errorf("%s: dict key %s is a %s; JSON keys must be strings", path, item[0], item[0].Type())
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(buf, string(k))
			buf.WriteByte(':')
			if err := writeJSONValue(buf, item[1], path+"["+strconv.Quote(string(k))+"]", depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case *objects.Object:
		buf.WriteString(`{"id":`)
		writeJSONString(buf, v.ID())
		for _, name := range v.FieldNames() {
			field, _ := v.Field(name)
			buf.WriteByte(',')
			writeJSONString(buf, name)
			buf.WriteByte(':')
			if err := writeJSONValue(buf, field, path+"."+name, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case starlark.Indexable: // list, tuple
		buf.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONValue(buf, v.Index(i), path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case starlark.HasAttrs: // struct
		buf.WriteByte('{')
		for i, name := range v.AttrNames() {
			attr, err := v.Attr(name)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", path, name, err)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(buf, name)
			buf.WriteByte(':')
			if err := writeJSONValue(buf, attr, path+"."+name, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("%s: a %s has no JSON form", path, v.Type())
	}
	return nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	buf.Write(b)
}
