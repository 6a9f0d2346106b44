package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/store"
)

func TestAuditKey_SortsNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	older, newer := auth.AuditKey(t0), auth.AuditKey(t0.Add(time.Nanosecond))
	if !(newer < older) {
		t.Errorf("AuditKey(t+1ns) = %s sorts after AuditKey(t) = %s", newer, older)
	}
	if same := auth.AuditKey(t0); same == older {
		t.Errorf("two keys of the same instant collide: %s", same)
	}
	if !strings.HasPrefix(older, auth.AuditPrefix) {
		t.Errorf("key %s is not under %s", older, auth.AuditPrefix)
	}
}

func TestReadAudit_PagesNewestFirstWithRevisions(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	t0 := time.Now()
	revs := map[string]int64{}
	for i := range 5 {
		rec := auth.AuditRecord{Time: t0.Add(time.Duration(i) * time.Second), Action: auth.ActionCommit, Detail: fmt.Sprint(i)}
		rev, err := st.Commit(ctx, nil, []store.Op{auth.AuditOp(rec)})
		if err != nil {
			t.Fatal(err)
		}
		revs[fmt.Sprint(i)] = rev
	}
	var got []string
	after := ""
	for {
		page, more, err := auth.ReadAudit(ctx, st, auth.AuditQuery{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range page {
			got = append(got, rec.Detail)
			if rec.Revision != revs[rec.Detail] {
				t.Errorf("record %s has revision %d, want %d", rec.Detail, rec.Revision, revs[rec.Detail])
			}
		}
		if !more {
			break
		}
		after = page[len(page)-1].Key
	}
	if strings.Join(got, ",") != "4,3,2,1,0" {
		t.Errorf("records read in order %v, want newest first 4,3,2,1,0", got)
	}
	if _, _, err := auth.ReadAudit(ctx, st, auth.AuditQuery{After: "auth/tokens/x"}); err == nil {
		t.Error("ReadAudit after a key outside the log succeeded")
	}
}

func TestAuditOp_BoundsThePathsOfARecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rec := auth.AuditRecord{Action: auth.ActionCommit}
	for i := range auth.MaxAuditPaths + 7 {
		rec.Paths = append(rec.Paths, auth.PathChange{Path: fmt.Sprintf("f%05d.star", i), Status: "added"})
	}
	if _, err := st.Commit(ctx, nil, []store.Op{auth.AuditOp(rec)}); err != nil {
		t.Fatal(err)
	}
	got := auditRecords(t, st)[0]
	if len(got.Paths) != auth.MaxAuditPaths || got.MorePaths != 7 {
		t.Errorf("record lists %d paths and %d more, want %d and 7", len(got.Paths), got.MorePaths, auth.MaxAuditPaths)
	}
}

func TestProtection_StoresASortedListOfValidRefs(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	p := auth.NewProtection(st)
	if refs, err := p.Refs(ctx); err != nil || len(refs) != 0 {
		t.Fatalf("Refs of a new store = %v, %v; want none", refs, err)
	}
	refs, err := p.Set(ctx, []string{"main", "canary", "main"}, nil)
	if err != nil || strings.Join(refs, ",") != "canary,main" {
		t.Fatalf("Set = %v, %v; want [canary main]", refs, err)
	}
	for ref, want := range map[string]bool{"main": true, "canary": true, "dev": false, "mai": false} {
		if got, err := p.Protected(ctx, ref); got != want || err != nil {
			t.Errorf("Protected(%q) = %v, %v; want %v", ref, got, err, want)
		}
	}
	before := revision(t, st)
	if _, err := p.Set(ctx, []string{"main", "../etc"}, nil); err == nil {
		t.Error("Set accepted an invalid ref name")
	}
	if revision(t, st) != before {
		t.Error("a refused Set wrote to the store")
	}
}
