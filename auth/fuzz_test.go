package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/starbase/starbase/auth"
)

// FuzzParseBearer checks that an Authorization header yields either a secret that is valid
// and appears verbatim in the header, or an ErrUnauthenticated refusal; never a panic.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer sb_0123456789abcdef", "bearer  x", "Basic abc", "Bearer \x00\x01", "Bearer " + strings.Repeat("a", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		secret, present, err := auth.ParseBearer(header)
		switch {
		case header == "":
			if present || err != nil || secret != "" {
				t.Fatalf("empty header: %q, %v, %v", secret, present, err)
			}
		case err != nil:
			if !errors.Is(err, auth.ErrUnauthenticated) || secret != "" || !present {
				t.Fatalf("refusal of %q: %q, %v, %v", header, secret, present, err)
			}
		default:
			if auth.ValidateSecret(secret) != nil || !strings.Contains(header, secret) || strings.ContainsFunc(secret, unicode.IsSpace) {
				t.Fatalf("ParseBearer(%q) accepted %q", header, secret)
			}
		}
	})
}

// FuzzParseSessionID checks that only the exact session id format passes, whatever a cookie
// holds.
func FuzzParseSessionID(f *testing.F) {
	f.Add("sbs_" + strings.Repeat("0a", 32))
	f.Add("sbs_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := auth.ParseSessionID(s)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("ParseSessionID(%q) = %v, not ErrUnauthenticated", s, err)
			}
			return
		}
		if id != s || len(s) != 68 || !strings.HasPrefix(s, "sbs_") || strings.Trim(s[4:], "0123456789abcdef") != "" {
			t.Fatalf("ParseSessionID accepted %q", s)
		}
	})
}

// FuzzAuthenticate checks, against a real store holding one token, that no other secret and
// no other session id authenticates.
func FuzzAuthenticate(f *testing.F) {
	st := openStore(f)
	ts := auth.NewTokens(st)
	secret, tok := createToken(f, ts, "ana", auth.Developer)
	ss := auth.NewSessions(st)
	sid, _, err := ss.Start(context.Background(), tok, auth.AppOrigin, 0, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(secret)
	f.Add(sid)
	f.Add(secret[:len(secret)-1] + "0")
	f.Fuzz(func(t *testing.T, s string) {
		ctx := context.Background()
		if got, err := ts.Authenticate(ctx, s); (err == nil) != (s == secret) || (err == nil && got.ID != tok.ID) {
			t.Fatalf("Authenticate(%q) = %+v, %v", s, got, err)
		}
		if got, _, err := ss.Authenticate(ctx, s, auth.AppOrigin); (err == nil) != (s == sid) || (err == nil && got.ID != tok.ID) {
			t.Fatalf("Sessions.Authenticate(%q) = %+v, %v", s, got, err)
		}
	})
}
