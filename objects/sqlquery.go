package objects

import (
	"fmt"
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
	t.e.ensureIndexes(q.m.QualifiedName(), q.m.sqlIndexes(), cid)
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
	t.e.ensureIndexes(q.m.QualifiedName(), q.m.sqlIndexes(), cid)
	d := t.e.d
	stmt, args := t.aggregateSQL(q, fn, field, cid)
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(stmt), args...)
	if err != nil {
		return nil, t.errf(err, "aggregating %s", q.m.name)
	}
	defer rows.Close()
	var out []aggRow
	for rows.Next() {
		var k, v any
		if err := rows.Scan(&k, &v); err != nil {
			return nil, t.errf(err, "aggregating %s", q.m.name)
		}
		var r aggRow
		if r.key, err = d.Scan(k); err == nil {
			if fn == "count" {
				r.value, err = countOf(v)
			} else {
				r.value, err = d.Scan(v)
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, t.errf(rows.Err(), "aggregating %s", q.m.name)
}

// aggregateSQL returns the statement of aggregate fn (count, sum, ...) of field over q's
// objects of class cid, and its arguments. The value's expression is the one a composite
// index of the group's and the value's fields holds (on SQLite), so that the engine reads
// that index alone.
func (t *sqlTx) aggregateSQL(q *query, fn, field string, cid int64) (string, []any) {
	d := t.e.d
	where, args, _ := t.compile(&query{m: q.m, filters: q.filters}, cid)
	value := "count(*)"
	if fn != "count" {
		value = d.Result(fn + "(" + d.Number(field) + ")")
	}
	key, group := "NULL", ""
	if q.groupBy != "" {
		key = d.Field(q.groupBy)
		group = " GROUP BY " + key + " ORDER BY " + key
	}
	stmt := `SELECT ` + key + `, ` + value + ` FROM starbase_objects WHERE ` + where + group
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
