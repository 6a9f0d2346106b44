package bolt_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// fill commits keys p/000000.. with 100-byte values, in commits of 1000 keys, then
// overwrites every key once so that old revisions differ from the latest one. It returns the
// revision after the first pass.
func fill(b *testing.B, s *bolt.Store, keys int) int64 {
	b.Helper()
	value := make([]byte, 100)
	var first int64
	for pass := range 2 {
		for lo := 0; lo < keys; lo += 1000 {
			var ops []store.Op
			for i := lo; i < min(lo+1000, keys); i++ {
				ops = append(ops, store.Put(fmt.Sprintf("p/%06d", i), value))
			}
			rev, err := s.Commit(b.Context(), nil, ops)
			if err != nil {
				b.Fatalf("fill: %v", err)
			}
			if pass == 0 {
				first = rev
			}
		}
	}
	return first
}

func BenchmarkGet(b *testing.B) {
	s := openTemp(b)
	const keys = 10000
	old := fill(b, s, keys)
	for _, bc := range []struct {
		name string
		rev  int64
	}{{"rev=latest", 0}, {"rev=old", old}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				kv, _, err := s.Get(b.Context(), fmt.Sprintf("p/%06d", i%keys), bc.rev)
				if err != nil || kv == nil {
					b.Fatalf("Get: (%v, %v)", kv, err)
				}
				i += 7919
			}
		})
	}
}

func BenchmarkRange(b *testing.B) {
	s := openTemp(b)
	old := fill(b, s, 10000)
	for _, bc := range []struct {
		name string
		rev  int64
	}{{"rev=latest", 0}, {"rev=old", old}} {
		for _, limit := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/keys=%d", bc.name, limit), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					res, err := s.Range(b.Context(), "p/", store.RangeOptions{Revision: bc.rev, After: "p/005000", Limit: limit})
					if err != nil || len(res.KVs) != limit {
						b.Fatalf("Range: %d keys, %v", len(res.KVs), err)
					}
				}
			})
		}
	}
}

// BenchmarkRange_KeysOnlyOfLargeValues lists 100 keys whose values are 256 KiB each (as
// the collection lists blobs), with and without their values, at the latest revision and
// at an old one.
func BenchmarkRange_KeysOnlyOfLargeValues(b *testing.B) {
	s := openTemp(b)
	value := make([]byte, 256<<10)
	var old int64
	for pass := range 2 {
		for lo := 0; lo < 100; lo += 10 {
			var ops []store.Op
			for i := lo; i < lo+10; i++ {
				ops = append(ops, store.Put(fmt.Sprintf("p/%06d", i), value))
			}
			rev, err := s.Commit(b.Context(), nil, ops)
			if err != nil {
				b.Fatal(err)
			}
			if pass == 0 {
				old = rev
			}
		}
	}
	for _, bc := range []struct {
		name string
		rev  int64
	}{{"rev=latest", 0}, {"rev=old", old}} {
		for _, keysOnly := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/keysOnly=%v", bc.name, keysOnly), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					res, err := s.Range(b.Context(), "p/", store.RangeOptions{Revision: bc.rev, KeysOnly: keysOnly})
					if err != nil || len(res.KVs) != 100 {
						b.Fatalf("Range: %d keys, %v", len(res.KVs), err)
					}
				}
			})
		}
	}
}

func BenchmarkCommit(b *testing.B) {
	for _, ops := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("ops=%d", ops), func(b *testing.B) {
			s := openTemp(b)
			value := make([]byte, 100)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				batch := make([]store.Op, ops)
				for j := range batch {
					batch[j] = store.Put(fmt.Sprintf("k/%06d", (i+j)%10000), value)
				}
				i += ops
				if _, err := s.Commit(b.Context(), nil, batch); err != nil {
					b.Fatalf("Commit: %v", err)
				}
			}
		})
	}
}

// BenchmarkWatchDelivery measures one commit of one key and its delivery to watchers of
// its prefix, while a watcher of another prefix also runs.
func BenchmarkWatchDelivery(b *testing.B) {
	for _, watchers := range []int{1, 10} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			s := openTemp(b)
			s.Watch(b.Context(), "other/", 0)
			var chans []<-chan store.Event
			for range watchers {
				chans = append(chans, s.Watch(b.Context(), "w/", 0))
			}
			value := make([]byte, 100)
			b.ReportAllocs()
			for b.Loop() {
				rev, err := s.Commit(b.Context(), nil, []store.Op{store.Put("w/k", value)})
				if err != nil {
					b.Fatalf("Commit: %v", err)
				}
				for _, ch := range chans {
					if ev := <-ch; ev.Revision != rev {
						b.Fatalf("event of revision %d, want %d (err %v)", ev.Revision, rev, ev.Err)
					}
				}
			}
		})
	}
}

// BenchmarkCommitCompares measures a commit of one key guarded by the read of 1000 keys (with
// empty values, as the membership keys of a db.list page): one range compare, or one compare
// per key.
func BenchmarkCommitCompares(b *testing.B) {
	s := openTemp(b)
	const keys = 1000
	var ops []store.Op
	for i := range keys {
		ops = append(ops, store.Put(fmt.Sprintf("r/%06d", i), nil))
	}
	rev, err := s.Commit(b.Context(), nil, ops)
	if err != nil {
		b.Fatalf("fill: %v", err)
	}
	perKey := make([]store.Compare, keys)
	for i := range perKey {
		perKey[i] = store.Compare{Key: fmt.Sprintf("r/%06d", i), ModRevision: rev}
	}
	for _, bc := range []struct {
		name     string
		compares []store.Compare
	}{
		{"range", []store.Compare{store.UnmodifiedSince("r/", rev)}},
		{"per-key", perKey},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Commit(b.Context(), bc.compares, []store.Op{store.Put("w", nil)}); err != nil {
					b.Fatalf("Commit: %v", err)
				}
			}
		})
	}
}

// BenchmarkOpen measures what Open costs on a file of 342 MiB (200,000 keys written twice,
// 300-byte values, each key with its bucket of versions), against bbolt's own open, which
// walks every page to rebuild its free page list: Open adds its inspection (every key read
// once in key order, always done) and, with Verify, bbolt's consistency check of every page.
// All three grow with the file.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "starbase.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 300)
	for pass := range 2 {
		for lo := 0; lo < 200000; lo += 5000 {
			var ops []store.Op
			for i := lo; i < lo+5000; i++ {
				ops = append(ops, store.Put(fmt.Sprintf("p/%06d", i), value))
			}
			if _, err := s.Commit(b.Context(), nil, ops); err != nil {
				b.Fatalf("pass %d: %v", pass, err)
			}
		}
	}
	s.Close()
	info, _ := os.Stat(path)
	mib := float64(info.Size()) / (1 << 20)
	// The baseline is bbolt's own open with the options Open uses, which rebuilds the free
	// page list by walking every page.
	b.Run("bbolt-only", func(b *testing.B) {
		for b.Loop() {
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{FreelistType: bbolt.FreelistMapType, NoFreelistSync: true})
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
		b.ReportMetric(mib, "MiB")
	})
	for _, verify := range []bool{false, true} {
		b.Run(fmt.Sprintf("verify=%v", verify), func(b *testing.B) {
			for b.Loop() {
				s, err := bolt.Open(path, bolt.Options{Verify: verify})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(mib, "MiB")
		})
	}
}
