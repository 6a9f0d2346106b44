package objects

import (
	"context"
	"errors"
)

// An Engine is a data tier: where the objects of requests are stored. Three implement it:
//
//   - [KV]: the objects in a [store.Store] (bbolt or etcd, the control plane's store), under
//     "data/", with optimistic transactions checked by compares at commit (kv.go);
//   - SQLite ([OpenSQL] with the dialect of package objects/sqlite): the default of
//     `starbase serve`, one file in the data directory;
//   - PostgreSQL ([OpenSQL] with the dialect of package objects/postgres): for clusters.
//
// Every engine keeps the same rules, which the conformance suite (harness_test.go) checks on
// each of them:
//
//   - one transaction per request ([Run]), serializable: no lost update, write skew or phantom;
//   - a transaction that conflicts with a concurrent one runs again from the start, a bounded
//     number of times, then fails with ErrConflict; one whose function fails writes nothing;
//   - objects are stored with their class by name and version, their fields exactly as
//     [EncodeValue] writes them, and the index entries their model declares;
//   - db.get, db.find, db.list and db.query see the transaction's own writes.
//
// The methods are unexported: the engines are the ones of this package.
type Engine interface {
	// Name is the engine's kind: "kv", "sqlite" or "postgres".
	Name() string
	// Close releases the engine's connections (KV: nothing; the store is its owner's).
	Close() error

	// begin starts a transaction. It may do no I/O until first used. locks are keys whose
	// locks the transaction takes before its first read (locks.go). writer says that the
	// transaction is the re-run of one that wrote and lost: an engine whose writers take
	// turns (SQLite) begins it as a writer, waiting for the writer before it, rather than
	// let it lose again to every writer that commits before its first write.
	begin(ctx context.Context, locks []string, writer bool) (dataTx, error)
	// snapshot starts a read-only transaction that reads one state of the whole tier, however
	// long it lasts (Snapshot); it is only read from, then rolled back.
	snapshot(ctx context.Context) (dataTx, error)
}

// A meta is one of the data tier's own values (getMeta).
type meta struct {
	key   string
	value []byte
}

// A stored object as a data tier returns it: its id and record encoding, and the record
// decoded when the engine decoded it already (nil otherwise).
type stored struct {
	id   string
	data []byte
	rec  *record
}

// A dataTx is one transaction of an Engine. Its methods are called by one goroutine. Errors
// that mean "a concurrent transaction won, run again" wrap errRetry.
type dataTx interface {
	// get returns the record encoding of object id, ok false when it does not exist.
	get(id string) (data []byte, ok bool, err error)
	// put writes object id as rec (whose encoding is data). old is the record stored until
	// now, nil when the object is new (its id made by newID, so absent); its class may be
	// another (an alias of rec's: the object moves to rec's class).
	put(id string, rec *record, data []byte, old *record) error
	// remove deletes object id, whose stored record is old (nil when it did not decode).
	remove(id string, old *record) error
	// find returns candidates for db.find: at least every instance of m for which every filter
	// holds, in id order; by is the filter on an indexed field the KV tier selects on. The
	// caller checks the filters exactly on what it returns.
	find(m *Model, filters []filter, by *filter) ([]stored, error)
	// list returns up to limit instances of class with ids after after, in id order. With
	// phantoms false, objects created concurrently need not make the transaction conflict
	// (Migrate, which needs not rewrite them).
	list(class string, after string, limit int, phantoms bool) ([]stored, error)
	// all returns up to limit objects of every class with ids after after, in id order
	// (Export), without making the transaction conflict with objects created meanwhile.
	all(after string, limit int) ([]stored, error)
	// classes returns up to limit qualified names of the classes that have objects, sorted.
	classes(limit int) ([]string, error)
	// getMeta, putMeta and delMeta read and write the data tier's own small values (the
	// resume cursor of Migrate), in the transaction.
	getMeta(key string) ([]byte, bool, error)
	putMeta(key string, value []byte) error
	delMeta(key string) error
	// metas returns up to limit of the values whose keys start with prefix, with keys after
	// after, in key order (the sequences, for Export), without making the transaction
	// conflict with values written meanwhile.
	metas(prefix, after string, limit int) ([]meta, error)
	// lock takes the lock of key until the transaction ends: waiting for it when the
	// transaction holds no lock and has not read yet, else only when free (otherwise an
	// error wrapping errRetry; locks.go).
	lock(key string) error
	// wrote reports whether the transaction has written anything.
	wrote() bool
	// commit makes the writes durable; a transaction that wrote nothing commits nothing.
	commit() error
	// rollback abandons the transaction (also after a failed commit; twice is harmless).
	rollback()
}

// errRetry is wrapped by the errors of a data tier that mean the transaction lost to a
// concurrent one (SQLite's busy snapshot, PostgreSQL's serialization failure or deadlock,
// a compacted KV revision): Run runs it again from the start.
var errRetry = errors.New("concurrent transaction won")
