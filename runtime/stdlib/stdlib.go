package stdlib

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/decimal"
	"github.com/starbase/starbase/runtime"
)

// Predeclared returns the modules of this package by the names stored code reaches them
// with. The modules hold no state: every call returns the same values.
func Predeclared() starlark.StringDict {
	return starlark.StringDict{
		"time":     timeModule,
		"uuid":     uuidModule,
		"secrets":  secretsModule,
		"hashlib":  hashlibModule,
		"hmac":     hmacModule,
		"password": passwordModule,
		"base64":   base64Module,
		"url":      urlModule,
		"log":      logModule,
		"decimal":  decimal.Builtin,
	}
}

// bytesPerStep is how many bytes of input a builtin reads (hashes, encodes, parses) per
// step it charges.
const bytesPerStep = 32

// work charges a builtin's work to the execution running on thread before the builtin
// does it: a step per bytesPerStep bytes of its input of in bytes, and an allocation of
// out bytes for its result, refused over the limit of one operation as what.
func work(thread *starlark.Thread, what string, in, out int) error {
	if err := runtime.ChargeSteps(thread, uint64(in/bytesPerStep)+1); err != nil {
		return err
	}
	return runtime.ChargeAlloc(thread, what, int64(out))
}

// text returns the contents of a string or bytes argument.
func text(fn, param string, v starlark.Value) (string, error) {
	switch v := v.(type) {
	case starlark.String:
		return string(v), nil
	case starlark.Bytes:
		return string(v), nil
	}
	return "", fmt.Errorf("%s: %s must be a string or bytes, not %s", fn, param, v.Type())
}
