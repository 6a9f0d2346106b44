package objects

import (
	"context"
	"database/sql"
	"fmt"
)

// snapshotTxOptions are the options of the SQL transaction of Snapshot: read-only, on one
// snapshot of the database (PostgreSQL: REPEATABLE READ, its snapshot isolation, which never
// fails a read-only transaction for serialization; SQLite ignores the level: a WAL read
// transaction always reads one snapshot).
var snapshotTxOptions = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}

// Snapshot calls fn with every object of eng, in id order, as they all stood at one moment:
// every object is read in one read-only transaction (SQLite: one WAL snapshot; PostgreSQL:
// one REPEATABLE READ snapshot; kv: one store revision). Writers do not wait for it, and it
// never conflicts; on the kv tier it fails with the store's ErrCompacted if the walk outlasts
// the store's history. fn's error stops the walk and is returned. It returns how many objects
// it read. Then it calls seq with the name and last number of every
// sequence (db.next) of the same snapshot, by name. This is what an online backup reads
// (package backup); Export, which may read each batch at another moment, reads the same way
// otherwise.
func Snapshot(ctx context.Context, eng Engine, fn func(id string, record []byte) error, seq func(name string, value int64) error) (int, error) {
	d, err := eng.snapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("objects: starting a snapshot of %s: %w", eng.Name(), err)
	}
	defer d.rollback()
	n, after := 0, ""
	for {
		page, err := d.all(after, ExportBatch)
		if err != nil {
			return n, fmt.Errorf("objects: reading a snapshot of %s after %d objects: %w", eng.Name(), n, err)
		}
		for _, s := range page {
			if err := fn(s.id, s.data); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < ExportBatch {
			break
		}
		after = page[len(page)-1].id
	}
	err = eachSequence(func(after string) ([]meta, error) {
		page, err := d.metas(seqLockKey(""), after, ExportBatch)
		if err != nil {
			return nil, fmt.Errorf("objects: reading the sequences of a snapshot of %s: %w", eng.Name(), err)
		}
		return page, nil
	}, seq)
	return n, err
}

// Empty reports whether eng holds no object.
func Empty(ctx context.Context, eng Engine) (bool, error) {
	d, err := eng.snapshot(ctx)
	if err != nil {
		return false, fmt.Errorf("objects: reading %s: %w", eng.Name(), err)
	}
	defer d.rollback()
	page, err := d.all("", 1)
	if err != nil {
		return false, fmt.Errorf("objects: reading %s: %w", eng.Name(), err)
	}
	return len(page) == 0, nil
}
