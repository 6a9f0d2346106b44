package appsession

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// State is the session of one request: the cookie it came with, opened on first use, and
// the runs of its handler. It is used by the goroutine serving the request.
type State struct {
	ctx    context.Context
	keys   Keyring
	now    time.Time // the request's clock
	cookie string    // the session cookie's value as it came ("" when none)
	secure bool      // the request came over TLS: the cookie is Secure

	opened bool
	ring   *Ring
	base   payload // what the cookie holds (zero when it did not open)
	err    error   // why the keys could not be read
}

// NewState returns the session of r, whose clock is now, sealed with keys.
func NewState(ctx context.Context, keys Keyring, r *http.Request, now time.Time) *State {
	s := &State{ctx: ctx, keys: keys, now: now, secure: r.TLS != nil}
	if c, err := r.Cookie(CookieName); err == nil {
		s.cookie = c.Value
	}
	return s
}

// open reads the keys and opens the cookie, once.
func (s *State) open() error {
	if s.opened {
		return s.err
	}
	s.opened = true
	s.ring, s.err = s.keys.Ring(s.ctx)
	if s.err == nil && s.cookie != "" {
		s.base, _ = open(s.ring, s.cookie, s.now)
	}
	return s.err
}

// Run is the session as one run of a handler sees and changes it.
type Run struct {
	st      *State
	started bool           // data and csrf are copied from the state
	data    map[string]any // JSON values
	csrf    string
	changed bool
}

// Begin returns the session for a new run of the handler: as the request brought it.
func (s *State) Begin() *Run { return &Run{st: s} }

// start copies the request's session into the run, on first use.
func (r *Run) start() error {
	if r.started {
		return nil
	}
	if err := r.st.open(); err != nil {
		return err
	}
	r.started = true
	r.csrf = r.st.base.CSRF
	r.data = map[string]any{}
	if len(r.st.base.Data) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(r.st.base.Data)))
		dec.UseNumber()
		if dec.Decode(&r.data) != nil {
			r.data = map[string]any{}
		}
	}
	return nil
}

// Token returns the CSRF token of the session, making its CSRF id if it has none (the
// session then changes: its cookie is sent with the answer).
func (r *Run) Token() (string, error) {
	if err := r.start(); err != nil {
		return "", err
	}
	if r.csrf == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		r.csrf = base64.RawURLEncoding.EncodeToString(b)
		r.changed = true
	}
	return token(r.st.ring.current(), r.csrf), nil
}

// token is the CSRF token of csrf id under key: the key id (keyIDLen hex digits) then the
// HMAC in base64url, so that it is made of base64url's characters only (templates write it
// unescaped in any context).
func token(key Key, csrf string) string {
	m := hmac.New(sha256.New, key.derive("csrf"))
	m.Write([]byte(csrf))
	return key.ID + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Cookie returns the Set-Cookie of run, the last run of the handler: nil when the session
// did not change, a deletion when it is now empty.
func (s *State) Cookie(run *Run) (*http.Cookie, error) {
	if run == nil || !run.changed {
		return nil, nil
	}
	c := &http.Cookie{Name: CookieName, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if len(run.data) == 0 && run.csrf == "" {
		if s.cookie == "" {
			return nil, nil
		}
		c.MaxAge = -1
		return c, nil
	}
	p := payload{Expires: s.now.Add(MaxAge).Unix(), CSRF: run.csrf}
	if len(run.data) > 0 {
		b, err := json.Marshal(run.data)
		if err != nil {
			return nil, err
		}
		p.Data = b
	}
	v, err := seal(s.ring.current(), p)
	if err != nil {
		return nil, fmt.Errorf("sealing the session: %w", err)
	}
	c.Value = v
	c.MaxAge = int(MaxAge / time.Second)
	return c, nil
}

// TokenFor returns a valid CSRF token of the session sealed in cookie ("" for none) at now,
// and the cookie value to hold from then on (a new one when the session had no CSRF id or
// did not open): the test client's csrf_token().
func TokenFor(ctx context.Context, keys Keyring, cookie string, now time.Time) (token, newCookie string, err error) {
	r := &http.Request{Header: http.Header{}}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: cookie})
	}
	st := NewState(ctx, keys, r, now)
	run := st.Begin()
	if token, err = run.Token(); err != nil {
		return "", "", err
	}
	c, err := st.Cookie(run)
	if err != nil {
		return "", "", err
	}
	if c == nil {
		return token, cookie, nil
	}
	return token, c.Value, nil
}
