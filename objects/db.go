package objects

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// localKey is the thread-local key under which Bind stores the request's transaction.
const localKey = "starbase.objects.tx"

// Bind makes tx the transaction of the db builtin for code running in thread.
// Like thread.SetLocal, it must be called before the thread starts executing (a server
// passes it as runtime.CallOptions.Bind).
func Bind(thread *starlark.Thread, tx *Tx) { thread.SetLocal(localKey, tx) }

// Builtins returns the predeclared names this package adds to every module:
//
//	model(name, fields = {}, methods = {}, indexes = [], version = 1, migrate = None)
//	db.put(obj) -> id            save obj (new or changed), give it an id if it has none
//	db.get(id) -> obj or None    read an object, bound to its class in the current code
//	db.delete(obj_or_id) -> bool remove an object; False if it did not exist
//	db.find(Model, field = value, ...) -> [obj]   instances with those values, by index, in id order
//	db.list(Model, limit = 100, after = None) -> [obj]  a page of instances in id order, after the id after
//	db.lock(obj_or_id) -> obj    lock the object for the transaction, then read it (dbcontention.go)
//	db.incr(obj_or_id, field, n = 1) -> value   add n to a number field, under the object's lock
//	db.next(name) -> int         the next number of a gapless sequence (1, 2, ...), under its lock
//	db.commit()                  keep the writes even if the handler answers a 4xx or 5xx status
//	abort(status, message)       stop: roll back the writes, answer status (400-599) with message
//	db.query(Model) -> query     where/order_by/limit/after/group_by, then fetch/page/first/count/sum/min/max/avg (query.go)
//
// The values are immutable and hold no state: the db builtin finds the request's transaction
// in the calling thread (see Bind), so one dict can serve every module and goroutine.
func Builtins() starlark.StringDict {
	return starlark.StringDict{
		"model": newModelBuiltin(),
		"abort": starlark.NewBuiltin("abort", abort),
		"db": &starlarkstruct.Module{Name: "db", Members: starlark.StringDict{
			"put":    starlark.NewBuiltin("db.put", dbPut),
			"get":    starlark.NewBuiltin("db.get", dbGet),
			"delete": starlark.NewBuiltin("db.delete", dbDelete),
			"find":   starlark.NewBuiltin("db.find", dbFind),
			"list":   starlark.NewBuiltin("db.list", dbList),
			"query":  starlark.NewBuiltin("db.query", dbQuery),
			"commit": starlark.NewBuiltin("db.commit", dbCommit),
			"lock":   starlark.NewBuiltin("db.lock", dbLock),
			"incr":   starlark.NewBuiltin("db.incr", dbIncr),
			"next":   starlark.NewBuiltin("db.next", dbNext),
		}},
	}
}

// boundTx returns the transaction bound to thread, or an ErrNoTransaction error for builtin b.
func boundTx(thread *starlark.Thread, b *starlark.Builtin) (*Tx, error) {
	if tx, ok := thread.Local(localKey).(*Tx); ok && tx != nil {
		return tx, nil
	}
	return nil, fmt.Errorf("%s: %w: call it from a handler, not at a module's top level; a test function (test_*) sends requests with its client (c = client(); c.get(\"/\")), whose handlers get a fresh, empty database for each test", b.Name(), ErrNoTransaction)
}

func dbPut(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	obj, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("%s: got %s, want an object (an instance of a model)", b.Name(), v.Type())
	}
	id, err := tx.save(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.String(id), nil
}

func dbGet(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var id string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &id); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	obj, err := tx.load(thread, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return objectOrNone(obj, nil)
}

// objectOrNone returns obj, None if it is nil, or err.
func objectOrNone(obj *Object, err error) (starlark.Value, error) {
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return starlark.None, nil
	}
	return obj, nil
}

func dbDelete(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	var id string
	switch v := v.(type) {
	case *Object:
		if v.id == "" {
			return nil, fmt.Errorf("%s: the %s was never saved", b.Name(), v.shortName())
		}
		id = v.id
	case starlark.String:
		if err := checkID(string(v)); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		id = string(v)
	default:
		return nil, fmt.Errorf("%s: got %s, want an object or an id", b.Name(), v.Type())
	}
	existed, err := tx.remove(id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.Bool(existed), nil
}

func dbFind(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var m *Model
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &m); err != nil {
		return nil, err
	}
	if len(kwargs) == 0 {
		return nil, fmt.Errorf("%s: give conditions as field = value, on at least one indexed field of %s (%s)", b.Name(), m.name, describeIndexes(m))
	}
	filters := make([]filter, len(kwargs))
	for i, kv := range kwargs {
		f, v := string(kv[0].(starlark.String)), kv[1]
		if !m.hasField(f) {
			return nil, fmt.Errorf("%s: %s has no field %s", b.Name(), m.name, f)
		}
		if err := m.checkField(f, v); err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		enc, _ := EncodeValue(v) // checkField encoded it already
		filters[i] = filter{field: f, enc: enc}
	}
	objs, err := tx.find(thread, m, filters)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return objectList(objs), nil
}

func dbList(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	var (
		m     *Model
		limit                = 100
		after starlark.Value = starlark.None
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "model", &m, "limit?", &limit, "after?", &after); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxListLimit {
		return nil, fmt.Errorf("%s: limit is %d, want 1 to %d", b.Name(), limit, MaxListLimit)
	}
	cursor := ""
	if after != starlark.None {
		s, ok := after.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("%s: after is %s, want the id of the last object of the previous page", b.Name(), after.Type())
		}
		if err := checkID(string(s)); err != nil {
			return nil, fmt.Errorf("%s: after: %w", b.Name(), err)
		}
		cursor = string(s)
	}
	objs, err := tx.list(thread, m, limit, cursor)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return objectList(objs), nil
}

func objectList(objs []*Object) *starlark.List {
	elems := make([]starlark.Value, len(objs))
	for i, o := range objs {
		elems[i] = o
	}
	return starlark.NewList(elems)
}

func dbCommit(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tx, err := boundTx(thread, b)
	if err != nil {
		return nil, err
	}
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	tx.commit = true
	return starlark.None, nil
}

// abort stops the handler with an *AbortError: the request's writes are rolled back and the
// server answers the status with the message.
func abort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var status int
	var message string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &status, &message); err != nil {
		return nil, err
	}
	if status < 400 || status > 599 {
		return nil, fmt.Errorf("abort: status %d, want 400 to 599 (an error status)", status)
	}
	return nil, &AbortError{Status: status, Message: message}
}
