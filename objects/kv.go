package objects

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/starbase/starbase/store"
)

// KV returns the data tier that keeps objects in st, under "data/" (the key layout is in
// record.go), next to the code: bbolt embedded, or etcd. Its transactions are optimistic:
// every read comes from one store snapshot, and the commit holds only if what was read is
// unchanged since (see "Transactions and isolation" in the package doc). Close does nothing:
// st belongs to the caller.
//
// Its locks (db.lock, db.incr, db.next) are this engine's: share one engine between the
// requests of a process (locks.go).
func KV(st store.Store) Engine { return &kvEngine{st: st} }

type kvEngine struct {
	st    store.Store
	locks processLocks
}

func (e *kvEngine) Name() string { return "kv" }
func (e *kvEngine) Close() error { return nil }
func (e *kvEngine) begin(ctx context.Context, locks []string, _ bool) (dataTx, error) {
	tx := &kvTx{ctx: ctx, st: e.st, locks: &e.locks}
	for _, key := range sortedLocks(locks) {
		if err := e.locks.acquire(ctx, key); err != nil {
			tx.release()
			return nil, err
		}
		tx.held = append(tx.held, key)
	}
	return tx, nil
}

// snapshot is an ordinary transaction: every read of a kvTx is at the revision of its first.
func (e *kvEngine) snapshot(ctx context.Context) (dataTx, error) { return e.begin(ctx, nil, false) }

// kvTx is one transaction of the KV tier. All its reads come from one store snapshot (the
// revision of its first read), overlaid with its own buffered writes; at the end its writes
// are committed atomically, on condition that every key it read is unchanged since that
// snapshot. Its maps and stamp are made on first use, so that a request that never touches
// data pays nothing for its transaction.
type kvTx struct {
	ctx   context.Context
	st    store.Store
	stamp []byte // the value this transaction writes to the version keys it bumps

	rev    int64                      // snapshot revision; 0 until the first read
	reads  map[string]*store.KeyValue // keys read from the snapshot; nil when absent there
	writes map[string]store.Op        // buffered writes
	// ranges are range compares at the snapshot revision that the commit checks besides the
	// reads, and covered the reads they make redundant, which get no compare of their own
	// (see coverRecords).
	ranges    []store.Compare
	covered   map[string]bool
	scattered []scatteredRead // records read by db.find, which the commit may cover

	locks *processLocks
	held  []string // keys of the locks held, released at commit or rollback
}

func (tx *kvTx) lock(key string) error {
	if slices.Contains(tx.held, key) {
		return nil
	}
	if len(tx.held) == 0 && tx.rev == 0 {
		if err := tx.locks.acquire(tx.ctx, key); err != nil {
			return err
		}
	} else if !tx.locks.try(key) {
		return errLockBusy(key)
	}
	tx.held = append(tx.held, key)
	return nil
}

// release releases the locks held.
func (tx *kvTx) release() {
	for _, key := range tx.held {
		tx.locks.release(key)
	}
	tx.held = nil
}

// recordRead records that key read kv from the snapshot (nil: absent).
func (tx *kvTx) recordRead(key string, kv *store.KeyValue) {
	if tx.reads == nil {
		tx.reads = make(map[string]*store.KeyValue)
	}
	tx.reads[key] = kv
}

func (tx *kvTx) write(op store.Op) {
	if tx.writes == nil {
		tx.writes = make(map[string]store.Op)
	}
	tx.writes[op.Key] = op
}

// snapshotGet reads key from the snapshot, once per transaction, and records the read.
func (tx *kvTx) snapshotGet(key string) (*store.KeyValue, error) {
	if kv, ok := tx.reads[key]; ok {
		return kv, nil
	}
	kv, rev, err := tx.st.Get(tx.ctx, key, tx.rev)
	if err != nil {
		return nil, tx.readFailed(err)
	}
	if tx.rev == 0 {
		tx.rev = rev
	}
	tx.recordRead(key, kv)
	return kv, nil
}

// readFailed wraps a read error; a compacted snapshot revision is worth running the
// transaction again for, from the start.
func (tx *kvTx) readFailed(err error) error {
	if errors.Is(err, store.ErrCompacted) {
		return fmt.Errorf("reading data: %w (%w)", err, errRetry)
	}
	return fmt.Errorf("reading data: %w", err)
}

// getKey returns the value of key as the transaction sees it: its own write if it made one,
// else the snapshot's. Either way the snapshot read is recorded, so the commit checks it.
func (tx *kvTx) getKey(key string) ([]byte, bool, error) {
	kv, err := tx.snapshotGet(key)
	if err != nil {
		return nil, false, err
	}
	if op, ok := tx.writes[key]; ok {
		return op.Value, !op.Delete, nil
	}
	if kv == nil {
		return nil, false, nil
	}
	return kv.Value, true, nil
}

// assumeAbsent makes the commit conditional on key not existing, without reading it: for keys
// named by a fresh random id.
func (tx *kvTx) assumeAbsent(key string) {
	if _, ok := tx.reads[key]; !ok {
		tx.recordRead(key, nil)
	}
}

func (tx *kvTx) putKey(key string, value []byte) { tx.write(store.Put(key, value)) }
func (tx *kvTx) delKey(key string)               { tx.write(store.Delete(key)) }

// bump changes a version key without reading it, so that every transaction that read it
// conflicts with this one and none that only bump it does.
func (tx *kvTx) bump(key string) {
	if tx.stamp == nil {
		tx.stamp = make([]byte, 16)
		crand.Read(tx.stamp)
	}
	tx.putKey(key, tx.stamp)
}

func (tx *kvTx) get(id string) ([]byte, bool, error) { return tx.getKey(objKey(id)) }

func (tx *kvTx) put(id string, rec *record, data []byte, old *record) error {
	if old == nil {
		tx.assumeAbsent(objKey(id)) // a fresh id; an id read as absent keeps its read
	}
	// The membership key is written with every write of the record, so that a range compare
	// on a page of them (db.list) tells that none of its records changed.
	tx.putKey(objKey(id), data)
	if old != nil && old.class != rec.class { // moving to rec's class (classes.go)
		tx.delKey(memberKey(old.class, id))
		tx.bump(classVersionKey(old.class))
		if err := tx.reindex(old.class, id, old, nil); err != nil {
			return err
		}
		old = nil
	}
	tx.putKey(memberKey(rec.class, id), nil)
	if old == nil {
		tx.bump(classVersionKey(rec.class))
	}
	return tx.reindex(rec.class, id, old, rec)
}

func (tx *kvTx) remove(id string, old *record) error {
	tx.delKey(objKey(id))
	if old == nil {
		return nil // a record that does not decode has no entries we could find
	}
	tx.delKey(memberKey(old.class, id))
	tx.bump(classVersionKey(old.class))
	return tx.reindex(old.class, id, old, nil)
}

// reindex writes the index entries that change from record old (nil: none) to record new
// (nil: none), and bumps the version keys of their buckets.
func (tx *kvTx) reindex(class, id string, old, new *record) error {
	entries := func(r *record) (map[string]string, error) {
		if r == nil {
			return nil, nil
		}
		return r.indexEntries()
	}
	before, err := entries(old)
	if err != nil {
		return err
	}
	after, err := entries(new)
	if err != nil {
		return err
	}
	for f, vh := range before {
		if after[f] != vh {
			tx.delKey(indexValuePrefix(class, f, vh) + id)
			tx.bump(indexVersionKey(class, f, vh))
		}
	}
	for f, vh := range after {
		if before[f] != vh {
			tx.putKey(indexValuePrefix(class, f, vh)+id, nil)
			tx.bump(indexVersionKey(class, f, vh))
		}
	}
	return nil
}

func (tx *kvTx) getMeta(key string) ([]byte, bool, error) { return tx.getKey(dataPrefix + key) }
func (tx *kvTx) putMeta(key string, value []byte) error {
	tx.putKey(dataPrefix+key, value)
	return nil
}
func (tx *kvTx) delMeta(key string) error {
	tx.delKey(dataPrefix + key)
	return nil
}
func (tx *kvTx) metas(prefix, after string, limit int) ([]meta, error) {
	from := ""
	if after != "" {
		from = dataPrefix + after
	}
	keys, err := tx.keys(dataPrefix+prefix, from, limit)
	if err != nil {
		return nil, err
	}
	out := make([]meta, 0, len(keys))
	for _, k := range keys {
		v, ok, err := tx.getKey(k)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, meta{key: k[len(dataPrefix):], value: v})
		}
	}
	return out, nil
}

func (tx *kvTx) wrote() bool { return len(tx.writes) > 0 }
func (tx *kvTx) rollback()   { tx.release() }

// keys returns up to limit keys (at least 1) under prefix, strictly after after, in order, as the
// transaction sees them: the snapshot's, less the ones it deleted, plus the ones it put.
// The read is not recorded key by key: callers first read the version key that every change
// under prefix bumps, which turns phantoms into conflicts.
func (tx *kvTx) keys(prefix, after string, limit int) ([]string, error) {
	var mine []string // keys put by this transaction, in range
	for k, op := range tx.writes {
		if !op.Delete && strings.HasPrefix(k, prefix) && k > after {
			mine = append(mine, k)
		}
	}
	slices.Sort(mine)

	var out []string
	snapshot, more := []string(nil), true
	cursor := after
	for len(out) < limit {
		if len(snapshot) == 0 && more {
			page, err := tx.st.Range(tx.ctx, prefix, store.RangeOptions{Revision: tx.rev, After: cursor, Limit: limit, KeysOnly: true})
			if err != nil {
				return nil, tx.readFailed(err)
			}
			if tx.rev == 0 {
				tx.rev = page.Revision
			}
			for _, kv := range page.KVs {
				if _, written := tx.writes[kv.Key]; !written { // this transaction's puts are in mine
					snapshot = append(snapshot, kv.Key)
				}
			}
			more = page.More
			if n := len(page.KVs); n > 0 {
				cursor = page.KVs[n-1].Key
			}
			if len(snapshot) == 0 && more {
				continue
			}
		}
		switch {
		case len(snapshot) > 0 && (len(mine) == 0 || snapshot[0] < mine[0]):
			out, snapshot = append(out, snapshot[0]), snapshot[1:]
		case len(mine) > 0:
			out, mine = append(out, mine[0]), mine[1:]
		default:
			return out, nil
		}
	}
	return out, nil
}

// find selects the candidates with the index of by: every instance whose field by.field has
// by's value (and a few more, when value hashes collide), read in id order.
func (tx *kvTx) find(m *Model, _ []filter, by *filter) ([]stored, error) {
	vh := valueHash(by.enc)
	if _, err := tx.snapshotGet(indexVersionKey(m.QualifiedName(), by.field, vh)); err != nil {
		return nil, err
	}
	prefix := indexValuePrefix(m.QualifiedName(), by.field, vh)
	keys, err := tx.keys(prefix, "", MaxFindResults+1)
	if err != nil {
		return nil, err
	}
	if len(keys) > MaxFindResults {
		return nil, fmt.Errorf("find(%s, %s = ...) selects more than %d objects; select on a more selective indexed field, or page with db.list",
			m.name, by.field, MaxFindResults)
	}
	var found []stored
	var first, last string // the membership keys of the first and last records read
	var read []string
	for _, k := range keys {
		id := strings.TrimPrefix(k, prefix)
		s, err := tx.load(id)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, fmt.Errorf("%w: the index of %s.%s names object %s, which does not exist", ErrCorrupt, m.name, by.field, id)
		}
		found = append(found, *s)
		// Only records of the class in the snapshot: their membership keys are in the range.
		if tx.reads[objKey(id)] != nil && s.rec != nil && s.rec.class == m.QualifiedName() {
			if first == "" {
				first = memberKey(m.QualifiedName(), id)
			}
			last = memberKey(m.QualifiedName(), id)
			read = append(read, objKey(id))
		}
	}
	// The objects found are scattered among their class's: their membership keys are
	// compared as one range only when it holds few others (see coverScattered).
	if len(read) >= minCoveredFind {
		tx.scattered = append(tx.scattered, scatteredRead{membersPrefix(m.QualifiedName()), first, last, read})
	}
	return found, nil
}

// load reads object id's record, decoded (rec nil when it does not decode: the caller reports
// it); nil when the object does not exist.
func (tx *kvTx) load(id string) (*stored, error) {
	data, ok, err := tx.get(id)
	if err != nil || !ok {
		return nil, err
	}
	rec, _ := decodeRecord(data)
	return &stored{id: id, data: data, rec: rec}, nil
}

// minCoveredFind is the fewest records a db.find must read for the commit to try to compare
// them as one range (at the price of one more read): below it, one compare per record is
// cheap enough.
const minCoveredFind = 16

func (tx *kvTx) list(class string, after string, limit int, phantoms bool) ([]stored, error) {
	if phantoms {
		if _, err := tx.snapshotGet(classVersionKey(class)); err != nil {
			return nil, err
		}
	}
	prefix := membersPrefix(class)
	from := ""
	if after != "" {
		from = prefix + after
	}
	keys, err := tx.keys(prefix, from, limit)
	if err != nil {
		return nil, err
	}
	objs := make([]stored, 0, len(keys))
	var first, last string // the membership keys of the first and last covered records
	var covered []string
	for _, k := range keys {
		id := strings.TrimPrefix(k, prefix)
		s, err := tx.load(id)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, fmt.Errorf("%w: %s lists object %s, which does not exist", ErrCorrupt, class, id)
		}
		objs = append(objs, *s)
		// Only records of the class in the snapshot: their membership keys are in the range.
		if tx.reads[objKey(id)] != nil && s.rec != nil && s.rec.class == class {
			if first == "" {
				first = k
			}
			last = k
			covered = append(covered, objKey(id))
		}
	}
	if phantoms {
		tx.coverRecords(first, last, covered)
	}
	return objs, nil
}

// coverRecords replaces the compares of the object records read at recordKeys with one range
// compare on the membership keys from firstMember to lastMember, those of the objects (in
// order), which db.list or db.find has just read.
//
// It is sound because of two rules of the key layout (record.go): every write of a record
// rewrites the object's membership key in the same commit, so a record changed since the
// snapshot makes the range compare fail; and every deletion changes the class version key and
// the version keys of the index buckets the object was in, which db.list and db.find read
// first, so a record deleted since the snapshot (invisible to a range compare) makes that
// key's compare fail. Only records that existed in the snapshot are covered; the absence of
// the others is compared key by key.
func (tx *kvTx) coverRecords(firstMember, lastMember string, recordKeys []string) {
	if len(recordKeys) == 0 {
		return
	}
	tx.ranges = append(tx.ranges, store.RangeUnmodifiedSince(firstMember, store.KeyAfter(lastMember), tx.rev))
	for _, k := range recordKeys {
		if tx.covered == nil {
			tx.covered = make(map[string]bool)
		}
		tx.covered[k] = true
	}
}

// A scatteredRead is the records a db.find read, with the first and last of their membership
// keys: whether a range compare can stand for their compares depends on how many other
// objects of the class lie between, which the commit finds out (a read-only transaction never
// needs to).
type scatteredRead struct {
	prefix, first, last string // the class's membership prefix, the first and last keys
	records             []string
}

// coverScattered covers the records of r with one range compare when the snapshot holds at
// most twice as many membership keys from r.first to r.last as r has records: few enough that
// checking the range stays cheap and conflicts with writes of other objects stay rare.
// Otherwise, or when the measure cannot be read, the records keep one compare each.
func (tx *kvTx) coverScattered(r scatteredRead) {
	n := 2 * len(r.records)
	page, err := tx.st.Range(tx.ctx, r.prefix, store.RangeOptions{Revision: tx.rev, After: r.first, Limit: n})
	if err == nil && len(page.KVs) > 0 && page.KVs[len(page.KVs)-1].Key >= r.last {
		tx.coverRecords(r.first, r.last, r.records)
	}
}

// commit applies the buffered writes if nothing read has changed since the snapshot; a
// change makes it fail with an error wrapping store.ErrConflict and errRetry.
func (tx *kvTx) commit() error {
	defer tx.release()
	if len(tx.writes) == 0 {
		return nil
	}
	for _, r := range tx.scattered {
		tx.coverScattered(r)
	}
	compares := make([]store.Compare, 0, len(tx.reads)+len(tx.ranges))
	for key, kv := range tx.reads {
		if !tx.covered[key] {
			compares = append(compares, store.Unchanged(key, kv))
		}
	}
	slices.SortFunc(compares, func(a, b store.Compare) int { return strings.Compare(a.Key, b.Key) })
	compares = append(compares, tx.ranges...)
	ops := make([]store.Op, 0, len(tx.writes))
	for _, op := range tx.writes {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b store.Op) int { return strings.Compare(a.Key, b.Key) })

	limits := tx.st.Limits()
	if err := limits.Check(store.SizeOf(compares, ops)); err != nil {
		return fmt.Errorf("%w: it read %d keys (%d compares, %d of them on ranges) and writes %d keys: %w; "+
			"read and write fewer or smaller objects per request", ErrTooLarge, len(tx.reads), len(compares), len(tx.ranges), len(ops), err)
	}
	if _, err := tx.st.Commit(tx.ctx, compares, ops); err != nil {
		if errors.Is(err, store.ErrTooLarge) {
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("committing data: %w (%w)", err, errRetry)
		}
		return fmt.Errorf("committing data: %w", err)
	}
	return nil
}

func (tx *kvTx) all(after string, limit int) ([]stored, error) {
	from := ""
	if after != "" {
		from = objKey(after)
	}
	keys, err := tx.keys(objPrefix, from, limit)
	if err != nil {
		return nil, err
	}
	out := make([]stored, 0, len(keys))
	for _, k := range keys {
		s, err := tx.load(k[len(objPrefix):])
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	return out, nil
}
