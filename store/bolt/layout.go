package bolt

import (
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// Bucket and meta key names; see the package documentation for the layout.
var (
	metaBucket      = []byte("meta")
	latestBucket    = []byte("latest")
	versionsBucket  = []byte("versions")
	revisionsBucket = []byte("revisions")

	revisionKey  = []byte("revision")
	compactedKey = []byte("compacted")
)

// Version kinds, the first byte of a version record.
const (
	kindTombstone byte = 0
	kindPut       byte = 1
)

// initialize creates the buckets of a new file (at revision 1) and, when mark is set, writes
// the format marker; it returns the current revision of the file.
func initialize(tx *bbolt.Tx, mark bool) (int64, error) {
	for _, name := range [][]byte{metaBucket, latestBucket, versionsBucket, revisionsBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return 0, fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(metaBucket)
	if mark {
		if err := meta.Put(formatKey, formatMarker(FormatVersion)); err != nil {
			return 0, err
		}
	}
	if meta.Get(revisionKey) == nil {
		if err := meta.Put(revisionKey, encodeRevision(1)); err != nil {
			return 0, err
		}
		if err := meta.Put(compactedKey, encodeRevision(0)); err != nil {
			return 0, err
		}
	}
	rev, _ := readMeta(tx)
	if rev < 1 {
		return 0, fmt.Errorf("corrupt meta bucket: revision %d", rev)
	}
	return rev, nil
}

// readMeta returns the current revision and the compaction point.
func readMeta(tx *bbolt.Tx) (rev, compacted int64) {
	meta := tx.Bucket(metaBucket)
	return decodeRevision(meta.Get(revisionKey)), decodeRevision(meta.Get(compactedKey))
}

func encodeRevision(rev int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(rev))
}

func decodeRevision(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// encodeLatest encodes a latest-bucket value.
func encodeLatest(createRev, modRev int64, value []byte) []byte {
	b := make([]byte, 16, 16+len(value))
	binary.BigEndian.PutUint64(b, uint64(createRev))
	binary.BigEndian.PutUint64(b[8:], uint64(modRev))
	return append(b, value...)
}

// decodeLatest decodes a latest-bucket value; value aliases b.
func decodeLatest(b []byte) (createRev, modRev int64, value []byte, err error) {
	if len(b) < 16 {
		return 0, 0, nil, fmt.Errorf("corrupt latest record of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:])), b[16:], nil
}

// encodeVersion encodes a version record; a tombstone has no createRev or value.
func encodeVersion(kind byte, createRev int64, value []byte) []byte {
	b := make([]byte, 9, 9+len(value))
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(createRev))
	return append(b, value...)
}

// decodeVersion decodes a version record; value aliases b.
func decodeVersion(b []byte) (kind byte, createRev int64, value []byte, err error) {
	if len(b) < 9 || b[0] > kindPut {
		return 0, 0, nil, fmt.Errorf("corrupt version record of %d bytes", len(b))
	}
	return b[0], int64(binary.BigEndian.Uint64(b[1:])), b[9:], nil
}

// encodeKeys encodes the key list of a revision record.
func encodeKeys(keys []string) []byte {
	n := 0
	for _, k := range keys {
		n += binary.MaxVarintLen64 + len(k)
	}
	b := make([]byte, 0, n)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

// eachKey calls fn with every key of a revision record, in order, until fn returns false;
// key aliases b.
func eachKey(b []byte, fn func(key []byte) bool) error {
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return fmt.Errorf("corrupt revision record")
		}
		if !fn(b[w : w+int(n)]) {
			return nil
		}
		b = b[w+int(n):]
	}
	return nil
}

// versionAt returns the newest version record of a key's versions bucket at or before rev,
// or nil when there is none.
func versionAt(versions *bbolt.Bucket, rev int64) (at int64, record []byte) {
	c := versions.Cursor()
	k, v := c.Seek(encodeRevision(rev + 1))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil {
		return 0, nil
	}
	return decodeRevision(k), v
}
