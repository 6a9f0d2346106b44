package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// TestGrowth_PushesOfOneChangingModule pushes one module changed every time, with the
// node's history retention running (a Retainer with a window of a few pushes) and its
// bytecode cache pruned to a bound, as serve runs them: the store grows by what every
// commit keeps (code history is kept whole: its commit, tree and blob) and no more than
// perPushBound bytes a push, and the cache stays within its bound.
func TestGrowth_PushesOfOneChangingModule(t *testing.T) {
	const (
		pushes       = 300
		perPushBound = 16 << 10 // bytes of store file a push may add
		cacheBound   = 64 << 10
	)
	dir := t.TempDir()
	path := filepath.Join(dir, "starbase.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cacheDir := filepath.Join(dir, "cache")
	n := servertest.Start(t, server.Config{Store: st, CacheDir: cacheDir})
	clock := time.Unix(1e9, 0)
	r := &store.Retainer{Store: st, Window: 10 * time.Second, Now: func() time.Time { return clock }}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var first int64
	for i := range pushes {
		res := n.Push(t, map[string]string{
			"app.star":   "load(\"lib/v.star\", \"V\")\ndef index(req):\n    return V\nroutes = {\"GET /{$}\": index}\n",
			"lib/v.star": fmt.Sprintf("V = \"version %d\"\n", i),
		})
		n.WaitCommit(t, res.Commit)
		clock = clock.Add(time.Second)
		if _, err := r.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if _, _, err := runtime.PruneCache(cacheDir, cacheBound); err != nil {
				t.Fatal(err)
			}
		}
		if i == 9 {
			first = size()
		}
	}
	if _, _, err := runtime.PruneCache(cacheDir, cacheBound); err != nil {
		t.Fatal(err)
	}
	last := size()
	perPush := (last - first) / (pushes - 10)
	var cache int64
	entries, _ := os.ReadDir(cacheDir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			cache += fi.Size()
		}
	}
	t.Logf("store file %d bytes after 10 pushes, %d after %d: %d bytes a push; cache %d bytes in %d files",
		first, last, pushes, perPush, cache, len(entries))
	if perPush > perPushBound {
		t.Errorf("each push adds %d bytes of store file, more than %d", perPush, perPushBound)
	}
	if cache > cacheBound {
		t.Errorf("the bytecode cache holds %d bytes after pruning, more than its bound %d", cache, cacheBound)
	}
}
