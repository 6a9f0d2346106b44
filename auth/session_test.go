package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/store"
)

func TestSessions_StandForTheirTokenWithTheRoleCappedByTheirOrigin(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, admin := createToken(t, auth.NewTokens(st), "root", auth.Admin)
	ss := auth.NewSessions(st)
	for _, tc := range []struct {
		origin auth.SessionOrigin
		role   auth.Role
	}{
		{auth.AppOrigin, auth.Developer},
		{auth.EditorOrigin, auth.Admin},
	} {
		id, sess, err := ss.Start(ctx, admin, tc.origin, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auth.ParseSessionID(id); err != nil {
			t.Errorf("session id %q does not parse: %v", id, err)
		}
		if sess.TokenID != admin.ID || sess.Expires.Sub(sess.Created) != time.Hour || sess.Origin != tc.origin {
			t.Errorf("session = %+v, want token %s lasting an hour on origin %s", sess, admin.ID, tc.origin)
		}
		tok, _, err := ss.Authenticate(ctx, id, tc.origin)
		if err != nil || tok.ID != admin.ID || tok.Role != tc.role {
			t.Errorf("an admin's session on the %s origin = %+v, %v; want token %s with role %s", tc.origin, tok, err, admin.ID, tc.role)
		}
	}
}

func TestSessions_AreAcceptedOnlyOnTheirOwnOrigin(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, admin := createToken(t, auth.NewTokens(st), "root", auth.Admin)
	ss := auth.NewSessions(st)
	editor, _, err := ss.Start(ctx, admin, auth.EditorOrigin, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := ss.Start(ctx, admin, auth.AppOrigin, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _, err := ss.Authenticate(ctx, editor, auth.AppOrigin); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "editor's origin") {
		t.Errorf("an editor session on the app's origin = %+v, %v; want ErrUnauthenticated naming the editor's origin", tok, err)
	}
	if tok, _, err := ss.Authenticate(ctx, app, auth.EditorOrigin); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "app's origin") {
		t.Errorf("an app session on the editor's origin = %+v, %v; want ErrUnauthenticated naming the app's origin", tok, err)
	}
	if _, _, err := ss.Start(ctx, admin, "elsewhere", time.Hour, nil); err == nil {
		t.Error("a session was started on an unknown origin")
	}
}

func TestSessions_RecordsWithoutAnOriginAreTheAppsAndCapped(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, admin := createToken(t, auth.NewTokens(st), "root", auth.Admin)
	ss := auth.NewSessions(st)
	id, sess, err := ss.Start(ctx, admin, auth.AppOrigin, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A record as written before sessions had an origin.
	old := fmt.Sprintf(`{"token_hash":%q,"token_id":%q,"created":%q,"expires":%q}`,
		sess.TokenHash, sess.TokenID, sess.Created.Format(time.RFC3339Nano), sess.Expires.Format(time.RFC3339Nano))
	if _, err := st.Commit(ctx, nil, []store.Op{store.Put(auth.SessionPrefix+auth.Hash(id), []byte(old))}); err != nil {
		t.Fatal(err)
	}
	if tok, _, err := ss.Authenticate(ctx, id, auth.AppOrigin); err != nil || tok.Role != auth.Developer {
		t.Errorf("an old record on the app's origin = %+v, %v; want the developer role", tok, err)
	}
	if _, _, err := ss.Authenticate(ctx, id, auth.EditorOrigin); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("an old record is accepted on the editor's origin: %v", err)
	}
}

func TestSessions_StoreOnlyTheHashOfTheID(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, tok := createToken(t, auth.NewTokens(st), "ana", auth.Developer)
	id, _, err := auth.NewSessions(st).Start(ctx, tok, auth.AppOrigin, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Range(ctx, "", store.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range res.KVs {
		if strings.Contains(kv.Key, id) || strings.Contains(string(kv.Value), id) {
			t.Errorf("store key %s holds the session id", kv.Key)
		}
	}
}

func TestSessions_EndWhenTheTokenIsRevoked(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ts := auth.NewTokens(st)
	createToken(t, ts, "root", auth.Admin)
	_, tok := createToken(t, ts, "ana", auth.Developer)
	ss := auth.NewSessions(st)
	id, _, err := ss.Start(ctx, tok, auth.AppOrigin, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Revoke(ctx, tok.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ss.Authenticate(ctx, id, auth.AppOrigin); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a session of a revoked token authenticates: %v", err)
	}
	if _, _, err := ss.Start(ctx, tok, auth.AppOrigin, time.Hour, nil); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("starting a session for a revoked token = %v, want ErrUnauthenticated", err)
	}
}

func TestSessions_ExpireAndAreSwept(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, tok := createToken(t, auth.NewTokens(st), "ana", auth.Developer)
	ss := auth.NewSessions(st)
	short, sess, err := ss.Start(ctx, tok, auth.AppOrigin, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the clock to pass the expiry (the behaviour under test is time itself).
	for deadline := time.Now().Add(5 * time.Second); !time.Now().After(sess.Expires); {
		if time.Now().After(deadline) {
			t.Fatal("the clock never reached the expiry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, _, err := ss.Authenticate(ctx, short, auth.AppOrigin); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired session authenticates: %v", err)
	}
	long, _, err := ss.Start(ctx, tok, auth.AppOrigin, time.Hour, nil) // sweeps the expired one
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Range(ctx, auth.SessionPrefix, store.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.KVs) != 1 || res.KVs[0].Key != auth.SessionPrefix+auth.Hash(long) {
		t.Errorf("after a sweep the store holds %d sessions, want only the live one", len(res.KVs))
	}
}

func TestSessions_EndDeletesTheSessionWithItsAuditRecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, tok := createToken(t, auth.NewTokens(st), "ana", auth.Developer)
	ss := auth.NewSessions(st)
	id, _, err := ss.Start(ctx, tok, auth.AppOrigin, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := revision(t, st)
	if err := ss.End(ctx, id, []store.Op{auth.AuditOp(auth.AuditRecord{Action: auth.ActionLogout})}); err != nil {
		t.Fatal(err)
	}
	if recs := auditRecords(t, st); len(recs) != 1 || recs[0].Revision != before+1 {
		t.Errorf("audit after logout = %+v, want one record at revision %d", recs, before+1)
	}
	if _, _, err := ss.Authenticate(ctx, id, auth.AppOrigin); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("an ended session authenticates: %v", err)
	}
	if err := ss.End(ctx, id, []store.Op{auth.AuditOp(auth.AuditRecord{Action: auth.ActionLogout})}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("ending it again = %v, want ErrUnauthenticated", err)
	}
	if got := len(auditRecords(t, st)); got != 1 {
		t.Errorf("ending an ended session wrote an audit record (%d records)", got)
	}
}

func TestCSRFToken_MatchesOnlyItsSession(t *testing.T) {
	a, b := "sbs_"+strings.Repeat("a", 64), "sbs_"+strings.Repeat("b", 64)
	if !auth.CheckCSRF(a, auth.CSRFToken(a)) {
		t.Error("a session's own CSRF token is refused")
	}
	for _, bad := range []string{"", auth.CSRFToken(b), auth.CSRFToken(a)[1:], a} {
		if auth.CheckCSRF(a, bad) {
			t.Errorf("CheckCSRF(a, %q) = true", bad)
		}
	}
	if strings.Contains(auth.CSRFToken(a), a[4:]) {
		t.Error("the CSRF token reveals the session id")
	}
}

func TestParseSessionID_RefusesAnythingButTheFormat(t *testing.T) {
	good := "sbs_" + strings.Repeat("0a", 32)
	if _, err := auth.ParseSessionID(good); err != nil {
		t.Errorf("ParseSessionID(%q) = %v", good, err)
	}
	for _, bad := range []string{"", "sbs_", good[:len(good)-1], good + "0", strings.ToUpper(good), "xxx_" + good[4:],
		good[:10] + "g" + good[11:], good[:10] + "\x00" + good[11:]} {
		if _, err := auth.ParseSessionID(bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("ParseSessionID(%q) = %v, want ErrUnauthenticated", bad, err)
		}
	}
}
