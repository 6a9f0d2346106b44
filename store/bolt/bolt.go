package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

// Open opens or creates the store in the file at path, creating its directory if needed.
// It fails with ErrLocked when the file is held by another process for longer than
// opts.LockTimeout.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store/bolt: create the directory of %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        timeout,
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked by another process (waited %s); stop the other starbase server or choose another data directory",
			ErrLocked, path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	rev, err := initialize(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}
	return &Store{
		db:        db,
		path:      path,
		done:      make(chan struct{}),
		revision:  rev,
		committed: make(chan struct{}),
	}, nil
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

// view runs fn in a read transaction, mapping a closed database to store.ErrClosed.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	return closedError(s.db.View(fn))
}

// update runs fn in a write transaction, mapping a closed database to store.ErrClosed.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	return closedError(s.db.Update(fn))
}

func closedError(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
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
