package runtime

import (
	"fmt"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
)

// Bounds of the JSON texts json.decode accepts. go.starlark.net's decoder recurses once
// per level of nesting (2 MB of "[" overflowed the Go stack and killed the process) and
// parses integers with math/big, whose decimal parsing is quadratic in the number of
// digits (a million digits take 1.7s). json.decode therefore scans its input first, in
// one linear pass, and refuses a text beyond either bound before decoding anything.
const (
	// MaxJSONDepth bounds the nesting of arrays and objects in a text given to
	// json.decode.
	MaxJSONDepth = maxNesting
	// MaxJSONDigits bounds the digits of one number in a text given to json.decode: as
	// Python's int() does since CVE-2020-10735, and for the same reason.
	MaxJSONDigits = 4300
)

// checkJSONShape returns an error wrapping ErrDepthLimit if the JSON text s nests arrays
// and objects more than MaxJSONDepth levels deep, or ErrMemoryLimit if a number in it
// has more than MaxJSONDigits digits; it says where. Its work is linear in len(s) and it
// allocates nothing (but the error). Malformed text is not its concern: the decoder
// reports it.
func checkJSONShape(s string) error {
	depth, digits := 0, 0
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		if c >= '0' && c <= '9' {
			if digits++; digits > MaxJSONDigits {
				return fmt.Errorf("%w: json.decode: the number at byte %d has more than %d digits (runtime.MaxJSONDigits)", ErrMemoryLimit, i-digits+1, MaxJSONDigits)
			}
			continue
		}
		digits = 0
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > MaxJSONDepth {
				return fmt.Errorf("%w: json.decode: arrays and objects nest more than %d levels deep at byte %d (runtime.MaxJSONDepth)", ErrDepthLimit, MaxJSONDepth, i)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// DecodeJSON decodes the JSON text s for stored code running on thread, as json.decode
// does: its shape is checked first (MaxJSONDepth, MaxJSONDigits) and what decoding
// allocates is charged to the thread's allocation check. A text that is not JSON, or is
// beyond the shape's bounds, is an error wrapping ErrBadJSON. Builtins of other packages
// that decode JSON on stored code's behalf (req.json()) use it.
func DecodeJSON(thread *starlark.Thread, s string) (starlark.Value, error) {
	if err := checkJSONShape(s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	if err := ChargeAlloc(thread, "decoding JSON", decodedSize(s)); err != nil {
		return nil, err
	}
	decode := json.Module.Members["decode"].(*starlark.Builtin)
	v, err := decode.CallInternal(thread, starlark.Tuple{starlark.String(s)}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	return v, nil
}
