package stdlib

import (
	"fmt"
	"time"
	_ "time/tzdata" // zone names resolve on hosts without a time zone database too

	libtime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/starbase/starbase/runtime"
)

// timeModule is go.starlark.net/lib/time with three changes: now() is the request's clock
// (runtime.ThreadNow) and fails without one; from_timestamp returns UTC rather than the
// server's zone; and the "Local" zone, which differs between servers, is refused (by the
// runtime's method check for in_location too). Times are go.starlark.net's time.time
// values: attributes year, month, day, hour, minute, second, nanosecond, unix, unix_nano,
// methods format(layout) and in_location(zone), comparison, and arithmetic with durations
// (time + duration, time - time).
var timeModule = &starlarkstruct.Module{
	Name: "time",
	Members: starlark.StringDict{
		"now":               starlark.NewBuiltin("time.now", timeNow),
		"time":              upstreamTime("time", zoneArg("location")),
		"parse_time":        upstreamTime("parse_time", zoneArg("location")),
		"from_timestamp":    starlark.NewBuiltin("time.from_timestamp", timeFromTimestamp),
		"is_valid_timezone": starlark.NewBuiltin("time.is_valid_timezone", timeIsValidZone),
		"parse_duration":    libtime.Module.Members["parse_duration"],

		"nanosecond":  libtime.Module.Members["nanosecond"],
		"microsecond": libtime.Module.Members["microsecond"],
		"millisecond": libtime.Module.Members["millisecond"],
		"second":      libtime.Module.Members["second"],
		"minute":      libtime.Module.Members["minute"],
		"hour":        libtime.Module.Members["hour"],
	},
}

// timeNow implements time.now(): the instant the request started, in UTC.
func timeNow(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	now, ok := runtime.ThreadNow(thread)
	if ok {
		return libtime.Time(now.UTC()), nil
	}
	if runtime.ThreadSnapshot(thread) == nil {
		return nil, fmt.Errorf("%s: %w at a module's top level: a module's globals are computed once per commit and shared by every request, so they must not depend on the time; call time.now() in a function that a handler calls", b.Name(), ErrNoClock)
	}
	return nil, fmt.Errorf("%s: %w: this call was given none (runtime.CallOptions.Now)", b.Name(), ErrNoClock)
}

// zoneArg returns a check that refuses the "Local" zone as the argument param (by keyword,
// or as the third positional argument, where parse_time takes it).
func zoneArg(param string) func(args starlark.Tuple, kwargs []starlark.Tuple) error {
	return func(args starlark.Tuple, kwargs []starlark.Tuple) error {
		if len(args) >= 3 && args[2] == starlark.String("Local") {
			return runtime.ErrLocalZone
		}
		for _, kv := range kwargs {
			if kv[0] == starlark.String(param) && kv[1] == starlark.String("Local") {
				return runtime.ErrLocalZone
			}
		}
		return nil
	}
}

// upstreamTime returns lib/time's function name, after check.
func upstreamTime(name string, check func(starlark.Tuple, []starlark.Tuple) error) *starlark.Builtin {
	inner := libtime.Module.Members[name].(*starlark.Builtin)
	return starlark.NewBuiltin("time."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := check(args, kwargs); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		v, err := inner.CallInternal(thread, args, kwargs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return v, nil
	})
}

// timeFromTimestamp implements time.from_timestamp(sec, nsec=0), in UTC.
func timeFromTimestamp(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var sec, nsec int64
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &sec, &nsec); err != nil {
		return nil, err
	}
	return libtime.Time(time.Unix(sec, nsec).UTC()), nil
}

// timeIsValidZone implements time.is_valid_timezone(name); "Local" is not.
func timeIsValidZone(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	if name == "Local" {
		return starlark.False, nil
	}
	_, err := time.LoadLocation(name)
	return starlark.Bool(err == nil), nil
}
