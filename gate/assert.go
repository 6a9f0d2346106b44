package gate

import (
	"fmt"
	"regexp"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// Assert returns the assert module predeclared in test modules (*_test.star):
//
//	assert.eq(got, want, msg=None)       fails unless got == want
//	assert.ne(got, unwanted, msg=None)   fails if got == unwanted
//	assert.true(cond, msg=None)          fails unless cond is truthy
//	assert.false(cond, msg=None)         fails if cond is truthy
//	assert.contains(container, x)        fails unless x in container
//	assert.fails(fn, pattern=None)       calls fn(); fails unless it fails with an error
//	                                     whose message matches the regular expression
//	                                     pattern; returns that message
//
// A failure is an error of the calling test, located at the assert call.
func Assert() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "assert", Members: starlark.StringDict{
		"eq":       starlark.NewBuiltin("assert.eq", assertEq),
		"ne":       starlark.NewBuiltin("assert.ne", assertNe),
		"true":     starlark.NewBuiltin("assert.true", assertTruth(true)),
		"false":    starlark.NewBuiltin("assert.false", assertTruth(false)),
		"contains": starlark.NewBuiltin("assert.contains", assertContains),
		"fails":    starlark.NewBuiltin("assert.fails", assertFails),
	}}
}

// failure formats an assertion failure, appending the caller's message if any.
func failure(b *starlark.Builtin, msg starlark.Value, format string, args ...any) error {
	text := fmt.Sprintf(format, args...)
	if msg != nil && msg != starlark.None {
		if s, ok := starlark.AsString(msg); ok {
			text += ": " + s
		} else {
			text += ": " + msg.String()
		}
	}
	return fmt.Errorf("%s: %s", b.Name(), text)
}

func assertEq(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var got, want, msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "got", &got, "want", &want, "msg?", &msg); err != nil {
		return nil, err
	}
	eq, err := starlark.Equal(got, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if !eq {
		return nil, failure(b, msg, "got %s, want %s", got.String(), want.String())
	}
	return starlark.None, nil
}

func assertNe(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var got, unwanted, msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "got", &got, "unwanted", &unwanted, "msg?", &msg); err != nil {
		return nil, err
	}
	eq, err := starlark.Equal(got, unwanted)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if eq {
		return nil, failure(b, msg, "got %s, which it must not be", got.String())
	}
	return starlark.None, nil
}

func assertTruth(want bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var cond, msg starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cond", &cond, "msg?", &msg); err != nil {
			return nil, err
		}
		if bool(cond.Truth()) != want {
			return nil, failure(b, msg, "got %s, want a %s value", cond.String(), map[bool]string{true: "true", false: "false"}[want])
		}
		return starlark.None, nil
	}
}

func assertContains(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var container, x, msg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "container", &container, "x", &x, "msg?", &msg); err != nil {
		return nil, err
	}
	in, err := starlark.Binary(syntax.IN, x, container)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if !in.Truth() {
		return nil, failure(b, msg, "%s is not in %s", x.String(), container.String())
	}
	return starlark.None, nil
}

func assertFails(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	var pattern starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "fn", &fn, "pattern?", &pattern); err != nil {
		return nil, err
	}
	var re *regexp.Regexp
	if pattern != starlark.None {
		s, ok := starlark.AsString(pattern)
		if !ok {
			return nil, fmt.Errorf("%s: pattern must be a string (a regular expression), not %s", b.Name(), pattern.Type())
		}
		var err error
		if re, err = regexp.Compile(s); err != nil {
			return nil, fmt.Errorf("%s: invalid pattern: %w", b.Name(), err)
		}
	}
	_, err := starlark.Call(thread, fn, nil, nil)
	if err == nil {
		return nil, fmt.Errorf("%s: %s did not fail", b.Name(), fn.Name())
	}
	msg := err.Error()
	if ee, ok := err.(*starlark.EvalError); ok {
		msg = ee.Msg
	}
	if re != nil && !re.MatchString(msg) {
		return nil, fmt.Errorf("%s: %s failed with %q, which does not match %q", b.Name(), fn.Name(), msg, re.String())
	}
	return starlark.String(msg), nil
}
