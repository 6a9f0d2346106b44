package etcd

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/store"
)

// Get reads key at rev (0 for the latest revision).
func (s *Store) Get(ctx context.Context, key string, rev int64) (*store.KeyValue, int64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, 0, err
	}
	if rev < 0 {
		return nil, 0, fmt.Errorf("etcd: get %q: revision %d is negative; use 0 for the latest", key, rev)
	}
	full := s.prefix + key
	if full == "" {
		return nil, 0, fmt.Errorf("etcd: get: the empty key cannot be stored in etcd; give a key or a Config.Prefix")
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, full, clientv3.WithRev(rev))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd: get %q at revision %d: %w", key, rev, s.mapErr(ctx, err))
	}
	at := rev
	if at == 0 {
		at = resp.Header.Revision
	}
	if len(resp.Kvs) == 0 || key == "" { // the store key "" holds the format marker
		return nil, at, nil
	}
	kv := s.keyValue(resp.Kvs[0])
	return &kv, at, nil
}

// Range reads the keys under prefix at one revision, in key order.
func (s *Store) Range(ctx context.Context, prefix string, opts store.RangeOptions) (store.RangeResult, error) {
	if err := s.checkOpen(); err != nil {
		return store.RangeResult{}, err
	}
	if opts.Revision < 0 || opts.Limit < 0 {
		return store.RangeResult{}, fmt.Errorf("etcd: range %q: revision %d and limit %d must not be negative", prefix, opts.Revision, opts.Limit)
	}
	start, end := s.prefix+prefix, clientv3.GetPrefixRangeEnd(s.prefix+prefix)
	if opts.After != "" && s.prefix+opts.After+"\x00" > start {
		start = s.prefix + opts.After + "\x00"
	}
	if start == s.prefix {
		// Start after the store key "", which no commit writes: etcd refuses the empty key,
		// and under a prefix it holds the format marker.
		start = s.prefix + "\x00"
	}
	getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithRev(opts.Revision), clientv3.WithLimit(int64(opts.Limit))}
	if opts.KeysOnly {
		getOpts = append(getOpts, clientv3.WithKeysOnly())
	}
	if end != "\x00" && start >= end {
		// Paging past the end: read nothing, but at the revision, so that its errors show.
		getOpts = []clientv3.OpOption{clientv3.WithRev(opts.Revision), clientv3.WithCountOnly()}
		start = s.probeKey()
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, start, getOpts...)
	if err != nil {
		return store.RangeResult{}, fmt.Errorf("etcd: range %q at revision %d: %w", prefix, opts.Revision, s.mapErr(ctx, err))
	}
	res := store.RangeResult{Revision: opts.Revision, More: resp.More && len(resp.Kvs) > 0}
	if res.Revision == 0 {
		res.Revision = resp.Header.Revision
	}
	res.KVs = make([]store.KeyValue, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		res.KVs[i] = s.keyValue(kv)
		if opts.KeysOnly {
			res.KVs[i].Value = nil
		}
	}
	return res, nil
}

// keyValue converts an etcd key-value under the prefix to the store's, without the prefix.
// An existing key's value is never nil, even when empty.
func (s *Store) keyValue(kv *mvccpb.KeyValue) store.KeyValue {
	value := kv.Value
	if value == nil {
		value = []byte{}
	}
	return store.KeyValue{
		Key:            string(kv.Key[len(s.prefix):]),
		Value:          value,
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
	}
}
