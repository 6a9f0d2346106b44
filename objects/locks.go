package objects

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// Locks (db.lock, db.incr, db.next) serialize the requests that change one hot object or
// sequence, so that they stop running again after conflicts. They never weaken isolation:
// every transaction stays serializable and is still checked as before; a lock only makes
// the transactions that take it wait for one another instead of colliding.
//
// A lock is named by a key (an object's id, or "seq/" and a sequence's name) and held until
// the transaction commits or rolls back. It is worth most when it is taken before the
// transaction's snapshot (its first read): the transaction then reads what the previous
// holder committed and cannot conflict with it. A lock asked for after the first read is
// only tried; when another transaction holds it, or when the holder committed after this
// transaction's snapshot, the transaction runs again, and Run takes every lock the failed
// attempt asked for before the new attempt's first read, waiting for them in key order.
// Waiting happens only while holding nothing else, so locks cannot deadlock.
//
// How each tier locks:
//   - SQLite: a lock is the database's write lock (one writer at a time anyway); taken
//     first, the transaction begins as a writer and never conflicts.
//   - PostgreSQL: advisory locks on a hash of the key: session locks taken before BEGIN on
//     the transaction's connection, transaction locks tried after.
//   - KV tier (bbolt, etcd): locks of this process. With bbolt, one process owns the data:
//     a hot object's writers stop conflicting. With etcd, requests on other nodes are not
//     held back, and still conflict and run again as without locks.

// MaxLocks is the most locks one transaction takes.
const MaxLocks = 100

// seqLockKey is the lock key of sequence name (db.next).
func seqLockKey(name string) string { return "seq/" + name }

// lockID turns a lock key into the 64-bit number of an advisory lock.
func lockID(key string) int64 {
	sum := sha256.Sum256([]byte("starbase lock " + key))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// lock takes the lock of key for the rest of the transaction (see above). A lock that
// another transaction holds, asked for after this transaction's first read, gives an
// error wrapping errRetry: Run runs the transaction again with the lock taken first.
func (tx *Tx) lock(key string) error {
	if !slices.Contains(tx.locked, key) {
		if len(tx.locked) >= MaxLocks {
			return fmt.Errorf("a transaction takes at most %d locks", MaxLocks)
		}
		tx.locked = append(tx.locked, key)
	}
	d, err := tx.dtx()
	if err != nil {
		return err
	}
	return tx.failed(d.lock(key))
}

// errLockBusy is wrapped (with errRetry) by a lock asked for after the transaction's first
// read that another transaction holds.
func errLockBusy(key string) error {
	return fmt.Errorf("lock %s is held by a concurrent transaction (%w)", key, errRetry)
}

// sortedLocks returns keys sorted, without duplicates: the order in which locks are waited
// for.
func sortedLocks(keys []string) []string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// processLocks are the KV tier's locks: held by this process's transactions.
type processLocks struct {
	mu   sync.Mutex               // guards held
	held map[string]chan struct{} // key -> closed when released
}

// acquire waits for the lock of key.
func (l *processLocks) acquire(ctx context.Context, key string) error {
	for {
		if l.try(key) {
			return nil
		}
		l.mu.Lock()
		ch, ok := l.held[key]
		l.mu.Unlock()
		if !ok {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for lock %s: %w", key, ctx.Err())
		}
	}
}

// try takes the lock of key if it is free.
func (l *processLocks) try(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.held[key]; ok {
		return false
	}
	if l.held == nil {
		l.held = make(map[string]chan struct{})
	}
	l.held[key] = make(chan struct{})
	return true
}

func (l *processLocks) release(key string) {
	l.mu.Lock()
	ch := l.held[key]
	delete(l.held, key)
	l.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}
