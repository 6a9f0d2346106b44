package stdlib

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/starbase/starbase/runtime"
)

// MaxTokenBytes is the most random bytes one secrets call makes.
const MaxTokenBytes = 4096

// defaultTokenBytes is the size of a token when the caller names none: 256 bits.
const defaultTokenBytes = 32

// secretsModule makes random values from crypto/rand, as Python's secrets module does:
//
//	secrets.token_bytes(n=32)     n random bytes
//	secrets.token_hex(n=32)       n random bytes as 2n hexadecimal digits
//	secrets.token_urlsafe(n=32)   n random bytes in URL-safe base64 without padding
//	secrets.randbelow(n)          a random int in [0, n)
//	secrets.choice(seq)           a random element of a non-empty string, list or tuple
var secretsModule = &starlarkstruct.Module{
	Name: "secrets",
	Members: starlark.StringDict{
		"token_bytes": starlark.NewBuiltin("secrets.token_bytes", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			buf, err := token(thread, b, args, kwargs)
			return starlark.Bytes(buf), err
		}),
		"token_hex": starlark.NewBuiltin("secrets.token_hex", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			buf, err := token(thread, b, args, kwargs)
			return starlark.String(hex.EncodeToString(buf)), err
		}),
		"token_urlsafe": starlark.NewBuiltin("secrets.token_urlsafe", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			buf, err := token(thread, b, args, kwargs)
			return starlark.String(base64.RawURLEncoding.EncodeToString(buf)), err
		}),
		"randbelow": starlark.NewBuiltin("secrets.randbelow", randBelow),
		"choice":    starlark.NewBuiltin("secrets.choice", choice),
	},
}

// token reads the argument n of a token function and returns n random bytes.
func token(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) ([]byte, error) {
	n := defaultTokenBytes
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0, &n); err != nil {
		return nil, err
	}
	if n < 0 || n > MaxTokenBytes {
		return nil, fmt.Errorf("%s: n is %d, want 0 to %d bytes", b.Name(), n, MaxTokenBytes)
	}
	if err := runtime.ChargeAlloc(thread, b.Name(), int64(3*n)); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	rand.Read(buf) // never fails (crypto/rand)
	return buf, nil
}

// randBelow implements secrets.randbelow(n).
func randBelow(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n starlark.Int
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &n); err != nil {
		return nil, err
	}
	if n.Sign() <= 0 {
		return nil, fmt.Errorf("%s: n is %s, want a positive int", b.Name(), n)
	}
	r, err := rand.Int(rand.Reader, n.BigInt()) // n is bounded by runtime.MaxIntBits
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.MakeBigInt(r), nil
}

// choice implements secrets.choice(seq).
func choice(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Indexable
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &seq); err != nil {
		return nil, err
	}
	if seq.Len() == 0 {
		return nil, fmt.Errorf("%s: the %s is empty", b.Name(), seq.Type())
	}
	i, err := rand.Int(rand.Reader, big.NewInt(int64(seq.Len())))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return seq.Index(int(i.Int64())), nil
}
