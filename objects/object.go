package objects

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"
)

// An Object is an instance of a Model: made by calling the model, or read by db.get, db.find or
// db.list. Its fields read and assign as attributes; its methods are the model's methods with
// the object as first argument.
//
// An object holds its class by name. The Model it is bound to is the one the reading request's
// code declares under that name, never one remembered from the code that wrote it. When that
// code no longer declares the class, the object is a plain record: its fields stay readable,
// nothing can be assigned, and its methods fail with ErrNoClass.
//
// An Object belongs to the request that made or read it and is not safe for concurrent use;
// frozen (as a module-level constant), it can only be read.
type Object struct {
	model   *Model // nil when the class is missing from the reading request's code
	class   string // qualified class name: module path + ":" + model name
	id      string // "" until saved
	version int    // class version of the fields held (newer than model.version after a rollback)
	names   []string
	fields  map[string]starlark.Value
	frozen  bool
}

var _ starlark.HasSetField = (*Object)(nil)

// ID returns the object's id, or "" when it was never saved.
func (o *Object) ID() string { return o.id }

// Class returns the qualified name of the object's class ("counters.star:Counter").
func (o *Object) Class() string { return o.class }

// FieldNames returns the names of the fields the object holds, declared fields first.
func (o *Object) FieldNames() []string { return slices.Clone(o.names) }

// Field returns the value of one field.
func (o *Object) Field(name string) (starlark.Value, bool) {
	v, ok := o.fields[name]
	return v, ok
}

func (o *Object) setRaw(name string, v starlark.Value) {
	if _, ok := o.fields[name]; !ok {
		o.names = append(o.names, name)
	}
	o.fields[name] = v
}

// shortName is the model name part of the class.
func (o *Object) shortName() string { return o.class[strings.LastIndexByte(o.class, ':')+1:] }

func (o *Object) Type() string         { return o.shortName() }
func (o *Object) Truth() starlark.Bool { return true }

// Hash fails: objects are mutable.
func (o *Object) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable type: %s (use its id as a key)", o.Type())
}

// Freeze makes the object and its field values read-only.
func (o *Object) Freeze() {
	if o.frozen {
		return
	}
	o.frozen = true
	for _, v := range o.fields {
		v.Freeze()
	}
}

// String shows the class, the id and the fields, as in Counter(id = "...", name = "c", value = 2).
func (o *Object) String() string {
	var b strings.Builder
	b.WriteString(o.shortName())
	b.WriteByte('(')
	sep := ""
	if o.id != "" {
		fmt.Fprintf(&b, "id = %q", o.id)
		sep = ", "
	}
	for _, n := range o.names {
		fmt.Fprintf(&b, "%s%s = %s", sep, n, o.fields[n])
		sep = ", "
	}
	b.WriteByte(')')
	return b.String()
}

// Attr returns a field, a method bound to the object, or id (None until saved).
func (o *Object) Attr(name string) (starlark.Value, error) {
	if name == "id" {
		if o.id == "" {
			return starlark.None, nil
		}
		return starlark.String(o.id), nil
	}
	if v, ok := o.fields[name]; ok {
		return v, nil
	}
	if o.model == nil {
		return nil, o.missingClass(fmt.Sprintf("it has no field %s and cannot run methods", name))
	}
	if fn, ok := o.model.methods[name]; ok {
		return &method{recv: o, name: name, fn: fn}, nil
	}
	return nil, starlark.NoSuchAttrError(fmt.Sprintf("%s has no field or method %s (fields: %s)",
		o.shortName(), name, strings.Join(o.names, ", ")))
}

// AttrNames lists id, the fields and the methods.
func (o *Object) AttrNames() []string {
	names := append([]string{"id"}, o.names...)
	if o.model != nil {
		for n := range o.model.methods {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// SetField assigns a field, type-checked against the model: a declared field takes values of
// its default's type (any storable value when the default is None); a field the stored object
// holds but the model does not declare keeps whatever storable value it is given.
func (o *Object) SetField(name string, v starlark.Value) error {
	switch {
	case o.frozen:
		return fmt.Errorf("cannot assign %s.%s: the object is frozen (a module-level constant)", o.shortName(), name)
	case o.model == nil:
		return o.missingClass(fmt.Sprintf("it is read-only, cannot assign %s", name))
	case name == "id":
		return fmt.Errorf("cannot assign %s.id: ids are given by db.put", o.shortName())
	case o.model.hasField(name):
		if err := o.model.checkField(name, v); err != nil {
			return err
		}
	default:
		if _, ok := o.fields[name]; !ok {
			return starlark.NoSuchAttrError(fmt.Sprintf("%s has no field %s (fields: %s)",
				o.shortName(), name, strings.Join(o.model.fields, ", ")))
		}
		if _, err := EncodeValue(v); err != nil {
			return fmt.Errorf("%s.%s: %w", o.shortName(), name, err)
		}
	}
	o.setRaw(name, v)
	return nil
}

// missingClass explains that o's class is not in the current code.
func (o *Object) missingClass(consequence string) error {
	return fmt.Errorf("object %s: %w: %s is not declared by the current code (its module or model was removed or renamed); "+
		"the object is readable as a plain record but %s", o.id, ErrNoClass, o.class, consequence)
}

// A method is a model's method bound to an object: calling it calls the function with the
// object as first argument.
type method struct {
	recv *Object
	name string
	fn   starlark.Callable
}

var _ starlark.Callable = (*method)(nil)

func (m *method) Name() string         { return m.name }
func (m *method) Type() string         { return "method" }
func (m *method) Truth() starlark.Bool { return true }
func (m *method) Freeze()              { m.recv.Freeze() }
func (m *method) String() string {
	return fmt.Sprintf("<method %s of %s>", m.name, m.recv.shortName())
}
func (m *method) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: method") }

func (m *method) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return starlark.Call(thread, m.fn, append(starlark.Tuple{m.recv}, args...), kwargs)
}
