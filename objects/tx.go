package objects

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// A ClassResolver finds the model `name` declared at the top level of module `module` in the
// code of the current request (the server implements it with the loader, at the request's
// commit). It returns an error wrapping ErrNoClass when that module or name does not exist;
// any other error (a module that fails to load, ...) fails the read that needed the class.
type ClassResolver func(ctx context.Context, module, name string) (*Model, error)

// Tx is one request's transaction on a data tier ([Engine]): the rules common to every engine
// (binding records to their classes, type checks, migration on read) over the engine's own
// transaction, which is begun on first use, so that a request that never touches data pays
// nothing for it.
//
// A Tx is used by one request at a time and is not safe for concurrent use.
type Tx struct {
	ctx     context.Context
	eng     Engine
	resolve ClassResolver
	data    dataTx                 // nil until first used
	classes map[string]classLookup // classes resolved by qualified name
	// commit is set by db.commit(): the writes are kept even if the handler answers an
	// error status.
	commit bool
	// prelocks are the keys locked before the first read (those the previous attempt
	// asked for), locked the keys this attempt asked for (locks.go).
	prelocks, locked []string
	// writer: the previous attempt wrote and lost; begin as a writer (Engine.begin).
	writer bool
	// retry, when set, is a failure of the data tier after which the transaction is worth
	// running again from the start (it lost to a concurrent one), whatever fn returned.
	retry error
}

type classLookup struct {
	model *Model
	err   error
}

func newTx(ctx context.Context, eng Engine, resolve ClassResolver) *Tx {
	return &Tx{ctx: ctx, eng: eng, resolve: resolve}
}

// CommitOnError reports whether the handler called db.commit(): its writes are to be
// committed even though it answers a 4xx or 5xx status (which otherwise rolls them back).
func (tx *Tx) CommitOnError() bool { return tx.commit }

// Wrote reports whether the transaction wrote anything (once Run returned nil: committed
// writes).
func (tx *Tx) Wrote() bool { return tx.data != nil && tx.data.wrote() }

// dtx returns the engine's transaction, begun on first use.
func (tx *Tx) dtx() (dataTx, error) {
	if tx.data == nil {
		d, err := tx.eng.begin(tx.ctx, tx.prelocks, tx.writer)
		if err != nil {
			return nil, tx.failed(fmt.Errorf("starting a data transaction: %w", err))
		}
		tx.data = d
	}
	return tx.data, nil
}

// failed records err as the reason to run again when it says a concurrent transaction won,
// and returns it.
func (tx *Tx) failed(err error) error {
	if err != nil && errors.Is(err, errRetry) && tx.retry == nil {
		tx.retry = err
	}
	return err
}

// Run runs fn in a new transaction of eng and commits its writes. If the commit finds that
// something fn read has changed (another transaction won), fn runs again from the start in a
// new transaction, after a short random pause, up to attempts times in all; then Run returns
// an error wrapping ErrConflict. So fn may run several times: it must have no effects outside
// the transaction, and must not keep objects from one run to the next.
//
// The locks an attempt asked for (db.lock, db.incr, db.next) are taken before the first read
// of the next attempts (locks.go), so that a hot object costs at most one re-run. After an
// attempt that wrote and lost, the next ones begin as writers on an engine whose writers
// take turns (SQLite: they wait for the write lock, up to its busy timeout, instead of
// losing again to each writer that commits first, such as a background index build).
//
// fn's error aborts the transaction: nothing it wrote is applied, and Run returns the error.
// A transaction that wrote nothing commits nothing and never conflicts.
func Run(ctx context.Context, eng Engine, resolve ClassResolver, attempts int, fn func(tx *Tx) error) error {
	attempts = max(attempts, 1)
	var last error
	var locks []string
	writer := false
	for attempt := range attempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return fmt.Errorf("objects: transaction abandoned after %d conflicting attempts: %w", attempt, err)
			}
		}
		tx := newTx(ctx, eng, resolve)
		tx.prelocks, tx.writer = locks, writer
		err := fn(tx)
		locks = sortedLocks(append(locks, tx.locked...))
		if tx.data == nil {
			if tx.retry != nil {
				last = tx.retry
				continue
			}
			return err
		}
		wrote := tx.data.wrote()
		if tx.retry != nil || err != nil {
			tx.data.rollback()
			if tx.retry != nil {
				last, writer = tx.retry, writer || wrote
				continue
			}
			return err
		}
		err = tx.data.commit()
		if err != nil {
			tx.data.rollback()
		}
		if !errors.Is(err, errRetry) {
			return err
		}
		last, writer = err, writer || wrote
	}
	return fmt.Errorf("%w: gave up after %d attempts (%w); retry the request later", ErrConflict, attempts, last)
}

// pause waits before attempt (1, 2, ...): a random time up to a bound that doubles with each
// attempt, so that transactions that keep colliding spread out.
func pause(ctx context.Context, attempt int) error {
	const base, ceiling = 500 * time.Microsecond, 50 * time.Millisecond
	bound := min(base<<min(attempt, 10), ceiling)
	t := time.NewTimer(rand.N(bound))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
