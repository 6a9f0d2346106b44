package auth_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/store"
)

func TestTokens_CreateReturnsTheSecretOnceAndStoresOnlyItsHash(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ts := auth.NewTokens(st)
	secret, tok := createToken(t, ts, "ana", auth.Developer)

	if !strings.HasPrefix(secret, "sb_") || len(secret) != 67 {
		t.Errorf("secret = %q, want sb_ and 64 hex digits", secret)
	}
	if tok.ID != auth.Hash(secret)[:auth.IDLen] || tok.Name != "ana" || tok.Role != auth.Developer {
		t.Errorf("token = %+v, want id %s, name ana, role developer", tok, auth.Hash(secret)[:auth.IDLen])
	}
	res, err := st.Range(ctx, "", store.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range res.KVs {
		if strings.Contains(kv.Key, secret) || bytes.Contains(kv.Value, []byte(secret)) {
			t.Errorf("store key %s holds the secret", kv.Key)
		}
	}
	got, err := ts.Authenticate(ctx, secret)
	if err != nil || got.ID != tok.ID {
		t.Errorf("Authenticate(secret) = %+v, %v; want token %s", got, err, tok.ID)
	}
}

func TestTokens_AuthenticateRefusesWrongAndMalformedSecrets(t *testing.T) {
	ctx := context.Background()
	ts := auth.NewTokens(openStore(t))
	secret, _ := createToken(t, ts, "ana", auth.Reader)
	for _, bad := range []string{"", "short", secret[:len(secret)-1], secret + "0", strings.ToUpper(secret), " " + secret,
		strings.Repeat("a", auth.MaxSecretLen+1), secret[:20] + "\x00" + secret[21:]} {
		if tok, err := ts.Authenticate(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %+v, %v; want ErrUnauthenticated", bad, tok, err)
		}
	}
}

func TestTokens_CreateRefusesBadNamesRolesAndDuplicates(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ts := auth.NewTokens(st)
	createToken(t, ts, "ana", auth.Reader)
	before := revision(t, st)
	for _, tc := range []struct {
		name string
		role auth.Role
		want error
	}{
		{"", auth.Reader, auth.ErrInvalidRequest},
		{"  ", auth.Reader, auth.ErrInvalidRequest},
		{" padded", auth.Reader, auth.ErrInvalidRequest},
		{"two\nlines", auth.Reader, auth.ErrInvalidRequest},
		{"bad\xffutf8", auth.Reader, auth.ErrInvalidRequest},
		{strings.Repeat("n", auth.MaxNameLen+1), auth.Reader, auth.ErrInvalidRequest},
		{"bob", "root", auth.ErrInvalidRequest},
		{"bob", "", auth.ErrInvalidRequest},
		{"ana", auth.Admin, auth.ErrExists},
	} {
		if _, _, err := ts.Create(ctx, tc.name, tc.role, nil); !errors.Is(err, tc.want) {
			t.Errorf("Create(%q, %q) = %v, want %v", tc.name, tc.role, err, tc.want)
		}
	}
	if after := revision(t, st); after != before {
		t.Errorf("refused creations moved the store from revision %d to %d", before, after)
	}
}

func TestTokens_CreateWritesExtraInTheSameCommit(t *testing.T) {
	st := openStore(t)
	ts := auth.NewTokens(st)
	before := revision(t, st)
	_, tok, err := ts.Create(context.Background(), "ana", auth.Developer, func(tok auth.Token) []store.Op {
		return []store.Op{auth.AuditOp(auth.AuditRecord{Action: auth.ActionTokenCreate, Target: tok.ID})}
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := auditRecords(t, st)
	if len(recs) != 1 || recs[0].Target != tok.ID || recs[0].Revision != before+1 || revision(t, st) != before+1 {
		t.Fatalf("audit = %+v at store revision %d; want one record of token %s written by revision %d",
			recs, revision(t, st), tok.ID, before+1)
	}
}

func TestTokens_RevokeTakesEffectAtOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ts := auth.NewTokens(st)
	createToken(t, ts, "root", auth.Admin)
	secret, tok := createToken(t, ts, "ana", auth.Developer)
	// A second Tokens over the same store stands for another node's view.
	other := auth.NewTokens(st)
	if _, err := other.Authenticate(ctx, secret); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	got, err := ts.Revoke(ctx, tok.ID, nil)
	if err != nil || got.ID != tok.ID {
		t.Fatalf("Revoke = %+v, %v", got, err)
	}
	if _, err := other.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("after revocation Authenticate = %v, want ErrUnauthenticated", err)
	}
	if _, err := ts.Revoke(ctx, tok.ID, nil); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("revoking again = %v, want ErrNotFound", err)
	}
	if _, err := ts.Revoke(ctx, "not-an-id", nil); !errors.Is(err, auth.ErrInvalidRequest) {
		t.Errorf("revoking a malformed id = %v, want ErrInvalidRequest", err)
	}
}

func TestTokens_RevokeRefusesTheLastAdminEvenUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ts := auth.NewTokens(st)
	_, a := createToken(t, ts, "a", auth.Admin)
	if _, err := ts.Revoke(ctx, a.ID, nil); !errors.Is(err, auth.ErrLastAdmin) {
		t.Fatalf("revoking the only admin = %v, want ErrLastAdmin", err)
	}
	for round := range 20 {
		_, b := createToken(t, ts, "b"+string(rune('a'+round)), auth.Admin)
		// a and b revoke each other at once: exactly one may win.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []string{a.ID, b.ID} {
			wg.Go(func() { _, errs[i] = ts.Revoke(ctx, id, nil) })
		}
		wg.Wait()
		toks, err := ts.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(toks) != 1 || toks[0].Role != auth.Admin {
			t.Fatalf("round %d: after two admins revoked each other: tokens %+v, errors %v; want exactly one admin left", round, toks, errs)
		}
		if (errs[0] == nil) == (errs[1] == nil) || !(errors.Is(errs[0], auth.ErrLastAdmin) || errors.Is(errs[1], auth.ErrLastAdmin)) {
			t.Fatalf("round %d: errors %v, want one success and one ErrLastAdmin", round, errs)
		}
		a = toks[0]
	}
}

func TestTokens_BootstrapCreatesExactlyOneAdmin(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var wg sync.WaitGroup
	created := make([]bool, 8)
	secrets := make([]string, 8)
	for i := range created {
		wg.Go(func() {
			var err error
			secrets[i], created[i], err = auth.NewTokens(st).Bootstrap(ctx, "")
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	winners := 0
	for i, c := range created {
		if c {
			winners++
			if tok, err := auth.NewTokens(st).Authenticate(ctx, secrets[i]); err != nil || tok.Role != auth.Admin {
				t.Errorf("the bootstrap secret authenticates as %+v, %v; want an admin", tok, err)
			}
		}
	}
	toks, err := auth.NewTokens(st).List(ctx)
	if winners != 1 || err != nil || len(toks) != 1 {
		t.Fatalf("%d bootstraps created a token, %d tokens stored (%v); want exactly one", winners, len(toks), err)
	}
	if _, created, err := auth.NewTokens(st).Bootstrap(ctx, "another-admin-secret"); created || err != nil {
		t.Errorf("a later bootstrap created=%v err=%v, want nothing done", created, err)
	}
}

func TestTokens_BootstrapRefusesAWeakSecret(t *testing.T) {
	_, _, err := auth.NewTokens(openStore(t)).Bootstrap(context.Background(), "short")
	if !errors.Is(err, auth.ErrInvalidRequest) {
		t.Fatalf("Bootstrap(short secret) = %v, want ErrInvalidRequest", err)
	}
}

func TestRole_AllowsIncludesLowerRolesOnly(t *testing.T) {
	for _, tc := range []struct {
		have, need auth.Role
		want       bool
	}{
		{auth.Admin, auth.Developer, true},
		{auth.Developer, auth.Developer, true},
		{auth.Developer, auth.Admin, false},
		{auth.Reader, auth.Developer, false},
		{"", auth.Reader, false},
		{"root", auth.Reader, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.want)
		}
	}
}

func TestParseBearer_AcceptsOnlyBearerTokens(t *testing.T) {
	const secret = "sb_0123456789abcdef"
	for _, tc := range []struct {
		header  string
		want    string
		present bool
		refused bool
	}{
		{"", "", false, false},
		{"Bearer " + secret, secret, true, false},
		{"bearer " + secret, secret, true, false},
		{"Bearer  " + secret + " ", secret, true, false},
		{"Basic dXNlcjpwYXNz", "", true, true},
		{"Bearer", "", true, true},
		{"Bearer ", "", true, true},
		{"Bearer short", "", true, true},
		{"Bearer " + secret + " extra", "", true, true},
		{"Bearer " + secret + "\x01", "", true, true},
		{secret, "", true, true},
	} {
		got, present, err := auth.ParseBearer(tc.header)
		if got != tc.want || present != tc.present || (err != nil) != tc.refused {
			t.Errorf("ParseBearer(%q) = %q, %v, %v; want %q, %v, refused=%v", tc.header, got, present, err, tc.want, tc.present, tc.refused)
		}
		if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("ParseBearer(%q) error %v does not wrap ErrUnauthenticated", tc.header, err)
		}
	}
}

func TestTokens_ConcurrentCreatesOfOneNameMakeOneToken(t *testing.T) {
	ts := auth.NewTokens(openStore(t))
	ctx := context.Background()
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := ts.Create(ctx, "ci", auth.Developer, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, auth.ErrExists):
			t.Errorf("Create = %v, want nil or ErrExists", err)
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent creations of one name succeeded, want exactly 1", created)
	}
	list, err := ts.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v (%v), want one token", list, err)
	}
	// Revoking frees the name.
	if _, err := ts.Revoke(ctx, list[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.Create(ctx, "ci", auth.Developer, nil); err != nil {
		t.Fatalf("Create after revoke = %v", err)
	}
}
