package objects

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
)

// Keys in the store (class names are path-escaped; <vh> is the hex SHA-256 prefix of an
// indexed value's encoding, <bucket> its first two hex digits):
//
//	data/obj/<id>                             the object's record
//	data/cls/<class>/<id>                     empty: the object is an instance of class (db.list);
//	                                          rewritten with every write of the record
//	data/ver/<class>                          changes whenever an instance is added or removed
//	data/idx/<class>/<field>/<vh>/<id>        empty: the object's field has that value (db.find)
//	data/idxver/<class>/<field>/<bucket>      changes whenever an entry of that bucket does
//	data/migrate/<class>                      the resume cursor of a running Migrate
const (
	dataPrefix    = "data/"
	objPrefix     = dataPrefix + "obj/"
	memberPrefix  = dataPrefix + "cls/"
	versionPrefix = dataPrefix + "ver/"
	indexPrefix   = dataPrefix + "idx/"
	indexVerPrefx = dataPrefix + "idxver/"
	cursorPrefix  = dataPrefix + "migrate/"
)

func objKey(id string) string { return objPrefix + id }

func classSegment(class string) string { return url.PathEscape(class) }

func membersPrefix(class string) string   { return memberPrefix + classSegment(class) + "/" }
func memberKey(class, id string) string   { return membersPrefix(class) + id }
func classVersionKey(class string) string { return versionPrefix + classSegment(class) }

// migrateCursorKey is the data tier's own key (getMeta) of the resume cursor of Migrate:
// under "data/" on the KV tier.
func migrateCursorKey(class string) string {
	return strings.TrimPrefix(cursorPrefix, dataPrefix) + classSegment(class)
}
func indexValuePrefix(class, field, vh string) string {
	return indexPrefix + classSegment(class) + "/" + field + "/" + vh + "/"
}
func indexVersionKey(class, field, vh string) string {
	return indexVerPrefx + classSegment(class) + "/" + field + "/" + vh[:2]
}

// valueHash names an encoded value in index keys.
func valueHash(enc []byte) string {
	sum := sha256.Sum256(enc)
	return hex.EncodeToString(sum[:16])
}

// Ids are 16 bytes — a 48-bit millisecond timestamp then 80 random bits — written in
// lowercase base32hex (26 characters). The encoding keeps byte order, so ids sort by creation
// time (as far as the clocks of the nodes that made them agree) and db.list pages through a
// class oldest first, db.query(...).order_by("-id") newest first. Within one node ids are
// strictly increasing, as ULIDs are made monotonic: an id made in the same millisecond as
// the node's previous one (or while its clock went back) is that id plus one, so objects a
// node creates in a row sort in that order. Ids are made without any counter shared between
// nodes, so creating objects never makes transactions conflict.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

const idLen = 26

// lastID is the id this node made last; ids guards it. (The one piece of package state:
// ids must increase across every engine and request of the process.)
var (
	ids    sync.Mutex
	lastID [16]byte
)

func newID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	rand.Read(b[6:])
	ids.Lock()
	if bytes.Compare(b[:6], lastID[:6]) <= 0 {
		// Not a later millisecond: the previous id plus one (an 80-bit counter that
		// carries into the timestamp, after 2^80 ids in one millisecond).
		b = lastID
		for i := len(b) - 1; i >= 0; i-- {
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	}
	lastID = b
	ids.Unlock()
	return idEncoding.EncodeToString(b[:])
}

// checkID reports whether s is an object id, so that no string can name another key.
func checkID(s string) error {
	if len(s) == idLen {
		// Re-encoding rules out spellings that differ only in the unused low bits.
		if b, err := idEncoding.DecodeString(s); err == nil && len(b) == 16 && idEncoding.EncodeToString(b) == s {
			return nil
		}
	}
	return fmt.Errorf("%q is not an object id (ids are %d characters of 0-9 and a-v, as db.put returns)", s, idLen)
}

// A record is an object as stored: its class by name and version, never code; the fields that
// have index entries (so that they are removed exactly, even after the model's indexes change);
// and the field values in order.
type record struct {
	class   string
	version int
	indexed []string
	names   []string
	fields  map[string]starlark.Value
}

// encode returns the record's encoding: the value encoding of the tuple
// (class, version, (indexed field, ...), {field: value, ...}).
func (r *record) encode() ([]byte, error) {
	fields := starlark.NewDict(len(r.names))
	for _, n := range r.names {
		fields.SetKey(starlark.String(n), r.fields[n])
	}
	return EncodeValue(starlark.Tuple{
		starlark.String(r.class), starlark.MakeInt(r.version), stringTuple(r.indexed), fields,
	})
}

// decodeRecord parses a stored record, strictly.
func decodeRecord(b []byte) (*record, error) {
	v, err := DecodeValue(b)
	if err != nil {
		return nil, err
	}
	bad := func(what string) error { return fmt.Errorf("%w: not an object record: %s", ErrCorrupt, what) }
	t, ok := v.(starlark.Tuple)
	if !ok || len(t) != 4 {
		return nil, bad("want a 4-tuple")
	}
	class, ok := t[0].(starlark.String)
	if !ok {
		return nil, bad("class is not a string")
	}
	if i := strings.LastIndexByte(string(class), ':'); i <= 0 || !isIdentifier(string(class[i+1:])) {
		return nil, bad("class is not module:Name")
	}
	version, ok := t[1].(starlark.Int)
	if !ok {
		return nil, bad("class version is not an int")
	}
	v64, exact := version.Int64()
	if !exact || v64 < 1 || v64 > 1<<31 {
		return nil, bad("class version out of range")
	}
	r := &record{class: string(class), version: int(v64), fields: make(map[string]starlark.Value)}
	indexed, ok := t[2].(starlark.Tuple)
	if !ok {
		return nil, bad("indexed fields are not a tuple")
	}
	fields, ok := t[3].(*starlark.Dict)
	if !ok {
		return nil, bad("fields are not a dict")
	}
	for _, kv := range fields.Items() {
		name, ok := kv[0].(starlark.String)
		if !ok || !isIdentifier(string(name)) {
			return nil, bad("a field name is not an identifier")
		}
		r.names = append(r.names, string(name))
		r.fields[string(name)] = kv[1]
	}
	for _, f := range indexed {
		name, ok := f.(starlark.String)
		if !ok {
			return nil, bad("an indexed field name is not a string")
		}
		if _, ok := r.fields[string(name)]; !ok {
			return nil, bad("an indexed field is missing")
		}
		if slices.Contains(r.indexed, string(name)) {
			return nil, bad("a field is indexed twice")
		}
		r.indexed = append(r.indexed, string(name))
	}
	return r, nil
}

// indexEntries returns the index entry keys of r: field -> value hash.
func (r *record) indexEntries() (map[string]string, error) {
	entries := make(map[string]string, len(r.indexed))
	for _, f := range r.indexed {
		enc, err := EncodeValue(r.fields[f])
		if err != nil {
			return nil, err
		}
		entries[f] = valueHash(enc)
	}
	return entries, nil
}
