package auth_test

import (
	"testing"
	"time"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/store"
)

func TestPruneAudit_DeletesExactlyTheRecordsBeforeTheCutoff(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	var ops []store.Op
	for i := range 30 {
		ops = append(ops, auth.AuditOp(auth.AuditRecord{Time: now.Add(-time.Duration(i) * 24 * time.Hour), Action: auth.ActionLogin, Detail: "day"}))
	}
	if _, err := st.Commit(t.Context(), nil, ops); err != nil {
		t.Fatal(err)
	}
	n, err := auth.PruneAudit(t.Context(), st, now.Add(-10*24*time.Hour-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 19 {
		t.Errorf("PruneAudit deleted %d records, want the 19 older than 10 days", n)
	}
	recs, _, err := auth.ReadAudit(t.Context(), st, auth.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 11 {
		t.Errorf("%d records left, want 11", len(recs))
	}
	for _, r := range recs {
		if now.Sub(r.Time) > 10*24*time.Hour+time.Hour {
			t.Errorf("record of %v survived the pruning", r.Time)
		}
	}
}
