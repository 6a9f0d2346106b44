package runtime_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/starbase/starbase/runtime"
)

func TestPruneCache_RemovesTheLeastRecentlyUsedFilesBeyondTheBound(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	// f0 is the oldest; each file is 1000 bytes.
	for i, name := range []string{"f0.starc", "f1.starc", "f2.starc", "f3.starc"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, make([]byte, 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(path, at, at)
	}
	os.WriteFile(filepath.Join(dir, "other.txt"), make([]byte, 5000), 0o600)

	removed, left, err := runtime.PruneCache(dir, 2500)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2 || left != 2000 {
		t.Errorf("PruneCache(2500) removed %d files leaving %d bytes, want 2 files removed, 2000 bytes left", removed, left)
	}
	for name, want := range map[string]bool{"f0.starc": false, "f1.starc": false, "f2.starc": true, "f3.starc": true, "other.txt": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s kept = %v, want %v", name, got, want)
		}
	}
}

// TestLoader_DiskHitMarksTheCacheFileUsed: a module loaded from the disk cache has its file
// marked used, so PruneCache keeps it over files not used since.
func TestLoader_DiskHitMarksTheCacheFileUsed(t *testing.T) {
	dir := t.TempDir()
	snap := snapshotOf(t, map[string]string{"app.star": "X = 1\n"})
	mustLoad(t, newLoader(t, runtime.Options{CacheDir: dir}), snap, "app.star")
	entries, _ := filepath.Glob(filepath.Join(dir, "*.starc"))
	if len(entries) != 1 {
		t.Fatalf("cache files after a load: %v", entries)
	}
	old := time.Now().Add(-24 * time.Hour)
	os.Chtimes(entries[0], old, old)
	mustLoad(t, newLoader(t, runtime.Options{CacheDir: dir}), snap, "app.star") // a disk hit
	info, err := os.Stat(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	if !info.ModTime().After(old.Add(time.Hour)) {
		t.Errorf("cache file time after a disk hit = %v, want it marked used now", info.ModTime())
	}
}
