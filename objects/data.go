package objects

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

// MaxListLimit is the largest page db.list returns.
const MaxListLimit = 1000

// MaxFindResults is the most objects db.find returns; a find that selects more fails, rather
// than reading without bound.
const MaxFindResults = 1000

// class returns the model named by a qualified class name in the transaction's code, resolving
// each name once per transaction. A class the code does not declare gives an ErrNoClass error.
func (tx *Tx) class(qualified string) (*Model, error) {
	if c, ok := tx.classes[qualified]; ok {
		return c.model, c.err
	}
	i := strings.LastIndexByte(qualified, ':')
	m, err := tx.resolve(tx.ctx, qualified[:i], qualified[i+1:])
	if err == nil && (m == nil || !m.declares(qualified)) {
		err = fmt.Errorf("%w: %s resolved to %v", ErrNoClass, qualified, m)
	}
	if err != nil && !errors.Is(err, ErrNoClass) {
		return nil, fmt.Errorf("loading class %s: %w", qualified, err) // not cached: may be transient
	}
	if err != nil {
		m = nil
	}
	if tx.classes == nil {
		tx.classes = make(map[string]classLookup)
	}
	tx.classes[qualified] = classLookup{m, err}
	return m, err
}

// load reads object id, bound to its class in this transaction's code. It returns nil when
// the object does not exist.
func (tx *Tx) load(thread *starlark.Thread, id string) (*Object, error) {
	d, err := tx.dtx()
	if err != nil {
		return nil, err
	}
	data, ok, err := d.get(id)
	if err != nil || !ok {
		return nil, tx.failed(err)
	}
	return tx.bind(thread, stored{id: id, data: data})
}

// decodedObjectBytes bounds what the values decoded from n bytes of a stored record take
// in memory: a string's bytes and header, a value's slot for every few bytes of encoding.
func decodedObjectBytes(n int) int64 { return 2*int64(n) + 256 }

// bind makes the object of a stored record, bound to its class in this transaction's code.
func (tx *Tx) bind(thread *starlark.Thread, s stored) (*Object, error) {
	id, rec := s.id, s.rec
	// The decoded values are charged to the request's allocations, so that the heap guard
	// sees who holds the objects read (a list of 10 MB objects), and one object larger
	// than an operation may allocate is refused.
	if err := runtime.ChargeAlloc(thread, "reading object "+id, decodedObjectBytes(len(s.data))); err != nil {
		return nil, err
	}
	if rec == nil {
		var err error
		if rec, err = decodeRecord(s.data); err != nil {
			return nil, fmt.Errorf("object %s: %w", id, err)
		}
	}
	m, err := tx.class(rec.class)
	if err != nil && !errors.Is(err, ErrNoClass) {
		return nil, fmt.Errorf("object %s: %w", id, err)
	}
	obj := &Object{model: m, class: rec.class, id: id, version: rec.version, fields: make(map[string]starlark.Value)}
	if m != nil {
		obj.class = m.QualifiedName() // also when rec.class is an alias of m (classes.go)
	}
	names, fields := rec.names, rec.fields
	if m != nil && rec.version < m.version && m.migrate != nil {
		if names, fields, err = m.upgrade(thread, id, rec); err != nil {
			return nil, err
		}
	}
	if m != nil {
		// Declared fields first, in declaration order, missing ones at their defaults; then
		// the fields the model does not declare, kept so that writing the object loses nothing.
		for _, f := range m.fields {
			if v, ok := fields[f]; ok {
				obj.setRaw(f, v)
			} else {
				obj.setRaw(f, m.defaultValue(f))
			}
		}
		obj.version = max(rec.version, m.version)
	}
	for _, f := range names {
		if _, ok := obj.fields[f]; !ok {
			obj.setRaw(f, fields[f])
		}
	}
	return obj, nil
}

// upgrade runs the model's migrate function on a record of an older version.
func (m *Model) upgrade(thread *starlark.Thread, id string, rec *record) ([]string, map[string]starlark.Value, error) {
	fail := func(err error) error {
		return fmt.Errorf("object %s: migrating %s from version %d to %d: %w", id, rec.class, rec.version, m.version, err)
	}
	in := starlark.NewDict(len(rec.names))
	for _, n := range rec.names {
		in.SetKey(starlark.String(n), rec.fields[n])
	}
	out, err := starlark.Call(thread, m.migrate, starlark.Tuple{in, starlark.MakeInt(rec.version)}, nil)
	if err != nil {
		return nil, nil, fail(err)
	}
	if out == starlark.None {
		out = in // migrate changed fields in place
	}
	dict, ok := out.(*starlark.Dict)
	if !ok {
		return nil, nil, fail(fmt.Errorf("migrate returned %s, want the fields as a dict", out.Type()))
	}
	var names []string
	fields := make(map[string]starlark.Value, dict.Len())
	for _, kv := range dict.Items() {
		f, ok := kv[0].(starlark.String)
		if !ok || !isIdentifier(string(f)) || f == "id" {
			return nil, nil, fail(fmt.Errorf("migrate returned the field name %s, want identifiers other than id", kv[0]))
		}
		if m.hasField(string(f)) {
			if err := m.checkField(string(f), kv[1]); err != nil {
				return nil, nil, fail(err)
			}
		} else if _, err := EncodeValue(kv[1]); err != nil {
			return nil, nil, fail(fmt.Errorf("field %s: %w", f, err))
		}
		names = append(names, string(f))
		fields[string(f)] = kv[1]
	}
	return names, fields, nil
}

// save writes obj and its index entries, giving it an id if it has none, and returns the id.
func (tx *Tx) save(obj *Object) (string, error) {
	m := obj.model
	switch {
	case obj.frozen:
		return "", fmt.Errorf("cannot save %s: it is frozen (a module-level constant); make a new instance in the handler", obj.shortName())
	case m == nil:
		return "", obj.missingClass("it cannot be written")
	case obj.version > m.version:
		return "", fmt.Errorf("cannot save object %s: %w: it is version %d of %s but the current code declares version %d "+
			"(was the code rolled back?); writing it would drop what version %d added. Deploy code declaring version %d or later to change it",
			obj.id, ErrNewerObject, obj.version, obj.class, m.version, obj.version, obj.version)
	}
	// Objects are read back through the resolver: a model it cannot find (one not assigned
	// to the global of its name) would make every object saved now unreadable as its class.
	if _, err := tx.class(obj.class); err != nil {
		if errors.Is(err, ErrNoClass) {
			return "", fmt.Errorf("cannot save %s: %w: %s cannot be found by its name (is the model assigned to a global named %s at the top level of %s?)",
				obj.shortName(), ErrNoClass, obj.class, m.name, m.module)
		}
		return "", err
	}
	rec := &record{class: obj.class, version: m.version, indexed: m.indexes, names: obj.names, fields: obj.fields}
	for _, f := range obj.names {
		if _, err := EncodeValue(obj.fields[f]); err != nil {
			return "", fmt.Errorf("cannot save %s: field %s: %w", obj.shortName(), f, err)
		}
	}
	data, err := rec.encode()
	if err != nil {
		return "", fmt.Errorf("cannot save %s: %w", obj.shortName(), err)
	}

	d, err := tx.dtx()
	if err != nil {
		return "", err
	}
	id, old := obj.id, (*record)(nil)
	if id == "" {
		id = newID()
	} else {
		stored, ok, err := d.get(id)
		if err != nil {
			return "", tx.failed(err)
		}
		if ok && bytes.Equal(stored, data) {
			return id, nil // unchanged: writing would only make concurrent readers conflict
		}
		if ok {
			if old, err = decodeRecord(stored); err != nil {
				return "", fmt.Errorf("object %s: %w", id, err)
			}
			if old.class != obj.class && !m.declares(old.class) {
				return "", fmt.Errorf("cannot save object %s as a %s: it is stored as a %s", id, obj.class, old.class)
			}
		}
	}
	if err := d.put(id, rec, data, old); err != nil {
		return "", tx.failed(err)
	}
	obj.id, obj.version = id, m.version
	return id, nil
}

// remove deletes object id; it reports whether the object existed.
func (tx *Tx) remove(id string) (bool, error) {
	d, err := tx.dtx()
	if err != nil {
		return false, err
	}
	stored, ok, err := d.get(id)
	if err != nil || !ok {
		return false, tx.failed(err)
	}
	old, _ := decodeRecord(stored) // a record that does not decode is removed all the same
	return true, tx.failed(d.remove(id, old))
}

// A filter is one field = value condition of db.find.
type filter struct {
	field string
	enc   []byte // the value's encoding
}

// find returns the instances of m whose fields have the given values, in id order. At least
// one of the fields must be indexed: on the KV tier, the first indexed one selects the
// candidates; a SQL tier selects on all of them at once.
func (tx *Tx) find(thread *starlark.Thread, m *Model, filters []filter) ([]*Object, error) {
	var by *filter
	for i := range filters {
		if slices.Contains(m.indexes, filters[i].field) {
			by = &filters[i]
			break
		}
	}
	if by == nil {
		return nil, fmt.Errorf("find(%s, ...): no indexed field among the conditions; %s indexes %s (declare indexes = [...] in its model)",
			m.name, m.name, describeIndexes(m))
	}
	d, err := tx.dtx()
	if err != nil {
		return nil, err
	}
	candidates, err := d.find(m, filters, by)
	if err != nil {
		return nil, tx.failed(err)
	}
	var found []*Object
	for _, s := range candidates {
		obj, err := tx.bind(thread, s)
		if err != nil {
			return nil, err
		}
		if obj.class == m.QualifiedName() && obj.matches(filters) {
			found = append(found, obj)
		}
	}
	return found, nil
}

func describeIndexes(m *Model) string {
	if len(m.indexes) == 0 {
		return "no field"
	}
	return strings.Join(m.indexes, ", ")
}

// matches reports whether every filter holds for obj, comparing encodings (so 1 matches 1, not
// 1.0, and the hash collisions of index keys are ruled out).
func (o *Object) matches(filters []filter) bool {
	for _, f := range filters {
		v, ok := o.fields[f.field]
		if !ok {
			return false
		}
		enc, err := EncodeValue(v)
		if err != nil || !bytes.Equal(enc, f.enc) {
			return false
		}
	}
	return true
}

// list returns up to limit instances of m with ids after after ("" from the start), in id order.
func (tx *Tx) list(thread *starlark.Thread, m *Model, limit int, after string) ([]*Object, error) {
	return tx.listClass(thread, m.QualifiedName(), limit, after, true)
}

// listClass is list by class name; with phantoms false, objects created concurrently need not
// make the transaction conflict (see dataTx.list).
func (tx *Tx) listClass(thread *starlark.Thread, class string, limit int, after string, phantoms bool) ([]*Object, error) {
	d, err := tx.dtx()
	if err != nil {
		return nil, err
	}
	page, err := d.list(class, after, limit, phantoms)
	if err != nil {
		return nil, tx.failed(err)
	}
	objs := make([]*Object, 0, len(page))
	for _, s := range page {
		obj, err := tx.bind(thread, s)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	return objs, nil
}
