package objects

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// Queries (db.query) select, order, page and aggregate the instances of one model:
//
//	q = db.query(Order)                       # every Order, in id order
//	q = q.where("state", "==", "open")        # each method returns a new query
//	q = q.where("total", ">=", 100).where("customer", "in", [a, b])
//	q = q.order_by("-created")                # "-": descending; ties are broken by id
//	orders = q.limit(50).fetch()              # at most 50 objects (default 100, at most 1000)
//	page = q.limit(50).page()                 # page.items, page.cursor (None after the last)
//	more = q.limit(50).after(page.cursor).page()
//	n = q.count()
//	s = q.sum("total")                        # also min, max, avg; None when nothing matches
//	by_state = db.query(Order).group_by("state").sum("total")   # {state: sum}
//
// The operators are ==, !=, <, <=, >, >=, in (a list or tuple of at most MaxQueryIn values)
// and prefix (strings). Conditions combine with AND in any order and number: the engine
// plans them (there is no keyword-order trap). Fields in where, order_by and group_by must
// be indexed (declared in the model's indexes), so that SQL tiers answer from an index;
// sum/avg/min/max take any declared int or float field. A value must have its field's type
// (ints and floats compare with each other); a field whose default is None has no type and
// takes only == and != and in. Objects without a value for the field (None, NaN, or a field
// added to the model and not migrated yet) match no condition on it and are left out of an
// order on it. Strings compare bytewise (by code point).
//
// Every query is bounded: pages by limit, aggregates by the request's time limit, groups by
// MaxQueryGroups. On a SQL tier a query is one statement of parameterised SQL: its text is
// made of this package's and the dialect's fragments and of field names checked against the
// model (identifiers); every value, the cursor's included, is a parameter. On the KV tier,
// which has no such indexes, a query reads the whole class (at most MaxQueryScan objects,
// else it fails naming the limit) and filters, orders and aggregates in the request.

// Bounds of queries.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000
	MaxQueryIn        = 100
	MaxQueryGroups    = 1000
	MaxQueryScan      = 10000
)

// A query is a compiled db.query: conditions, order, page.
type query struct {
	m       *Model
	filters []qfilter
	order   string // "" for id order
	desc    bool
	limit   int
	after   *cursor
	groupBy string
}

// A qfilter is one where(field, op, value); vals holds the value's scalar (several for in).
type qfilter struct {
	field string
	op    string
	vals  []any
}

// A cursor is where a page ends: the order field's value of its last object, and its id.
type cursor struct {
	value any // nil when ordered by id
	id    string
}

// An aggRow is one row of an aggregate: the group's key (nil without group_by) and value.
type aggRow struct {
	key, value any
}

// A sqlQuerier is a data tier that runs queries itself (the SQL tiers); the others are
// answered by scanQuery and scanAggregate.
type sqlQuerier interface {
	query(q *query) ([]stored, error)
	aggregate(q *query, fn, field string) ([]aggRow, error)
}

var queryOps = []string{"==", "!=", "<", "<=", ">", ">=", "in", "prefix"}

// fieldType returns the type of declared field f ("" when its default is None).
func (m *Model) fieldType(f string) string { return m.types[f] }

// checkQueryField checks that f may be used by a query clause.
func (m *Model) checkQueryField(clause, f string) error {
	if !m.hasField(f) {
		return fmt.Errorf("%s: %s has no field %s (fields: %s)", clause, m.name, f, strings.Join(m.fields, ", "))
	}
	if !slices.Contains(m.indexes, f) {
		return fmt.Errorf("%s: field %s of %s is not indexed; queries select, order and group on indexed fields (%s indexes %s; add %s to indexes = [...] in its model)",
			clause, f, m.name, m.name, describeIndexes(m), f)
	}
	return nil
}

// queryValue checks v against field f for operator op and returns its scalar.
func (m *Model) queryValue(f, op string, v starlark.Value) (any, error) {
	want := m.fieldType(f)
	numeric := func(t string) bool { return t == "int" || t == "float" }
	switch {
	case want == "" && op != "==" && op != "!=" && op != "in":
		return nil, fmt.Errorf("where(%q, %q, ...): field %s has no type (its default is None): only ==, != and in apply", f, op, f)
	case op == "prefix" && (want != "string" || v.Type() != "string"):
		return nil, fmt.Errorf("where(%q, \"prefix\", ...): prefix applies to string fields and values, got a %s field and a %s", f, want, v.Type())
	case want != "" && v.Type() != want && !(numeric(want) && numeric(v.Type())):
		return nil, fmt.Errorf("where(%q, %q, ...): %s.%s is a %s, got a %s", f, op, m.name, f, want, v.Type())
	}
	x, ok := sqlScalar(v)
	if !ok {
		return nil, fmt.Errorf("where(%q, %q, ...): %s cannot be compared (want a string, number or bool)", f, op, v)
	}
	return x, nil
}

// encodeCursor makes the opaque cursor of q's page ending at the object with scalar value
// (of the order field) and id.
func encodeCursor(q *query, value any, id string) (string, error) {
	v := starlark.Value(starlark.None)
	if q.order != "" {
		v = scalarValue(value)
	}
	enc, err := EncodeValue(starlark.Tuple{starlark.String(q.order), starlark.Bool(q.desc), v, starlark.String(id)})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(enc), nil
}

// decodeCursor checks that s is a cursor of a query with q's order, and returns it. A cursor
// comes back from a client (a "next page" link), so one that is not this query's is the
// client's error: an AbortError 400, which rolls the request back like abort().
func decodeCursor(q *query, s string) (*cursor, error) {
	bad := &AbortError{Status: http.StatusBadRequest, Message: fmt.Sprintf(
		"after(%q): not a cursor of this query (cursors come from page().cursor of a query with the same order_by)", s)}
	enc, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	v, err := DecodeValue(enc)
	if err != nil {
		return nil, bad
	}
	t, ok := v.(starlark.Tuple)
	if !ok || len(t) != 4 || t[0] != starlark.String(q.order) || t[1] != starlark.Bool(q.desc) {
		return nil, bad
	}
	id, ok := t[3].(starlark.String)
	if !ok || checkID(string(id)) != nil {
		return nil, bad
	}
	c := &cursor{id: string(id)}
	if q.order != "" {
		x, ok := sqlScalar(t[2])
		if !ok {
			return nil, bad
		}
		c.value = x
	}
	return c, nil
}

// successor returns the least string greater than every string with prefix p in code point
// order, and false when there is none (p is empty or only U+10FFFF).
func successor(p string) (string, bool) {
	runes := []rune(p)
	for i := len(runes) - 1; i >= 0; i-- {
		r := runes[i] + 1
		if r == 0xD800 {
			r = 0xE000 // surrogates are not characters
		}
		if r <= utf8.MaxRune {
			runes[i] = r
			return string(runes[:i+1]), true
		}
	}
	return "", false
}

// compareScalars orders two scalars of one field as SQL does: numbers numerically, strings
// bytewise, false before true. ok is false when they cannot be compared (mixed kinds).
func compareScalars(a, b any) (int, bool) {
	switch a := a.(type) {
	case string:
		if b, ok := b.(string); ok {
			return strings.Compare(a, b), true
		}
	case bool:
		if b, ok := b.(bool); ok {
			switch {
			case a == b:
				return 0, true
			case !a:
				return -1, true
			}
			return 1, true
		}
	case int64, *big.Int, float64:
		x, ok1 := toBigFloat(a)
		y, ok2 := toBigFloat(b)
		if ok1 && ok2 {
			return x.Cmp(y), true
		}
	}
	return 0, false
}

func toBigFloat(x any) (*big.Float, bool) {
	switch x := x.(type) {
	case int64:
		return new(big.Float).SetInt64(x), true
	case *big.Int:
		return new(big.Float).SetInt(x), true
	case float64:
		return big.NewFloat(x), true
	}
	return nil, false
}

// holds reports whether a filter holds for the scalar x of the field (nil: no value).
func (f *qfilter) holds(x any) bool {
	if x == nil {
		return false
	}
	switch f.op {
	case "in":
		for _, v := range f.vals {
			if c, ok := compareScalars(x, v); ok && c == 0 {
				return true
			}
		}
		return false
	case "prefix":
		s, ok := x.(string)
		return ok && strings.HasPrefix(s, f.vals[0].(string))
	}
	c, ok := compareScalars(x, f.vals[0])
	if !ok {
		return false
	}
	switch f.op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0 // >=
}

// recordScalar returns the scalar of field f in r, as the SQL projection holds it (nil
// when it has none).
func recordScalar(r *record, f string) any {
	v, ok := r.fields[f]
	if !ok {
		return nil
	}
	x, _ := sqlScalar(v)
	return x
}

// scanned is an object of a scan with its record.
type scanned struct {
	s   stored
	rec *record
}

// scanClass reads every instance of q's model (at most MaxQueryScan) that passes q's
// filters: the KV tier's way of answering queries.
func (tx *Tx) scanClass(q *query) ([]scanned, error) {
	d, err := tx.dtx()
	if err != nil {
		return nil, err
	}
	class := q.m.QualifiedName()
	var out []scanned
	after, seen := "", 0
	for {
		page, err := d.list(class, after, MaxListLimit, true)
		if err != nil {
			return nil, tx.failed(err)
		}
		for _, s := range page {
			rec := s.rec
			if rec == nil {
				if rec, err = decodeRecord(s.data); err != nil {
					return nil, fmt.Errorf("object %s: %w", s.id, err)
				}
			}
			match := true
			for i := range q.filters {
				if !q.filters[i].holds(recordScalar(rec, q.filters[i].field)) {
					match = false
					break
				}
			}
			if match {
				out = append(out, scanned{s, rec})
			}
		}
		seen += len(page)
		if seen > MaxQueryScan {
			return nil, fmt.Errorf("db.query(%s): the class has more than %d objects, which a query on the %s data tier reads one by one; "+
				"serve app data from SQLite or PostgreSQL (--data-url), whose indexes answer queries", q.m.name, MaxQueryScan, tx.eng.Name())
		}
		if len(page) < MaxListLimit {
			return out, nil
		}
		after = page[len(page)-1].id
	}
}

// scanQuery answers q by scanning (see scanClass): up to q.limit+1 objects in q's order.
func (tx *Tx) scanQuery(q *query) ([]stored, error) {
	all, err := tx.scanClass(q)
	if err != nil {
		return nil, err
	}
	key := func(o scanned) any { return recordScalar(o.rec, q.order) }
	if q.order != "" {
		all = slices.DeleteFunc(all, func(o scanned) bool { return key(o) == nil })
	}
	cmp := func(a, b scanned) int {
		c := 0
		if q.order != "" {
			c, _ = compareScalars(key(a), key(b))
		}
		if c == 0 {
			c = strings.Compare(a.s.id, b.s.id)
		}
		if q.desc {
			c = -c
		}
		return c
	}
	slices.SortStableFunc(all, cmp)
	var out []stored
	for _, o := range all {
		if q.after != nil {
			c := 0
			if q.order != "" {
				c, _ = compareScalars(key(o), q.after.value)
			}
			if c == 0 {
				c = strings.Compare(o.s.id, q.after.id)
			}
			if q.desc {
				c = -c
			}
			if c <= 0 {
				continue
			}
		}
		out = append(out, o.s)
		if len(out) > q.limit {
			break
		}
	}
	return out, nil
}

// scanAggregate answers an aggregate by scanning (see scanClass).
func (tx *Tx) scanAggregate(q *query, fn, field string) ([]aggRow, error) {
	all, err := tx.scanClass(q)
	if err != nil {
		return nil, err
	}
	type acc struct {
		key   any
		n     int64
		sum   *big.Float
		isum  *big.Int
		best  any
		float bool
	}
	var groups []*acc
	find := func(k any) *acc {
		for _, g := range groups {
			if c, ok := compareScalars(g.key, k); (ok && c == 0) || (g.key == nil && k == nil) {
				return g
			}
		}
		if len(groups) >= MaxQueryGroups {
			return nil
		}
		g := &acc{key: k, sum: new(big.Float), isum: new(big.Int)}
		groups = append(groups, g)
		return g
	}
	if q.groupBy == "" {
		find(nil)
	}
	for _, o := range all {
		var k any
		if q.groupBy != "" {
			k = recordScalar(o.rec, q.groupBy)
		}
		g := find(k)
		if g == nil {
			return nil, fmt.Errorf("group_by(%q): more than %d groups", q.groupBy, MaxQueryGroups)
		}
		if fn == "count" {
			g.n++
			continue
		}
		x := recordScalar(o.rec, field)
		bf, ok := toBigFloat(x)
		if !ok {
			continue // no value, or not a number: left out, as SQL leaves out NULL
		}
		g.n++
		g.sum.Add(g.sum, bf)
		switch x := x.(type) {
		case int64:
			g.isum.Add(g.isum, big.NewInt(x))
		case *big.Int:
			g.isum.Add(g.isum, x)
		default:
			g.float = true
		}
		if g.best == nil {
			g.best = x
		} else if c, _ := compareScalars(x, g.best); (fn == "min" && c < 0) || (fn == "max" && c > 0) {
			g.best = x
		}
	}
	rows := make([]aggRow, 0, len(groups))
	for _, g := range groups {
		var v any
		switch {
		case fn == "count":
			v = g.n
		case g.n == 0:
			v = nil
		case fn == "sum" && g.float:
			v, _ = g.sum.Float64()
		case fn == "sum":
			v = g.isum
		case fn == "avg":
			f, _ := new(big.Float).Quo(g.sum, new(big.Float).SetInt64(g.n)).Float64()
			v = f
		default:
			v = g.best
		}
		rows = append(rows, aggRow{g.key, v})
	}
	return rows, nil
}

// runQuery returns up to q.limit objects of q, bound to their classes, and whether more
// follow.
func (tx *Tx) runQuery(thread *starlark.Thread, q *query) ([]*Object, bool, error) {
	d, err := tx.dtx()
	if err != nil {
		return nil, false, err
	}
	var found []stored
	if sq, ok := d.(sqlQuerier); ok {
		found, err = sq.query(q)
		err = tx.failed(err)
	} else {
		found, err = tx.scanQuery(q)
	}
	if err != nil {
		return nil, false, err
	}
	more := len(found) > q.limit
	if more {
		found = found[:q.limit]
	}
	objs := make([]*Object, 0, len(found))
	for _, s := range found {
		obj, err := tx.bind(thread, s)
		if err != nil {
			return nil, false, err
		}
		objs = append(objs, obj)
	}
	return objs, more, nil
}

// runAggregate returns the rows of aggregate fn (count, sum, min, max, avg) of field.
func (tx *Tx) runAggregate(q *query, fn, field string) ([]aggRow, error) {
	d, err := tx.dtx()
	if err != nil {
		return nil, err
	}
	if sq, ok := d.(sqlQuerier); ok {
		rows, err := sq.aggregate(q, fn, field)
		if err == nil && len(rows) > MaxQueryGroups {
			err = fmt.Errorf("group_by(%q): more than %d groups", q.groupBy, MaxQueryGroups)
		}
		return rows, tx.failed(err)
	}
	return tx.scanAggregate(q, fn, field)
}
