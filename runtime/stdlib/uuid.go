package stdlib

import (
	"crypto/rand"
	"encoding/hex"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// uuidModule makes random identifiers:
//
//	uuid.v4()   a random (version 4, RFC 9562) UUID as 36 lowercase characters,
//	            "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
var uuidModule = &starlarkstruct.Module{
	Name: "uuid",
	Members: starlark.StringDict{
		"v4": starlark.NewBuiltin("uuid.v4", uuidV4),
	},
}

func uuidV4(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	var u [16]byte
	rand.Read(u[:])         // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return starlark.String(s[:]), nil
}
