package stdlib

import (
	"encoding/base64"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// base64Module encodes and decodes base64 (RFC 4648):
//
//	base64.encode(data, urlsafe=False, padding=True)   data (a string or bytes) as a
//	                                                    base64 string; urlsafe uses - and _
//	                                                    in place of + and /
//	base64.decode(s, urlsafe=False)                     the bytes s encodes, with or without
//	                                                    its = padding
//
// Decoding is strict otherwise: a character outside the alphabet (including whitespace
// and newlines) is an error that names its offset.
var base64Module = &starlarkstruct.Module{
	Name: "base64",
	Members: starlark.StringDict{
		"encode": starlark.NewBuiltin("base64.encode", base64Encode),
		"decode": starlark.NewBuiltin("base64.decode", base64Decode),
	},
}

func base64Encoding(urlsafe, padding bool) *base64.Encoding {
	switch {
	case urlsafe && padding:
		return base64.URLEncoding
	case urlsafe:
		return base64.RawURLEncoding
	case padding:
		return base64.StdEncoding
	}
	return base64.RawStdEncoding
}

func base64Encode(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var data starlark.Value
	urlsafe, padding := false, true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &data, "urlsafe?", &urlsafe, "padding?", &padding); err != nil {
		return nil, err
	}
	s, err := text(b.Name(), "data", data)
	if err != nil {
		return nil, err
	}
	enc := base64Encoding(urlsafe, padding)
	if err := work(thread, b.Name(), len(s), 2*enc.EncodedLen(len(s))); err != nil { // the buffer and the string
		return nil, err
	}
	return starlark.String(enc.EncodeToString([]byte(s))), nil
}

func base64Decode(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var data starlark.Value
	urlsafe := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "s", &data, "urlsafe?", &urlsafe); err != nil {
		return nil, err
	}
	s, err := text(b.Name(), "s", data)
	if err != nil {
		return nil, err
	}
	if unpadded := strings.TrimRight(s, "="); len(unpadded) < len(s) {
		if len(s)%4 != 0 || len(s)-len(unpadded) > 2 {
			return nil, fmt.Errorf("%s: wrong padding: %d = after %d characters (padding makes the length a multiple of 4)", b.Name(), len(s)-len(unpadded), len(unpadded))
		}
		s = unpadded
	}
	enc := base64Encoding(urlsafe, false)
	if err := work(thread, b.Name(), len(s), 2*enc.DecodedLen(len(s))); err != nil { // the buffer and the bytes
		return nil, err
	}
	out, err := enc.DecodeString(s)
	if err != nil {
		alphabet := "standard (+ and /)"
		if urlsafe {
			alphabet = "URL-safe (- and _)"
		}
		return nil, fmt.Errorf("%s: not %s base64: %w", b.Name(), alphabet, err)
	}
	return starlark.Bytes(out), nil
}
