package runtime

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// PruneCache bounds the bytecode cache in dir (Options.CacheDir) to maxBytes: it removes
// the cache files used least recently (a Loader marks a file used when it reads it, by its
// modification time) until the rest fit. It returns how many files it removed and the bytes
// left. A file removed while a Loader reads it is compiled again, never trusted half-read:
// pruning is safe while loaders run. Other files in dir are left alone.
func PruneCache(dir string, maxBytes int64) (removed int, left int64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	type file struct {
		path string
		size int64
		used time.Time
	}
	var files []file
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".starc") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		files = append(files, file{filepath.Join(dir, e.Name()), info.Size(), info.ModTime()})
		left += info.Size()
	}
	// Newest first: the files kept are a prefix.
	slices.SortFunc(files, func(a, b file) int { return b.used.Compare(a.used) })
	var kept int64
	for _, f := range files {
		if kept+f.size <= maxBytes {
			kept += f.size
			continue
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, left, err
		}
		removed++
		left -= f.size
	}
	return removed, left, nil
}

// touch marks a cache file used now, for PruneCache's order. A failure only makes the file
// look older.
func touch(file string) {
	now := time.Now()
	os.Chtimes(file, now, now)
}
