package store

import (
	"errors"
	"fmt"
)

var (
	// ErrConflict is returned by Commit when a compare does not hold; nothing was written.
	ErrConflict = errors.New("store: conflict: a compared key has changed")

	// ErrCompacted is returned when a read or watch needs a revision that was compacted away.
	ErrCompacted = errors.New("store: revision has been compacted")

	// ErrFutureRevision is returned when a read asks for a revision after the current one.
	ErrFutureRevision = errors.New("store: revision is in the future")

	// ErrTooLarge is returned by Commit when a commit exceeds the backend's Limits.
	ErrTooLarge = errors.New("store: commit too large")

	// ErrUnavailable is returned when the backend cannot be reached (an etcd cluster without
	// quorum, ...). The operation may or may not have been applied only where documented.
	ErrUnavailable = errors.New("store: unavailable")

	// ErrOutcomeUnknown is wrapped, besides ErrUnavailable, by a Commit that sent its
	// request and got no answer: it may or may not have been applied. A caller that must
	// know reads the keys again (or compares them) before retrying.
	ErrOutcomeUnknown = errors.New("store: the commit's outcome is unknown (it may or may not have been applied)")

	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("store: closed")

	// ErrFull is returned by Commit when the backend has no room for the commit (etcd's
	// space quota is reached and its NOSPACE alarm raised, or the disk of a bolt file is
	// full); nothing was written. Reads still work. Room is made by compacting history and
	// collecting old code (then, on etcd, defragmenting and disarming the alarm), or by a
	// larger quota or disk.
	ErrFull = errors.New("store: full")

	// ErrFormat is returned when opening a store that is not a Starbase store of a format this
	// binary reads: another program's data, an empty file, or a newer format. Nothing was
	// written to it.
	ErrFormat = errors.New("store: not a Starbase store this binary can read")

	// ErrCorrupt is returned when the store's data is damaged (a truncated or overwritten
	// file): the error names the file and the damage found.
	ErrCorrupt = errors.New("store: data is damaged")
)

// ConflictError tells which compare of a commit failed.
type ConflictError struct {
	// Key is the key of the failing compare; for a range compare, a key of its range that was
	// created or modified after the compare's revision.
	Key string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: conflict on key %q: it changed since it was read", e.Key)
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }
