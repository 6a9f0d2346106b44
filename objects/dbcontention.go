package objects

import (
	"fmt"
	"strconv"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/decimal"
)

// The builtins for hot objects and document numbers (locks.go):
//
//	db.lock(obj_or_id) -> obj or None        lock the object, then read it
//	db.incr(obj_or_id, field, n = 1) -> value add n to a number field under the object's lock
//	db.next(name) -> int                     the next number of a gapless sequence
//
// Call them first in a handler, before other reads: the lock is then taken before the
// transaction's snapshot, and concurrent requests on the same object wait for one another
// instead of running again.

// objectID returns the id of an object (saved) or of an id string, for builtin b.
func objectID(b *starlark.Builtin, v starlark.Value) (string, error) {
	switch v := v.(type) {
	case *Object:
		if v.id == "" {
			return "", fmt.Errorf("%s: the %s was never saved", b.Name(), v.shortName())
		}
		return v.id, nil
	case starlark.String:
		if err := checkID(string(v)); err != nil {
			return "", fmt.Errorf("%s: %w", b.Name(), err)
		}
		return string(v), nil
	}
	return "", fmt.Errorf("%s: got %s, want an object or an id", b.Name(), v.Type())
}

func dbLock(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	obj, _, err := lockAndLoad(thread, b, tx, v)
	return objectOrNone(obj, err)
}

// lockAndLoad takes the lock of v (an object or an id) for builtin b, then reads the
// object (nil if there is none) and returns it with its id.
func lockAndLoad(thread *starlark.Thread, b *starlark.Builtin, tx *Tx, v starlark.Value) (*Object, string, error) {
	id, err := objectID(b, v)
	if err != nil {
		return nil, "", err
	}
	if err := tx.lock(id); err != nil {
		return nil, "", fmt.Errorf("%s: %w", b.Name(), err)
	}
	obj, err := tx.load(thread, id)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", b.Name(), err)
	}
	return obj, id, nil
}

func dbIncr(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var (
		v     starlark.Value
		field string
		n     starlark.Value = starlark.MakeInt(1)
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "obj", &v, "field", &field, "n?", &n); err != nil {
		return nil, err
	}
	switch n.(type) {
	case starlark.Int, starlark.Float, *decimal.Decimal:
	default:
		return nil, fmt.Errorf("%s: n is %s, want an int, a float or a decimal", b.Name(), n.Type())
	}
	obj, id, err := lockAndLoad(thread, b, tx, v)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("%s: no object %s", b.Name(), id)
	}
	if obj.model == nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), obj.missingClass("it cannot be written"))
	}
	cur, ok := obj.fields[field]
	if !ok || !obj.model.hasField(field) {
		return nil, fmt.Errorf("%s: %s has no field %s", b.Name(), obj.shortName(), field)
	}
	switch t := obj.model.types[field]; {
	case t == "int" && n.Type() == "int", t == "float", t == "decimal":
	default:
		return nil, &FieldError{Model: obj.model.name, Field: field,
			Reason: fmt.Sprintf("db.incr adds to int, float and decimal fields (an int field by an int); the field is %s, n is %s", cur.Type(), n.Type())}
	}
	sum, err := starlark.Binary(syntax.PLUS, cur, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if obj.model.types[field] == "float" {
		if i, ok := sum.(starlark.Int); ok {
			sum = i.Float()
		}
	}
	if err := obj.SetField(field, sum); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if _, err := tx.save(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if o, ok := v.(*Object); ok && !o.frozen && o.model != nil {
		o.setRaw(field, sum) // the caller's instance shows the new value too
	}
	return sum, nil
}

// MaxSequenceName is the longest name of a sequence.
const MaxSequenceName = 100

func dbNext(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var name string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &name); err != nil {
		return nil, err
	}
	if !validSequenceName(name) {
		return nil, fmt.Errorf("%s: sequence name %q: want 1 to %d letters, digits, _, . or -", b.Name(), name, MaxSequenceName)
	}
	n, err := tx.next(name)
	if err != nil {
		return nil, fmt.Errorf("%s(%q): %w", b.Name(), name, err)
	}
	return starlark.MakeInt64(n), nil
}

func validSequenceName(name string) bool {
	if name == "" || len(name) > MaxSequenceName {
		return false
	}
	for _, c := range name {
		switch {
		case c == '_', c == '.', c == '-', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return true
}

// next allocates the next number of sequence name (1 first) in the transaction, under the
// sequence's lock: it is rolled back with the transaction, so committed numbers have no gaps.
func (tx *Tx) next(name string) (int64, error) {
	key := seqLockKey(name)
	if err := tx.lock(key); err != nil {
		return 0, err
	}
	d, err := tx.dtx()
	if err != nil {
		return 0, err
	}
	v, ok, err := d.getMeta(key)
	if err != nil {
		return 0, tx.failed(err)
	}
	var n int64
	if ok {
		if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return 0, fmt.Errorf("%w: sequence %s holds %q", ErrCorrupt, name, v)
		}
	}
	n++
	return n, tx.failed(d.putMeta(key, []byte(strconv.FormatInt(n, 10))))
}
