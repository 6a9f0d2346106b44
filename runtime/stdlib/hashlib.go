package stdlib

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// algorithms are the digests of hashlib and hmac, by name.
var algorithms = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// hashlibModule computes digests of strings and bytes:
//
//	hashlib.sha256(data, raw=False)   the SHA-256 digest of data (a string or bytes) in
//	                                  lowercase hexadecimal, or as bytes if raw
//	hashlib.sha512, sha1, md5         the same for those algorithms (MD5 and SHA-1 are
//	                                  broken for signatures: use them for checksums only)
var hashlibModule = &starlarkstruct.Module{
	Name: "hashlib",
	Members: starlark.StringDict{
		"md5":    digestBuiltin("md5"),
		"sha1":   digestBuiltin("sha1"),
		"sha256": digestBuiltin("sha256"),
		"sha512": digestBuiltin("sha512"),
	},
}

func digestBuiltin(algorithm string) *starlark.Builtin {
	newHash := algorithms[algorithm]
	return starlark.NewBuiltin("hashlib."+algorithm, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var data starlark.Value
		var raw bool
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &data, "raw?", &raw); err != nil {
			return nil, err
		}
		s, err := text(b.Name(), "data", data)
		if err != nil {
			return nil, err
		}
		if err := work(thread, b.Name(), len(s), len(s)); err != nil { // the copy of s
			return nil, err
		}
		h := newHash()
		h.Write([]byte(s))
		return digestValue(h.Sum(nil), raw), nil
	})
}

// digestValue returns sum as bytes if raw, else in lowercase hexadecimal.
func digestValue(sum []byte, raw bool) starlark.Value {
	if raw {
		return starlark.Bytes(sum)
	}
	return starlark.String(hex.EncodeToString(sum))
}
