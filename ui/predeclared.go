package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
)

// Name is one name stored code can use without defining it, for the editor's completion.
type Name struct {
	Name string `json:"name"`
	// Kind is "function" for what can be called, "module" for a value with attributes,
	// "value" otherwise.
	Kind string `json:"kind"`
	// Members are the attribute names of a module (json.encode, db.put, ...), sorted.
	Members []string `json:"members,omitempty"`
}

// Predeclared lists every predeclared name of stored modules, sorted: the Starlark universe,
// runtime.Builtins and sandbox.Predeclared, exactly what the server's loader is built with.
// The editor fetches it as /-/ui/predeclared.json, made from those lists when the binary
// starts, so that completion cannot drift from the sandbox.
func Predeclared() []Name {
	all := starlark.StringDict{}
	for _, d := range []starlark.StringDict{starlark.Universe, runtime.Builtins(), sandbox.Predeclared()} {
		for k, v := range d {
			all[k] = v
		}
	}
	out := make([]Name, 0, len(all))
	for _, k := range all.Keys() { // sorted
		out = append(out, describe(k, all[k]))
	}
	return out
}

func describe(name string, v starlark.Value) Name {
	n := Name{Name: name, Kind: "value"}
	if _, ok := v.(starlark.Callable); ok {
		n.Kind = "function"
	}
	if ha, ok := v.(starlark.HasAttrs); ok && len(ha.AttrNames()) > 0 {
		n.Members = append([]string(nil), ha.AttrNames()...)
		sort.Strings(n.Members)
		if n.Kind == "value" {
			n.Kind = "module"
		}
	}
	return n
}

func init() {
	b, err := json.Marshal(Predeclared())
	if err != nil {
		panic("ui: encoding the predeclared names: " + err.Error())
	}
	sum := sha256.Sum256(b)
	assets["predeclared.json"] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: "application/json"}
}
