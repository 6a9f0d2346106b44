package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// KeyValue is one key as it stood at some revision.
type KeyValue struct {
	Key   string
	Value []byte
	// CreateRevision is the revision that created the key (since its last deletion).
	CreateRevision int64
	// ModRevision is the revision of the last change to the key.
	ModRevision int64
}

// Compare is a precondition of a commit, on one key or on a range of keys.
//
// On one key (End empty), ModRevision 0 requires the key to be absent; any other value
// requires the key to exist and to have been last modified at exactly that revision.
//
// On a range (End set), the compare covers the keys k with Key <= k < End, or every key from
// Key on when End is [EndOfKeys]. It holds when no key present in the range was created or
// modified after ModRevision: every such key has a ModRevision at or below it, so a range
// compare at revision R says "nothing in this range changed since my snapshot at R", and one
// at 0 requires the range to be empty. Deletions are not visible to it: a key of the range
// deleted after ModRevision does not make it fail (a key deleted and created again does, as
// a creation). Callers that must notice deletions also compare a key that every deletion
// changes. End must be after Key (or EndOfKeys); a range compare may have an empty Key.
//
// A range compare counts as one compare in [Limits], but checking it costs a scan of the
// keys of its range when the commit is made, on every backend: keep ranges to what was read.
type Compare struct {
	Key string
	// End, when not empty, makes the compare a range compare; see above.
	End         string
	ModRevision int64
}

// EndOfKeys is the End of a range compare that reaches past every key: etcd's convention,
// which needs no special case since no key is below "\x00" but the empty key, which no
// store holds.
const EndOfKeys = "\x00"

// Absent returns the precondition that key does not exist.
func Absent(key string) Compare { return Compare{Key: key} }

// Unchanged returns the precondition that key still has the modification revision it had in kv.
// A nil kv means the key was absent when read.
func Unchanged(key string, kv *KeyValue) Compare {
	if kv == nil {
		return Absent(key)
	}
	return Compare{Key: key, ModRevision: kv.ModRevision}
}

// UnmodifiedSince returns the precondition that no key starting with prefix was created or
// modified after revision rev (deletions do not count; see [Compare]).
func UnmodifiedSince(prefix string, rev int64) Compare {
	return Compare{Key: prefix, End: PrefixEnd(prefix), ModRevision: rev}
}

// RangeUnmodifiedSince returns the precondition that no key k with from <= k < end was
// created or modified after revision rev (deletions do not count; see [Compare]). [KeyAfter]
// turns an inclusive last key into end.
func RangeUnmodifiedSince(from, end string, rev int64) Compare {
	return Compare{Key: from, End: end, ModRevision: rev}
}

// PrefixEnd returns the End of the range of the keys that start with prefix: prefix without
// its trailing 0xff bytes, its last byte incremented; or EndOfKeys when prefix has no other
// bytes (every key starts with the empty prefix).
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return EndOfKeys
}

// KeyAfter returns the least key after key (key followed by a zero byte): the End of a range
// whose last key is key.
func KeyAfter(key string) string { return key + "\x00" }

// IsRange reports whether c is a range compare.
func (c Compare) IsRange() bool { return c.End != "" }

// Covers reports whether c's precondition is on key: key is c's key, or in c's range.
func (c Compare) Covers(key string) bool {
	if !c.IsRange() {
		return key == c.Key
	}
	return key >= c.Key && (c.End == EndOfKeys || key < c.End)
}

// Check returns an error for a compare that no backend accepts: a single-key compare on the
// empty key, a range whose End is not after its Key, or a negative revision.
func (c Compare) Check() error {
	switch {
	case c.ModRevision < 0:
		return fmt.Errorf("compare on %q at revision %d: revisions are not negative", c.Key, c.ModRevision)
	case !c.IsRange() && c.Key == "":
		return errors.New("a compare has the empty key; every key needs at least one byte")
	case c.IsRange() && c.End != EndOfKeys && c.End <= c.Key:
		return fmt.Errorf("range compare from %q to %q is empty: its End must be after its Key (or EndOfKeys)", c.Key, c.End)
	}
	return nil
}

// Op is one write of a commit: a put of Value, or a delete when Delete is set.
// Deleting a missing key is not an error and changes nothing.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Put returns the operation that sets key to value.
func Put(key string, value []byte) Op { return Op{Key: key, Value: value} }

// Delete returns the operation that removes key.
func Delete(key string) Op { return Op{Key: key, Delete: true} }

// Change is one key changed by a revision, as delivered by a watch.
// For a deletion, Deleted is set and Value is nil.
type Change struct {
	KeyValue
	Deleted bool
}

// Event is one revision as seen by a watch: every change it made under the watched prefix,
// in key order. Err, when set, is the last event of the watch and carries why it ended
// (ErrCompacted, a backend failure, ...); a watch ended by its context ends without an Err event.
type Event struct {
	Revision int64
	Changes  []Change
	Err      error
}

// RangeOptions selects keys for [Store.Range].
type RangeOptions struct {
	// Revision to read at; 0 reads the latest revision.
	Revision int64
	// After, when not empty, starts strictly after this key (for paging).
	After string
	// Limit caps the number of keys returned; 0 means no limit.
	Limit int
	// KeysOnly leaves every Value nil: the keys and their revisions only, for listings that
	// do not need the values (a collection listing large blobs).
	KeysOnly bool
}

// RangeResult is the answer of a [Store.Range].
type RangeResult struct {
	// KVs are the matching keys in ascending key order.
	KVs []KeyValue
	// Revision is the revision the read was made at (the latest one when 0 was asked).
	Revision int64
	// More reports whether more keys match beyond Limit.
	More bool
}

// Limits are the sizes a single commit may reach on a backend, each counted the way the
// backend counts it. Callers that write many keys split their work so that each commit stays
// within them (and stays atomic where it must); [Limits.Check] tells whether a commit fits.
// A zero field bounds nothing (stores that wrap another one may leave them zero).
//
// Compares and operations are bounded separately because that is how etcd counts: it bounds
// the largest of the lists of a transaction (compares, operations, reads of the failure
// branch), not their sum.
type Limits struct {
	// MaxCompares is the largest number of compares in one commit; a range compare counts as
	// one.
	MaxCompares int
	// MaxOps is the largest number of operations (puts and deletes) in one commit.
	MaxOps int
	// MaxBytes is the largest total size of the keys and values of one commit: the Key and End
	// of every compare, the Key and Value of every operation.
	MaxBytes int
}

// CommitSize is a commit measured the way Limits bounds it.
type CommitSize struct {
	Compares, Ops, Bytes int
}

// SizeOf measures the commit of compares and ops.
func SizeOf(compares []Compare, ops []Op) CommitSize {
	size := CommitSize{Compares: len(compares), Ops: len(ops)}
	for _, c := range compares {
		size.Bytes += len(c.Key) + len(c.End)
	}
	for _, op := range ops {
		size.Bytes += len(op.Key) + len(op.Value)
	}
	return size
}

// Allows reports whether a commit of size fits within l.
func (l Limits) Allows(size CommitSize) bool { return l.Check(size) == nil }

// Check returns nil when a commit of size fits within l, and otherwise an error wrapping
// ErrTooLarge that names every limit it exceeds.
func (l Limits) Check(size CommitSize) error {
	var over []string
	if l.MaxCompares > 0 && size.Compares > l.MaxCompares {
		over = append(over, fmt.Sprintf("%d compares (at most %d)", size.Compares, l.MaxCompares))
	}
	if l.MaxOps > 0 && size.Ops > l.MaxOps {
		over = append(over, fmt.Sprintf("%d operations (at most %d)", size.Ops, l.MaxOps))
	}
	if l.MaxBytes > 0 && size.Bytes > l.MaxBytes {
		over = append(over, fmt.Sprintf("%d bytes of keys and values (at most %d)", size.Bytes, l.MaxBytes))
	}
	if over == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrTooLarge, strings.Join(over, ", "))
}

// Store is a transactional, revisioned key-value store. Implementations are safe for
// concurrent use by multiple goroutines.
type Store interface {
	// Get reads one key at rev (0 for the latest). It returns (nil, r, nil) when the key does
	// not exist at that revision, where r is the revision read (rev itself when rev > 0). It returns ErrCompacted when rev
	// is below the compaction point and ErrFutureRevision when rev is above the current one.
	Get(ctx context.Context, key string, rev int64) (*KeyValue, int64, error)

	// Range reads the keys that start with prefix, in key order, at one revision.
	// Errors are as for Get.
	Range(ctx context.Context, prefix string, opts RangeOptions) (RangeResult, error)

	// Commit applies ops atomically if every compare holds, and returns the new revision.
	// If any compare fails, nothing is written and the error wraps ErrConflict (a *ConflictError
	// names the first failing compare's key, or for a range compare a key of the range that
	// changed). A commit that changes nothing (no ops, or only deletes of missing keys) still
	// checks its compares but creates no revision: it returns the current one. A commit naming
	// one key in two ops, an op with the empty key, or a compare that Compare.Check refuses,
	// fails and writes nothing. Commits larger than Limits fail with ErrTooLarge and write
	// nothing.
	Commit(ctx context.Context, compares []Compare, ops []Op) (int64, error)

	// Watch delivers every revision after fromRev (exclusive) that changes a key under prefix,
	// in order, each revision whole, first the ones already committed and then new ones as they
	// happen. fromRev 0 means "from now": every commit that starts after Watch returns is
	// delivered. The channel is closed when ctx is done, when the store is closed (possibly
	// after an Event with ErrClosed), or after an Event with Err (ErrCompacted when fromRev is
	// below the compaction point). Within an Event, changes are in key order; a deletion has
	// ModRevision set to the deleting revision and CreateRevision 0.
	// A slow reader delays its own watch only.
	Watch(ctx context.Context, prefix string, fromRev int64) <-chan Event

	// Revision returns the current (latest committed) revision.
	Revision(ctx context.Context) (int64, error)

	// Compact discards the history of revisions below rev: reads at rev or later still work,
	// reads and watches from earlier revisions fail with ErrCompacted. Compacting at or below
	// the compaction point does nothing; above the current revision it fails with
	// ErrFutureRevision. Backends never compact by themselves: a [Retainer] does.
	Compact(ctx context.Context, rev int64) error

	// Limits reports the sizes a single commit may reach.
	Limits() Limits

	// Close releases the store. Open watches end. Later operations fail with ErrClosed; a
	// second Close returns nil.
	Close() error
}
