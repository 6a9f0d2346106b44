// Package sqlite opens the SQLite data tier of package objects: the default home of
// application data for `starbase serve`, one database file in the data directory, created on
// first open, with nothing to set up. The driver, modernc.org/sqlite, is pure Go: the build
// stays free of cgo.
//
// The file is in WAL mode: requests read from a snapshot without blocking one another or the
// writer, and one transaction writes at a time. A request transaction starts as a reader; its
// first write takes the write lock, waiting for the writer before it (up to 10 s). If a
// transaction committed meanwhile, SQLite refuses the upgrade (SQLITE_BUSY_SNAPSHOT): the
// request runs again from the start, as on the other tiers. Transactions are therefore
// serializable; conflicts are detected per database, not per object, so writing requests
// that read run again more often than on PostgreSQL under load.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"

	sqlite "modernc.org/sqlite"

	"github.com/starbase/starbase/objects"
)

// Open opens (creating if missing) the SQLite database at path as a data tier.
func Open(ctx context.Context, path string, logger *slog.Logger) (objects.Engine, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(0)"} {
		q.Add("_pragma", p)
	}
	return open(ctx, path, "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode(), logger)
}

// OpenMemory opens a new, empty SQLite database that lives in memory until the engine is
// closed (SQLite's memdb VFS, shared by the engine's connections): the data of one test of
// the validation gate. Its transactions take SQLite's rollback journal instead of WAL, with
// the same rules.
func OpenMemory(ctx context.Context, logger *slog.Logger) (objects.Engine, error) {
	name := make([]byte, 12)
	if _, err := rand.Read(name); err != nil {
		return nil, err
	}
	q := url.Values{"vfs": {"memdb"}}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(0)"} {
		q.Add("_pragma", p)
	}
	return open(ctx, "memory", "file:/starbase-"+hex.EncodeToString(name)+"?"+q.Encode(), logger)
}

func open(ctx context.Context, path, dsn string, logger *slog.Logger) (objects.Engine, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	eng, err := objects.OpenSQL(ctx, db, Dialect, logger)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return eng, nil
}

// Dialect is SQLite's: fields is JSON text, read with json_extract; a JSON true is 1.
var Dialect = objects.Dialect{
	Name: "sqlite",
	Schema: []string{
		`CREATE TABLE IF NOT EXISTS starbase_classes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`,
		`CREATE TABLE IF NOT EXISTS starbase_objects (id TEXT PRIMARY KEY, class_id INTEGER NOT NULL,
			version INTEGER NOT NULL, data BLOB NOT NULL, fields BLOB NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS starbase_objects_class ON starbase_objects (class_id, id)`,
		`CREATE TABLE IF NOT EXISTS starbase_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
	},
	Field:       func(name string) string { return "json_extract(fields, '$." + name + "')" },
	Param:       func(p string) string { return p },
	Arg:         arg,
	Number:      func(name string) string { return "json_extract(fields, '$." + name + "')" },
	LenientSums: true,
	Result:      func(expr string) string { return expr },
	Scan:        scan,
	Fields:      func(p string) string { return "jsonb(" + p + ")" }, // binary JSON: read without parsing
	Retryable: func(err error) bool {
		var e *sqlite.Error
		if errors.As(err, &e) {
			switch e.Code() & 0xff {
			case 5, 6: // SQLITE_BUSY (and BUSY_SNAPSHOT), SQLITE_LOCKED
				return true
			}
		}
		return false
	},
	Full: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && e.Code()&0xff == 13 // SQLITE_FULL
	},
	// Statistics of every table (0x10000); without them, SQLite
	// takes any equality for selective, and would select open orders by state rather than
	// page through them in the order's index.
	Optimize:   "PRAGMA optimize=0x10002",
	IndexStats: `SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'starbase_objects'`,
	NoIndex:    func(expr string) string { return "+" + expr },
	// Any write statement takes the write lock, even one that changes nothing.
	WriteLock: `UPDATE starbase_meta SET value = value WHERE 0`,
	CreateIndex: func(name, cols string, classID int64) string {
		return fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON starbase_objects (%s) WHERE class_id = %d", name, cols, classID)
	},
}

func arg(x any) any {
	switch x := x.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64() // json_extract reads such numbers as reals
		return f
	}
	return x
}

func scan(v any) (any, error) {
	switch v := v.(type) {
	case nil, int64, float64, string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return nil, fmt.Errorf("objects/sqlite: unexpected %T from the database", v)
}
