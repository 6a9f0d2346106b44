package auth

import (
	"fmt"
	"strings"
)

// Limits on token secrets. Generated secrets are 67 bytes; a secret chosen by an operator
// (STARBASE_ADMIN_TOKEN) must be at least MinSecretLen bytes.
const (
	MinSecretLen = 12
	MaxSecretLen = 512
)

// ValidateSecret checks that secret can be a token: MinSecretLen to MaxSecretLen bytes of
// visible ASCII (no spaces), so that it travels unchanged in an Authorization header. It
// fails with ErrInvalidRequest.
func ValidateSecret(secret string) error {
	if len(secret) < MinSecretLen || len(secret) > MaxSecretLen {
		return fmt.Errorf("%w: a token is %d to %d bytes long, this one has %d", ErrInvalidRequest, MinSecretLen, MaxSecretLen, len(secret))
	}
	for i := range len(secret) {
		if c := secret[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: a token is made of visible ASCII characters, this one has %q at byte %d", ErrInvalidRequest, c, i)
		}
	}
	return nil
}

// ParseBearer returns the secret of an Authorization header value of the form
// "Bearer <secret>" (the scheme is case-insensitive, RFC 9110 section 11.1). ok is false for
// an empty header. err, wrapping ErrUnauthenticated, reports any other form: another
// scheme, a missing or malformed secret.
func ParseBearer(header string) (secret string, ok bool, err error) {
	if header == "" {
		return "", false, nil
	}
	scheme, rest, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", true, fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrUnauthenticated)
	}
	secret = strings.Trim(rest, " \t")
	if err := ValidateSecret(secret); err != nil {
		return "", true, fmt.Errorf("%w: the bearer token is malformed: %v", ErrUnauthenticated, err)
	}
	return secret, true, nil
}
