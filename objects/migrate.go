package objects

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/store"
)

// migrateAttempts bounds the attempts of each batch of Migrate.
const migrateAttempts = 10

// Migrate rewrites every stored instance of class ("MODULE:CLASS", as counters.star:Counter)
// as the current code declares it: older versions upgraded by the model's migrate function,
// missing fields at their defaults, index entries as the model declares them now (so this is
// also how existing objects get a newly declared index). Objects already current are not
// written.
//
// It works in transactions of batch objects (100 when batch < 1), in id order; a batch too
// large for one store commit (see store.Limits) is halved until it fits. Each batch
// that rewrites objects also stores the position reached, so that a Migrate that stopped
// (error, cancelled ctx, crash) resumes there when run again; the position is removed when the
// class is done, and a run with nothing to do writes nothing. After each batch, progress (if
// not nil) gets the number of objects this call has visited and the id of the last one ("" at
// the end).
//
// An object newer than the class (after a code rollback) stops the migration with an error
// wrapping ErrNewerObject, and is left as it is.
func Migrate(ctx context.Context, st store.Store, resolve ClassResolver, class string, batch int, progress func(done int, cursor string)) error {
	i := strings.LastIndexByte(class, ':')
	if i <= 0 || !isIdentifier(class[i+1:]) {
		return fmt.Errorf("migrate: %q is not MODULE:CLASS (as counters.star:Counter)", class)
	}
	m, err := resolve(ctx, class[:i], class[i+1:])
	if err != nil {
		return fmt.Errorf("migrate %s: %w", class, err)
	}
	if batch < 1 {
		batch = 100
	}
	thread := &starlark.Thread{Name: "migrate " + class}
	defer context.AfterFunc(ctx, func() { thread.Cancel(context.Cause(ctx).Error()) })()

	cursorKey, prefix := migrateCursorKey(m.QualifiedName()), membersPrefix(m.QualifiedName())
	var cursor string // the id after which the next batch starts
	err = Run(ctx, st, resolve, migrateAttempts, func(tx *Tx) error {
		stored, _, err := tx.get(cursorKey)
		cursor = string(stored)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate %s: reading where a previous run stopped: %w", class, err)
	}
	done := 0
	for {
		var keys []string
		err := Run(ctx, st, resolve, migrateAttempts, func(tx *Tx) error {
			from := ""
			if cursor != "" {
				from = prefix + cursor
			}
			// No class version key is read: objects created meanwhile are written by
			// current code, and need no migration.
			var err error
			if keys, err = tx.keys(prefix, from, batch); err != nil {
				return err
			}
			for _, k := range keys {
				obj, err := tx.load(thread, strings.TrimPrefix(k, prefix))
				if err != nil {
					return err
				}
				if obj == nil {
					return fmt.Errorf("%w: %s lists object %s, which does not exist", ErrCorrupt, class, strings.TrimPrefix(k, prefix))
				}
				if _, err := tx.save(obj); err != nil {
					return err
				}
			}
			// The position is stored with the batches that write, and removed at the end;
			// a run that finds nothing to do writes nothing.
			if len(keys) < batch {
				_, ok, err := tx.get(cursorKey)
				if ok {
					tx.del(cursorKey)
				}
				return err
			}
			if len(tx.writes) > 0 {
				tx.put(cursorKey, []byte(strings.TrimPrefix(keys[len(keys)-1], prefix)))
			}
			return nil
		})
		if errors.Is(err, ErrTooLarge) && batch > 1 {
			batch /= 2 // every object rewritten writes at least its record and membership key
			continue
		}
		if err != nil {
			return fmt.Errorf("migrate %s: after %d objects: %w", class, done, err)
		}
		done += len(keys)
		if len(keys) < batch {
			if progress != nil {
				progress(done, "")
			}
			return nil
		}
		cursor = strings.TrimPrefix(keys[len(keys)-1], prefix)
		if progress != nil {
			progress(done, cursor)
		}
	}
}
