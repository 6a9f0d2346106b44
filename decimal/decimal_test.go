package decimal_test

import (
	"encoding/json"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/decimal"
)

// TestDecimal_Spec runs testdata/decimal.star: arithmetic, comparison, every rounding mode
// and the refusals.
func TestDecimal_Spec(t *testing.T) {
	thread := &starlark.Thread{Load: func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
		return starlarktest.LoadAssertModule()
	}}
	starlarktest.SetReporter(thread, t)
	if _, err := starlark.ExecFileOptions(&syntax.FileOptions{TopLevelControl: true}, thread, "testdata/decimal.star", nil, starlark.StringDict{"decimal": decimal.Builtin}); err != nil {
		t.Fatal(err)
	}
}

func TestDecimal_JSONIsItsTextAsAString(t *testing.T) {
	d, err := decimal.Parse("1234567890.1234567890")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(map[string]any{"total": d})
	if want := `{"total":"1234567890.1234567890"}`; err != nil || string(got) != want {
		t.Errorf("json.Marshal = %s, %v; want %s", got, err, want)
	}
}
