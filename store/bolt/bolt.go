package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/starbase/starbase/store"
)

var _ store.Store = (*Store)(nil)

// DefaultLockTimeout is how long Open waits for the file lock when Options.LockTimeout is 0.
const DefaultLockTimeout = time.Second

// Limits of one commit. They are generous (a whole application's code fits in one commit)
// but finite, so that one commit cannot hold the single writer or the memory for too long.
const (
	// MaxCompares is the largest number of compares in one commit (a range compare counts as
	// one, but scans its range while the commit holds the writer).
	MaxCompares = 10000
	// MaxOps is the largest number of operations in one commit.
	MaxOps = 10000
	// MaxBytes is the largest total size of the keys (of compares, range ends and operations)
	// and values of one commit.
	MaxBytes = 64 << 20
	// MaxKeySize is the longest key, in bytes (bbolt's own limit). Longer keys fail with
	// store.ErrTooLarge.
	MaxKeySize = bbolt.MaxKeySize
)

// ErrLocked is returned by Open when another process (or another Store in this process)
// holds the file open.
var ErrLocked = errors.New("store/bolt: data file is in use")

// Options tune Open. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for another holder of the file to release it before
	// failing with ErrLocked; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// Verify runs bbolt's consistency check over every page of the file before Open returns,
	// so that damage anywhere is found at once instead of by the request that reads it. It
	// costs a read of the whole file: see BenchmarkOpenVerify.
	Verify bool
}

// Store is a store.Store kept in one bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string

	// done is closed by Close; watchers and new operations stop when it is.
	done chan struct{}
	// watchers counts the running watch goroutines, which Close waits for.
	watchers sync.WaitGroup

	// mu guards closed, revision and committed.
	mu     sync.Mutex
	closed bool
	// revision is the latest committed revision, as announced by the last commit.
	revision int64
	// committed is closed (and replaced) after each commit that made a new revision, to wake
	// the watchers.
	committed chan struct{}
}

// Open opens the store in the file at path, or creates it (and its directory) when there is
// no file there. It fails with ErrLocked when the file is held by another process for longer
// than opts.LockTimeout; with an error wrapping store.ErrFormat when the file is not a
// Starbase store this package reads (an empty file, another program's bbolt file, a newer
// format: see FormatVersion); and with one wrapping store.ErrCorrupt, naming the file and
// the damage, when the file is damaged (truncated, damaged meta pages, or, with
// opts.Verify, any page that fails bbolt's consistency check). Refused files are not
// written to.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store/bolt: create the directory of %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, err
		}
		info, err = os.Stat(path)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", store.ErrFormat, path)
	case info.Size() == 0:
		return nil, fmt.Errorf("%w: %s is an empty file, not a Starbase store (a new store is created only where no file exists): remove it if it should be a new store, or restore the store from a backup",
			store.ErrFormat, path)
	}
	if err := checkHeader(path, info.Size()); err != nil {
		return nil, err
	}
	var db *bbolt.DB
	marked, err := inspect(path, timeout)
	if err == nil {
		db, err = openDB(path, &bbolt.Options{
			Timeout:        timeout,
			FreelistType:   bbolt.FreelistMapType,
			NoFreelistSync: true,
		})
	}
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked by another process (waited %s); stop the other starbase server or choose another data directory",
			ErrLocked, path, timeout)
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) {
		return nil, fmt.Errorf("%w: %s: %v", store.ErrFormat, path, err)
	}
	if errors.Is(err, berrors.ErrChecksum) {
		return nil, fmt.Errorf("%w: %s: %v", store.ErrCorrupt, path, err)
	}
	if errors.Is(err, store.ErrFormat) || errors.Is(err, store.ErrCorrupt) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	s := &Store{
		db:        db,
		path:      path,
		done:      make(chan struct{}),
		committed: make(chan struct{}),
	}
	if err == nil && opts.Verify {
		err = verify(db, path)
	}
	if err == nil {
		err = s.update(func(tx *bbolt.Tx) error {
			var err error
			s.revision, err = initialize(tx, !marked)
			return err
		})
	}
	if err != nil {
		db.Close()
		if errors.Is(err, store.ErrFormat) || errors.Is(err, store.ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	return s, nil
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Limits reports MaxCompares, MaxOps and MaxBytes.
func (s *Store) Limits() store.Limits {
	return store.Limits{MaxCompares: MaxCompares, MaxOps: MaxOps, MaxBytes: MaxBytes}
}

// Revision returns the current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var rev int64
	err := s.view(func(tx *bbolt.Tx) error {
		rev, _ = readMeta(tx)
		return nil
	})
	return rev, err
}

// Close ends the open watches (their channels close without an Err event), waits for their
// goroutines, and closes the file. Closing twice is harmless. Other operations on a closed
// store fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.watchers.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store/bolt: close %s: %w", s.path, err)
	}
	return nil
}

// check reports why an operation must not start: a done context or a closed store.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.done:
		return store.ErrClosed
	default:
		return nil
	}
}

// view runs fn in a read transaction, mapping a closed database to store.ErrClosed and a
// panic of bbolt on a damaged page to an error wrapping store.ErrCorrupt.
func (s *Store) view(fn func(tx *bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(s.path, &err)
	return closedError(s.db.View(fn))
}

// update runs fn in a write transaction, mapping errors as view does. The transaction is
// managed here rather than by bbolt's Update: when a damaged page makes bbolt panic, Update
// would roll back by rescanning every page of the file in a goroutine of its own, where the
// damage is a panic that ends the process; a plain Rollback undoes the transaction without
// the rescan.
func (s *Store) update(fn func(tx *bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	tx, err := s.db.Begin(true)
	if err != nil {
		return closedError(err)
	}
	defer func() {
		if r := recover(); r != nil {
			if tx.DB() != nil {
				tx.Rollback()
			}
			err = corruptError(s.path, r)
		}
	}()
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return closedError(tx.Commit())
}

func closedError(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, berrors.ErrMaxSizeReached) {
		return fmt.Errorf("%w: %v: the disk of the store file is full; free space on it", store.ErrFull, err)
	}
	return err
}

// announce records that rev was committed and wakes the watchers.
func (s *Store) announce(rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Commits are serialised by bbolt but their announcements may arrive out of order.
	s.revision = max(s.revision, rev)
	close(s.committed)
	s.committed = make(chan struct{})
}

// announced returns the latest announced revision and the channel the next commit closes.
func (s *Store) announced() (int64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision, s.committed
}
