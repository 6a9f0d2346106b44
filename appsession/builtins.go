package appsession

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

const localKey = "starbase.appsession"

// Bind makes run the session of the handler running on thread.
func Bind(thread *starlark.Thread, run *Run) { thread.SetLocal(localKey, run) }

func boundRun(thread *starlark.Thread, b *starlark.Builtin) (*Run, error) {
	if run, ok := thread.Local(localKey).(*Run); ok && run != nil {
		if err := run.start(); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return run, nil
	}
	return nil, fmt.Errorf("%s: %w (not at a module's top level; in a test, send a request with the test client)", b.Name(), ErrNoSession)
}

// Builtins returns the predeclared names of this package:
//
//	session.get(key, default = None)  a value of the session
//	session.set(key, value)           keep value (JSON: None, bool, int, float, str, list, dict)
//	session.pop(key, default = None)  remove key, returning its value
//	session.clear()                   empty the session, its CSRF id included (log out)
//	session.keys()                    the keys, sorted
//	csrf_token()                      the session's CSRF token (made on first use)
func Builtins() starlark.StringDict {
	return starlark.StringDict{
		"session": &starlarkstruct.Module{Name: "session", Members: starlark.StringDict{
			"get":   starlark.NewBuiltin("session.get", sessionGet),
			"set":   starlark.NewBuiltin("session.set", sessionSet),
			"pop":   starlark.NewBuiltin("session.pop", sessionPop),
			"clear": starlark.NewBuiltin("session.clear", sessionClear),
			"keys":  starlark.NewBuiltin("session.keys", sessionKeys),
		}},
		"csrf_token": starlark.NewBuiltin("csrf_token", csrfToken),
	}
}

func sessionGet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var dflt starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "default?", &dflt); err != nil {
		return nil, err
	}
	run, err := boundRun(thread, b)
	if err != nil {
		return nil, err
	}
	v, ok := run.data[key]
	if !ok {
		return dflt, nil
	}
	return toStarlark(v), nil
}

func sessionSet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var value starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "value", &value); err != nil {
		return nil, err
	}
	run, err := boundRun(thread, b)
	if err != nil {
		return nil, err
	}
	v, err := fromStarlark(value, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %w", b.Name(), key, err)
	}
	old, had := run.data[key]
	run.data[key] = v
	if size := dataSize(run.data); size > MaxDataBytes {
		if had {
			run.data[key] = old
		} else {
			delete(run.data, key)
		}
		return nil, fmt.Errorf("%s: %w: the session would hold %d bytes of JSON, over the limit of %d (it travels in a cookie): keep an id in the session and the rest in db",
			b.Name(), ErrInvalid, size, MaxDataBytes)
	}
	run.changed = true
	return starlark.None, nil
}

func sessionPop(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var dflt starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "default?", &dflt); err != nil {
		return nil, err
	}
	run, err := boundRun(thread, b)
	if err != nil {
		return nil, err
	}
	v, ok := run.data[key]
	if !ok {
		return dflt, nil
	}
	delete(run.data, key)
	run.changed = true
	return toStarlark(v), nil
}

func sessionClear(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	run, err := boundRun(thread, b)
	if err != nil {
		return nil, err
	}
	run.data = map[string]any{}
	run.csrf = ""
	run.changed = true
	return starlark.None, nil
}

func sessionKeys(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	run, err := boundRun(thread, b)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(run.data))
	for k := range run.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]starlark.Value, len(keys))
	for i, k := range keys {
		out[i] = starlark.String(k)
	}
	return starlark.NewList(out), nil
}

func csrfToken(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	tok, err := Token(thread)
	if err != nil {
		return nil, err
	}
	return starlark.String(tok), nil
}

// Token returns the CSRF token of the session of the request handled on thread (the hook
// of the templates' csrf_token and csrf_field).
func Token(thread *starlark.Thread) (string, error) {
	b := starlark.NewBuiltin("csrf_token", csrfToken)
	run, err := boundRun(thread, b)
	if err != nil {
		return "", err
	}
	return run.Token()
}

// maxDepth bounds the nesting of a session value.
const maxDepth = 16

// fromStarlark converts a JSON-like Starlark value into what encoding/json writes.
func fromStarlark(v starlark.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: values nest deeper than %d", ErrInvalid, maxDepth)
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return json.Number(fmt.Sprint(i)), nil
		}
		return json.Number(v.BigInt().String()), nil
	case starlark.Float:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%w: %v is not a JSON number", ErrInvalid, f)
		}
		return f, nil
	case starlark.String:
		return string(v), nil
	case *starlark.List, starlark.Tuple:
		iter := v.(starlark.Iterable).Iterate()
		defer iter.Done()
		out := []any{}
		var x starlark.Value
		for iter.Next(&x) {
			e, err := fromStarlark(x, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case *starlark.Dict:
		out := map[string]any{}
		for _, item := range v.Items() {
			k, ok := starlark.AsString(item[0])
			if !ok {
				return nil, fmt.Errorf("%w: dict keys must be strings, not %s", ErrInvalid, item[0].Type())
			}
			e, err := fromStarlark(item[1], depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: a session keeps JSON values (None, bool, int, float, str, list, dict), not %s", ErrInvalid, v.Type())
}

// toStarlark converts a decoded JSON value (numbers as json.Number) into a new Starlark value.
func toStarlark(v any) starlark.Value {
	switch v := v.(type) {
	case nil:
		return starlark.None
	case bool:
		return starlark.Bool(v)
	case json.Number:
		s := string(v)
		if !strings.ContainsAny(s, ".eE") {
			if i, ok := new(big.Int).SetString(s, 10); ok {
				return starlark.MakeBigInt(i)
			}
		}
		f, _ := v.Float64()
		return starlark.Float(f)
	case float64:
		return starlark.Float(v)
	case string:
		return starlark.String(v)
	case []any:
		out := make([]starlark.Value, len(v))
		for i, e := range v {
			out[i] = toStarlark(e)
		}
		return starlark.NewList(out)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(v))
		for _, k := range keys {
			_ = d.SetKey(starlark.String(k), toStarlark(v[k]))
		}
		return d
	}
	return starlark.None
}

// dataSize returns the size of data as JSON.
func dataSize(data map[string]any) int {
	b, err := json.Marshal(data)
	if err != nil {
		return math.MaxInt
	}
	return len(b)
}
