package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// openStore returns a store in a fresh bolt file, closed when the test ends.
func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "auth.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// createToken creates a token and fails the test if it cannot.
func createToken(t testing.TB, ts *auth.Tokens, name string, role auth.Role) (string, auth.Token) {
	t.Helper()
	secret, tok, err := ts.Create(context.Background(), name, role, nil)
	if err != nil {
		t.Fatalf("creating token %q: %v", name, err)
	}
	return secret, tok
}

// revision returns st's current revision.
func revision(t testing.TB, st store.Store) int64 {
	t.Helper()
	rev, err := st.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// auditRecords returns every audit record of st, newest first.
func auditRecords(t testing.TB, st store.Store) []auth.AuditRecord {
	t.Helper()
	recs, _, err := auth.ReadAudit(context.Background(), st, auth.AuditQuery{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
