package runtime

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The size checks of json.indent and json.decode must bound what they guard, and must not
// count brackets, commas or colons inside strings (escaped quotes included).
func TestJSONSizes_BoundIndentAndIgnoreStrings(t *testing.T) {
	for _, s := range []string{
		`{}`, `[1,2,3]`, `{"a":[1,{"b":null}],"c":"x"}`,
		`{"k":"[{,:}]","q":"say \"[,]\"","e":"\\"}`,
		`[[[[[["deep"]]]]]]`,
	} {
		var out bytes.Buffer
		if err := json.Indent(&out, []byte(s), ">", "    "); err != nil {
			t.Fatal(err)
		}
		if got := indentedSize(s, ">", "    "); got < int64(out.Len()) {
			t.Errorf("indentedSize(%s) = %d, but indenting gives %d bytes", s, got, out.Len())
		}
	}
	plain, tricky := `{"a":"xxxxxxxxxxxxxxxxxx"}`, `{"a":"[{,:}],[{,:}]\"[{"}`
	if decodedSize(tricky) != decodedSize(plain)+int64(len(tricky)-len(plain)) {
		t.Errorf("decodedSize counts structure inside strings: %d for %s, %d for %s",
			decodedSize(tricky), tricky, decodedSize(plain), plain)
	}
}
