package objects

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/starbase/starbase/store"
)

// A ClassResolver finds the model `name` declared at the top level of module `module` in the
// code of the current request (the server implements it with the loader, at the request's
// commit). It returns an error wrapping ErrNoClass when that module or name does not exist;
// any other error (a module that fails to load, ...) fails the read that needed the class.
type ClassResolver func(ctx context.Context, module, name string) (*Model, error)

// Tx is one request's optimistic transaction. All its reads come from one store snapshot (the
// revision of its first read), overlaid with its own buffered writes; at the end its writes are
// committed atomically, on condition that every key it read is unchanged since that snapshot.
//
// A Tx is used by one request at a time and is not safe for concurrent use.
type Tx struct {
	ctx     context.Context
	st      store.Store
	resolve ClassResolver
	stamp   []byte // the value this transaction writes to the version keys it bumps

	rev    int64                      // snapshot revision; 0 until the first read
	reads  map[string]*store.KeyValue // keys read from the snapshot; nil when absent there
	writes map[string]store.Op        // buffered writes
	// ranges are range compares at the snapshot revision that the commit checks besides the
	// reads, and covered the reads they make redundant, which get no compare of their own
	// (see coverRecords).
	ranges    []store.Compare
	covered   map[string]bool
	scattered []scatteredRead        // records read by db.find, which the commit may cover
	classes   map[string]classLookup // classes resolved by qualified name
	// retry, when set, is a snapshot read failure (a compacted revision) after which the
	// transaction is worth running again from the start, whatever fn returned.
	retry error
}

type classLookup struct {
	model *Model
	err   error
}

// newTx returns an empty transaction. Its maps and stamp are made on first use, so that a
// request that never touches data pays nothing for its transaction.
func newTx(ctx context.Context, st store.Store, resolve ClassResolver) *Tx {
	return &Tx{ctx: ctx, st: st, resolve: resolve}
}

// recordRead records that key read kv from the snapshot (nil: absent).
func (tx *Tx) recordRead(key string, kv *store.KeyValue) {
	if tx.reads == nil {
		tx.reads = make(map[string]*store.KeyValue)
	}
	tx.reads[key] = kv
}

func (tx *Tx) write(op store.Op) {
	if tx.writes == nil {
		tx.writes = make(map[string]store.Op)
	}
	tx.writes[op.Key] = op
}

// Revision returns the snapshot revision the transaction reads at, or 0 before its first read.
func (tx *Tx) Revision() int64 { return tx.rev }

// Run runs fn in a new transaction and commits its writes. If the commit finds that something
// fn read has changed (another transaction won), fn runs again from the start in a new
// transaction, after a short random pause, up to attempts times in all; then Run returns an
// error wrapping ErrConflict. So fn may run several times: it must have no effects outside the
// transaction, and must not keep objects from one run to the next.
//
// fn's error aborts the transaction: nothing it wrote is applied, and Run returns the error.
// A transaction that wrote nothing commits nothing and never conflicts.
func Run(ctx context.Context, st store.Store, resolve ClassResolver, attempts int, fn func(tx *Tx) error) error {
	attempts = max(attempts, 1)
	var last error
	for attempt := range attempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return fmt.Errorf("objects: transaction abandoned after %d conflicting attempts: %w", attempt, err)
			}
		}
		tx := newTx(ctx, st, resolve)
		err := fn(tx)
		if tx.retry != nil {
			last = tx.retry
			continue
		}
		if err != nil {
			return err
		}
		err = tx.commit()
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		last = err
	}
	return fmt.Errorf("%w: gave up after %d attempts (%w); retry the request later", ErrConflict, attempts, last)
}

// pause waits before attempt (1, 2, ...): a random time up to a bound that doubles with each
// attempt, so that transactions that keep colliding spread out.
func pause(ctx context.Context, attempt int) error {
	const base, ceiling = 500 * time.Microsecond, 50 * time.Millisecond
	bound := min(base<<min(attempt, 10), ceiling)
	t := time.NewTimer(rand.N(bound))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// snapshotGet reads key from the snapshot, once per transaction, and records the read.
func (tx *Tx) snapshotGet(key string) (*store.KeyValue, error) {
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

func (tx *Tx) readFailed(err error) error {
	if errors.Is(err, store.ErrCompacted) {
		tx.retry = err
	}
	return fmt.Errorf("reading data: %w", err)
}

// get returns the value of key as the transaction sees it: its own write if it made one, else
// the snapshot's. Either way the snapshot read is recorded, so the commit checks it.
func (tx *Tx) get(key string) ([]byte, bool, error) {
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
func (tx *Tx) assumeAbsent(key string) {
	if _, ok := tx.reads[key]; !ok {
		tx.recordRead(key, nil)
	}
}

func (tx *Tx) put(key string, value []byte) { tx.write(store.Put(key, value)) }
func (tx *Tx) del(key string)               { tx.write(store.Delete(key)) }

// bump changes a version key without reading it, so that every transaction that read it
// conflicts with this one and none that only bump it does.
func (tx *Tx) bump(key string) {
	if tx.stamp == nil {
		tx.stamp = make([]byte, 16)
		crand.Read(tx.stamp)
	}
	tx.put(key, tx.stamp)
}

// keys returns up to limit keys (at least 1) under prefix, strictly after after, in order, as the
// transaction sees them: the snapshot's, less the ones it deleted, plus the ones it put.
// The read is not recorded key by key: callers first read the version key that every change
// under prefix bumps, which turns phantoms into conflicts.
func (tx *Tx) keys(prefix, after string, limit int) ([]string, error) {
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
			page, err := tx.st.Range(tx.ctx, prefix, store.RangeOptions{Revision: tx.rev, After: cursor, Limit: limit})
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
func (tx *Tx) coverRecords(firstMember, lastMember string, recordKeys []string) {
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
func (tx *Tx) coverScattered(r scatteredRead) {
	n := 2 * len(r.records)
	page, err := tx.st.Range(tx.ctx, r.prefix, store.RangeOptions{Revision: tx.rev, After: r.first, Limit: n})
	if err == nil && len(page.KVs) > 0 && page.KVs[len(page.KVs)-1].Key >= r.last {
		tx.coverRecords(r.first, r.last, r.records)
	}
}

// commit applies the buffered writes if nothing read has changed since the snapshot.
func (tx *Tx) commit() error {
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
		return fmt.Errorf("committing data: %w", err)
	}
	return nil
}
