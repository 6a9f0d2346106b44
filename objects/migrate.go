package objects

import (
	"context"
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
// It works in transactions of batch objects (100 when batch < 1), in id order, and records
// its position in the store with each batch, so that a Migrate that stopped (error, cancelled
// ctx, crash) resumes after the last completed batch when run again; the position is removed
// when the class is done. After each batch, progress (if not nil) gets the number of objects
// this call has visited and the id of the last one.
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
	done := 0
	for {
		var visited int
		var last string
		err := Run(ctx, st, resolve, migrateAttempts, func(tx *Tx) error {
			after, _, err := tx.get(cursorKey)
			if err != nil {
				return err
			}
			from := ""
			if len(after) > 0 {
				from = prefix + string(after)
			}
			// No class version key is read: objects created meanwhile are written by
			// current code, and need no migration.
			keys, err := tx.keys(prefix, from, batch)
			if err != nil {
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
			visited, last = len(keys), ""
			if len(keys) < batch {
				tx.del(cursorKey)
				return nil
			}
			last = strings.TrimPrefix(keys[len(keys)-1], prefix)
			tx.put(cursorKey, []byte(last))
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate %s: after %d objects: %w", class, done, err)
		}
		done += visited
		if progress != nil {
			progress(done, last)
		}
		if last == "" {
			return nil
		}
	}
}
