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
	"unicode"
	"unicode/utf8"

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

// ParseRole returns the role named s, or an error wrapping ErrInvalidRequest.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if roleRank[r] == 0 {
		return "", fmt.Errorf("%w: unknown role %q: use reader, developer or admin", ErrInvalidRequest, s)
	}
	return r, nil
}

// Allows reports whether a holder of r may act as need.
func (r Role) Allows(need Role) bool { return roleRank[r] >= roleRank[need] && roleRank[r] > 0 }

// Min returns the lesser of r and other.
func (r Role) Min(other Role) Role {
	if roleRank[other] < roleRank[r] {
		return other
	}
	return r
}

// Store keys of token records.
const (
	TokenPrefix     = "auth/tokens/"
	tokenNamePrefix = "auth/token-names/" // reserves the name of each created token
	bootstrapMarker = "auth/bootstrapped"
)

// Limits on token names.
const MaxNameLen = 64

var (
	// ErrUnauthenticated is returned when no token, or an unknown or revoked one, is given,
	// and when a session is unknown, expired or stands for a revoked token.
	ErrUnauthenticated = errors.New("unauthenticated: give a valid token (--token or STARBASE_TOKEN)")
	// ErrForbidden is returned when a token's role does not allow an operation.
	ErrForbidden = errors.New("forbidden: this token's role does not allow the operation")
	// ErrNotFound is returned by Revoke for an unknown token id.
	ErrNotFound = errors.New("no such token")
	// ErrInvalidRequest is returned when a token name, role, id or secret, or a ref name of
	// the protected refs, is malformed.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrExists is returned by Create when a token with the same name exists.
	ErrExists = errors.New("already exists")
	// ErrLastAdmin is returned by Revoke when the token is the last admin token: nobody
	// could manage tokens any more.
	ErrLastAdmin = errors.New("refusing to revoke the last admin token: create another admin token first")
	// ErrConflict is returned when concurrent changes kept an operation from committing
	// after several attempts; trying again may succeed.
	ErrConflict = errors.New("concurrent change")
)

// Token is the stored record of a token. It never holds the secret.
type Token struct {
	ID      string    `json:"id"` // the first 12 hex digits of the hash, for display and revocation
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// IDLen is the length of a token ID.
const IDLen = 12

// Hash returns the hex SHA-256 of a secret, the key under which its record is stored.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns a new random token secret: "sb_" and 64 hex digits (256 bits).
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return "sb_" + hex.EncodeToString(b[:]), nil
}

// ValidateName checks a token name: it becomes the author of commits, so it must be one
// line of 1 to MaxNameLen bytes of UTF-8 without control characters or surrounding spaces.
func ValidateName(name string) error {
	switch {
	case name == "" || strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: a token needs a name (--name)", ErrInvalidRequest)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: the token name is %d bytes long, the limit is %d", ErrInvalidRequest, len(name), MaxNameLen)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%w: the token name %q is not valid UTF-8 or contains control characters", ErrInvalidRequest, name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: the token name %q starts or ends with spaces", ErrInvalidRequest, name)
	}
	return nil
}

// ValidateID checks that id has the form of a token ID: IDLen lowercase hex digits.
func ValidateID(id string) error {
	if len(id) != IDLen || strings.IndexFunc(id, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f')
	}) >= 0 {
		return fmt.Errorf("%w: %q is not a token id (%d hex digits, as `starbase token list` shows)", ErrInvalidRequest, id, IDLen)
	}
	return nil
}

// Tokens manages token records in a store. It is safe for concurrent use.
type Tokens struct {
	st store.Store
}

// NewTokens returns the token records kept in st.
func NewTokens(st store.Store) *Tokens { return &Tokens{st: st} }

// CreateOp returns the record of a new token for secret and the store operation that saves it,
// so that callers can write it in the same commit as its audit record. It fails with
// ErrInvalidRequest for a bad secret, name or role.
func CreateOp(secret, name string, role Role, now time.Time) (Token, store.Op, error) {
	if err := ValidateSecret(secret); err != nil {
		return Token{}, store.Op{}, err
	}
	if err := ValidateName(name); err != nil {
		return Token{}, store.Op{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, store.Op{}, err
	}
	h := Hash(secret)
	t := Token{ID: h[:IDLen], Name: name, Role: role, Hash: h, Created: now.UTC()}
	b, err := json.Marshal(t)
	if err != nil {
		return Token{}, store.Op{}, err
	}
	return t, store.Put(TokenPrefix+h, b), nil
}

// tokenNameKey reserves a token name while its token exists.
func tokenNameKey(name string) string { return tokenNamePrefix + Hash(name) }

// Create makes a new token named name with role and returns its secret, which exists
// nowhere else: it is shown once. extra, when not nil, returns operations (the audit record)
// written in the same store commit as the token.
//
// Create fails with ErrInvalidRequest for a bad name or role and with ErrExists when a token
// of that name exists (names are the authors of commits, so they must tell people apart).
func (ts *Tokens) Create(ctx context.Context, name string, role Role, extra func(Token) []store.Op) (string, Token, error) {
	secret, err := NewSecret()
	if err != nil {
		return "", Token{}, err
	}
	tok, op, err := CreateOp(secret, name, role, time.Now())
	if err != nil {
		return "", Token{}, err
	}
	existing, err := ts.List(ctx)
	if err != nil {
		return "", Token{}, err
	}
	for _, t := range existing {
		if t.Name == name {
			return "", Token{}, fmt.Errorf("%w: a token named %q (id %s) exists; pick another name or revoke it first", ErrExists, name, t.ID)
		}
	}
	// The name key makes two concurrent creations of one name conflict: one of them wins.
	ops := []store.Op{op, store.Put(tokenNameKey(name), []byte(tok.ID))}
	if extra != nil {
		ops = append(ops, extra(tok)...)
	}
	_, err = ts.st.Commit(ctx, []store.Compare{store.Absent(op.Key), store.Absent(tokenNameKey(name))}, ops)
	if errors.Is(err, store.ErrConflict) {
		return "", Token{}, fmt.Errorf("%w: a token named %q was created at the same time; pick another name", ErrExists, name)
	}
	if err != nil {
		return "", Token{}, fmt.Errorf("storing token %s: %w", tok.ID, err)
	}
	return secret, tok, nil
}

// Authenticate returns the record of secret, or ErrUnauthenticated.
func (ts *Tokens) Authenticate(ctx context.Context, secret string) (Token, error) {
	if ValidateSecret(secret) != nil {
		return Token{}, ErrUnauthenticated
	}
	return ts.byHash(ctx, Hash(secret))
}

// byHash returns the record stored under hash h, or ErrUnauthenticated.
//
// The lookup is by key, and its timing may depend on the key; that reveals at most
// something about the hash, from which no secret can be computed. The comparison of the
// record's own hash is constant time all the same, so that a record stored under the wrong
// key is never taken for the right one.
func (ts *Tokens) byHash(ctx context.Context, h string) (Token, error) {
	kv, _, err := ts.st.Get(ctx, TokenPrefix+h, 0)
	if err != nil {
		return Token{}, fmt.Errorf("reading token: %w", err)
	}
	if kv == nil {
		return Token{}, ErrUnauthenticated
	}
	var t Token
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return Token{}, fmt.Errorf("token record %s is corrupt: %w", h[:IDLen], err)
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return Token{}, ErrUnauthenticated
	}
	return t, nil
}

// List returns every token record, ordered by key.
func (ts *Tokens) List(ctx context.Context) ([]Token, error) {
	toks, _, err := ts.list(ctx)
	return toks, err
}

// list returns every token record with its store key-value, as of one revision.
func (ts *Tokens) list(ctx context.Context) ([]Token, []store.KeyValue, error) {
	res, err := ts.st.Range(ctx, TokenPrefix, store.RangeOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("reading tokens: %w", err)
	}
	out := make([]Token, 0, len(res.KVs))
	for _, kv := range res.KVs {
		var t Token
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, nil, fmt.Errorf("token record %s is corrupt: %w", kv.Key, err)
		}
		out = append(out, t)
	}
	return out, res.KVs, nil
}

// revokeAttempts bounds how often Revoke retries after a concurrent change of the tokens.
const revokeAttempts = 5

// Revoke deletes the token whose ID is id and returns its record. extra, when not nil,
// returns operations (the audit record) written in the same store commit. Every session of
// the token ends with it, since a session is valid only while its token exists.
//
// Revoke fails with ErrInvalidRequest for a malformed id, ErrNotFound for an unknown one,
// and ErrLastAdmin when the token is the only admin token. The last-admin check holds
// under concurrency: the commit requires every other admin token to be unchanged, so two
// admins revoking each other cannot both succeed.
func (ts *Tokens) Revoke(ctx context.Context, id string, extra func(Token) []store.Op) (Token, error) {
	if err := ValidateID(id); err != nil {
		return Token{}, err
	}
	for range revokeAttempts {
		toks, kvs, err := ts.list(ctx)
		if err != nil {
			return Token{}, err
		}
		target := -1
		var otherAdmins []store.Compare
		for i, t := range toks {
			switch {
			case t.ID == id:
				target = i
			case t.Role == Admin:
				otherAdmins = append(otherAdmins, store.Unchanged(kvs[i].Key, &kvs[i]))
			}
		}
		if target < 0 {
			return Token{}, fmt.Errorf("%w: %s (see `starbase token list`)", ErrNotFound, id)
		}
		tok := toks[target]
		if tok.Role == Admin && len(otherAdmins) == 0 {
			return Token{}, ErrLastAdmin
		}
		compares := append([]store.Compare{store.Unchanged(kvs[target].Key, &kvs[target])}, otherAdmins...)
		ops := []store.Op{store.Delete(kvs[target].Key), store.Delete(tokenNameKey(tok.Name))}
		if extra != nil {
			ops = append(ops, extra(tok)...)
		}
		_, err = ts.st.Commit(ctx, compares, ops)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return Token{}, fmt.Errorf("revoking token %s: %w", id, err)
		}
		return tok, nil
	}
	return Token{}, fmt.Errorf("%w: the tokens kept changing while revoking %s; try again", ErrConflict, id)
}

// Bootstrap makes sure an admin token exists. When the store has no token, it stores secret
// (when given) or a new random one as the first admin token and returns it with created=true.
// Concurrent bootstraps (several nodes starting) create exactly one admin: the store commit is
// conditional on the key being absent, and a node that loses simply finds the record there.
// A given secret must pass ValidateSecret.
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
		return "", false, fmt.Errorf("the first admin token: %w", err)
	}
	// Compare on a bootstrap marker so that two nodes with different secrets cannot both win,
	// and so that revoking every token later does not let a restart mint a new admin.
	_, err = ts.st.Commit(ctx, []store.Compare{store.Absent(bootstrapMarker)},
		[]store.Op{op, store.Put(bootstrapMarker, []byte(time.Now().UTC().Format(time.RFC3339)))})
	if errors.Is(err, store.ErrConflict) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("storing admin token: %w", err)
	}
	return secret, true, nil
}
