// Package auth keeps the identities that may use Starbase's API: bearer tokens with a role.
//
// A token is a random secret shown once, when it is created. The store keeps only its SHA-256
// hash, under auth/tokens/<hash>, so a leaked store does not leak usable tokens, and lookups
// need no scan. Revoking a token deletes its record; every node reads records from the store
// on each authentication, so a revocation takes effect everywhere at once.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/starbase/starbase/store"
)

// Role is what a token may do. Each role includes the ones before it.
type Role string

const (
	Reader    Role = "reader"    // read code, history and status
	Developer Role = "developer" // commit and revert
	Admin     Role = "admin"     // manage tokens and settings
)

var roleRank = map[Role]int{Reader: 1, Developer: 2, Admin: 3}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if roleRank[r] == 0 {
		return "", fmt.Errorf("unknown role %q: use reader, developer or admin", s)
	}
	return r, nil
}

// Allows reports whether a holder of r may act as need.
func (r Role) Allows(need Role) bool { return roleRank[r] >= roleRank[need] && roleRank[r] > 0 }

// TokenPrefix is the store prefix of token records.
const TokenPrefix = "auth/tokens/"

var (
	// ErrUnauthenticated is returned when no token, or an unknown or revoked one, is given.
	ErrUnauthenticated = errors.New("unauthenticated: give a valid token (--token or STARBASE_TOKEN)")
	// ErrForbidden is returned when a token's role does not allow an operation.
	ErrForbidden = errors.New("forbidden: this token's role does not allow the operation")
	// ErrNotFound is returned by Revoke for an unknown token id.
	ErrNotFound = errors.New("no such token")
)

// Token is the stored record of a token. It never holds the secret.
type Token struct {
	ID      string    `json:"id"` // the first 12 hex digits of the hash, for display and revocation
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// Hash returns the hex SHA-256 of a secret, the key under which its record is stored.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns a new random token secret.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return "sb_" + hex.EncodeToString(b[:]), nil
}

// Tokens manages token records in a store. It is safe for concurrent use.
type Tokens struct {
	st store.Store
}

// NewTokens returns the token records kept in st.
func NewTokens(st store.Store) *Tokens { return &Tokens{st: st} }

// CreateOp returns the record of a new token for secret and the store operation that saves it,
// so that callers can write it in the same commit as its audit record.
func CreateOp(secret, name string, role Role, now time.Time) (Token, store.Op, error) {
	if strings.TrimSpace(name) == "" {
		return Token{}, store.Op{}, errors.New("a token needs a name (--name)")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, store.Op{}, err
	}
	h := Hash(secret)
	t := Token{ID: h[:12], Name: name, Role: role, Hash: h, Created: now.UTC()}
	b, err := json.Marshal(t)
	if err != nil {
		return Token{}, store.Op{}, err
	}
	return t, store.Put(TokenPrefix+h, b), nil
}

// Authenticate returns the record of secret, or ErrUnauthenticated.
func (ts *Tokens) Authenticate(ctx context.Context, secret string) (Token, error) {
	if secret == "" {
		return Token{}, ErrUnauthenticated
	}
	h := Hash(secret)
	kv, _, err := ts.st.Get(ctx, TokenPrefix+h, 0)
	if err != nil {
		return Token{}, fmt.Errorf("reading token: %w", err)
	}
	if kv == nil {
		return Token{}, ErrUnauthenticated
	}
	var t Token
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return Token{}, fmt.Errorf("token record %s is corrupt: %w", h[:12], err)
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return Token{}, ErrUnauthenticated
	}
	return t, nil
}

// List returns every token record, ordered by key.
func (ts *Tokens) List(ctx context.Context) ([]Token, error) {
	res, err := ts.st.Range(ctx, TokenPrefix, store.RangeOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(res.KVs))
	for _, kv := range res.KVs {
		var t Token
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("token record %s is corrupt: %w", kv.Key, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Bootstrap makes sure an admin token exists. When the store has no token, it stores secret
// (when given) or a new random one as the first admin token and returns it with created=true.
// Concurrent bootstraps (several nodes starting) create exactly one admin: the store commit is
// conditional on the key being absent, and a node that loses simply finds the record there.
func (ts *Tokens) Bootstrap(ctx context.Context, secret string) (token string, created bool, err error) {
	existing, err := ts.st.Range(ctx, TokenPrefix, store.RangeOptions{Limit: 1})
	if err != nil {
		return "", false, fmt.Errorf("reading tokens: %w", err)
	}
	if len(existing.KVs) > 0 {
		return "", false, nil
	}
	if secret == "" {
		if secret, err = NewSecret(); err != nil {
			return "", false, err
		}
	}
	_, op, err := CreateOp(secret, "admin", Admin, time.Now())
	if err != nil {
		return "", false, err
	}
	// Compare on a bootstrap marker so that two nodes with different secrets cannot both win.
	const marker = "auth/bootstrapped"
	_, err = ts.st.Commit(ctx, []store.Compare{store.Absent(marker)},
		[]store.Op{op, store.Put(marker, []byte(time.Now().UTC().Format(time.RFC3339)))})
	if errors.Is(err, store.ErrConflict) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("storing admin token: %w", err)
	}
	return secret, true, nil
}
