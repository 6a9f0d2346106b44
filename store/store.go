package store

import "context"

// KeyValue is one key as it stood at some revision.
type KeyValue struct {
	Key   string
	Value []byte
	// CreateRevision is the revision that created the key (since its last deletion).
	CreateRevision int64
	// ModRevision is the revision of the last change to the key.
	ModRevision int64
}

// Compare is a precondition of a commit on one key.
//
// ModRevision 0 requires the key to be absent; any other value requires the key to exist and
// to have been last modified at exactly that revision.
type Compare struct {
	Key         string
	ModRevision int64
}

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

// Limits are the sizes a single commit may reach on a backend. Callers that write many keys
// split their work so that each commit stays within them (and stays atomic where it must).
type Limits struct {
	// MaxOps is the largest number of compares plus operations in one commit.
	MaxOps int
	// MaxBytes is the largest total size of keys and values in one commit.
	MaxBytes int
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
	// names the first failing key). A commit that changes nothing (no ops, or only deletes of
	// missing keys) still checks its compares but creates no revision: it returns the current
	// one. A commit naming one key in two ops, or an empty key, fails and writes nothing.
	// Commits larger than Limits fail with ErrTooLarge and write nothing.
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
	// ErrFutureRevision. Nothing compacts automatically.
	Compact(ctx context.Context, rev int64) error

	// Limits reports the sizes a single commit may reach.
	Limits() Limits

	// Close releases the store. Open watches end. Later operations fail with ErrClosed; a
	// second Close returns nil.
	Close() error
}
