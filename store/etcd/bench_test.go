package etcd_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// benchClusters runs bench against a store on a fresh cluster of 1 and of 3 members.
func benchClusters(b *testing.B, bench func(b *testing.B, s *etcd.Store)) {
	for _, members := range []int{1, 3} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			c := etcdtest.Start(b, members)
			bench(b, open(b, c.Endpoints(), nil))
		})
	}
}

// The clusters run without fsync (see etcdtest), so commits here are faster than on disks
// that sync; the numbers compare client-side costs and cluster sizes.

// BenchmarkGet measures a linearizable read of one key at the latest revision.
func BenchmarkGet(b *testing.B) {
	benchClusters(b, func(b *testing.B, s *etcd.Store) {
		if _, err := s.Commit(b.Context(), nil, []store.Op{store.Put("k", make([]byte, 100))}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if kv, _, err := s.Get(b.Context(), "k", 0); err != nil || kv == nil {
				b.Fatalf("Get: %v, %v", kv, err)
			}
		}
	})
}

// BenchmarkCommit measures a compare-and-set commit of one key, as a request transaction
// makes it.
func BenchmarkCommit(b *testing.B) {
	benchClusters(b, func(b *testing.B, s *etcd.Store) {
		var kv *store.KeyValue
		value := make([]byte, 100)
		for b.Loop() {
			rev, err := s.Commit(b.Context(), []store.Compare{store.Unchanged("k", kv)}, []store.Op{store.Put("k", value)})
			if err != nil {
				b.Fatal(err)
			}
			kv = &store.KeyValue{Key: "k", ModRevision: rev}
		}
	})
}

// BenchmarkWatchDelivery measures the time from the start of a commit to the arrival of its
// revision at a watcher: how soon other nodes see a code change.
func BenchmarkWatchDelivery(b *testing.B) {
	benchClusters(b, func(b *testing.B, s *etcd.Store) {
		events := s.Watch(b.Context(), "w/", 0)
		for b.Loop() {
			rev, err := s.Commit(b.Context(), nil, []store.Op{store.Put("w/k", []byte("v"))})
			if err != nil {
				b.Fatal(err)
			}
			select {
			case ev := <-events:
				if ev.Revision != rev {
					b.Fatalf("event of revision %d, want %d", ev.Revision, rev)
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("no event for revision %d within 10s", rev)
			}
		}
	})
}

// BenchmarkCommitCompares measures a commit of one key guarded by reads of keys with empty
// values (as the membership keys of a db.list page): one range compare over 1000 or 128 keys,
// and one compare per key for as many keys as etcd allows by default (128).
func BenchmarkCommitCompares(b *testing.B) {
	benchClusters(b, func(b *testing.B, s *etcd.Store) {
		const keys = 1000
		for lo := 0; lo < keys; lo += 100 {
			var ops []store.Op
			for i := lo; i < lo+100; i++ {
				ops = append(ops, store.Put(fmt.Sprintf("r/%06d", i), nil))
			}
			if _, err := s.Commit(b.Context(), nil, ops); err != nil {
				b.Fatalf("fill: %v", err)
			}
		}
		res, err := s.Range(b.Context(), "r/", store.RangeOptions{Limit: etcd.DefaultMaxTxnOps})
		if err != nil {
			b.Fatalf("Range: %v", err)
		}
		perKey := make([]store.Compare, len(res.KVs))
		for i, kv := range res.KVs {
			perKey[i] = store.Unchanged(kv.Key, &kv)
		}
		for _, bc := range []struct {
			name     string
			compares []store.Compare
		}{
			{"range-of-1000", []store.Compare{store.UnmodifiedSince("r/", res.Revision)}},
			{"range-of-128", []store.Compare{store.RangeUnmodifiedSince(perKey[0].Key, store.KeyAfter(perKey[len(perKey)-1].Key), res.Revision)}},
			{"per-key-128", perKey},
		} {
			b.Run(bc.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Commit(b.Context(), bc.compares, []store.Op{store.Put("w", nil)}); err != nil {
						b.Fatalf("Commit: %v", err)
					}
				}
			})
		}
	})
}
