package objects

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// compile returns the WHERE clause (after class_id) and arguments of q's conditions and
// cursor, and its ORDER BY. Every fragment of text is this package's or the dialect's, or a
// field name the model declares (an identifier); every value is an argument.
func (t *sqlTx) compile(q *query, cid int64) (where string, args []any, orderBy string) {
	d := t.e.d
	param := d.Param("?")
	conds := []string{"class_id = " + strconv.FormatInt(cid, 10)}
	for _, f := range q.filters {
		expr := d.Field(f.field)
		if q.order != "" && (f.op == "==" || f.op == "in") && t.e.unselective(cid, f.field, len(f.vals), q.limit) {
			expr = d.NoIndex(expr) // the same condition, checked while walking the order's index
		}
		switch f.op {
		case "in":
			ps := make([]string, len(f.vals))
			for i, v := range f.vals {
				ps[i] = param
				args = append(args, d.Arg(v))
			}
			conds = append(conds, expr+" IN ("+strings.Join(ps, ", ")+")")
		case "prefix":
			p := f.vals[0].(string)
			conds = append(conds, expr+" >= "+param)
			args = append(args, d.Arg(p))
			if next, ok := successor(p); ok {
				conds = append(conds, expr+" < "+param)
				args = append(args, d.Arg(next))
			}
		case "!=":
			conds = append(conds, expr+" <> "+param)
			args = append(args, d.Arg(f.vals[0]))
		default:
			conds = append(conds, expr+" "+strings.TrimPrefix(f.op, "=")+" "+param)
			args = append(args, d.Arg(f.vals[0]))
		}
	}
	dir, cmp := "ASC", ">"
	if q.desc {
		dir, cmp = "DESC", "<"
	}
	if q.order == "" {
		if q.after != nil {
			conds = append(conds, "id "+cmp+" ?")
			args = append(args, q.after.id)
		}
		orderBy = "id " + dir
	} else {
		expr := d.Field(q.order)
		conds = append(conds, expr+" IS NOT NULL")
		if q.after != nil {
			conds = append(conds, "("+expr+" "+cmp+" "+param+" OR ("+expr+" = "+param+" AND id "+cmp+" ?))")
			args = append(args, d.Arg(q.after.value), d.Arg(q.after.value), q.after.id)
		}
		orderBy = expr + " " + dir + ", id " + dir
	}
	return strings.Join(conds, " AND "), args, orderBy
}

func (t *sqlTx) query(q *query) ([]stored, error) {
	cid, err := t.classID(q.m.QualifiedName(), false)
	if err != nil || cid == 0 {
		return nil, err
	}
	t.e.ensureIndexes(q.m.QualifiedName(), q.m.sqlIndexes, cid)
	where, args, orderBy := t.compile(q, cid)
	args = append(args, q.limit+1)
	stmt := `SELECT id, data FROM starbase_objects WHERE ` + where + ` ORDER BY ` + orderBy + ` LIMIT ?`
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(stmt), args...)
	return t.scan(rows, err, "querying "+q.m.name)
}

func (t *sqlTx) aggregate(q *query, fn, field string) ([]aggRow, error) {
	cid, err := t.classID(q.m.QualifiedName(), false)
	if err != nil {
		return nil, err
	}
	if cid == 0 {
		if q.groupBy != "" {
			return nil, nil
		}
		if fn == "count" {
			return []aggRow{{nil, int64(0)}}, nil
		}
		return []aggRow{{nil, nil}}, nil
	}
	t.e.ensureIndexes(q.m.QualifiedName(), q.m.sqlIndexes, cid)
	want := aggCol{fn, field}
	sig := aggSignature(q)
	if rows, ok := t.aggs[sig][want]; ok {
		return rows, nil
	}
	cols, needed := aggColumns(q, want, true), aggColumns(q, want, false)
	// A statement computing sums ahead runs under a savepoint where sums can fail; its int
	// sums then may be Dialect.Integer's. Other statements run as they are, exact: the
	// savepoint's two round trips would slow a small aggregate, and the faster sums save
	// time only over many rows.
	guarded := len(cols) > len(needed) && !t.e.d.LenientSums
	fast := guarded && t.fastSums(q.m, cols, cid)
	out, err := t.aggregateRows(q, cols, cid, fast, guarded)
	if err != nil {
		return nil, err
	}
	if out == nil {
		// A sum computed ahead, or an int sum as Dialect.Integer, failed: the statement of
		// want and the count alone, exact (which fails if want cannot be computed).
		if fast {
			t.e.exactSums.Store(cid, true)
		}
		if out, err = t.aggregateRows(q, needed, cid, false, false); err != nil {
			return nil, err
		}
	}
	if t.aggs == nil {
		t.aggs = make(map[string]map[aggCol][]aggRow)
	}
	t.aggs[sig] = out
	return out[want], nil
}

// aggregateRows runs the statement of the aggregates cols over q's objects of class cid and
// returns their rows by column; fast (which needs guarded) sums int fields with
// Dialect.Integer. When guarded is set (cols holds sums nobody asked for yet, aggColumns),
// it runs the statement under a savepoint, and answers nil and no error if the statement
// fails for another reason than a concurrent transaction (on PostgreSQL, the cast of a
// stored value that is not a number, or not one of 64 bits for Integer): the transaction
// goes on, and the caller asks again without those sums and exactly.
func (t *sqlTx) aggregateRows(q *query, cols []aggCol, cid int64, fast, guarded bool) (map[aggCol][]aggRow, error) {
	if guarded {
		if _, err := t.tx.ExecContext(t.ctx, "SAVEPOINT starbase_aggregate"); err != nil {
			return nil, t.errf(err, "aggregating %s", q.m.name)
		}
	}
	out, err := t.runAggregateSQL(q, cols, cid, fast)
	if !guarded {
		return out, err
	}
	if err == nil {
		_, err = t.tx.ExecContext(t.ctx, "RELEASE SAVEPOINT starbase_aggregate")
		return out, t.errf(err, "aggregating %s", q.m.name)
	}
	if errors.Is(err, errRetry) || t.ctx.Err() != nil {
		return nil, err
	}
	if _, rerr := t.tx.ExecContext(t.ctx, "ROLLBACK TO SAVEPOINT starbase_aggregate"); rerr != nil {
		return nil, err
	}
	if _, rerr := t.tx.ExecContext(t.ctx, "RELEASE SAVEPOINT starbase_aggregate"); rerr != nil {
		return nil, t.errf(rerr, "aggregating %s", q.m.name)
	}
	return nil, nil
}

// fastSums reports whether the statement of cols over m's objects (class cid) sums int
// fields with Dialect.Integer: the dialect has one, cols sums an int field, and no
// statement of the class found a value that it does not take.
func (t *sqlTx) fastSums(m *Model, cols []aggCol, cid int64) bool {
	if t.e.d.Integer == nil {
		return false
	}
	if _, exact := t.e.exactSums.Load(cid); exact {
		return false
	}
	for _, c := range cols {
		if c.fn == "sum" && m.fieldType(c.field) == "int" {
			return true
		}
	}
	return false
}

// runAggregateSQL runs the statement of aggregateSQL and reads its rows.
func (t *sqlTx) runAggregateSQL(q *query, cols []aggCol, cid int64, fast bool) (map[aggCol][]aggRow, error) {
	stmt, args := t.aggregateSQL(q, cols, cid, fast)
	t.e.aggregates.Add(1)
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(stmt), args...)
	if err != nil {
		return nil, t.errf(err, "aggregating %s", q.m.name)
	}
	defer rows.Close()
	out := make(map[aggCol][]aggRow, len(cols))
	for rows.Next() {
		vals := make([]any, 1+len(cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, t.errf(err, "aggregating %s", q.m.name)
		}
		key, err := t.e.d.Scan(vals[0])
		if err != nil {
			return nil, err
		}
		for i, c := range cols {
			var v any
			if c.fn == "count" {
				v, err = countOf(vals[1+i])
			} else {
				v, err = t.e.d.Scan(vals[1+i])
			}
			if err != nil {
				return nil, err
			}
			out[c] = append(out[c], aggRow{key, v})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, t.errf(err, "aggregating %s", q.m.name)
	}
	return out, nil
}

// An aggCol is one aggregate of a statement: fn (count, sum, ...) of field ("" for count).
type aggCol struct{ fn, field string }

// aggColumns returns the aggregates that one statement computes for want over q: want, the
// count, and, when ahead is set and q is grouped, the sums of the fields that follow the
// group's in a composite index. A dashboard asks for the count and the sums of one grouping
// in turn; one statement answers every one of those calls of the transaction (the results
// are kept until it writes), so that the objects are read once: on SQLite the composite
// index holds all of those values. Where a sum can fail (PostgreSQL's cast of a value that
// is not a number) the sums computed ahead run under a savepoint (aggregateRows), so that
// they never fail the count beside them.
func aggColumns(q *query, want aggCol, ahead bool) []aggCol {
	cols := []aggCol{want}
	add := func(c aggCol) {
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	add(aggCol{"count", ""})
	if q.groupBy != "" && ahead {
		for _, c := range q.m.composites {
			if c[0] != q.groupBy {
				continue
			}
			for _, f := range c[1:] {
				if t := q.m.fieldType(f); t == "int" || t == "float" {
					add(aggCol{"sum", f})
				}
			}
		}
	}
	return cols
}

// aggSignature identifies q's objects and groups (its filters and group_by), which the
// aggregates of aggColumns share.
func aggSignature(q *query) string {
	var b strings.Builder
	b.WriteString(q.groupBy)
	for _, f := range q.filters {
		fmt.Fprintf(&b, "\x00%s\x00%s", f.field, f.op)
		for _, v := range f.vals {
			fmt.Fprintf(&b, "\x00%T:%v", v, v)
		}
	}
	return b.String()
}

// aggregateSQL returns the statement of the aggregates cols over q's objects of class cid,
// and its arguments: a row per group, its key, then a value per column. The values'
// expressions are the ones a composite index of the group's and the values' fields holds
// (on SQLite), so that the engine reads that index alone; fast sums int fields with
// Dialect.Integer.
func (t *sqlTx) aggregateSQL(q *query, cols []aggCol, cid int64, fast bool) (string, []any) {
	d := t.e.d
	where, args, _ := t.compile(&query{m: q.m, filters: q.filters}, cid)
	values := make([]string, len(cols))
	for i, c := range cols {
		switch {
		case c.fn == "count":
			values[i] = "count(*)"
		case c.fn == "sum" && fast && d.Integer != nil && q.m.fieldType(c.field) == "int":
			values[i] = d.Result("sum(" + d.Integer(c.field) + ")")
		default:
			values[i] = d.Result(c.fn + "(" + d.Number(c.field) + ")")
		}
	}
	key, group := "NULL", ""
	if q.groupBy != "" {
		key = d.Field(q.groupBy)
		group = " GROUP BY " + key + " ORDER BY " + key
	}
	stmt := `SELECT ` + key + `, ` + strings.Join(values, ", ") + ` FROM starbase_objects WHERE ` + where + group
	if q.groupBy != "" {
		stmt += ` LIMIT ?`
		args = append(args, MaxQueryGroups+1)
	}
	return stmt, args
}

// countOf reads a count(*).
func countOf(v any) (any, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case int32:
		return int64(v), nil
	case []byte:
		return strconv.ParseInt(string(v), 10, 64)
	case string:
		return strconv.ParseInt(v, 10, 64)
	}
	return nil, fmt.Errorf("objects: unexpected count %T from the database", v)
}
