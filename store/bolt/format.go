package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/starbase/starbase/store"
)

// FormatVersion is the version of the file layout (see the package documentation) that this
// package writes, and the newest it reads. A file records its version in the meta bucket
// under "format" as "starbase-bolt <version>"; Open refuses a file of a newer version.
//
// Version 1 is the layout described in the package documentation. Files written before the
// marker existed have the same layout without the marker: Open recognises them by their
// buckets and adds it.
const FormatVersion = 1

// formatMagic starts the value of the format marker.
const formatMagic = "starbase-bolt"

var formatKey = []byte("format")

func formatMarker(version int) []byte { return fmt.Appendf(nil, "%s %d", formatMagic, version) }

// parseFormat returns the version of a format marker, or an error when it is not one.
func parseFormat(b []byte) (int, error) {
	magic, v, ok := strings.Cut(string(b), " ")
	version, err := strconv.Atoi(v)
	if !ok || magic != formatMagic || err != nil || version < 1 {
		return 0, fmt.Errorf("its format marker %q is not one Starbase writes", b)
	}
	return version, nil
}

// checkFormat reads the marker of an open file. It returns marked=false for a file of the
// layout that predates the marker (every bucket of the layout, the current revision in meta),
// and an error wrapping store.ErrFormat for anything else: another program's bbolt file or a
// newer format.
func checkFormat(tx *bbolt.Tx, path string) (marked bool, err error) {
	meta := tx.Bucket(metaBucket)
	if meta != nil {
		if b := meta.Get(formatKey); b != nil {
			version, err := parseFormat(b)
			if err != nil {
				return false, fmt.Errorf("%w: %s: %v", store.ErrFormat, path, err)
			}
			if version > FormatVersion {
				return false, fmt.Errorf("%w: %s is a Starbase store of format %d, and this starbase reads formats up to %d: run a newer starbase (starbase --version shows the formats a binary reads)",
					store.ErrFormat, path, version, FormatVersion)
			}
			return true, nil
		}
	}
	var names []string
	if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if len(names) < 5 {
			names = append(names, strconv.Quote(string(name)))
		}
		return nil
	}); err != nil {
		return false, err
	}
	legacy := meta != nil && len(meta.Get(revisionKey)) == 8
	for _, name := range [][]byte{latestBucket, versionsBucket, revisionsBucket} {
		legacy = legacy && tx.Bucket(name) != nil
	}
	if legacy {
		return false, nil
	}
	what := "holds no buckets"
	if len(names) > 0 {
		what = "holds the buckets " + strings.Join(names, ", ")
	}
	return false, fmt.Errorf("%w: %s is a bbolt database of another program (it has no Starbase format marker and %s): choose another --data directory",
		store.ErrFormat, path, what)
}

// create makes a new store file at path: it initializes one under a temporary name beside
// it and links it into place only when complete, so a file at path is always a whole store
// (a crash while creating leaves a temporary file, never a half-made store at path). When
// another process creates path first, its file is kept.
func create(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("store/bolt: create %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	db, err := bbolt.Open(name, 0o600, &bbolt.Options{FreelistType: bbolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return fmt.Errorf("store/bolt: create %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := initialize(tx, true)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store/bolt: create %s: %w", path, err)
	}
	if err := os.Link(name, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store/bolt: create %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// bbolt's file header: two meta pages, each a 16-byte page header then the meta.
const (
	boltMagic      = 0xED0CDAED
	pageHeaderSize = 16
	metaSize       = 64 // up to and with the checksum
)

// checkHeader reads the two meta pages of the file at path (size bytes long) before bbolt
// maps it, so that the common damages get a precise error instead of a fault: a file that is
// not a bbolt database, two damaged meta pages, or a file shorter than its pages (truncated).
func checkHeader(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	defer f.Close()
	first := make([]byte, pageHeaderSize+metaSize)
	if _, err := io.ReadFull(f, first); err != nil {
		return fmt.Errorf("%w: %s has %d bytes, too short for a bbolt database: it is not a Starbase store, or it was truncated", store.ErrFormat, path, size)
	}
	type meta struct {
		valid    bool
		pageSize uint32
		pgid     uint64
		txid     uint64
	}
	parse := func(b []byte) meta {
		m := b[pageHeaderSize:]
		le := binary.LittleEndian
		h := fnv.New64a()
		h.Write(m[:56])
		return meta{
			valid:    le.Uint32(m) == boltMagic && h.Sum64() == le.Uint64(m[56:]),
			pageSize: le.Uint32(m[8:]),
			pgid:     le.Uint64(m[40:]),
			txid:     le.Uint64(m[48:]),
		}
	}
	metas := []meta{parse(first)}
	if binary.LittleEndian.Uint32(first[pageHeaderSize:]) != boltMagic {
		// The second meta page is where the first says, or at the usual page size.
		ps := int64(os.Getpagesize())
		second := make([]byte, len(first))
		if _, err := f.ReadAt(second, ps); err != nil || binary.LittleEndian.Uint32(second[pageHeaderSize:]) != boltMagic {
			return fmt.Errorf("%w: %s is not a bbolt database (no bbolt header): it is not a Starbase store; choose another --data directory", store.ErrFormat, path)
		}
		metas = append(metas, parse(second))
	} else if ps := metas[0].pageSize; ps >= 1024 && ps <= 1<<20 {
		second := make([]byte, len(first))
		if _, err := f.ReadAt(second, int64(ps)); err == nil {
			metas = append(metas, parse(second))
		}
	}
	var best *meta
	for i := range metas {
		if metas[i].valid && (best == nil || metas[i].txid > best.txid) {
			best = &metas[i]
		}
	}
	if best == nil {
		return fmt.Errorf("%w: %s: both bbolt meta pages are damaged (bad checksum); restore the store from a backup", store.ErrCorrupt, path)
	}
	if need := int64(best.pgid) * int64(best.pageSize); need > size {
		return fmt.Errorf("%w: %s is truncated: it has %d bytes but its pages reach %d bytes; restore the store from a backup", store.ErrCorrupt, path, size, need)
	}
	return nil
}

// guard turns a panic of bbolt reading a damaged file (an assertion on a page, or a fault on
// memory past the end of a truncated file, made recoverable by debug.SetPanicOnFault) into
// an error naming the file. It must be deferred directly, after the fault setting:
//
//	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
//	defer guard(path, &err)
func guard(path string, err *error) {
	if r := recover(); r != nil {
		*err = corruptError(path, r)
	}
}

func corruptError(path string, panicked any) error {
	return fmt.Errorf("%w: %s: bbolt failed reading it (%v): the file is damaged; restore it from a backup", store.ErrCorrupt, path, panicked)
}

// openDB opens the bbolt database at path, turning a panic on damaged pages into an error.
func openDB(path string, opts *bbolt.Options) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(path, &err)
	return bbolt.Open(path, 0o600, opts)
}

// inspect opens the file read-only and, before anything writes to it, checks its format
// (see checkFormat) and reads every bucket and key of it in key order, so that a damaged
// page is an error here rather than a crash later: when bbolt opens a file for writing it
// rebuilds its free page list by walking every page in a goroutine of its own, where a
// damaged page is a panic no caller can recover. It returns whether the file has the format
// marker.
func inspect(path string, timeout time.Duration) (marked bool, err error) {
	db, err := openDB(path, &bbolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return false, err
	}
	defer db.Close()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(path, &err)
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		if marked, err = checkFormat(tx, path); err != nil {
			return err
		}
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return walkBucket(b, string(name), 1)
		})
	})
	return marked, err
}

// maxBucketDepth bounds the nesting of buckets inspect follows; Starbase's layout nests two
// deep.
const maxBucketDepth = 8

// walkBucket reads every key of b and of the buckets in it, requiring keys in strictly
// increasing order.
func walkBucket(b *bbolt.Bucket, name string, depth int) error {
	if depth > maxBucketDepth {
		return fmt.Errorf("%w: bucket %q is nested more than %d deep, which Starbase never writes", store.ErrFormat, name, maxBucketDepth)
	}
	var prev []byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("%w: bucket %q: key %q after %q is out of order", store.ErrCorrupt, name, k, prev)
		}
		prev = k
		if v == nil {
			if child := b.Bucket(k); child != nil {
				if err := walkBucket(child, name+"/"+string(k), depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// verify runs bbolt's consistency check over every page of the file (free pages included)
// and returns the first problems it finds (at most 5), wrapped in store.ErrCorrupt.
func verify(db *bbolt.DB, path string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(path, &err)
	return db.View(func(tx *bbolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err.Error())
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: %s failed its consistency check: %s; restore it from a backup", store.ErrCorrupt, path, strings.Join(problems, "; "))
		}
		return nil
	})
}
