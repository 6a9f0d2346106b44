package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// growth is what pushGrowth measured.
type growth struct {
	// file is the bolt file's size after each push.
	file []int64
	// cache is the bytecode cache's bytes and files at the end, after pruning.
	cache, cacheFiles int64
	// kept is the number of commits main's log lists at the end.
	kept int
	// objects is the bytes of keys and values of code objects (commits, trees, blobs) after
	// each push; records those of the audit log and of the records of dropped commits.
	objects, records []int64
}

// liveBytes returns the bytes of the keys and values under each prefix.
func liveBytes(tb testing.TB, st store.Store, prefixes ...string) int64 {
	var n int64
	for _, prefix := range prefixes {
		opts := store.RangeOptions{Limit: 500}
		for {
			res, err := st.Range(context.Background(), prefix, opts)
			if err != nil {
				tb.Fatal(err)
			}
			for _, kv := range res.KVs {
				n += int64(len(kv.Key) + len(kv.Value))
			}
			if !res.More {
				break
			}
			opts.Revision, opts.After = res.Revision, res.KVs[len(res.KVs)-1].Key
		}
	}
	return n
}

const growthCacheBound = 64 << 10

// pushGrowth pushes one module changed every time, pushes times, with the node's history
// retention running as serve runs it (a Retainer whose window holds 10 pushes: the clock
// moves a second a push), the bytecode cache pruned to growthCacheBound every 50 pushes,
// and, when keep is set, the node's collection of old code after every push
// (--keep-commits keep). The live bytes of objects and records are measured every 50 pushes.
func pushGrowth(tb testing.TB, pushes, keep int) growth {
	dir := tb.TempDir()
	path := filepath.Join(dir, "starbase.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	cacheDir := filepath.Join(dir, "cache")
	n := servertest.Start(tb, server.Config{Store: st, CacheDir: cacheDir, CodeRetention: code.Retention{KeepCommits: keep}})
	clock := time.Unix(1e9, 0)
	r := &store.Retainer{Store: st, Window: 10 * time.Second, Now: func() time.Time { return clock }}
	var g growth
	for i := range pushes {
		res := n.Push(tb, map[string]string{
			"app.star":   "load(\"lib/v.star\", \"V\")\ndef index(req):\n    return V\nroutes = {\"GET /{$}\": index}\n",
			"lib/v.star": fmt.Sprintf("V = \"version %d\"\n", i),
		})
		n.WaitCommit(tb, res.Commit)
		clock = clock.Add(time.Second)
		if _, err := r.Tick(context.Background()); err != nil {
			tb.Fatal(err)
		}
		if _, err := n.Server.CollectCode(context.Background()); err != nil {
			tb.Fatal(err)
		}
		if i%50 == 0 {
			if _, _, err := runtime.PruneCache(cacheDir, growthCacheBound); err != nil {
				tb.Fatal(err)
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			tb.Fatal(err)
		}
		g.file = append(g.file, fi.Size())
		if i%50 == 49 {
			g.objects = append(g.objects, liveBytes(tb, st, code.CommitPrefix, code.TreePrefix, code.BlobPrefix))
			g.records = append(g.records, liveBytes(tb, st, auth.AuditPrefix, code.DroppedPrefix))
		}
	}
	if _, _, err := runtime.PruneCache(cacheDir, growthCacheBound); err != nil {
		tb.Fatal(err)
	}
	entries, _ := os.ReadDir(cacheDir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			g.cache += fi.Size()
			g.cacheFiles++
		}
	}
	repo := n.Server.Repo()
	main, _, err := repo.Ref(context.Background(), code.DefaultBranch)
	if err != nil {
		tb.Fatal(err)
	}
	log, err := repo.Log(context.Background(), main, 0)
	if err != nil {
		tb.Fatal(err)
	}
	g.kept = len(log)
	return g
}

// TestGrowth_PushesOfOneChangingModule: with code history kept whole (the default), the
// store grows by what every commit keeps (its commit, tree and blob) and no more than
// perPushBound bytes a push, and the cache stays within its bound.
func TestGrowth_PushesOfOneChangingModule(t *testing.T) {
	const (
		pushes       = 300
		perPushBound = 16 << 10 // bytes of store file a push may add
	)
	g := pushGrowth(t, pushes, 0)
	first, last := g.file[9], g.file[pushes-1]
	perPush := (last - first) / (pushes - 10)
	t.Logf("store file %d bytes after 10 pushes, %d after %d: %d bytes a push; cache %d bytes in %d files",
		first, last, pushes, perPush, g.cache, g.cacheFiles)
	if perPush > perPushBound {
		t.Errorf("each push adds %d bytes of store file, more than %d", perPush, perPushBound)
	}
	if g.cache > growthCacheBound {
		t.Errorf("the bytecode cache holds %d bytes after pruning, more than its bound %d", g.cache, growthCacheBound)
	}
	if g.kept != pushes {
		t.Errorf("main's log lists %d commits, want all %d", g.kept, pushes)
	}
}

// TestGrowth_KeepCommitsBoundsTheStore: with --keep-commits 10 the code objects stop
// growing: their bytes after 300 pushes are those after 50 (within 10%), and main keeps 10
// commits plus those the retained history (10 pushes) protects. What still grows with every
// push is the audit record of the push and the record of the commit it dropped, until
// --audit-max-age: at most recordBound bytes a push.
func TestGrowth_KeepCommitsBoundsTheStore(t *testing.T) {
	const pushes, keep, recordBound = 300, 10, 2 << 10
	g := pushGrowth(t, pushes, keep)
	early, last := g.objects[0], g.objects[len(g.objects)-1]
	perPush := (g.records[len(g.records)-1] - g.records[0]) / (pushes - 50)
	t.Logf("code objects %d bytes after 50 pushes, %d after %d; records %d bytes a push; file %d bytes after 50 pushes, %d after %d; %d commits kept; cache %d bytes in %d files",
		early, last, pushes, perPush, g.file[49], g.file[pushes-1], pushes, g.kept, g.cache, g.cacheFiles)
	if last > early+early/10 {
		t.Errorf("the code objects grew from %d bytes after 50 pushes to %d after %d with --keep-commits %d", early, last, pushes, keep)
	}
	if perPush > recordBound {
		t.Errorf("the records of a push take %d bytes, more than %d", perPush, recordBound)
	}
	if g.kept < keep || g.kept > keep+12 {
		t.Errorf("main's log lists %d commits; want %d and those main named within the retained history (at most 12 more)", g.kept, keep)
	}
	if g.cache > growthCacheBound {
		t.Errorf("the bytecode cache holds %d bytes after pruning, more than its bound %d", g.cache, growthCacheBound)
	}
}

// BenchmarkGrowth_5000Pushes reports the store file and the bytecode cache after 5,000
// pushes of one changing module, with every commit kept (the default) and with
// --keep-commits 10. Run it once: go test -run '^$' -bench Growth_5000 -benchtime 1x ./server
func BenchmarkGrowth_5000Pushes(b *testing.B) {
	for _, keep := range []int{0, 10} {
		b.Run(fmt.Sprintf("keep=%d", keep), func(b *testing.B) {
			for range b.N {
				g := pushGrowth(b, 5000, keep)
				b.ReportMetric(float64(g.file[999]), "file-bytes@1000")
				b.ReportMetric(float64(g.file[4999]), "file-bytes@5000")
				b.ReportMetric(float64(g.cache), "cache-bytes")
				b.ReportMetric(float64(g.kept), "commits-kept")
				b.ReportMetric(float64(g.objects[len(g.objects)-1]), "object-bytes@5000")
				b.ReportMetric(float64(g.records[len(g.records)-1]), "record-bytes@5000")
			}
		})
	}
}
