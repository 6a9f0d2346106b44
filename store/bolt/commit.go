package bolt

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/starbase/starbase/store"
)

// errUnchanged rolls back a write transaction that would not create a revision.
var errUnchanged = errors.New("commit changes nothing")

// Commit applies ops atomically if every compare holds; see store.Store.
//
// A commit that changes nothing (no ops, or only deletions of missing keys) creates no
// revision and returns the current one, after checking its compares. Besides the errors of
// the interface, Commit rejects an empty key and an op list naming one key twice (as etcd
// does); such commits write nothing.
func (s *Store) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if err := validate(compares, ops); err != nil {
		return 0, fmt.Errorf("store/bolt: commit: %w", err)
	}
	sorted := slices.Clone(ops)
	slices.SortFunc(sorted, func(a, b store.Op) int { return cmp.Compare(a.Key, b.Key) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Key == sorted[i-1].Key {
			return 0, fmt.Errorf("store/bolt: commit: key %q appears in two operations; merge them into one", sorted[i].Key)
		}
	}

	var rev int64
	err := s.update(func(tx *bbolt.Tx) error {
		current, _ := readMeta(tx)
		rev = current
		latest := tx.Bucket(latestBucket)
		for _, c := range compares {
			if changed, ok := holds(latest, c); !ok {
				return &store.ConflictError{Key: changed}
			}
		}
		next := current + 1
		changed, err := apply(tx, sorted, next)
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			return errUnchanged
		}
		revisions := tx.Bucket(revisionsBucket)
		revisions.FillPercent = 1 // revisions are appended in order
		if err := revisions.Put(encodeRevision(next), encodeKeys(changed)); err != nil {
			return err
		}
		if err := tx.Bucket(metaBucket).Put(revisionKey, encodeRevision(next)); err != nil {
			return err
		}
		rev = next
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return rev, nil
	case errors.Is(err, store.ErrConflict):
		return 0, fmt.Errorf("store/bolt: commit at revision %d: %w", rev, err)
	case err != nil:
		return 0, fmt.Errorf("store/bolt: commit: %w", err)
	}
	s.announce(rev)
	return rev, nil
}

// validate checks the sizes and keys of a commit before any work is done.
func validate(compares []store.Compare, ops []store.Op) error {
	limits := store.Limits{MaxCompares: MaxCompares, MaxOps: MaxOps, MaxBytes: MaxBytes}
	if err := limits.Check(store.SizeOf(compares, ops)); err != nil {
		return fmt.Errorf("%w; split the commit", err)
	}
	for _, c := range compares {
		if err := c.Check(); err != nil {
			return err
		}
		// A longer single key cannot exist, so its compare could only hold as absent; a
		// range may start or end anywhere.
		if !c.IsRange() {
			if err := validateKey(c.Key); err != nil {
				return err
			}
		}
	}
	for _, op := range ops {
		if err := validateKey(op.Key); err != nil {
			return err
		}
	}
	return nil
}

func validateKey(key string) error {
	if key == "" {
		return errors.New("empty key: every key needs at least one byte")
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: key %.40q... is %d bytes long, the limit is %d", store.ErrTooLarge, key, len(key), MaxKeySize)
	}
	return nil
}

// holds reports whether compare c holds against the latest versions; when it does not, it
// also returns the key that breaks it.
func holds(latest *bbolt.Bucket, c store.Compare) (string, bool) {
	if c.IsRange() {
		return rangeHolds(latest, c)
	}
	v := latest.Get([]byte(c.Key))
	if c.ModRevision == 0 || v == nil {
		return c.Key, c.ModRevision == 0 && v == nil
	}
	_, modRev, _, err := decodeLatest(v)
	return c.Key, err == nil && modRev == c.ModRevision
}

// rangeHolds reports whether no key of range compare c's range has a ModRevision above the
// compare's, scanning the range's latest versions; when one does, it returns that key.
func rangeHolds(latest *bbolt.Bucket, c store.Compare) (string, bool) {
	end := []byte(c.End)
	cur := latest.Cursor()
	for k, v := cur.Seek([]byte(c.Key)); k != nil; k, v = cur.Next() {
		if c.End != store.EndOfKeys && bytes.Compare(k, end) >= 0 {
			break
		}
		_, modRev, _, err := decodeLatest(v)
		if err != nil || modRev > c.ModRevision {
			return string(k), false
		}
	}
	return "", true
}

// apply writes ops, sorted by key, as revision rev and returns the keys it changed.
func apply(tx *bbolt.Tx, ops []store.Op, rev int64) ([]string, error) {
	latest := tx.Bucket(latestBucket)
	versions := tx.Bucket(versionsBucket)
	revKey := encodeRevision(rev)
	var changed []string
	for _, op := range ops {
		key := []byte(op.Key)
		old := latest.Get(key)
		if op.Delete && old == nil {
			continue
		}
		kv, err := versions.CreateBucketIfNotExists(key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", op.Key, err)
		}
		kv.FillPercent = 1 // versions are appended in order
		if op.Delete {
			err = kv.Put(revKey, encodeVersion(kindTombstone, 0, nil))
			if err == nil {
				err = latest.Delete(key)
			}
		} else {
			createRev := rev
			if old != nil {
				createRev, _, _, err = decodeLatest(old)
			}
			if err == nil {
				err = kv.Put(revKey, encodeVersion(kindPut, createRev, op.Value))
			}
			if err == nil {
				err = latest.Put(key, encodeLatest(createRev, rev, op.Value))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", op.Key, err)
		}
		changed = append(changed, op.Key)
	}
	return changed, nil
}

// Compact discards the history below rev; see store.Store. Compacting at or below the
// current compaction point does nothing; compacting above the current revision fails with
// store.ErrFutureRevision.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	err := s.update(func(tx *bbolt.Tx) error {
		current, compacted := readMeta(tx)
		if rev > current {
			return fmt.Errorf("%w: the current revision is %d", store.ErrFutureRevision, current)
		}
		if rev <= compacted {
			return nil
		}
		keys, err := dropRevisions(tx.Bucket(revisionsBucket), rev)
		if err != nil {
			return err
		}
		versions := tx.Bucket(versionsBucket)
		for _, key := range keys {
			if err := dropVersions(versions, []byte(key), rev); err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
		}
		return tx.Bucket(metaBucket).Put(compactedKey, encodeRevision(rev))
	})
	if err != nil {
		return fmt.Errorf("store/bolt: compact at revision %d: %w", rev, err)
	}
	return nil
}

// dropRevisions deletes the revision records below rev and returns the keys they named.
func dropRevisions(revisions *bbolt.Bucket, rev int64) ([]string, error) {
	seen := map[string]bool{}
	var keys []string
	var records [][]byte
	end := encodeRevision(rev)
	c := revisions.Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
		records = append(records, bytes.Clone(k))
		err := eachKey(v, func(key []byte) bool {
			if !seen[string(key)] {
				seen[string(key)] = true
				keys = append(keys, string(key))
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("revision %d: %w", decodeRevision(k), err)
		}
	}
	for _, k := range records {
		if err := revisions.Delete(k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// dropVersions deletes the versions of key that no read at rev or later can see: all but the
// newest at or before rev, and that one too when it is a tombstone older than rev.
func dropVersions(versions *bbolt.Bucket, key []byte, rev int64) error {
	kv := versions.Bucket(key)
	if kv == nil {
		return nil
	}
	keep, record := versionAt(kv, rev)
	if record == nil {
		return nil
	}
	if keep < rev && len(record) > 0 && record[0] == kindTombstone {
		keep++ // the tombstone goes too
	}
	var drop [][]byte
	end := encodeRevision(keep)
	c := kv.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		drop = append(drop, bytes.Clone(k))
	}
	for _, k := range drop {
		if err := kv.Delete(k); err != nil {
			return err
		}
	}
	if k, _ := kv.Cursor().First(); k == nil {
		return versions.DeleteBucket(key)
	}
	return nil
}
