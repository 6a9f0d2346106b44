package objects

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starbase/starbase/store"
)

// A Dialect is what the SQL data tier needs to know of one SQL engine; packages
// objects/sqlite and objects/postgres define theirs. Every piece of SQL text comes from the
// dialect and this package: stored code contributes values, always as parameters, and field
// names, which are identifiers checked against the model's declared fields.
type Dialect struct {
	// Name is the engine's name, as Engine.Name reports it.
	Name string
	// Schema creates the tables if they are missing; it runs in one transaction at open.
	Schema []string
	// Numbered says the engine's placeholders are $1, $2, ... rather than ?.
	Numbered bool
	// Field is the expression of field name (an identifier) in the JSON column fields, as
	// filters compare it, queries order by it and indexes hold it. A field the JSON lacks
	// must be NULL.
	Field func(name string) string
	// Param wraps a placeholder compared with a Field expression ("$3" -> "$3::jsonb").
	Param func(placeholder string) string
	// Arg turns a scalar (string, int64, *big.Int, float64, bool) into the driver argument
	// compared with a Field expression.
	Arg func(x any) any
	// Number is the numeric expression of field name, for sum and avg. LenientSums says
	// that it never fails a statement (SQLite takes a string as 0). PostgreSQL's cast fails
	// on a value that is not a number (an object stored before its field became one): there
	// a statement computing sums nobody asked for yet (aggColumns) runs under a savepoint,
	// and is run again without them if it fails.
	LenientSums bool
	Number      func(name string) string
	// Integer, when set, is a faster exact expression of an int field's value for sum
	// (PostgreSQL: a bigint, summed in 128-bit integers, where a numeric sum adds numerics),
	// which fails the statement on any value that is not an integer of 64 bits: a bigger int,
	// or a float or a string stored before the field became an int. Only the statements that
	// run under a savepoint anyway (those computing sums ahead, aggColumns) use it; when one
	// fails, it is run again with Number, which the class's sums use from then on
	// (sqlEngine.exactSums).
	Integer func(name string) string
	// Result turns an aggregate expression into what Scan reads (PostgreSQL: its text).
	Result func(expr string) string
	// Scan turns what the driver returned for a Field or Result expression into a scalar
	// (nil for NULL).
	Scan func(v any) (any, error)
	// Fields wraps the placeholder of the fields column in writes ("$5" -> "$5::jsonb").
	Fields func(placeholder string) string
	// TxOptions are the options of request transactions (PostgreSQL: serializable).
	TxOptions *sql.TxOptions
	// Retryable reports whether err means the transaction lost to a concurrent one.
	Retryable func(err error) bool
	// Full, when set, reports whether err means the database has no room for a write
	// (SQLite: SQLITE_FULL, a full disk or its max_page_count reached; PostgreSQL: 53100,
	// disk_full). Such an error wraps store.ErrFull: the server answers 507 and reports the
	// tier full, as for the store.
	Full func(err error) bool
	// Lost, when set, reports whether err, returned by COMMIT, means that the connection
	// was lost once COMMIT may have been sent (PostgreSQL: a network error, the backend
	// terminated): the transaction may or may not be committed, so the error wraps
	// store.ErrOutcomeUnknown and store.ErrUnavailable (the server answers 503 saying so).
	Lost func(err error) bool
	// Optimize is the statement that refreshes the planner's statistics (run in the
	// background after an index is built and after every OptimizeEvery rows written), so
	// that it knows which index selects best; "" for none.
	Optimize string
	// IndexStats, when set, is a query of (index name, statistics) rows whose statistics
	// start with the index's rows, then its rows per distinct value (SQLite's sqlite_stat1),
	// and NoIndex the expression that keeps a term from using its index (SQLite: unary +).
	// With them, an ordered page walks the order's index instead of selecting on a filter
	// that matches many rows and sorting them all: SQLite's planner does not weigh LIMIT.
	IndexStats string
	NoIndex    func(expr string) string
	// Locks (locks.go). WriteLock, when set, is a statement that takes the database's
	// write lock for the rest of the transaction (SQLite: every lock is that one). Else
	// SessionLock takes the lock of a key (its lockID, the one parameter) for the connection,
	// waiting, before the transaction begins; UnlockAll releases them after it ends; and
	// TryLock tries the lock of a key within the transaction, until its end, returning
	// whether it got it.
	WriteLock                       string
	SessionLock, UnlockAll, TryLock string
	// CreateIndex is the statement that creates index name on the columns cols (expressions,
	// comma-separated) for the objects of class classID only, run outside any request
	// transaction.
	CreateIndex func(name, cols string, classID int64) string
	// Statistics, when set, is the statement that makes the planner keep statistics of
	// expression expr (a field's) under name, run once a field's index is built: PostgreSQL
	// knows the distinct values of an expression only from an index of the whole table, and
	// the indexes are partial on the class. Without them it expects as many groups as rows
	// in a group_by and reads the rows in the order of an index, one by one, rather than
	// hash them in one sequential scan (several times slower).
	Statistics func(name, expr string) string
}

// sqlEngine is the SQL data tier: table starbase_objects holds one row per object (id,
// class_id, version, data: the record encoding, fields: its JSON projection, project.go);
// starbase_classes names the classes (class_id), starbase_meta holds the tier's own values.
// Each declared index of a model is an index on its field's expression, partial on the
// class, built outside request transactions when the engine first sees the model (queries
// work without it meanwhile, scanning the class).
type sqlEngine struct {
	db  *sql.DB
	d   Dialect
	log *slog.Logger

	mu      sync.Mutex
	classes map[string]int64  // class name -> id, as committed
	indexed map[indexKey]bool // indexes built or being built
	builds  sync.WaitGroup
	// written counts the rows written since the last Optimize; optimizing is set while one
	// runs.
	written    atomic.Int64
	optimizing atomic.Bool
	// rowsPerValue is the planner's statistics, by index name (see Dialect.IndexStats).
	rowsPerValue atomic.Pointer[map[string]int64]
	build        sync.Mutex // one index build at a time (concurrent ones can deadlock)
	closed       bool
	// aggregates counts the aggregate statements run (for tests: how many a report takes).
	aggregates atomic.Int64
	// exactSums holds the classes (ids) whose int sums use Dialect.Number: a statement
	// summing one with Dialect.Integer failed.
	exactSums sync.Map
}

// OpenSQL returns the SQL data tier on db, creating its tables if they are missing. db is
// owned by the engine from then on: Close closes it. Index builds failures are logged to
// logger (nil: slog.Default()).
func OpenSQL(ctx context.Context, db *sql.DB, d Dialect, logger *slog.Logger) (Engine, error) {
	if logger == nil {
		logger = slog.Default()
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("objects: %s: %w", d.Name, err)
	}
	defer tx.Rollback()
	for _, stmt := range d.Schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("objects: %s: creating the tables: %w", d.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("objects: %s: creating the tables: %w", d.Name, err)
	}
	e := &sqlEngine{db: db, d: d, log: logger, classes: make(map[string]int64), indexed: make(map[indexKey]bool)}
	e.loadStats()
	return e, nil
}

func (e *sqlEngine) Name() string { return e.d.Name }

// Close waits for the index builds under way, then closes the database.
func (e *sqlEngine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.builds.Wait()
	return e.db.Close()
}

func (e *sqlEngine) begin(ctx context.Context, locks []string, writer bool) (dataTx, error) {
	return &sqlTx{ctx: ctx, e: e, pre: sortedLocks(locks), writer: writer}, nil
}

func (e *sqlEngine) snapshot(ctx context.Context) (dataTx, error) {
	return &sqlTx{ctx: ctx, e: e, opts: snapshotTxOptions}, nil
}

// rebind turns ? placeholders into $1, $2, ... for engines that number them. The SQL text of
// this package has no ? anywhere else.
func (e *sqlEngine) rebind(q string) string {
	if !e.d.Numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ensureIndexes starts building, in the background, the indexes of class (of id classID)
// that this engine has not built yet: one per element of indexes, its fields joined by
// commas (one field: an index of its expression and id; several: a composite index on
// their expressions, which a scan grouping and aggregating over exactly those fields reads
// without reading the rows). Every query calls it: when every index is built, it only
// looks each up.
func (e *sqlEngine) ensureIndexes(class string, indexes []string, classID int64) {
	for _, idx := range indexes {
		key := indexKey{classID, idx}
		e.mu.Lock()
		if e.indexed[key] || e.closed {
			e.mu.Unlock()
			continue
		}
		e.indexed[key] = true
		e.builds.Add(1)
		e.mu.Unlock()
		name, fields := indexName(classID, idx), strings.Split(idx, ",")
		cols := make([]string, len(fields))
		for i, f := range fields {
			cols[i] = e.d.Field(f)
		}
		if len(fields) == 1 {
			cols = append(cols, "id") // ties of an order on the field are broken by id
		}
		go func() {
			defer e.builds.Done()
			e.build.Lock()
			defer e.build.Unlock()
			stmt := e.d.CreateIndex(name, strings.Join(cols, ", "), classID)
			_, err := e.db.ExecContext(context.Background(), stmt)
			if err == nil && len(fields) == 1 && e.d.Statistics != nil {
				// Of the field's expression in every class: named by the field alone.
				_, err = e.db.ExecContext(context.Background(), e.d.Statistics(statisticsName(fields[0]), cols[0]))
			}
			if err == nil {
				defer e.optimize() // after the build lock is released
			}
			if err != nil {
				// A failed concurrent build leaves an invalid index, which IF NOT EXISTS
				// would keep.
				e.db.ExecContext(context.Background(), "DROP INDEX IF EXISTS "+name)
				e.log.Warn("building an index of the data tier failed; it is tried again when next used",
					slog.String("class", class), slog.String("fields", strings.Join(fields, ", ")), slog.String("error", err.Error()))
				e.mu.Lock()
				delete(e.indexed, key)
				e.mu.Unlock()
			}
		}()
	}
}

// An indexKey is an index of the SQL tier: of fields (comma-joined) of class classID.
type indexKey struct {
	classID int64
	fields  string
}

// OptimizeEvery is how many rows written make the SQL tier refresh the planner's statistics.
const OptimizeEvery = 10000

// optimize runs the dialect's Optimize statement in the background, unless one runs.
func (e *sqlEngine) optimize() {
	if e.d.Optimize == "" || !e.optimizing.CompareAndSwap(false, true) {
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.optimizing.Store(false)
		return
	}
	e.builds.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.builds.Done()
		defer e.optimizing.Store(false)
		e.build.Lock() // not beside an index build: PostgreSQL may find them deadlocked
		defer e.build.Unlock()
		if _, err := e.db.ExecContext(context.Background(), e.d.Optimize); err != nil {
			e.log.Warn("refreshing the statistics of the data tier failed", slog.String("error", err.Error()))
		}
		e.loadStats()
	}()
}

// loadStats reads the rows per value of every index (Dialect.IndexStats).
func (e *sqlEngine) loadStats() {
	if e.d.IndexStats == "" {
		return
	}
	rows, err := e.db.QueryContext(context.Background(), e.d.IndexStats)
	if err != nil {
		return // no statistics yet
	}
	defer rows.Close()
	stats := map[string]int64{}
	for rows.Next() {
		var name, stat string
		if rows.Scan(&name, &stat) != nil {
			return
		}
		if f := strings.Fields(stat); len(f) >= 2 {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				stats[name] = n
			}
		}
	}
	if rows.Err() == nil {
		e.rowsPerValue.Store(&stats)
	}
}

// unselective reports whether an equality filter on field of class cid matching n values
// selects so many rows that a page of limit objects is better found by walking the order's
// index (more than 20 rows per object of the page).
func (e *sqlEngine) unselective(cid int64, field string, n, limit int) bool {
	stats := e.rowsPerValue.Load()
	if stats == nil || e.d.NoIndex == nil {
		return false
	}
	rpv, ok := (*stats)[indexName(cid, field)]
	return ok && rpv*int64(n) > 20*int64(limit+1)
}

// indexName names the index of field of class classID: field names are identifiers, but may
// be longer than some engines' names, so they are hashed.
func indexName(classID int64, field string) string {
	sum := sha256.Sum256([]byte(field))
	return fmt.Sprintf("starbase_ix_%d_%s", classID, hex.EncodeToString(sum[:6]))
}

// statisticsName names the statistics of field's expression (Dialect.Statistics).
func statisticsName(field string) string {
	sum := sha256.Sum256([]byte(field))
	return "starbase_st_" + hex.EncodeToString(sum[:6])
}

// sqlTx is one request transaction of the SQL tier, begun on its first statement.
type sqlTx struct {
	ctx        context.Context
	e          *sqlEngine
	opts       *sql.TxOptions // nil: the dialect's TxOptions
	tx         *sql.Tx
	dirty      bool
	rows       int64            // rows written
	newClasses map[string]int64 // classes this transaction registered, cached at commit

	// aggs keeps the aggregates read, by aggSignature, until the transaction next writes
	// (sqlquery.go; dropped by written).
	aggs map[string]map[aggCol][]aggRow

	pre    []string        // keys locked before the transaction begins (sorted)
	writer bool            // begin with the write lock (Dialect.WriteLock) even without keys
	locked map[string]bool // keys locked
	conn   *sql.Conn       // the connection of tx when it holds session locks
}

// errf wraps a driver error, marking the ones that say a concurrent transaction won.
func (t *sqlTx) errf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if t.e.d.Retryable(err) {
		return fmt.Errorf("%s: %w (%w)", msg, err, errRetry)
	}
	if t.e.d.Full != nil && t.e.d.Full(err) {
		return fmt.Errorf("%s: %w (%w: the %s data tier has no room left; nothing was written: free space on its disk, or raise its size limit)",
			msg, err, store.ErrFull, t.e.d.Name)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func (t *sqlTx) begin() error {
	if t.tx != nil {
		return nil
	}
	d := t.e.d
	opts := d.TxOptions
	if t.opts != nil {
		opts = t.opts
	}
	var tx *sql.Tx
	var err error
	if len(t.pre) > 0 && d.WriteLock == "" {
		// Session locks, taken before BEGIN so that the snapshot follows their holders' commits.
		if t.conn, err = t.e.db.Conn(t.ctx); err != nil {
			return t.errf(err, "starting a %s transaction", d.Name)
		}
		for _, key := range t.pre {
			if _, err := t.conn.ExecContext(t.ctx, t.e.rebind(d.SessionLock), lockID(key)); err != nil {
				t.unlock()
				return t.errf(err, "waiting for lock %s", key)
			}
		}
		tx, err = t.conn.BeginTx(t.ctx, opts)
	} else {
		tx, err = t.e.db.BeginTx(t.ctx, opts)
	}
	if err != nil {
		t.unlock()
		return t.errf(err, "starting a %s transaction", d.Name)
	}
	t.tx = tx
	if (len(t.pre) > 0 || t.writer) && d.WriteLock != "" {
		// The first statement: SQLite waits for the writer before it (busy_timeout), which
		// it does not do for a transaction that read first (that one fails at once).
		if _, err := t.exec(d.WriteLock); err != nil {
			return t.errf(err, "taking the write lock")
		}
	}
	for _, key := range t.pre {
		t.markLocked(key)
	}
	return nil
}

func (t *sqlTx) markLocked(key string) {
	if t.locked == nil {
		t.locked = make(map[string]bool)
	}
	t.locked[key] = true
}

func (t *sqlTx) lock(key string) error {
	switch {
	case t.locked[key]:
		return nil
	case t.tx == nil:
		t.pre = sortedLocks(append(t.pre, key))
		return t.begin()
	case t.e.d.WriteLock != "":
		if len(t.locked) == 0 && !t.writer { // else taken at begin
			if _, err := t.exec(t.e.d.WriteLock); err != nil {
				return t.errf(err, "taking the write lock")
			}
		}
	default:
		var ok bool
		if err := t.queryRow(t.e.d.TryLock, lockID(key)).Scan(&ok); err != nil {
			return t.errf(err, "taking lock %s", key)
		}
		if !ok {
			return errLockBusy(key)
		}
	}
	t.markLocked(key)
	return nil
}

// unlock releases the session locks and the connection that holds them, once the
// transaction has ended. A connection whose locks cannot be released is closed, which
// releases them.
func (t *sqlTx) unlock() {
	if t.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := t.conn.ExecContext(ctx, t.e.d.UnlockAll); err != nil {
		t.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	t.conn.Close()
	t.conn = nil
}

func (t *sqlTx) queryRow(q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.e.rebind(q), args...)
}

func (t *sqlTx) exec(q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.e.rebind(q), args...)
}

// classID returns the id of class, registering it when create is set; 0 when it is not
// registered (so it has no objects).
func (t *sqlTx) classID(class string, create bool) (int64, error) {
	if err := t.begin(); err != nil {
		return 0, err
	}
	t.e.mu.Lock()
	id, ok := t.e.classes[class]
	t.e.mu.Unlock()
	if ok {
		return id, nil
	}
	if id, ok := t.newClasses[class]; ok {
		return id, nil
	}
	err := t.queryRow(`SELECT id FROM starbase_classes WHERE name = ?`, class).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		if !create {
			return 0, nil
		}
		if _, err = t.exec(`INSERT INTO starbase_classes (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, class); err != nil {
			return 0, t.errf(err, "registering class %s", class)
		}
		t.dirty = true
		err = t.queryRow(`SELECT id FROM starbase_classes WHERE name = ?`, class).Scan(&id)
		if err == nil {
			if t.newClasses == nil {
				t.newClasses = make(map[string]int64)
			}
			t.newClasses[class] = id
			return id, nil
		}
	}
	if err != nil {
		return 0, t.errf(err, "reading class %s", class)
	}
	t.e.mu.Lock()
	t.e.classes[class] = id
	t.e.mu.Unlock()
	return id, nil
}

func (t *sqlTx) get(id string) ([]byte, bool, error) {
	if err := t.begin(); err != nil {
		return nil, false, err
	}
	var data []byte
	err := t.queryRow(`SELECT data FROM starbase_objects WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, t.errf(err, "reading object %s", id)
	}
	return data, true, nil
}

func (t *sqlTx) put(id string, rec *record, data []byte, old *record) error {
	fields, err := projectFields(rec)
	if err != nil {
		return fmt.Errorf("object %s: %w", id, err)
	}
	cid, err := t.classID(rec.class, true)
	if err != nil {
		return err
	}
	if _, registering := t.newClasses[rec.class]; !registering {
		t.e.ensureIndexes(rec.class, rec.indexed, cid)
	}
	t.written()
	t.rows++
	fp := t.e.d.Fields("?")
	if old == nil {
		_, err = t.exec(`INSERT INTO starbase_objects (id, class_id, version, data, fields) VALUES (?, ?, ?, ?, `+fp+`)`,
			id, cid, rec.version, data, string(fields))
	} else {
		_, err = t.exec(`UPDATE starbase_objects SET class_id = ?, version = ?, data = ?, fields = `+fp+` WHERE id = ?`,
			cid, rec.version, data, string(fields), id)
	}
	return t.errf(err, "writing object %s", id)
}

func (t *sqlTx) remove(id string, _ *record) error {
	if err := t.begin(); err != nil {
		return err
	}
	t.written()
	_, err := t.exec(`DELETE FROM starbase_objects WHERE id = ?`, id)
	return t.errf(err, "deleting object %s", id)
}

// scan reads rows of (id, data).
func (t *sqlTx) scan(rows *sql.Rows, err error, what string) ([]stored, error) {
	if err != nil {
		return nil, t.errf(err, "%s", what)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.id, &s.data); err != nil {
			return nil, t.errf(err, "%s", what)
		}
		out = append(out, s)
	}
	return out, t.errf(rows.Err(), "%s", what)
}

// find selects with every filter whose value SQL compares (scalars), in one statement; the
// caller checks every filter exactly on the result.
func (t *sqlTx) find(m *Model, filters []filter, _ *filter) ([]stored, error) {
	cid, err := t.classID(m.QualifiedName(), false)
	if err != nil || cid == 0 {
		return nil, err
	}
	t.e.ensureIndexes(m.QualifiedName(), m.sqlIndexes, cid)
	where := []string{"class_id = " + strconv.FormatInt(cid, 10)}
	var args []any
	for _, f := range filters {
		v, err := DecodeValue(f.enc)
		if err != nil {
			return nil, err
		}
		x, ok := sqlScalar(v)
		if !ok {
			continue // None, NaN, ...: checked by the caller only
		}
		where = append(where, t.e.d.Field(f.field)+" = "+t.e.d.Param("?"))
		args = append(args, t.e.d.Arg(x))
	}
	args = append(args, MaxFindResults+1)
	q := `SELECT id, data FROM starbase_objects WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ?`
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(q), args...)
	found, err := t.scan(rows, err, "finding "+m.name)
	if err != nil {
		return nil, err
	}
	if len(found) > MaxFindResults {
		return nil, fmt.Errorf("find(%s, ...) selects more than %d objects; add conditions, or use db.query with a limit and a cursor",
			m.name, MaxFindResults)
	}
	return found, nil
}

func (t *sqlTx) list(class string, after string, limit int, _ bool) ([]stored, error) {
	cid, err := t.classID(class, false)
	if err != nil || cid == 0 {
		return nil, err
	}
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(`SELECT id, data FROM starbase_objects WHERE class_id = ? AND id > ? ORDER BY id LIMIT ?`),
		cid, after, limit)
	return t.scan(rows, err, "listing "+class)
}

func (t *sqlTx) all(after string, limit int) ([]stored, error) {
	if err := t.begin(); err != nil {
		return nil, err
	}
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(`SELECT id, data FROM starbase_objects WHERE id > ? ORDER BY id LIMIT ?`), after, limit)
	return t.scan(rows, err, "reading every object")
}

func (t *sqlTx) getMeta(key string) ([]byte, bool, error) {
	if err := t.begin(); err != nil {
		return nil, false, err
	}
	var v []byte
	err := t.queryRow(`SELECT value FROM starbase_meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	return v, err == nil, t.errf(err, "reading %s", key)
}

func (t *sqlTx) putMeta(key string, value []byte) error {
	if err := t.begin(); err != nil {
		return err
	}
	t.written()
	_, err := t.exec(`INSERT INTO starbase_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return t.errf(err, "writing %s", key)
}

func (t *sqlTx) delMeta(key string) error {
	if err := t.begin(); err != nil {
		return err
	}
	t.written()
	_, err := t.exec(`DELETE FROM starbase_meta WHERE key = ?`, key)
	return t.errf(err, "deleting %s", key)
}

func (t *sqlTx) metas(prefix, after string, limit int) ([]meta, error) {
	if err := t.begin(); err != nil {
		return nil, err
	}
	// The keys starting with prefix: keys are printable ASCII (sequence names, validSequenceName).
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(`SELECT key, value FROM starbase_meta WHERE key > ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`),
		after, prefix, prefix+"\x7f", limit)
	if err != nil {
		return nil, t.errf(err, "reading %s*", prefix)
	}
	defer rows.Close()
	var out []meta
	for rows.Next() {
		var m meta
		if err := rows.Scan(&m.key, &m.value); err != nil {
			return nil, t.errf(err, "reading %s*", prefix)
		}
		out = append(out, m)
	}
	return out, t.errf(rows.Err(), "reading %s*", prefix)
}

func (t *sqlTx) wrote() bool { return t.dirty }

// written notes a statement that writes objects or values: the transaction must commit, and
// the aggregates it read may have changed.
func (t *sqlTx) written() {
	t.dirty = true
	t.aggs = nil
}

// commit commits, read-only transactions included: a serializable engine may find only then
// that what they read cannot be ordered with concurrent transactions (they run again).
func (t *sqlTx) commit() error {
	if t.tx == nil {
		return nil
	}
	err := t.tx.Commit()
	t.tx = nil
	t.unlock()
	if err != nil {
		if t.e.d.Lost != nil && t.e.d.Lost(err) {
			return fmt.Errorf("committing data: %w (%w: %w: the connection to %s was lost during COMMIT)",
				err, store.ErrOutcomeUnknown, store.ErrUnavailable, t.e.d.Name)
		}
		return t.errf(err, "committing data")
	}
	if t.rows > 0 && t.e.written.Add(t.rows) >= OptimizeEvery {
		t.e.written.Store(0)
		t.e.optimize()
	}
	if len(t.newClasses) > 0 {
		t.e.mu.Lock()
		for k, v := range t.newClasses {
			t.e.classes[k] = v
		}
		t.e.mu.Unlock()
	}
	return nil
}

func (t *sqlTx) rollback() {
	if t.tx != nil {
		t.tx.Rollback()
		t.tx = nil
	}
	t.unlock()
}
