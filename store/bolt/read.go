package bolt

import (
	"bytes"
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/starbase/starbase/store"
)

// Get reads key at rev (0 for the latest); see store.Store.
func (s *Store) Get(ctx context.Context, key string, rev int64) (*store.KeyValue, int64, error) {
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	var kv *store.KeyValue
	var at int64
	err := s.view(func(tx *bbolt.Tx) error {
		var current int64
		var err error
		at, current, err = readRevision(tx, rev)
		if err != nil {
			return err
		}
		kv, err = get(tx, []byte(key), at, current)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store/bolt: get %q at revision %d: %w", key, rev, err)
	}
	return kv, at, nil
}

// Range reads the keys under prefix at one revision; see store.Store.
func (s *Store) Range(ctx context.Context, prefix string, opts store.RangeOptions) (store.RangeResult, error) {
	if err := s.check(ctx); err != nil {
		return store.RangeResult{}, err
	}
	if opts.Limit < 0 {
		return store.RangeResult{}, fmt.Errorf("store/bolt: range %q: negative limit %d", prefix, opts.Limit)
	}
	var res store.RangeResult
	err := s.view(func(tx *bbolt.Tx) error {
		at, current, err := readRevision(tx, opts.Revision)
		if err != nil {
			return err
		}
		res, err = rangeKeys(tx, prefix, opts, at, current)
		return err
	})
	if err != nil {
		return store.RangeResult{}, fmt.Errorf("store/bolt: range %q at revision %d: %w", prefix, opts.Revision, err)
	}
	return res, nil
}

// readRevision resolves the revision a read asks for (0 for the latest), checks that it is
// retained, and returns it with the current revision.
func readRevision(tx *bbolt.Tx, rev int64) (at, current int64, err error) {
	current, compacted := readMeta(tx)
	switch {
	case rev < 0:
		return 0, 0, fmt.Errorf("invalid revision %d: revisions are positive, 0 means the latest", rev)
	case rev == 0:
		return current, current, nil
	case rev > current:
		return 0, 0, fmt.Errorf("%w: the current revision is %d", store.ErrFutureRevision, current)
	case rev < compacted:
		return 0, 0, fmt.Errorf("%w: history before revision %d is gone", store.ErrCompacted, compacted)
	}
	return rev, current, nil
}

// get reads key at revision at.
func get(tx *bbolt.Tx, key []byte, at, current int64) (*store.KeyValue, error) {
	if len(key) == 0 {
		return nil, nil
	}
	if at == current {
		v := tx.Bucket(latestBucket).Get(key)
		if v == nil {
			return nil, nil
		}
		return latestKeyValue(key, v, true)
	}
	versions := tx.Bucket(versionsBucket).Bucket(key)
	if versions == nil {
		return nil, nil
	}
	return versionKeyValue(key, versions, at, true)
}

// latestKeyValue returns key from its record v in the latest bucket, with a copy of its
// value if withValue (else none: the value is not read).
func latestKeyValue(key, v []byte, withValue bool) (*store.KeyValue, error) {
	createRev, modRev, value, err := decodeLatest(v)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	return &store.KeyValue{
		Key:            string(key),
		Value:          valueCopy(value, withValue),
		CreateRevision: createRev,
		ModRevision:    modRev,
	}, nil
}

// valueCopy returns a copy of value, which bbolt's memory holds only during the
// transaction, if withValue, else nil.
func valueCopy(value []byte, withValue bool) []byte {
	if !withValue {
		return nil
	}
	return bytes.Clone(value)
}

// versionKeyValue returns key as it stood at revision at, or nil when it did not exist,
// with a copy of its value if withValue.
func versionKeyValue(key []byte, versions *bbolt.Bucket, at int64, withValue bool) (*store.KeyValue, error) {
	modRev, record := versionAt(versions, at)
	if record == nil {
		return nil, nil
	}
	kind, createRev, value, err := decodeVersion(record)
	if err != nil {
		return nil, fmt.Errorf("key %q revision %d: %w", key, modRev, err)
	}
	if kind == kindTombstone {
		return nil, nil
	}
	return &store.KeyValue{
		Key:            string(key),
		Value:          valueCopy(value, withValue),
		CreateRevision: createRev,
		ModRevision:    modRev,
	}, nil
}

// rangeKeys reads the keys under prefix at revision at. The latest revision is read from the
// latest bucket; older ones walk the versions buckets, which also hold deleted keys.
func rangeKeys(tx *bbolt.Tx, prefix string, opts store.RangeOptions, at, current int64) (store.RangeResult, error) {
	res := store.RangeResult{Revision: at}
	latest := at == current

	var c *bbolt.Cursor
	var versions *bbolt.Bucket
	if latest {
		c = tx.Bucket(latestBucket).Cursor()
	} else {
		versions = tx.Bucket(versionsBucket)
		c = versions.Cursor()
	}
	start := prefix
	if opts.After != "" && opts.After >= prefix {
		start = opts.After
	}
	p := []byte(prefix)
	for k, v := c.Seek([]byte(start)); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if opts.After != "" && string(k) <= opts.After {
			continue
		}
		var kv *store.KeyValue
		var err error
		if latest {
			kv, err = latestKeyValue(k, v, !opts.KeysOnly)
		} else if b := versions.Bucket(k); b != nil {
			kv, err = versionKeyValue(k, b, at, !opts.KeysOnly)
		}
		if err != nil {
			return store.RangeResult{}, err
		}
		if kv == nil {
			continue
		}
		if opts.Limit > 0 && len(res.KVs) == opts.Limit {
			res.More = true
			break
		}
		res.KVs = append(res.KVs, *kv)
	}
	return res, nil
}

// hasPrefix reports whether key starts with prefix.
func hasPrefix(key []byte, prefix string) bool {
	return len(key) >= len(prefix) && string(key[:len(prefix)]) == prefix
}
