package auth

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/starbase/starbase/store"
)

// DefaultAuditMaxAge is how long audit records are kept when nothing else is said.
const DefaultAuditMaxAge = 90 * 24 * time.Hour

// PruneAudit deletes the audit records made before cutoff, oldest keys first, in commits
// that fit the store's limits, and returns how many it deleted. Record keys sort newest
// first by the time they were made (see AuditKey), so the records to delete are exactly the
// keys after the one of cutoff: nothing newer is read.
func PruneAudit(ctx context.Context, st store.Store, cutoff time.Time) (int, error) {
	after := fmt.Sprintf("%s%019d", AuditPrefix, math.MaxInt64-cutoff.UnixNano())
	batch := 1000
	if l := st.Limits(); l.MaxOps > 0 && l.MaxOps < batch {
		batch = l.MaxOps
	}
	deleted := 0
	for {
		res, err := st.Range(ctx, AuditPrefix, store.RangeOptions{After: after, Limit: batch})
		if err != nil {
			return deleted, fmt.Errorf("pruning the audit log: %w", err)
		}
		if len(res.KVs) == 0 {
			return deleted, nil
		}
		ops := make([]store.Op, len(res.KVs))
		for i, kv := range res.KVs {
			ops[i] = store.Delete(kv.Key)
		}
		if _, err := st.Commit(ctx, nil, ops); err != nil {
			return deleted, fmt.Errorf("pruning the audit log: %w", err)
		}
		deleted += len(ops)
		after = res.KVs[len(res.KVs)-1].Key
		if !res.More {
			return deleted, nil
		}
	}
}
