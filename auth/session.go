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
	"time"

	"github.com/starbase/starbase/store"
)

// Sessions.
const (
	// SessionPrefix is the store prefix of session records.
	SessionPrefix = "auth/sessions/"
	// DefaultSessionTTL is how long a session lasts when its creator does not say.
	DefaultSessionTTL = 12 * time.Hour

	sessionIDPrefix = "sbs_"
	sessionIDLen    = len(sessionIDPrefix) + 64
)

// SessionOrigin names the origin a session was made on: the only one that accepts it, and
// what bounds its role.
type SessionOrigin string

const (
	// AppOrigin is the application's origin (serve --addr). Pages that developers commit
	// run there, so a script of theirs running in an admin's browser could use the admin's
	// session: sessions made there act at most as developers.
	AppOrigin SessionOrigin = "app"
	// EditorOrigin is the editor's own origin (serve --editor-addr), which serves the
	// editor's embedded files and the API, and no stored code: sessions made there carry
	// their token's full role, admin included.
	EditorOrigin SessionOrigin = "editor"
)

// MaxRole is the highest role a session of origin o acts with: developer on the app's
// origin, admin on the editor's.
func (o SessionOrigin) MaxRole() Role {
	if o == EditorOrigin {
		return Admin
	}
	return Developer
}

// Session is the stored record of a session. It never holds the session id.
type Session struct {
	// TokenHash is the key of the token the session stands for.
	TokenHash string    `json:"token_hash"`
	TokenID   string    `json:"token_id"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	// Origin is where the session was made and is accepted; records written before
	// origins existed have none, which means AppOrigin.
	Origin SessionOrigin `json:"origin,omitempty"`
}

// origin returns the origin of the session record.
func (s Session) origin() SessionOrigin {
	if s.Origin == "" {
		return AppOrigin
	}
	return s.Origin
}

// Sessions manages session records in a store. It is safe for concurrent use.
type Sessions struct {
	st     store.Store
	tokens *Tokens
}

// NewSessions returns the sessions kept in st.
func NewSessions(st store.Store) *Sessions { return &Sessions{st: st, tokens: NewTokens(st)} }

// ParseSessionID checks that s has the form of a session id ("sbs_" and 64 lowercase hex
// digits) and returns it; any other string fails with ErrUnauthenticated, before any store
// read.
func ParseSessionID(s string) (string, error) {
	if len(s) != sessionIDLen || s[:len(sessionIDPrefix)] != sessionIDPrefix {
		return "", fmt.Errorf("%w: malformed session", ErrUnauthenticated)
	}
	for i := len(sessionIDPrefix); i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("%w: malformed session", ErrUnauthenticated)
		}
	}
	return s, nil
}

func newSessionID() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return sessionIDPrefix + hex.EncodeToString(b[:])
}

func sessionKey(id string) string { return SessionPrefix + Hash(id) }

// CSRFToken returns the anti-forgery token of session id: a value derived from the id by a
// one-way function, which a page of the session's origin can be told (it cannot read the
// HttpOnly cookie) and must send back with every state-changing request, and which no other
// site can learn or compute.
func CSRFToken(id string) string {
	sum := sha256.Sum256([]byte("starbase csrf\x00" + id))
	return hex.EncodeToString(sum[:])
}

// CheckCSRF reports, in constant time, whether token is the anti-forgery token of session id.
func CheckCSRF(id, token string) bool {
	return subtle.ConstantTimeCompare([]byte(CSRFToken(id)), []byte(token)) == 1
}

// Start opens a session for tok on origin, lasting ttl (DefaultSessionTTL when <= 0), and
// returns its id, the secret the browser keeps. extra is written in the same store commit
// (the audit record). Expired sessions are swept first.
func (ss *Sessions) Start(ctx context.Context, tok Token, origin SessionOrigin, ttl time.Duration, extra []store.Op) (string, Session, error) {
	if origin != AppOrigin && origin != EditorOrigin {
		return "", Session{}, fmt.Errorf("auth: unknown session origin %q", origin)
	}
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	now := time.Now().UTC()
	if err := ss.Sweep(ctx, now); err != nil {
		return "", Session{}, err
	}
	id := newSessionID()
	sess := Session{TokenHash: tok.Hash, TokenID: tok.ID, Created: now, Expires: now.Add(ttl), Origin: origin}
	b, err := json.Marshal(sess)
	if err != nil {
		return "", Session{}, err
	}
	key := sessionKey(id)
	// The token must still exist when the session is stored: a revocation racing with the
	// login wins.
	tokKV, _, err := ss.st.Get(ctx, TokenPrefix+tok.Hash, 0)
	if err != nil {
		return "", Session{}, fmt.Errorf("reading token: %w", err)
	}
	if tokKV == nil {
		return "", Session{}, ErrUnauthenticated
	}
	compares := []store.Compare{store.Absent(key), store.Unchanged(tokKV.Key, tokKV)}
	if _, err := ss.st.Commit(ctx, compares, append([]store.Op{store.Put(key, b)}, extra...)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", Session{}, fmt.Errorf("%w: the token changed during login", ErrUnauthenticated)
		}
		return "", Session{}, fmt.Errorf("storing session: %w", err)
	}
	return id, sess, nil
}

// Authenticate returns the token session id stands for, with its role capped at
// origin.MaxRole(), and the session record. It fails with ErrUnauthenticated when the id is
// malformed or unknown, the session was made on another origin, the session expired, or its
// token was revoked.
func (ss *Sessions) Authenticate(ctx context.Context, id string, origin SessionOrigin) (Token, Session, error) {
	if _, err := ParseSessionID(id); err != nil {
		return Token{}, Session{}, err
	}
	kv, _, err := ss.st.Get(ctx, sessionKey(id), 0)
	if err != nil {
		return Token{}, Session{}, fmt.Errorf("reading session: %w", err)
	}
	if kv == nil {
		return Token{}, Session{}, fmt.Errorf("%w: unknown or ended session; log in again", ErrUnauthenticated)
	}
	var sess Session
	if err := json.Unmarshal(kv.Value, &sess); err != nil {
		return Token{}, Session{}, fmt.Errorf("session record %s is corrupt: %w", kv.Key, err)
	}
	if got := sess.origin(); got != origin {
		return Token{}, Session{}, fmt.Errorf("%w: the session was made on the %s's origin and is accepted only there; log in on this one", ErrUnauthenticated, got)
	}
	if !time.Now().Before(sess.Expires) {
		return Token{}, Session{}, fmt.Errorf("%w: the session expired; log in again", ErrUnauthenticated)
	}
	tok, err := ss.tokens.byHash(ctx, sess.TokenHash)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			return Token{}, Session{}, fmt.Errorf("%w: the session's token was revoked", ErrUnauthenticated)
		}
		return Token{}, Session{}, err
	}
	tok.Role = tok.Role.Min(origin.MaxRole())
	return tok, sess, nil
}

// End deletes session id, writing extra (the audit record) in the same store commit. It
// fails with ErrUnauthenticated when there is no such session.
func (ss *Sessions) End(ctx context.Context, id string, extra []store.Op) error {
	if _, err := ParseSessionID(id); err != nil {
		return err
	}
	key := sessionKey(id)
	kv, _, err := ss.st.Get(ctx, key, 0)
	if err != nil {
		return fmt.Errorf("reading session: %w", err)
	}
	if kv == nil {
		return fmt.Errorf("%w: unknown or ended session", ErrUnauthenticated)
	}
	_, err = ss.st.Commit(ctx, []store.Compare{store.Unchanged(key, kv)}, append([]store.Op{store.Delete(key)}, extra...))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: the session ended concurrently", ErrUnauthenticated)
	}
	return err
}

// Sweep deletes the sessions that expired before now, in store commits within the store's
// limits. A session deleted concurrently is simply gone already.
func (ss *Sessions) Sweep(ctx context.Context, now time.Time) error {
	res, err := ss.st.Range(ctx, SessionPrefix, store.RangeOptions{})
	if err != nil {
		return fmt.Errorf("reading sessions: %w", err)
	}
	maxOps := ss.st.Limits().MaxOps
	if maxOps <= 0 {
		maxOps = 1000
	}
	var ops []store.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := ss.st.Commit(ctx, nil, ops)
		ops = ops[:0]
		if err != nil {
			return fmt.Errorf("deleting expired sessions: %w", err)
		}
		return nil
	}
	for _, kv := range res.KVs {
		var sess Session
		// A record that does not decode can never authenticate: sweep it too.
		if json.Unmarshal(kv.Value, &sess) == nil && now.Before(sess.Expires) {
			continue
		}
		ops = append(ops, store.Delete(kv.Key))
		if len(ops) == maxOps {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
