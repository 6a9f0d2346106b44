package backup

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

// RestoringKey is the store key a restore writes first and deletes last: a store that holds
// it is the result of a restore that did not finish.
const RestoringKey = "backup/restoring"

var (
	// ErrNotEmpty is returned by Restore when the store holds a key or the data tier an
	// object: a restore never merges into existing data.
	ErrNotEmpty = errors.New("backup: the target is not empty")
	// ErrUnfinished is returned by Unfinished for a store left by a restore that stopped.
	ErrUnfinished = errors.New("backup: a restore into this store did not finish")
)

// Target is where Restore writes.
type Target struct {
	Store store.Store
	// Data is the data tier that takes the objects; nil for the kv tier (objects as keys of
	// Store).
	Data objects.Engine
}

// Restore checks the whole backup f, then writes it into t, which must be empty (see the
// package documentation). f is read twice: once to check it, once to write it.
func Restore(ctx context.Context, f io.ReadSeeker, t Target) (Summary, error) {
	h, tr, err := Check(f)
	if err != nil {
		return Summary{}, err
	}
	kvTarget := t.Data == nil || t.Data.Name() == "kv"
	if h.Data == "kv" && !kvTarget {
		return Summary{}, fmt.Errorf("backup: this backup holds its objects as store keys (it was taken from a node whose data tier is kv), and the target's data tier is %s: restore it with the kv data tier (--data-url kv), then move the objects with starbase data export and import",
			t.Data.Name())
	}
	data := t.Data
	if data == nil {
		data = objects.KV(t.Store)
	}
	if err := checkEmpty(ctx, t.Store, data); err != nil {
		return Summary{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Summary{}, err
	}
	br, err := NewReader(f)
	if err != nil {
		return Summary{}, err
	}
	limits := t.Store.Limits()
	// The first commit writes RestoringKey, on condition that nobody else did.
	ops := []store.Op{store.Put(RestoringKey, []byte(fmt.Sprintf("restoring a backup of revision %d taken %s", h.Revision, h.Created)))}
	compares := []store.Compare{store.Absent(RestoringKey)}
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := t.Store.Commit(ctx, compares, ops); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: another restore into this store started meanwhile", ErrNotEmpty)
			}
			return fmt.Errorf("backup: writing keys up to %q: %w", ops[len(ops)-1].Key, err)
		}
		ops, compares = ops[:0], nil
		return nil
	}
	im := objects.NewImporter(ctx, data)
	for {
		e, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Summary{}, fmt.Errorf("%w (it changed since it was checked)", err)
		}
		if e.Sequence {
			if err := flush(); err != nil {
				return Summary{}, err
			}
			if _, err := im.Flush(); err != nil { // the objects first, as in the backup
				return Summary{}, fmt.Errorf("backup: restoring objects: %w", err)
			}
			if err := im.Sequence(e.Name, e.Number); err != nil {
				return Summary{}, fmt.Errorf("backup: restoring sequence %s: %w", e.Name, err)
			}
			continue
		}
		if e.Object {
			if err := flush(); err != nil {
				return Summary{}, err
			}
			if err := im.Add(e.Name, e.Value); err != nil {
				return Summary{}, fmt.Errorf("backup: restoring object %s: %w", e.Name, err)
			}
			continue
		}
		op := store.Put(e.Name, e.Value)
		if !limits.Allows(store.SizeOf(compares, append(ops, op))) {
			if err := flush(); err != nil {
				return Summary{}, err
			}
		}
		if err := limits.Check(store.SizeOf(nil, []store.Op{op})); err != nil {
			return Summary{}, fmt.Errorf("backup: key %q does not fit one commit of this store: %w", e.Name, err)
		}
		ops = append(ops, op)
	}
	if err := flush(); err != nil {
		return Summary{}, err
	}
	if _, err := im.Flush(); err != nil {
		return Summary{}, fmt.Errorf("backup: restoring objects: %w", err)
	}
	if _, err := t.Store.Commit(ctx, nil, []store.Op{store.Delete(RestoringKey)}); err != nil {
		return Summary{}, fmt.Errorf("backup: finishing the restore: %w", err)
	}
	size, _ := f.Seek(0, io.SeekCurrent)
	return Summary{Header: h, Trailer: tr, Bytes: size}, nil
}

// checkEmpty refuses a store with a key or a data tier with an object.
func checkEmpty(ctx context.Context, st store.Store, data objects.Engine) error {
	res, err := st.Range(ctx, "", store.RangeOptions{Limit: 1})
	if err != nil {
		return fmt.Errorf("backup: reading the target store: %w", err)
	}
	if len(res.KVs) > 0 {
		return fmt.Errorf("%w: the store holds keys (%q, ...): restore into a new data directory (or an unused --etcd-prefix)",
			ErrNotEmpty, res.KVs[0].Key)
	}
	empty, err := objects.Empty(ctx, data)
	if err != nil {
		return fmt.Errorf("backup: reading the target data tier: %w", err)
	}
	if !empty {
		return fmt.Errorf("%w: the %s data tier holds objects: restore into an empty one", ErrNotEmpty, data.Name())
	}
	return nil
}

// Unfinished returns an error wrapping ErrUnfinished when st is what a restore that stopped
// left, nil otherwise.
func Unfinished(ctx context.Context, st store.Store) error {
	kv, _, err := st.Get(ctx, RestoringKey, 0)
	if err != nil {
		return fmt.Errorf("backup: reading %s: %w", RestoringKey, err)
	}
	if kv != nil {
		return fmt.Errorf("%w (%s): its data is incomplete; restore again into a new, empty store", ErrUnfinished, kv.Value)
	}
	return nil
}
