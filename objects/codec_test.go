package objects_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/decimal"
	"github.com/starbase/starbase/objects"
)

// storable are Starlark expressions of every storable kind, alone and nested.
var storable = []string{
	`None`, `True`, `False`,
	`0`, `1`, `-1`, `255`, `256`, `-256`, `2147483647`, `-9223372036854775808`, `1 << 200`, `-(1 << 511) * (1 << 400) + 7`,
	`0.0`, `-0.0`, `1.5`, `-2.25e-300`, `float("inf")`, `float("-inf")`, `float("nan")`, `1e308`,
	`""`, `"hello"`, `"üñíçødé ✓"`, `"\x00\x7f"`, `"a" * 300`,
	`b""`, `b"\x00\xff\xfe"`,
	`[]`, `[1, "two", 3.0, None]`, `()`, `(1,)`, `(1, (2, (3, ())))`,
	`{}`, `{"b": 1, "a": 2}`, `{1: "int", "1": "str", (1, 2): "tuple", None: 0, 2.5: "float"}`,
	`set()`, `set([3, 1, 2])`,
	`{"items": [{"sku": "x", "qty": 2, "tags": ("a", "b")}], "total": 1 << 70, "paid": False, "note": None}`,
	`decimal("12.50")`, `decimal("-0.001")`, `decimal("0")`, `decimal("0.00")`, `decimal("1e100")`, `decimal("-" + "9" * 100)`,
	`{"price": decimal("19.99"), "lines": [decimal("1.5"), decimal("1.50")]}`,
}

func eval(t testing.TB, expr string) starlark.Value {
	t.Helper()
	v, err := starlark.EvalOptions(dialect, &starlark.Thread{}, "expr", expr, starlark.StringDict{"decimal": decimal.Builtin})
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

func encode(t testing.TB, v starlark.Value) []byte {
	t.Helper()
	enc, err := objects.EncodeValue(v)
	if err != nil {
		t.Fatalf("EncodeValue(%v): %v", v, err)
	}
	return enc
}

// sameValue reports whether a and b are the same value: same type, same String (which shows
// order, nesting and exact numbers) and, for floats, the same bits (NaN, -0.0).
func sameValue(a, b starlark.Value) bool {
	if a.Type() != b.Type() || a.String() != b.String() {
		return false
	}
	if fa, ok := a.(starlark.Float); ok {
		return math.Float64bits(float64(fa)) == math.Float64bits(float64(b.(starlark.Float)))
	}
	return true
}

func TestEncodeValue_RoundTripsEveryKind(t *testing.T) {
	for _, expr := range storable {
		t.Run(expr, func(t *testing.T) {
			want := eval(t, expr)
			enc := encode(t, want)
			got, err := objects.DecodeValue(enc)
			if err != nil {
				t.Fatalf("DecodeValue: %v", err)
			}
			if !sameValue(got, want) {
				t.Errorf("decoded %s %v, want %s %v", got.Type(), got, want.Type(), want)
			}
			if again := encode(t, got); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding differs:\n got %x\nwant %x", again, enc)
			}
		})
	}
}

func TestEncodeValue_KeepsNegativeZeroAndNaN(t *testing.T) {
	for _, expr := range []string{`-0.0`, `float("nan")`} {
		f := float64(eval(t, expr).(starlark.Float))
		got, err := objects.DecodeValue(encode(t, starlark.Float(f)))
		if err != nil {
			t.Fatalf("DecodeValue: %v", err)
		}
		if g := float64(got.(starlark.Float)); math.Float64bits(g) != math.Float64bits(f) {
			t.Errorf("%s decoded with bits %x, want %x", expr, math.Float64bits(g), math.Float64bits(f))
		}
	}
}

func TestEncodeValue_KeepsDictInsertionOrder(t *testing.T) {
	ab, ba := encode(t, eval(t, `{"a": 1, "b": 2}`)), encode(t, eval(t, `{"b": 2, "a": 1}`))
	if bytes.Equal(ab, ba) {
		t.Fatalf("dicts with different insertion orders encode the same")
	}
	got, err := objects.DecodeValue(ba)
	if err != nil {
		t.Fatalf("DecodeValue: %v", err)
	}
	if got.String() != `{"b": 2, "a": 1}` {
		t.Errorf("decoded %v, want insertion order b, a", got)
	}
}

func TestEncodeValue_DecodedValuesAreMutable(t *testing.T) {
	v := eval(t, `[1, {"k": [2]}]`)
	v.Freeze()
	got, err := objects.DecodeValue(encode(t, v))
	if err != nil {
		t.Fatalf("DecodeValue: %v", err)
	}
	if err := got.(*starlark.List).Append(starlark.MakeInt(3)); err != nil {
		t.Errorf("appending to a decoded list: %v", err)
	}
}

func TestEncodeValue_RefusesUnstorableValuesNamingWhere(t *testing.T) {
	selfList := starlark.NewList(nil)
	selfList.Append(selfList)
	tests := []struct {
		name  string
		value starlark.Value
		want  string
	}{
		{"function", eval(t, `len`), "builtin_function_or_method has no stored form"},
		{"nested function", eval(t, `[1, {"f": len}]`), `at [1]["f"]: a builtin_function_or_method`},
		{"in a tuple key", eval(t, `{(1, len): 2}`), `at [key (1, <built-in function len>)][1]`},
		{"model", objects.Builtins()["db"], "a module has no stored form"},
		{"cycle", selfList, "nested deeper than 64 levels (does it contain itself?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := objects.EncodeValue(tt.value)
			if !errors.Is(err, objects.ErrUnstorable) {
				t.Fatalf("EncodeValue: got %v, want ErrUnstorable", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("EncodeValue: got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// invalidEncodings are inputs DecodeValue must refuse, each for one reason.
var invalidEncodings = map[string][]byte{
	"empty":                     {},
	"unknown format version":    {2, 'N'},
	"no value":                  {1},
	"trailing bytes":            {1, 'N', 'N'},
	"unknown tag":               {1, 'x'},
	"int sign":                  {1, 'i', 2, 1, 1},
	"int leading zero":          {1, 'i', 0, 2, 0, 1},
	"negative zero int":         {1, 'i', 1, 0},
	"non-minimal length":        {1, 's', 0x81, 0x00, 'a'},
	"length beyond input":       {1, 's', 5, 'a'},
	"huge length":               {1, 'l', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	"truncated float":           {1, 'f', 0, 0, 0},
	"truncated list":            {1, 'l', 2, 'N'},
	"duplicate dict key":        {1, 'd', 2, 's', 1, 'a', 'N', 's', 1, 'a', 'T'},
	"equal dict keys 1 and 1.0": {1, 'd', 2, 'i', 0, 1, 1, 'N', 'f', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 'N'},
	"unhashable dict key":       {1, 'd', 1, 'l', 0, 'N'},
	"duplicate set element":     {1, 'S', 2, 'T', 'T'},
	"unhashable set element":    {1, 'S', 1, 'd', 0},
	"too deep":                  append(append([]byte{1}, bytes.Repeat([]byte{'l', 1}, 100)...), 'N'),
}

func TestDecodeValue_RefusesInvalidEncodings(t *testing.T) {
	for name, b := range invalidEncodings {
		t.Run(name, func(t *testing.T) {
			v, err := objects.DecodeValue(b)
			if !errors.Is(err, objects.ErrCorrupt) {
				t.Errorf("DecodeValue(%x) = %v, %v; want ErrCorrupt", b, v, err)
			}
		})
	}
}

// FuzzDecodeValue checks that DecodeValue never panics and accepts only canonical encodings:
// whatever it decodes encodes back to exactly the input.
func FuzzDecodeValue(f *testing.F) {
	for _, expr := range storable {
		f.Add(encode(f, eval(f, expr)))
	}
	for _, b := range invalidEncodings {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := objects.DecodeValue(b)
		if err != nil {
			if !errors.Is(err, objects.ErrCorrupt) {
				t.Fatalf("DecodeValue(%x): error %v does not wrap ErrCorrupt", b, err)
			}
			return
		}
		enc, err := objects.EncodeValue(v)
		if err != nil {
			t.Fatalf("EncodeValue(DecodeValue(%x) = %v): %v", b, v, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("DecodeValue accepted a non-canonical encoding:\n input %x\nre-enc %x", b, enc)
		}
	})
}
