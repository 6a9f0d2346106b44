package stdlib

import (
	"fmt"
	"net/url"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// urlModule percent-encodes text and builds and parses query strings, as Python's
// urllib.parse does:
//
//	url.quote(s, safe="/")         s with every byte percent-encoded except letters,
//	                               digits, "-._~" and the characters of safe
//	url.quote_plus(s, safe="")     the same, with spaces as "+" (for form values)
//	url.unquote(s)                 s with %XX sequences decoded
//	url.unquote_plus(s)            the same, with "+" as a space
//	url.urlencode(query)           "a=1&b=x+y" from a dict or a list of (key, value)
//	                               pairs, in their order; a list or tuple value gives
//	                               one pair per element
//	url.parse_qs(s)                a dict from each key of the query string s to the
//	                               list of its values, in order
//	url.parse_qsl(s)               the list of (key, value) pairs of s, in order
//
// A malformed escape ("%zz") is an error that names it. Keys and values of urlencode are
// strings, ints, floats or bools.
var urlModule = &starlarkstruct.Module{
	Name: "url",
	Members: starlark.StringDict{
		"quote":        starlark.NewBuiltin("url.quote", quote(false, "/")),
		"quote_plus":   starlark.NewBuiltin("url.quote_plus", quote(true, "")),
		"unquote":      starlark.NewBuiltin("url.unquote", unquote(url.PathUnescape)),
		"unquote_plus": starlark.NewBuiltin("url.unquote_plus", unquote(url.QueryUnescape)),
		"urlencode":    starlark.NewBuiltin("url.urlencode", urlencode),
		"parse_qs":     starlark.NewBuiltin("url.parse_qs", parseQuery(false)),
		"parse_qsl":    starlark.NewBuiltin("url.parse_qsl", parseQuery(true)),
	},
}

func quote(plus bool, defaultSafe string) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		safe := defaultSafe
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "s", &v, "safe?", &safe); err != nil {
			return nil, err
		}
		s, err := text(b.Name(), "s", v)
		if err != nil {
			return nil, err
		}
		if err := work(thread, b.Name(), len(s), 3*len(s)); err != nil {
			return nil, err
		}
		return starlark.String(percentEncode(s, safe, plus)), nil
	}
}

// percentEncode encodes every byte of s but the unreserved characters of RFC 3986 and
// those of safe; with plus, a space becomes "+".
func percentEncode(s, safe string, plus bool) string {
	const hex = "0123456789ABCDEF"
	var out strings.Builder
	out.Grow(len(s))
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-._~", c) >= 0:
			out.WriteByte(c)
		case c == ' ' && plus:
			out.WriteByte('+')
		case c < 0x80 && strings.IndexByte(safe, c) >= 0:
			out.WriteByte(c)
		default:
			out.WriteByte('%')
			out.WriteByte(hex[c>>4])
			out.WriteByte(hex[c&15])
		}
	}
	return out.String()
}

func unquote(unescape func(string) (string, error)) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
			return nil, err
		}
		s, err := text(b.Name(), "s", v)
		if err != nil {
			return nil, err
		}
		if err := work(thread, b.Name(), len(s), len(s)); err != nil {
			return nil, err
		}
		out, err := unescape(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return starlark.String(out), nil
	}
}

// queryText returns a key or value of urlencode as text.
func queryText(b *starlark.Builtin, v starlark.Value) (string, error) {
	switch v := v.(type) {
	case starlark.String:
		return string(v), nil
	case starlark.Bytes:
		return string(v), nil
	case starlark.Int, starlark.Float, starlark.Bool:
		return v.String(), nil
	}
	return "", fmt.Errorf("%s: a query key or value must be a string, int, float or bool, not %s", b.Name(), v.Type())
}

func urlencode(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var query starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &query); err != nil {
		return nil, err
	}
	pairs, err := queryPairs(b, query)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	add := func(k, v starlark.Value) error {
		key, err := queryText(b, k)
		if err != nil {
			return err
		}
		value, err := queryText(b, v)
		if err != nil {
			return err
		}
		if err := work(thread, b.Name(), len(key)+len(value), 3*(len(key)+len(value))+2); err != nil {
			return err
		}
		if out.Len() > 0 {
			out.WriteByte('&')
		}
		out.WriteString(percentEncode(key, "", true))
		out.WriteByte('=')
		out.WriteString(percentEncode(value, "", true))
		return nil
	}
	for _, kv := range pairs {
		values, isSeq := kv[1].(starlark.Indexable)
		if _, isString := kv[1].(starlark.String); isString || !isSeq {
			if err := add(kv[0], kv[1]); err != nil {
				return nil, err
			}
			continue
		}
		for i := range values.Len() {
			if err := add(kv[0], values.Index(i)); err != nil {
				return nil, err
			}
		}
	}
	return starlark.String(out.String()), nil
}

// queryPairs returns the (key, value) pairs of a dict, or of a list or tuple of
// pairs.
func queryPairs(b *starlark.Builtin, v starlark.Value) ([][2]starlark.Value, error) {
	switch v := v.(type) {
	case *starlark.Dict:
		items := v.Items()
		pairs := make([][2]starlark.Value, len(items))
		for i, kv := range items {
			pairs[i] = [2]starlark.Value{kv[0], kv[1]}
		}
		return pairs, nil
	case *starlark.List, starlark.Tuple:
		seq := v.(starlark.Indexable)
		pairs := make([][2]starlark.Value, seq.Len())
		for i := range seq.Len() {
			pair, ok := seq.Index(i).(starlark.Indexable)
			if _, isString := seq.Index(i).(starlark.String); isString || !ok || pair.Len() != 2 {
				return nil, fmt.Errorf("%s: item %d is %s, want a (key, value) pair", b.Name(), i, seq.Index(i).Type())
			}
			pairs[i] = [2]starlark.Value{pair.Index(0), pair.Index(1)}
		}
		return pairs, nil
	}
	return nil, fmt.Errorf("%s: got %s, want a dict or a list of (key, value) pairs", b.Name(), v.Type())
}

// pairBytes estimates what one parsed pair holds beyond its text: a tuple or list slot and
// two string headers.
const pairBytes = 64

func parseQuery(asList bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var v starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
			return nil, err
		}
		s, err := text(b.Name(), "s", v)
		if err != nil {
			return nil, err
		}
		s = strings.TrimPrefix(s, "?")
		n := strings.Count(s, "&") + 1
		if err := work(thread, b.Name(), len(s), len(s)+n*pairBytes); err != nil {
			return nil, err
		}
		var list []starlark.Value
		dict := starlark.NewDict(0)
		for part := range strings.SplitSeq(s, "&") {
			if part == "" {
				continue
			}
			rawKey, rawValue, _ := strings.Cut(part, "=")
			key, err := url.QueryUnescape(rawKey)
			if err != nil {
				return nil, fmt.Errorf("%s: key %q: %w", b.Name(), rawKey, err)
			}
			value, err := url.QueryUnescape(rawValue)
			if err != nil {
				return nil, fmt.Errorf("%s: value of %q: %w", b.Name(), key, err)
			}
			if asList {
				list = append(list, starlark.Tuple{starlark.String(key), starlark.String(value)})
				continue
			}
			values, found, _ := dict.Get(starlark.String(key))
			if !found {
				values = starlark.NewList(nil)
				dict.SetKey(starlark.String(key), values)
			}
			values.(*starlark.List).Append(starlark.String(value))
		}
		if asList {
			return starlark.NewList(list), nil
		}
		return dict, nil
	}
}
