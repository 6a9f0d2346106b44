package objects

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"
)

// A Model is a class of persistent objects, made by the model builtin at the top level of a
// stored module. Calling it makes a new, unsaved instance (an [*Object]).
//
// A Model never changes after model() returns (its defaults are private frozen copies), so it is
// safe to share between goroutines, as frozen module globals are.
type Model struct {
	module  string // path of the module that declared it
	name    string // its name in that module
	fields  []string
	types   map[string]string // field -> required value type; "" when the default is None (any type)
	encoded map[string][]byte // field -> encoding of its default, decoded afresh for each instance
	methods map[string]starlark.Callable
	indexes []string
	// composites are the indexes of several fields (indexes = [("state", "total")]), which
	// SQL tiers build for aggregates and filters over exactly those fields.
	composites [][]string
	// sqlIndexes are the indexes a SQL tier builds for the model, each its fields joined
	// by commas: the indexed fields, then the composite indexes (sqlEngine.ensureIndexes).
	sqlIndexes []string
	version    int
	migrate    starlark.Callable // nil when the model has no migrate function
	aliases    []string          // old qualified names of the class (classes.go)
}

var (
	_ starlark.Callable = (*Model)(nil)
	_ starlark.HasAttrs = (*Model)(nil)
)

// Module returns the path of the module that declared the model.
func (m *Model) Module() string { return m.module }

// QualifiedName returns the name stored objects record: module path + ":" + model name.
func (m *Model) QualifiedName() string { return m.module + ":" + m.name }

// Version returns the model's class version.
func (m *Model) Version() int { return m.version }

// Fields returns the declared field names in declaration order.
func (m *Model) Fields() []string { return slices.Clone(m.fields) }

// Name returns the model's name (as in model("Counter", ...)).
func (m *Model) Name() string { return m.name }

func (m *Model) String() string       { return fmt.Sprintf("<model %s>", m.QualifiedName()) }
func (m *Model) Type() string         { return "model" }
func (m *Model) Truth() starlark.Bool { return true }

// Hash makes models usable as dict keys; models are equal only to themselves.
func (m *Model) Hash() (uint32, error) { return starlark.String(m.QualifiedName()).Hash() }

// Freeze freezes the model's functions (everything else is already immutable).
func (m *Model) Freeze() {
	for _, fn := range m.methods {
		fn.Freeze()
	}
	if m.migrate != nil {
		m.migrate.Freeze()
	}
}

// Attr exposes the model's description: name, module, version, fields, indexes.
func (m *Model) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(m.name), nil
	case "module":
		return starlark.String(m.module), nil
	case "version":
		return starlark.MakeInt(m.version), nil
	case "fields":
		return stringTuple(m.fields), nil
	case "indexes":
		t := stringTuple(m.indexes)
		for _, c := range m.composites {
			t = append(t, stringTuple(c))
		}
		return t, nil
	}
	return nil, nil
}

// AttrNames lists the attributes Attr exposes.
func (m *Model) AttrNames() []string {
	return []string{"fields", "indexes", "module", "name", "version"}
}

// CallInternal makes a new, unsaved instance: every field starts at (a fresh copy of) its
// default, then takes the value given by keyword, type-checked.
func (m *Model) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%s: fields are given by name, as in %s(%s = ...)", m.name, m.name, m.firstField())
	}
	obj := m.newObject()
	for _, kv := range kwargs {
		if err := obj.SetField(string(kv[0].(starlark.String)), kv[1]); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

func (m *Model) firstField() string {
	if len(m.fields) == 0 {
		return "field"
	}
	return m.fields[0]
}

// newObject returns an unsaved instance holding fresh copies of the defaults.
func (m *Model) newObject() *Object {
	obj := &Object{model: m, class: m.QualifiedName(), version: m.version, fields: make(map[string]starlark.Value, len(m.fields))}
	for _, f := range m.fields {
		obj.setRaw(f, m.defaultValue(f))
	}
	return obj
}

// defaultValue returns a new, unfrozen copy of field f's default.
func (m *Model) defaultValue(f string) starlark.Value {
	v, err := DecodeValue(m.encoded[f])
	if err != nil {
		// The bytes were produced by EncodeValue in newModel: decoding cannot fail.
		panic(fmt.Sprintf("objects: default of %s.%s does not decode: %v", m.QualifiedName(), f, err))
	}
	return v
}

// checkField reports whether v may be assigned to declared field f: it must have the type of
// the field's default (any type when the default is None) and be storable.
func (m *Model) checkField(f string, v starlark.Value) error {
	if want := m.types[f]; want != "" && v.Type() != want {
		return &FieldError{Model: m.name, Field: f, Reason: fmt.Sprintf("want %s (the type of its default), got %s", want, v.Type())}
	}
	if _, err := EncodeValue(v); err != nil {
		return fmt.Errorf("%w (%w)", &FieldError{Model: m.name, Field: f, Reason: err.Error()}, err)
	}
	return nil
}

func (m *Model) hasField(f string) bool { _, ok := m.types[f]; return ok }

func stringTuple(names []string) starlark.Tuple {
	t := make(starlark.Tuple, len(names))
	for i, n := range names {
		t[i] = starlark.String(n)
	}
	return t
}

// newModelBuiltin returns the model builtin:
//
//	model(name, fields = {}, methods = {}, indexes = [], version = 1, migrate = None, aliases = [])
func newModelBuiltin() *starlark.Builtin {
	return starlark.NewBuiltin("model", makeModel)
}

func makeModel(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name    string
		fields                    = new(starlark.Dict)
		methods                   = new(starlark.Dict)
		indexes starlark.Iterable = starlark.NewList(nil)
		version                   = 1
		migrate starlark.Value    = starlark.None
		aliases starlark.Iterable = starlark.NewList(nil)
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"name", &name, "fields?", &fields, "methods?", &methods,
		"indexes?", &indexes, "version?", &version, "migrate?", &migrate, "aliases?", &aliases); err != nil {
		return nil, err
	}
	if thread.CallStackDepth() < 2 || thread.CallFrame(1).Name != "<toplevel>" {
		return nil, fmt.Errorf("model(%q): models are declared at the top level of a module, not inside a function", name)
	}
	m, err := newModel(thread.CallFrame(1).Pos.Filename(), name, fields, methods, indexes, version, migrate)
	if err != nil {
		return nil, err
	}
	it := aliases.Iterate()
	defer it.Done()
	var v starlark.Value
	for it.Next(&v) {
		alias, ok := v.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("model(%q): aliases: got %s, want strings", name, v.Type())
		}
		if err := checkAlias(m, string(alias)); err != nil {
			return nil, fmt.Errorf("model(%q): %w", name, err)
		}
		if m.declares(string(alias)) {
			return nil, fmt.Errorf("model(%q): alias %q is listed twice", name, alias)
		}
		if len(m.aliases) >= 100 {
			return nil, fmt.Errorf("model(%q): more than 100 aliases", name)
		}
		m.aliases = append(m.aliases, string(alias))
	}
	return m, nil
}

func newModel(module, name string, fields, methods *starlark.Dict, indexes starlark.Iterable, version int, migrate starlark.Value) (*Model, error) {
	if !isIdentifier(name) {
		return nil, fmt.Errorf("model(%q): the name must be an identifier (letters, digits, _), like the global it is assigned to", name)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("model(%q): %s", name, fmt.Sprintf(format, args...))
	}
	m := &Model{
		module:  module,
		name:    name,
		types:   make(map[string]string),
		encoded: make(map[string][]byte),
		methods: make(map[string]starlark.Callable),
		version: version,
	}
	for _, kv := range fields.Items() {
		f, ok := kv[0].(starlark.String)
		if !ok || !isIdentifier(string(f)) || f == "id" {
			return nil, bad("field %s: field names are identifiers other than id", kv[0])
		}
		enc, err := EncodeValue(kv[1])
		if err != nil {
			return nil, bad("default of field %s: %v", f, err)
		}
		m.fields = append(m.fields, string(f))
		m.encoded[string(f)] = enc
		if kv[1] != starlark.None {
			m.types[string(f)] = kv[1].Type()
		} else {
			m.types[string(f)] = ""
		}
	}
	for _, kv := range methods.Items() {
		meth, ok := kv[0].(starlark.String)
		if !ok || !isIdentifier(string(meth)) || meth == "id" {
			return nil, bad("method %s: method names are identifiers other than id", kv[0])
		}
		if m.hasField(string(meth)) {
			return nil, bad("%s is both a field and a method", meth)
		}
		fn, ok := kv[1].(starlark.Callable)
		if !ok {
			return nil, bad("method %s is %s, want a function whose first parameter is self", meth, kv[1].Type())
		}
		if f, ok := fn.(*starlark.Function); ok && f.NumParams() == 0 && !f.HasVarargs() {
			return nil, bad("method %s: function %s takes no parameters; its first parameter receives the object (self)", meth, f.Name())
		}
		m.methods[string(meth)] = fn
	}
	var err error
	if m.indexes, m.composites, err = indexNames(m, indexes); err != nil {
		return nil, bad("%v", err)
	}
	m.sqlIndexes = slices.Clone(m.indexes)
	for _, c := range m.composites {
		m.sqlIndexes = append(m.sqlIndexes, strings.Join(c, ","))
	}
	if version < 1 {
		return nil, bad("version is %d, want 1 or more", version)
	}
	if migrate != starlark.None {
		fn, ok := migrate.(starlark.Callable)
		if !ok {
			return nil, bad("migrate is %s, want a function migrate(fields, from_version) returning the fields", migrate.Type())
		}
		m.migrate = fn
	}
	return m, nil
}

// MaxCompositeFields bounds the fields of one composite index, MaxComposites the composite
// indexes of one model.
const (
	MaxCompositeFields = 4
	MaxComposites      = 16
)

// indexNames reads a model's indexes: field names (indexed alone), and tuples of 2 to
// MaxCompositeFields field names (composite indexes).
func indexNames(m *Model, indexes starlark.Iterable) (names []string, composites [][]string, err error) {
	it := indexes.Iterate()
	defer it.Done()
	var v starlark.Value
	for it.Next(&v) {
		if t, ok := v.(starlark.Tuple); ok {
			c, err := compositeIndex(m, t)
			if err != nil {
				return nil, nil, err
			}
			for _, o := range composites {
				if slices.Equal(o, c) {
					return nil, nil, fmt.Errorf("index %s is declared twice", v)
				}
			}
			if len(composites) >= MaxComposites {
				return nil, nil, fmt.Errorf("more than %d composite indexes", MaxComposites)
			}
			composites = append(composites, c)
			continue
		}
		f, ok := v.(starlark.String)
		if !ok || !m.hasField(string(f)) {
			return nil, nil, fmt.Errorf("index %s: indexes name declared fields, or are tuples of them (fields: %s)", v, strings.Join(m.fields, ", "))
		}
		if slices.Contains(names, string(f)) {
			return nil, nil, fmt.Errorf("field %s is indexed twice", f)
		}
		names = append(names, string(f))
	}
	return names, composites, nil
}

// compositeIndex checks the tuple of a composite index: 2 to MaxCompositeFields distinct
// declared fields.
func compositeIndex(m *Model, t starlark.Tuple) ([]string, error) {
	if len(t) < 2 || len(t) > MaxCompositeFields {
		return nil, fmt.Errorf("index %s: a composite index is a tuple of 2 to %d field names, as (\"state\", \"total\"); a single field is named alone", t, MaxCompositeFields)
	}
	var c []string
	for _, x := range t {
		f, ok := x.(starlark.String)
		if !ok || !m.hasField(string(f)) {
			return nil, fmt.Errorf("index %s: %s is not a declared field (fields: %s)", t, x, strings.Join(m.fields, ", "))
		}
		if slices.Contains(c, string(f)) {
			return nil, fmt.Errorf("index %s: field %s is listed twice", t, f)
		}
		c = append(c, string(f))
	}
	return c, nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
