package bolt

import (
	"fmt"
	"os"
	"path/filepath"

	bbolt "go.etcd.io/bbolt"
)

// rewriteTxBytes bounds the bytes one transaction of a rewrite copies.
const rewriteTxBytes = 64 << 20

// Rewrite copies the store file at path into a new file holding only its live pages, and
// puts it in place of the old one; it returns the sizes before and after. A bbolt file never
// shrinks by itself: pages freed by compaction are reused, not returned, so a file that once
// held much history keeps its size until rewritten. The store must not be open elsewhere
// (Rewrite holds its lock, failing with ErrLocked otherwise); the file is checked as Open
// checks it first. The old file stays whole until the new one is complete and synced, and
// then is replaced in one rename: a crash leaves one or the other, never a mix.
func Rewrite(path string, opts Options) (before, after int64, err error) {
	s, err := Open(path, opts)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".rewrite")
	os.Remove(tmp)
	dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{FreelistType: bbolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return 0, 0, fmt.Errorf("store/bolt: rewrite %s: %w", path, err)
	}
	err = bbolt.Compact(dst, s.db, rewriteTxBytes)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("store/bolt: rewrite %s: %w", path, err)
	}
	syncFile(filepath.Dir(path))
	newInfo, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	return info.Size(), newInfo.Size(), nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
