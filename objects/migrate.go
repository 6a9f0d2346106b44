package objects

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
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
// large for one commit of the data tier (see store.Limits for the KV tier) is halved until it fits. Each batch
// that rewrites objects also stores the position reached, so that a Migrate that stopped
// (error, cancelled ctx, crash) resumes there when run again; the position is removed when the
// class is done, and a run with nothing to do writes nothing. After each batch, progress (if
// not nil) gets the number of objects this call has visited and the id of the last one ("" at
// the end).
//
// An object newer than the class (after a code rollback) stops the migration with an error
// wrapping ErrNewerObject, and is left as it is.
func Migrate(ctx context.Context, eng Engine, resolve ClassResolver, class string, batch int, progress func(done int, cursor string)) error {
	i := strings.LastIndexByte(class, ':')
	if i <= 0 || !isIdentifier(class[i+1:]) {
		return fmt.Errorf("migrate: %q is not MODULE:CLASS (as counters.star:Counter)", class)
	}
	_, err := resolve(ctx, class[:i], class[i+1:]) // the class must be declared (maybe as an alias)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", class, err)
	}
	if batch < 1 {
		batch = 100
	}
	thread := &starlark.Thread{Name: "migrate " + class}
	runtime.LimitCallDepth(thread, runtime.DefaultMaxCallDepth) // __migrate__ is stored code
	defer context.AfterFunc(ctx, func() { thread.Cancel(context.Cause(ctx).Error()) })()

	// class may be an alias of m (classes.go): its objects move to m's name.
	cursorKey := migrateCursorKey(class)
	var cursor string // the id after which the next batch starts
	err = Run(ctx, eng, resolve, migrateAttempts, func(tx *Tx) error {
		d, err := tx.dtx()
		if err != nil {
			return err
		}
		stored, _, err := d.getMeta(cursorKey)
		cursor = string(stored)
		return tx.failed(err)
	})
	if err != nil {
		return fmt.Errorf("migrate %s: reading where a previous run stopped: %w", class, err)
	}
	done := 0
	for {
		var n int
		var last string
		err := Run(ctx, eng, resolve, migrateAttempts, func(tx *Tx) error {
			// Objects created meanwhile are written by current code and need no migration:
			// they need not make the batch conflict.
			objs, err := tx.listClass(thread, class, batch, cursor, false)
			if err != nil {
				return err
			}
			n = len(objs)
			for _, obj := range objs {
				if _, err := tx.save(obj); err != nil {
					return err
				}
				last = obj.id
			}
			d, err := tx.dtx()
			if err != nil {
				return err
			}
			// The position is stored with the batches that write, and removed at the end;
			// a run that finds nothing to do writes nothing.
			if n < batch {
				_, ok, err := d.getMeta(cursorKey)
				if ok && err == nil {
					err = d.delMeta(cursorKey)
				}
				return tx.failed(err)
			}
			if d.wrote() {
				return tx.failed(d.putMeta(cursorKey, []byte(last)))
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
		done += n
		if n < batch {
			if progress != nil {
				progress(done, "")
			}
			return nil
		}
		cursor = last
		if progress != nil {
			progress(done, cursor)
		}
	}
}
