package stdlib

import (
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// hmacModule computes keyed digests (RFC 2104) and compares secrets in constant time:
//
//	hmac.digest(key, msg, algorithm="sha256")      the HMAC of msg under key, as bytes
//	hmac.hexdigest(key, msg, algorithm="sha256")   the same in lowercase hexadecimal
//	hmac.compare_digest(a, b)                      a == b, in a time that depends on
//	                                               their lengths only
//
// key and msg are strings or bytes; algorithm is "sha256", "sha512", "sha1" or "md5".
var hmacModule = &starlarkstruct.Module{
	Name: "hmac",
	Members: starlark.StringDict{
		"digest":         starlark.NewBuiltin("hmac.digest", hmacDigest(true)),
		"hexdigest":      starlark.NewBuiltin("hmac.hexdigest", hmacDigest(false)),
		"compare_digest": starlark.NewBuiltin("hmac.compare_digest", compareDigest),
	},
}

func hmacDigest(raw bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var keyV, msgV starlark.Value
		algorithm := "sha256"
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &keyV, "msg", &msgV, "algorithm?", &algorithm); err != nil {
			return nil, err
		}
		key, err := text(b.Name(), "key", keyV)
		if err != nil {
			return nil, err
		}
		msg, err := text(b.Name(), "msg", msgV)
		if err != nil {
			return nil, err
		}
		newHash, ok := algorithms[algorithm]
		if !ok {
			names := make([]string, 0, len(algorithms))
			for name := range algorithms {
				names = append(names, name)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("%s: unknown algorithm %q, want one of %s", b.Name(), algorithm, strings.Join(names, ", "))
		}
		if err := work(thread, b.Name(), len(key)+len(msg), len(key)+len(msg)); err != nil { // their copies
			return nil, err
		}
		mac := hmac.New(newHash, []byte(key))
		mac.Write([]byte(msg))
		return digestValue(mac.Sum(nil), raw), nil
	}
}

// compareDigest implements hmac.compare_digest(a, b) for two strings or two bytes.
func compareDigest(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "a", &x, "b", &y); err != nil {
		return nil, err
	}
	a, err := text(b.Name(), "a", x)
	if err != nil {
		return nil, err
	}
	c, err := text(b.Name(), "b", y)
	if err != nil {
		return nil, err
	}
	if x.Type() != y.Type() {
		return nil, fmt.Errorf("%s: cannot compare %s with %s", b.Name(), x.Type(), y.Type())
	}
	if err := work(thread, b.Name(), len(a)+len(c), len(a)+len(c)); err != nil { // their copies
		return nil, err
	}
	return starlark.Bool(subtle.ConstantTimeCompare([]byte(a), []byte(c)) == 1), nil
}
