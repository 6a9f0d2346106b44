package stdlib

import (
	"fmt"
	"log/slog"
	"math"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/starbase/starbase/runtime"
)

// MaxLogFields is the most fields one log record may have.
const MaxLogFields = 32

// logModule writes structured records to the server's log:
//
//	log.debug(msg, **fields)
//	log.info(msg, **fields)
//	log.warning(msg, **fields)
//	log.error(msg, **fields)
//
// Each record has the level, msg, the fields (strings, ints, floats, bools or None; at
// most MaxLogFields), source="log", the module and position of the call, the commit and
// the request_id of the request, as print() records do. The names the platform sets
// cannot be fields, so that a record cannot pass for another request's. Records share the
// request's print budget (Limits.MaxPrintLines, MaxPrintBytes): beyond it they are dropped
// and counted in one warning.
var logModule = &starlarkstruct.Module{
	Name: "log",
	Members: starlark.StringDict{
		"debug":   logBuiltin("debug", slog.LevelDebug),
		"info":    logBuiltin("info", slog.LevelInfo),
		"warning": logBuiltin("warning", slog.LevelWarn),
		"error":   logBuiltin("error", slog.LevelError),
	},
}

// reservedLogFields are the attributes the platform gives a record (and slog's own keys).
var reservedLogFields = map[string]bool{
	"time": true, "level": true, "msg": true, "source": true, "module": true, "pos": true,
	"commit": true, "request_id": true, "error_id": true,
}

func logBuiltin(name string, level slog.Level) *starlark.Builtin {
	return starlark.NewBuiltin("log."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var msg string
		if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &msg); err != nil {
			return nil, err
		}
		if len(kwargs) > MaxLogFields {
			return nil, fmt.Errorf("%s: %d fields, over the limit of %d", b.Name(), len(kwargs), MaxLogFields)
		}
		attrs := make([]slog.Attr, 0, len(kwargs))
		size := 0
		for _, kv := range kwargs {
			key := string(kv[0].(starlark.String))
			if reservedLogFields[key] {
				return nil, fmt.Errorf("%s: %q is set by the platform and cannot be a field; name it otherwise", b.Name(), key)
			}
			attr, n, err := logField(key, kv[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			attrs = append(attrs, attr)
			size += len(key) + n
		}
		runtime.Log(thread, level, msg, attrs, size)
		return starlark.None, nil
	})
}

// logField returns the attribute of field key and the size of its value's text.
func logField(key string, v starlark.Value) (slog.Attr, int, error) {
	switch v := v.(type) {
	case starlark.String:
		return slog.String(key, string(v)), len(v), nil
	case starlark.Bool:
		return slog.Bool(key, bool(v)), 5, nil
	case starlark.Float:
		if f := float64(v); !math.IsInf(f, 0) && !math.IsNaN(f) {
			return slog.Float64(key, f), 24, nil
		}
		return slog.String(key, v.String()), 4, nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return slog.Int64(key, i), 20, nil
		}
		s := v.String() // at most runtime.MaxIntBits bits
		return slog.String(key, s), len(s), nil
	case starlark.NoneType:
		return slog.Any(key, nil), 4, nil
	}
	return slog.Attr{}, 0, fmt.Errorf("field %s is %s: a field must be a string, int, float, bool or None (json.encode a structure)", key, v.Type())
}
