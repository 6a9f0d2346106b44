package server

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

// trickyStrings are strings whose JSON form takes escapes: every control character,
// quotes and backslashes, the HTML characters, the JavaScript line ends U+2028 and U+2029,
// invalid and truncated UTF-8, and plain multi-byte text around them.
func trickyStrings() []string {
	out := []string{
		"", "plain", `"quoted"`, `back\slash`, "<script>alert('&')</script>", "tab\there\nnew\rline",
		"\b\f", "\x00\x01\x1f\x7f", "é ü 日本 🎉", "line\u2028sep\u2029para", "bad \xff byte",
		"truncated \xe6\x97", "\xed\xa0\x80 surrogate", "\xc0\xaf overlong", "mixed <\xff>\u2028\"\\",
		strings.Repeat("a<", 100),
	}
	for b := range 0x80 {
		out = append(out, "x"+string(rune(b))+"y")
	}
	return out
}

func TestAppendJSONString_WritesWhatEncodingJSONWrites(t *testing.T) {
	for _, s := range trickyStrings() {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s (encoding/json)", s, got, want)
		}
	}
}

func TestJSONStringLen_IsTheLengthAppendJSONStringWrites(t *testing.T) {
	for _, s := range trickyStrings() {
		if got, want := jsonStringLen(s), len(appendJSONString(nil, s)); got != want {
			t.Errorf("jsonStringLen(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestEncodeJSON_RefusesAStringWhoseEscapesPassTheLimitUnwritten(t *testing.T) {
	// 1 KiB of "<" takes 6 KiB escaped.
	_, err := encodeJSON(starlark.NewList([]starlark.Value{starlark.String(strings.Repeat("<", 1024))}), 4096)
	if !errors.Is(err, runtime.ErrResponseTooLarge) {
		t.Errorf("encodeJSON of 6 KiB of escapes with a 4 KiB limit: error %v, want ErrResponseTooLarge", err)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		got := appendJSONString([]byte("prefix"), s)
		if string(got) != "prefix"+string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s (encoding/json)", s, got[len("prefix"):], want)
		}
		var back string
		if err := json.Unmarshal(got[len("prefix"):], &back); err != nil {
			t.Fatalf("appendJSONString(%q) = %s, which is not JSON: %v", s, got, err)
		}
		if n := jsonStringLen(s); n != len(want) {
			t.Fatalf("jsonStringLen(%q) = %d, want %d", s, n, len(want))
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("appendJSONString(%q) decodes to %q", s, back)
		}
	})
}

func TestEncodeJSON_RefusesAResultLargerThanTheLimitWithoutExpandingIt(t *testing.T) {
	// One string of 1 MiB referenced 1024 times: 1 GiB of JSON held in 1 MiB.
	big := starlark.String(strings.Repeat("x", 1<<20))
	elems := make([]starlark.Value, 1024)
	for i := range elems {
		elems[i] = big
	}
	_, err := encodeJSON(starlark.NewList(elems), 4*runtime.MiB)
	if !errors.Is(err, runtime.ErrResponseTooLarge) ||
		!strings.Contains(err.Error(), "the handler returned a list whose JSON would be larger than 4MiB") {
		t.Errorf("encodeJSON of 1 GiB of JSON with a 4 MiB limit: error %v, want ErrResponseTooLarge naming the list and the limit", err)
	}
}

func TestEncodeJSON_FitsExactlyTheLimit(t *testing.T) {
	v := starlark.NewList([]starlark.Value{starlark.String("abc"), starlark.MakeInt(12)}) // ["abc",12]
	got, err := encodeJSON(v, 10)
	if err != nil || string(got) != `["abc",12]` {
		t.Errorf("encodeJSON with a limit of its size = %s, %v; want [\"abc\",12]", got, err)
	}
	if _, err := encodeJSON(v, 9); !errors.Is(err, runtime.ErrResponseTooLarge) {
		t.Errorf("encodeJSON with a limit one byte under its size: error %v, want ErrResponseTooLarge", err)
	}
}

func TestEncodeJSON_NamesWhereAValueHasNoJSONForm(t *testing.T) {
	inner := starlark.NewDict(1)
	_ = inner.SetKey(starlark.String(`we"ird`), starlark.NewList([]starlark.Value{starlark.None, starlark.Float(math.Inf(1))}))
	outer := starlark.NewDict(1)
	_ = outer.SetKey(starlark.String("a"), starlark.Tuple{starlark.True, inner})
	_, err := encodeJSON(outer, runtime.MiB)
	want := `handler result is not JSON-encodable: result["a"][1]["we\"ird"][1]: +inf has no JSON form`
	if err == nil || err.Error() != want {
		t.Errorf("encodeJSON error = %v, want %s", err, want)
	}
}
