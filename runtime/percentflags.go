package runtime

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// Flags, width and precision of the % operator on strings ("%05d", "%-10s", "%.2f",
// "%+.3e", "%#x"), which go.starlark.net refuses ("unknown conversion %0"): the check of %
// first runs the upstream operation, and only when it fails on a format holding such a
// conversion formats it here, as Python's printf-style formatting does
// (TestPercentFlags_MatchPython holds a table of Python's results).
//
// What is formatted here: conversions d, i, u, o, x, X, e, E, f, F, g, G, c, s and r, with
// the flags -, 0, +, space and # (# on o, x and X only), a width and a precision given as
// digits. An argument is converted as the upstream conversion converts it (so %d also takes
// a float, truncated, as upstream does), except that %d takes a bool as Python does; %s of a string and %r are the upstream texts, and
// widths and precisions of texts count code points, as Python does. Not done (an error
// naming it): a width or precision given by *, # on other conversions, %a. %= keeps the
// upstream operation (write s = s % x).

// percentFlags formats format % y with flags, widths and precisions; the size of what it
// builds is checked against budget (bytes) before it is allocated.
func percentFlags(format string, y starlark.Value, budget int64) (string, error) {
	positional, isTuple := y.(starlark.Tuple)
	if !isTuple {
		positional = starlark.Tuple{y}
	}
	mapping, _ := y.(starlark.Mapping)
	var buf strings.Builder
	index := 0 // conversions so far, as upstream counts them
	for {
		i := strings.IndexByte(format, '%')
		if i < 0 {
			buf.WriteString(format)
			break
		}
		buf.WriteString(format[:i])
		format = format[i+1:]
		if strings.HasPrefix(format, "%") {
			buf.WriteByte('%')
			format = format[1:]
			continue
		}
		var arg starlark.Value
		if strings.HasPrefix(format, "(") {
			j := strings.IndexByte(format, ')')
			if j < 0 {
				return "", errors.New("incomplete format key")
			}
			if mapping == nil {
				return "", errors.New("format requires a mapping")
			}
			v, found, _ := mapping.Get(starlark.String(format[1:j]))
			if !found {
				return "", fmt.Errorf("key not found: %s", format[1:j])
			}
			arg, format = v, format[j+1:]
		}
		if arg == nil { // as upstream, the argument is taken before the conversion is read
			if index >= len(positional) {
				return "", errors.New("not enough arguments for format string")
			}
			arg = positional[index]
		}
		index++
		spec, rest, err := parsePercentSpec(format, budget)
		if err != nil {
			return "", err
		}
		format = rest
		if spec.conv == '%' {
			return "", errors.New("unsupported format character '%' after flags, width or precision") // as Python
		}
		if n, err := renderedSize(arg, spec.conv == 'r', false, budget); err != nil {
			return "", err
		} else if size := int64(buf.Len()) + n + spec.width + spec.prec + 8; size > budget {
			return "", allocError("% formatting", size, budget)
		}
		text, err := spec.format(arg)
		if err != nil {
			return "", err
		}
		buf.WriteString(text)
	}
	if index < len(positional) && mapping == nil {
		return "", errors.New("too many arguments for format string")
	}
	return buf.String(), nil
}

// hasPercentFlags reports whether format holds a conversion with flags, a width or a
// precision: one that upstream refuses and percentFlags formats.
func hasPercentFlags(format string) bool {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '(' {
			j := strings.IndexByte(format[i:], ')')
			if j < 0 {
				return false
			}
			i += j + 1
		}
		if i < len(format) && strings.IndexByte("-+ #0123456789.*", format[i]) >= 0 {
			return true
		}
	}
	return false
}

// A percentSpec is one conversion: its flags, width and precision (-1: none).
type percentSpec struct {
	left, zero, plus, space, alt bool
	width, prec                  int64
	conv                         byte
}

func parsePercentSpec(format string, budget int64) (percentSpec, string, error) {
	s := percentSpec{prec: -1}
	i := 0
flags:
	for ; i < len(format); i++ {
		switch format[i] {
		case '-':
			s.left = true
		case '0':
			s.zero = true
		case '+':
			s.plus = true
		case ' ':
			s.space = true
		case '#':
			s.alt = true
		default:
			break flags
		}
	}
	number := func(what string) (int64, error) {
		start := i
		for i < len(format) && '0' <= format[i] && format[i] <= '9' {
			i++
		}
		if i < len(format) && format[i] == '*' {
			return 0, fmt.Errorf("a %s given by * is not supported; write it in the format", what)
		}
		if start == i {
			return 0, nil
		}
		n, err := strconv.ParseInt(format[start:i], 10, 64)
		if err != nil || n > budget {
			return 0, allocError("% formatting with a "+what+" of "+format[start:i], budget+1, budget)
		}
		return n, nil
	}
	var err error
	if s.width, err = number("width"); err != nil {
		return s, "", err
	}
	if i < len(format) && format[i] == '.' {
		i++
		if s.prec, err = number("precision"); err != nil {
			return s, "", err
		}
	}
	for i < len(format) && strings.IndexByte("hlL", format[i]) >= 0 {
		i++ // length modifiers: ignored, as Python does
	}
	if i >= len(format) {
		return s, "", errors.New("incomplete format")
	}
	s.conv = format[i]
	if s.alt && strings.IndexByte("oxX", s.conv) < 0 {
		return s, "", fmt.Errorf("the # flag of %%%c is not supported (only of %%o, %%x and %%X)", s.conv)
	}
	return s, format[i+1:], nil
}

// format converts arg and lays it out in the spec's width.
func (s percentSpec) format(arg starlark.Value) (string, error) {
	switch c := s.conv; c {
	case 'd', 'i', 'u', 'o', 'x', 'X':
		if b, ok := arg.(starlark.Bool); ok { // as Python does, which upstream does not
			arg = starlark.MakeInt(map[starlark.Bool]int{false: 0, true: 1}[b])
		}
		i, err := starlark.NumberToInt(arg)
		if err != nil {
			return "", fmt.Errorf("%%%c format requires integer: %v", c, err)
		}
		n := i.BigInt()
		base, prefix := 10, ""
		switch c {
		case 'o':
			base, prefix = 8, "0o"
		case 'x', 'X':
			base, prefix = 16, "0x"
		}
		digits := new(big.Int).Abs(n).Text(base)
		if c == 'X' {
			digits, prefix = strings.ToUpper(digits), "0X"
		}
		if int64(len(digits)) < s.prec {
			digits = strings.Repeat("0", int(s.prec)-len(digits)) + digits
		}
		if !s.alt {
			prefix = ""
		}
		return s.pad(s.sign(n.Sign() < 0)+prefix, digits, true), nil
	case 'e', 'E', 'f', 'F', 'g', 'G':
		f, ok := starlark.AsFloat(arg)
		if !ok {
			return "", fmt.Errorf("%%%c format requires float, not %s", c, arg.Type())
		}
		prec := int(s.prec)
		if s.prec < 0 {
			prec = 6
		}
		var digits string
		switch {
		case math.IsNaN(f):
			digits = "nan"
		case math.IsInf(f, 0):
			digits = "inf"
		default:
			if (c == 'g' || c == 'G') && prec == 0 {
				prec = 1
			}
			digits = strconv.FormatFloat(math.Abs(f), c|0x20, prec, 64)
		}
		if 'A' <= c && c <= 'Z' {
			digits = strings.ToUpper(digits)
		}
		return s.pad(s.sign(math.Signbit(f) && !math.IsNaN(f)), digits, true), nil
	case 's', 'r':
		text := arg.String() // repr, and str of everything but strings
		if str, ok := starlark.AsString(arg); ok && c == 's' {
			text = str
		}
		if s.prec >= 0 && int64(utf8.RuneCountInString(text)) > s.prec {
			cut := 0
			for n := int64(0); n < s.prec; n++ {
				_, size := utf8.DecodeRuneInString(text[cut:])
				cut += size
			}
			text = text[:cut]
		}
		return s.pad("", text, false), nil
	case 'c':
		var r rune
		switch arg := arg.(type) {
		case starlark.Int:
			n, err := starlark.AsInt32(arg)
			if err != nil || n < 0 || n > unicode.MaxRune {
				return "", fmt.Errorf("%%c format requires a valid Unicode code point, got %s", arg)
			}
			r = rune(n)
		case starlark.String:
			var size int
			r, size = utf8.DecodeRuneInString(string(arg))
			if size != len(arg) || len(arg) == 0 {
				return "", errors.New("%c format requires a single-character string")
			}
		default:
			return "", fmt.Errorf("%%c format requires int or single-character string, not %s", arg.Type())
		}
		return s.pad("", string(r), false), nil
	}
	return "", fmt.Errorf("unknown conversion %%%c", s.conv)
}

// sign returns the sign a number is written with.
func (s percentSpec) sign(negative bool) string {
	switch {
	case negative:
		return "-"
	case s.plus:
		return "+"
	case s.space:
		return " "
	}
	return ""
}

// pad lays out head (sign and prefix) and body in the width: left-justified with -, zeros
// between head and body with 0 (numbers only), else right-justified with spaces.
func (s percentSpec) pad(head, body string, numeric bool) string {
	n := int64(utf8.RuneCountInString(head) + utf8.RuneCountInString(body))
	if n >= s.width {
		return head + body
	}
	fill := int(s.width - n)
	switch {
	case s.left:
		return head + body + strings.Repeat(" ", fill)
	case s.zero && numeric:
		return head + strings.Repeat("0", fill) + body
	}
	return strings.Repeat(" ", fill) + head + body
}

// percent wraps the check of x % y (next): when it fails on a string format holding
// flags, a width or a precision, percentFlags formats it.
func (c *checks) percent(next builtinFunc) builtinFunc {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		v, err := next(thread, b, args, kwargs)
		if err == nil || len(args) != 2 {
			return v, err
		}
		format, ok := args[0].(starlark.String)
		if !ok || !hasPercentFlags(string(format)) {
			return v, err
		}
		s, ferr := percentFlags(string(format), args[1], c.maxAlloc)
		if ferr != nil {
			return nil, ferr
		}
		c.charge(thread, int64(len(s)))
		return starlark.String(s), nil
	}
}
