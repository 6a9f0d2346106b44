package objects

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/starbase/starbase/store"
)

// Hooks for the tests of package objects_test, which see every tier only through Engine.

// State summarizes everything stored in eng's data tier: equal states, nothing written
// between them. On the KV tier it is the store's revision (any write moves it).
func State(ctx context.Context, eng Engine) (string, error) {
	switch e := eng.(type) {
	case *kvEngine:
		rev, err := e.st.Revision(ctx)
		return fmt.Sprint(rev), err
	case *sqlEngine:
		h := sha256.New()
		for _, q := range []string{
			`SELECT id, version, data FROM starbase_objects ORDER BY id`,
			`SELECT key, 0, value FROM starbase_meta ORDER BY key`,
		} {
			rows, err := e.db.QueryContext(ctx, q)
			if err != nil {
				return "", err
			}
			for rows.Next() {
				var id string
				var version int
				var data []byte
				if err := rows.Scan(&id, &version, &data); err != nil {
					rows.Close()
					return "", err
				}
				fmt.Fprintf(h, "%s %d %x\n", id, version, data)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("%x", h.Sum(nil)), nil
	}
	return "", fmt.Errorf("unknown engine %T", eng)
}

// Rows counts what eng stores: data keys on the KV tier (version keys included), objects and
// meta values on a SQL tier.
func Rows(ctx context.Context, eng Engine) (int, error) {
	switch e := eng.(type) {
	case *kvEngine:
		res, err := e.st.Range(ctx, dataPrefix, store.RangeOptions{})
		if err != nil {
			return 0, err
		}
		return len(res.KVs), nil
	case *sqlEngine:
		var n, m int
		if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM starbase_objects`).Scan(&n); err != nil {
			return 0, err
		}
		if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM starbase_meta`).Scan(&m); err != nil {
			return 0, err
		}
		return n + m, nil
	}
	return 0, fmt.Errorf("unknown engine %T", eng)
}

// StoredRecord returns the record encoding of object id.
func StoredRecord(ctx context.Context, eng Engine, id string) ([]byte, bool, error) {
	d, err := eng.begin(ctx, nil, false)
	if err != nil {
		return nil, false, err
	}
	defer d.rollback()
	return d.get(id)
}

// MigrateCursor returns the resume cursor Migrate stored for class.
func MigrateCursor(ctx context.Context, eng Engine, class string) ([]byte, bool, error) {
	d, err := eng.begin(ctx, nil, false)
	if err != nil {
		return nil, false, err
	}
	defer d.rollback()
	return d.getMeta(migrateCursorKey(class))
}

// KVStore returns the store of a KV tier, nil for other tiers.
func KVStore(eng Engine) store.Store {
	if e, ok := eng.(*kvEngine); ok {
		return e.st
	}
	return nil
}

// WaitIndexBuilds waits for the index builds and statistics refreshes under way on a SQL
// tier (none are started meanwhile by the caller).
func WaitIndexBuilds(eng Engine) {
	if e, ok := eng.(*sqlEngine); ok {
		e.builds.Wait()
	}
}

// AggregateStatements returns how many aggregate statements a SQL tier has run.
func AggregateStatements(eng Engine) int64 {
	return eng.(*sqlEngine).aggregates.Load()
}

// AggregatePlan returns the engine's plan of the statement that q.group_by(groupBy).fn(field)
// runs over the objects of m (fn "count" takes no field): SQLite's EXPLAIN QUERY PLAN,
// PostgreSQL's EXPLAIN.
func AggregatePlan(ctx context.Context, eng Engine, m *Model, fn, field, groupBy string) (string, error) {
	e, ok := eng.(*sqlEngine)
	if !ok {
		return "", fmt.Errorf("not a SQL tier")
	}
	var plan []string
	err := Run(ctx, eng, nil, 1, func(tx *Tx) error {
		d, err := tx.dtx()
		if err != nil {
			return err
		}
		t := d.(*sqlTx)
		cid, err := t.classID(m.QualifiedName(), false)
		if err != nil {
			return err
		}
		q, aggCols := &query{m: m, groupBy: groupBy}, []aggCol{{fn, field}}
		stmt, args := t.aggregateSQL(q, aggCols, cid, t.fastSums(m, aggCols, cid))
		explain := "EXPLAIN "
		if e.d.Name == "sqlite" {
			explain = "EXPLAIN QUERY PLAN "
		}
		rows, err := t.tx.QueryContext(ctx, e.rebind(explain+stmt), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
		}
		return rows.Err()
	})
	return strings.Join(plan, "\n"), err
}

// IndexName is the name of the index of fields (one, or a composite) of class classID.
func IndexName(classID int64, fields ...string) string {
	return indexName(classID, strings.Join(fields, ","))
}
