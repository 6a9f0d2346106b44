package bolt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// refused opens path, requires an error wrapping want whose text names the file and holds
// every one of words, and requires the file to be unchanged.
func refused(t *testing.T, path string, opts bolt.Options, want error, words ...string) {
	t.Helper()
	before, _ := os.ReadFile(path)
	s, err := bolt.Open(path, opts)
	if err == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded, want an error wrapping %v", path, want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Open(%s) = %v, want an error wrapping %v", path, err, want)
	}
	for _, w := range append(words, path) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open(%s) error %q does not say %q", path, err, w)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Errorf("Open(%s) changed the refused file", path)
	}
}

func TestOpen_RefusesAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "starbase.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, path, bolt.Options{}, store.ErrFormat, "empty file")
}

func TestOpen_RefusesAFileThatIsNotBbolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "starbase.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, path, bolt.Options{}, store.ErrFormat, "not a bbolt database")
}

func TestOpen_RefusesAnotherProgramsBboltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("w1"), []byte("blue"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	refused(t, path, bolt.Options{}, store.ErrFormat, "another program", `"widgets"`)
}

func TestOpen_RefusesANewerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "starbase.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("format"), fmt.Appendf(nil, "starbase-bolt %d", bolt.FormatVersion+1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	refused(t, path, bolt.Options{}, store.ErrFormat, fmt.Sprintf("format %d", bolt.FormatVersion+1), "newer starbase")
}

// TestOpen_AdoptsAStoreWrittenBeforeTheMarker: files of the same layout written before the
// format marker existed open with their data, and get the marker.
func TestOpen_AdoptsAStoreWrittenBeforeTheMarker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "starbase.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k", []byte("v"))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("format")) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open of a store without the marker: %v", err)
	}
	kv, _, err := s.Get(t.Context(), "k", 0)
	if err != nil || kv == nil || string(kv.Value) != "v" || kv.ModRevision != rev {
		t.Errorf("Get(k) = %+v, %v; want v at revision %d", kv, err, rev)
	}
	s.Close()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		if got := string(tx.Bucket([]byte("meta")).Get([]byte("format"))); got != fmt.Sprintf("starbase-bolt %d", bolt.FormatVersion) {
			t.Errorf("format marker after adoption = %q", got)
		}
		return nil
	})
}

// filledStore makes a closed store file with enough data for many pages and returns its path.
func filledStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "starbase.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("x"), 1000)
	for i := range 40 {
		var ops []store.Op
		for j := range 50 {
			ops = append(ops, store.Put(fmt.Sprintf("data/%03d/%03d", i, j), value))
		}
		if _, err := s.Commit(t.Context(), nil, ops); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpen_RefusesATruncatedFile(t *testing.T) {
	path := filledStore(t)
	info, _ := os.Stat(path)
	if err := os.Truncate(path, info.Size()/2); err != nil {
		t.Fatal(err)
	}
	refused(t, path, bolt.Options{}, store.ErrCorrupt, "truncated", fmt.Sprint(info.Size()/2))
}

func TestOpen_RefusesDamagedMetaPages(t *testing.T) {
	path := filledStore(t)
	b, _ := os.ReadFile(path)
	pageSize := int(binary.LittleEndian.Uint32(b[16+8:]))
	for _, at := range []int{16 + 56, pageSize + 16 + 56} { // both checksums
		b[at] ^= 0xff
	}
	os.WriteFile(path, b, 0o600)
	refused(t, path, bolt.Options{}, store.ErrCorrupt, "meta pages")
}

// zeroPages overwrites pages [from, to) of the file at path with zeros and returns the page
// count.
func zeroPages(t *testing.T, path string, from, to int) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(binary.LittleEndian.Uint32(b[16+8:]))
	pages := len(b) / pageSize
	to = min(to, pages)
	clear(b[from*pageSize : to*pageSize])
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return pages
}

func TestOpen_RefusesZeroedPages(t *testing.T) {
	path := filledStore(t)
	zeroPages(t, path, 2, 1<<30) // everything but the meta pages
	refused(t, path, bolt.Options{}, store.ErrCorrupt, "damaged")
}

func TestOpen_RefusesZeroedPagesInTheMiddle(t *testing.T) {
	path := filledStore(t)
	pages := zeroPages(t, path, 0, 0)
	zeroPages(t, path, pages/3, pages/3+4)
	refused(t, path, bolt.Options{}, store.ErrCorrupt, "damaged", "Page expected")
	refused(t, path, bolt.Options{Verify: true}, store.ErrCorrupt, "damaged")
}

// TestStore_PagesDamagedWhileOpenAreAnErrorNotAPanic: a page damaged under a running store
// (the file is mapped shared, so the damage shows at once) makes the reads that meet it fail
// with ErrCorrupt naming the file; the process goes on.
func TestStore_PagesDamagedWhileOpenAreAnErrorNotAPanic(t *testing.T) {
	path := filledStore(t)
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Stat()
	zeros := make([]byte, info.Size()/2)
	if _, err := f.WriteAt(zeros, info.Size()/4); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = s.Range(t.Context(), "", store.RangeOptions{})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("Range over zeroed pages = %v, want an error wrapping ErrCorrupt naming %s", err, path)
	}
	_, err = s.Commit(t.Context(), nil, []store.Op{store.Put("data/020/001", []byte("y"))})
	if !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Commit over zeroed pages = %v, want an error wrapping ErrCorrupt", err)
	}
}

func TestOpen_CreatesNoFileBesideTheStore(t *testing.T) {
	dir := t.TempDir()
	s, err := bolt.Open(filepath.Join(dir, "starbase.db"), bolt.Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory after creating a store holds %d entries, want only starbase.db", len(entries))
	}
}
