package objects

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// A Query is the value of db.query(Model): an immutable description of a query (query.go)
// whose methods return new queries or run it in the request's transaction.
type Query struct {
	q query
}

var _ starlark.HasAttrs = (*Query)(nil)

func (v *Query) String() string        { return fmt.Sprintf("<query of %s>", v.q.m.name) }
func (v *Query) Type() string          { return "query" }
func (v *Query) Freeze()               {}
func (v *Query) Truth() starlark.Bool  { return true }
func (v *Query) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: query") }

var queryMethods = []string{"after", "avg", "count", "fetch", "first", "group_by", "limit", "max", "min", "order_by", "page", "sum", "where"}

func (v *Query) AttrNames() []string { return queryMethods }

func (v *Query) Attr(name string) (starlark.Value, error) {
	if !slices.Contains(queryMethods, name) {
		return nil, nil
	}
	return starlark.NewBuiltin("query."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		out, err := v.call(thread, name, args, kwargs)
		if err != nil {
			return nil, fmt.Errorf("db.query(%s).%s: %w", v.q.m.name, name, err)
		}
		return out, nil
	}), nil
}

// with returns a copy of the query for a method to change.
func (v *Query) with() *Query {
	c := &Query{q: v.q}
	c.q.filters = slices.Clone(v.q.filters)
	return c
}

func (v *Query) call(thread *starlark.Thread, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	m := v.q.m
	switch name {
	case "where":
		var field, op string
		var value starlark.Value
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 3, &field, &op, &value); err != nil {
			return nil, err
		}
		if !slices.Contains(queryOps, op) {
			return nil, fmt.Errorf("where(%q, %q, ...): unknown operator; use one of %s", field, op, strings.Join(queryOps, " "))
		}
		if err := m.checkQueryField("where", field); err != nil {
			return nil, err
		}
		f := qfilter{field: field, op: op}
		if op == "in" {
			seq, ok := value.(starlark.Indexable)
			if !ok || (value.Type() != "list" && value.Type() != "tuple") {
				return nil, fmt.Errorf("where(%q, \"in\", ...): want a list or tuple of values, got %s", field, value.Type())
			}
			if seq.Len() == 0 || seq.Len() > MaxQueryIn {
				return nil, fmt.Errorf("where(%q, \"in\", ...): %d values, want 1 to %d", field, seq.Len(), MaxQueryIn)
			}
			for i := range seq.Len() {
				x, err := m.queryValue(field, op, seq.Index(i))
				if err != nil {
					return nil, err
				}
				f.vals = append(f.vals, x)
			}
		} else {
			x, err := m.queryValue(field, op, value)
			if err != nil {
				return nil, err
			}
			f.vals = []any{x}
		}
		c := v.with()
		c.q.filters = append(c.q.filters, f)
		return c, nil
	case "order_by":
		var field string
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &field); err != nil {
			return nil, err
		}
		desc := strings.HasPrefix(field, "-")
		field = strings.TrimPrefix(field, "-")
		if field != "id" {
			if err := m.checkQueryField("order_by", field); err != nil {
				return nil, err
			}
			if m.fieldType(field) == "" {
				return nil, fmt.Errorf("order_by(%q): field %s has no type (its default is None), so no order", field, field)
			}
		} else {
			field = ""
		}
		c := v.with()
		c.q.order, c.q.desc, c.q.after = field, desc, nil
		return c, nil
	case "limit":
		var n int
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &n); err != nil {
			return nil, err
		}
		if n < 1 || n > MaxQueryLimit {
			return nil, fmt.Errorf("limit(%d): want 1 to %d", n, MaxQueryLimit)
		}
		c := v.with()
		c.q.limit = n
		return c, nil
	case "after":
		var cur starlark.Value
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &cur); err != nil {
			return nil, err
		}
		c := v.with()
		c.q.after = nil
		if cur == starlark.None {
			return c, nil
		}
		s, ok := cur.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("after: got %s, want the cursor of a page (a string) or None", cur.Type())
		}
		var err error
		if c.q.after, err = decodeCursor(&c.q, string(s)); err != nil {
			return nil, err
		}
		return c, nil
	case "group_by":
		var field string
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &field); err != nil {
			return nil, err
		}
		if err := m.checkQueryField("group_by", field); err != nil {
			return nil, err
		}
		c := v.with()
		c.q.groupBy = field
		return c, nil
	}

	tx, err := boundTx(thread, starlark.NewBuiltin("db.query", dbQuery))
	if err != nil {
		return nil, err
	}
	switch name {
	case "fetch", "first", "page":
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
			return nil, err
		}
		if v.q.groupBy != "" {
			return nil, fmt.Errorf("%s(): a grouped query gives aggregates (count, sum, min, max, avg), not objects", name)
		}
		q := v.q
		if name == "first" {
			q.limit = 1
		}
		objs, more, err := tx.runQuery(thread, &q)
		if err != nil {
			return nil, err
		}
		switch name {
		case "first":
			if len(objs) == 0 {
				return starlark.None, nil
			}
			return objs[0], nil
		case "fetch":
			return objectList(objs), nil
		}
		next := starlark.Value(starlark.None)
		if more {
			last := objs[len(objs)-1]
			var value any
			if q.order != "" {
				value, _ = sqlScalar(last.fields[q.order])
			}
			s, err := encodeCursor(&q, value, last.id)
			if err != nil {
				return nil, err
			}
			next = starlark.String(s)
		}
		return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
			"items": objectList(objs), "cursor": next,
		}), nil
	}

	// Aggregates.
	field := ""
	if name == "count" {
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
			return nil, err
		}
	} else {
		if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &field); err != nil {
			return nil, err
		}
		if !m.hasField(field) {
			return nil, fmt.Errorf("%s(%q): %s has no field %s", name, field, m.name, field)
		}
		if t := m.fieldType(field); t != "int" && t != "float" {
			return nil, fmt.Errorf("%s(%q): %s.%s is not a number field (int or float)", name, field, m.name, field)
		}
	}
	rows, err := tx.runAggregate(&v.q, name, field)
	if err != nil {
		return nil, err
	}
	result := func(x any) starlark.Value {
		switch {
		case name == "count":
			return scalarValue(x)
		case name == "avg":
			return toFloat(x)
		}
		return coerce(x, m.fieldType(field))
	}
	if v.q.groupBy == "" {
		if len(rows) == 0 {
			return result(nil), nil
		}
		return result(rows[0].value), nil
	}
	out := starlark.NewDict(len(rows))
	for _, r := range rows {
		if err := out.SetKey(coerce(r.key, m.fieldType(v.q.groupBy)), result(r.value)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// coerce turns a scalar the data tier returned into a value of a field's type: SQLite has
// no bools (1 is true) and sums ints of floats as it likes.
func coerce(x any, typ string) starlark.Value {
	switch typ {
	case "bool":
		switch x := x.(type) {
		case int64:
			return starlark.Bool(x != 0)
		case bool:
			return starlark.Bool(x)
		}
	case "float":
		if x != nil {
			return toFloat(x)
		}
	case "int":
		if f, ok := x.(float64); ok && f == float64(int64(f)) {
			return starlark.MakeInt64(int64(f))
		}
	}
	return scalarValue(x)
}

func toFloat(x any) starlark.Value {
	switch x := x.(type) {
	case int64:
		return starlark.Float(float64(x))
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return starlark.Float(f)
	case float64:
		return starlark.Float(x)
	}
	return starlark.None
}

func dbQuery(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var m *Model
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &m); err != nil {
		return nil, err
	}
	return &Query{q: query{m: m, limit: DefaultQueryLimit}}, nil
}
