package appsession

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// CookieName is the name of the session cookie.
const CookieName = "session"

// MaxAge is how long a session lasts after it was last written.
const MaxAge = 7 * 24 * time.Hour

// MaxDataBytes bounds a session's data, as JSON: sealed, it must fit one cookie (browsers
// keep about 4 KB).
const MaxDataBytes = 3000

// cookieVersion starts every cookie value this package seals; another is not a session.
const cookieVersion = "v1"

// payload is what a cookie carries, sealed.
type payload struct {
	// Expires is the Unix time (seconds) after which the session is over.
	Expires int64 `json:"e"`
	// CSRF is the session's CSRF id ("" until a token was asked for).
	CSRF string `json:"c,omitempty"`
	// Data is the handler's dict, as JSON.
	Data json.RawMessage `json:"d,omitempty"`
}

// seal encrypts and authenticates p with key: "v1.<key id>.<base64url(nonce|ciphertext)>",
// the version and key id authenticated with it.
func seal(key Key, p payload) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	prefix := cookieVersion + "." + key.ID + "."
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(prefix))
	return prefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// open returns the payload of a cookie value sealed by a key of ring still usable at now,
// and whether it opened and has not expired at now. Anything else (tampered, forged, of a
// key past its grace, malformed) is not a session.
func open(ring *Ring, value string, now time.Time) (payload, bool) {
	version, rest, ok := strings.Cut(value, ".")
	if !ok || version != cookieVersion {
		return payload{}, false
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return payload{}, false
	}
	key, ok := ring.find(id, now)
	if !ok {
		return payload{}, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return payload{}, false
	}
	aead, err := newAEAD(key)
	if err != nil || len(sealed) < aead.NonceSize() {
		return payload{}, false
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(cookieVersion+"."+id+"."))
	if err != nil {
		return payload{}, false
	}
	var p payload
	dec := json.NewDecoder(bytes.NewReader(plain))
	if dec.Decode(&p) != nil || !now.Before(time.Unix(p.Expires, 0)) {
		return payload{}, false
	}
	return p, true
}

func newAEAD(key Key) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key.derive("cookie"))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
