package objects_test

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// orders checks db.query against an oracle written in Starlark: the same selection, order
// and aggregates computed from db.list of every object.
const orders = `
Order = model("Order",
    fields = {"state": "", "total": 0, "customer": "", "created": 0, "rate": 0.0, "paid": False, "note": None, "memo": ""},
    indexes = ["state", "total", "customer", "created", "rate", "paid", "note", ("state", "total"), ("paid", "rate")],
)

def seed(start, n):
    states = ["open", "paid", "cancelled"]
    for i in range(start, start + n):
        db.put(Order(state = states[i % 3], total = (i * 37) % 101, customer = "c" + str(i % 7) + ("é" if i % 5 == 0 else ""),
                     created = i, rate = i / 4.0, paid = i % 2 == 0, note = None if i % 4 else "n"))

def everything():
    out, after = [], None
    for _ in range(100):
        page = db.list(Order, limit = 1000, after = after)
        out += page
        if len(page) < 1000:
            break
        after = page[-1].id
    return out

OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "prefix": lambda a, b: a.startswith(b),
}

def expect(filters, order):
    objs = [o for o in everything() if all([OPS[op](getattr(o, f), v) for f, op, v in filters])]
    if order and order.lstrip("-") != "id":
        f = order.lstrip("-")
        return sorted(objs, key = lambda o: (getattr(o, f), o.id), reverse = order.startswith("-"))
    return sorted(objs, key = lambda o: o.id, reverse = order.startswith("-"))

def build(filters, order):
    q = db.query(Order)
    for f, op, v in filters:
        q = q.where(f, op, v)
    if order:
        q = q.order_by(order)
    return q

def total(objs, f):
    t = 0
    for o in objs:
        t += getattr(o, f)
    return t

def check(filters, order, size):
    q = build(filters, order)
    want = expect(filters, order)
    got, cursor = [], None
    for _ in range(1000):
        page = q.limit(size).after(cursor).page()
        got += [o.id for o in page.items]
        cursor = page.cursor
        if cursor == None:
            break
    if got != [o.id for o in want]:
        fail("pages of %d: got %d objects %s, want %d %s" % (size, len(got), got[:5], len(want), [o.id for o in want][:5]))
    if q.limit(size).fetch() != want[:size] and [o.id for o in q.limit(size).fetch()] != [o.id for o in want[:size]]:
        fail("fetch differs")
    first = q.first()
    if (first.id if first else None) != (want[0].id if want else None):
        fail("first: got %s" % first)
    if q.count() != len(want):
        fail("count: got %d, want %d" % (q.count(), len(want)))
    if q.sum("total") != (total(want, "total") if want else None):
        fail("sum: got %s, want %s" % (q.sum("total"), total(want, "total")))
    if want:
        if q.min("total") != min([o.total for o in want]) or q.max("rate") != max([o.rate for o in want]):
            fail("min/max: got %s %s" % (q.min("total"), q.max("rate")))
        avg = total(want, "rate") / len(want)
        if abs(q.avg("rate") - avg) > 1e-9:
            fail("avg: got %s, want %s" % (q.avg("rate"), avg))
    else:
        if q.min("total") != None or q.avg("rate") != None:
            fail("aggregates of nothing: got %s %s, want None" % (q.min("total"), q.avg("rate")))
    for g in ["state", "paid", "customer"]:
        counts, sums = {}, {}
        for o in want:
            k = getattr(o, g)
            counts[k] = counts.get(k, 0) + 1
            sums[k] = sums.get(k, 0) + o.total
        if q.group_by(g).count() != counts:
            fail("group_by(%s).count(): got %s, want %s" % (g, q.group_by(g).count(), counts))
        if q.group_by(g).sum("total") != sums:
            fail("group_by(%s).sum(): got %s, want %s" % (g, q.group_by(g).sum("total"), sums))
    return len(want)

def create_then_query():
    db.put(Order(state = "fresh", total = 1000, created = -1))
    return [o.state for o in db.query(Order).where("total", ">=", 1000).fetch()], db.query(Order).where("state", "==", "fresh").count()

def refused(what):
    q = db.query(Order)
    if what == "unindexed":
        q.where("memo", "==", "x")
    elif what == "operator":
        q.where("state", "~", "x")
    elif what == "type":
        q.where("total", ">", "10")
    elif what == "untyped order":
        q.order_by("note")
    elif what == "untyped range":
        q.where("note", ">", "a")
    elif what == "limit":
        q.limit(1001)
    elif what == "cursor":
        q.order_by("total").after(q.order_by("-total").limit(1).page().cursor)
    elif what == "garbage cursor":
        q.after("not a cursor")
    elif what == "prefix of int":
        q.where("total", "prefix", 1)
    elif what == "sum of string":
        q.sum("state")
    elif what == "big in":
        q.where("state", "in", list(range(101)))
`

func testDB_QueryAnswersLikeAScan(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"orders.star": orders})
	const n = 120
	for done := 0; done < n; done += 5 { // etcd takes 128 operations per commit
		c.mustCall(t, st, "orders.star", "seed", starlark.MakeInt(done), starlark.MakeInt(5))
	}
	type f = starlark.Tuple
	s, i, fl := func(v string) starlark.Value { return starlark.String(v) }, starlark.MakeInt, func(v float64) starlark.Value { return starlark.Float(v) }
	cases := []struct {
		filters []f
		order   string
	}{
		{nil, ""},
		{nil, "-id"},
		{[]f{{s("state"), s("=="), s("open")}}, "-created"},
		{[]f{{s("total"), s(">"), i(50)}, {s("state"), s("!="), s("paid")}}, "total"},
		{[]f{{s("state"), s("!="), s("paid")}, {s("total"), s(">"), i(50)}}, "total"},
		{[]f{{s("customer"), s("in"), starlark.NewList([]starlark.Value{s("c1"), s("c3"), s("c0é")})}, {s("total"), s("<="), i(60)}}, "-total"},
		{[]f{{s("customer"), s("prefix"), s("c0")}, {s("rate"), s(">="), fl(10.5)}}, "rate"},
		{[]f{{s("customer"), s("prefix"), s("c0é")}}, "-customer"},
		{[]f{{s("paid"), s("=="), starlark.True}, {s("created"), s("<"), i(40)}}, "-rate"},
		{[]f{{s("total"), s(">="), i(20)}, {s("total"), s("<"), i(60)}}, "customer"},
		{[]f{{s("rate"), s(">"), i(20)}}, "paid"},
		{[]f{{s("note"), s("=="), s("n")}}, "-created"},
		{[]f{{s("state"), s("=="), s("nothing")}}, "total"},
	}
	for _, tc := range cases {
		for _, size := range []int{7, 1000} {
			list := starlark.NewList(nil)
			for _, x := range tc.filters {
				list.Append(x)
			}
			if _, err := c.call(t.Context(), st, "orders.star", "check", list, s(tc.order), i(size)); err != nil {
				t.Errorf("where %v order_by %q, pages of %d: %v", tc.filters, tc.order, size, err)
			}
		}
	}

	got := c.mustCall(t, st, "orders.star", "create_then_query").(starlark.Tuple)
	if got[0].String() != `["fresh"]` || got[1] != i(1) {
		t.Errorf("a query after a put in the same request: %v, want ([\"fresh\"], 1)", got)
	}

	for what, want := range map[string]string{
		"unindexed":      "field memo of Order is not indexed",
		"operator":       "unknown operator",
		"type":           "Order.total is a int, got a string",
		"untyped order":  "has no type",
		"untyped range":  "only ==, != and in apply",
		"limit":          "want 1 to 1000",
		"cursor":         "not a cursor of this query",
		"garbage cursor": "not a cursor of this query",
		"prefix of int":  "prefix applies to string fields",
		"sum of string":  "not a number field",
		"big in":         "want 1 to 100",
	} {
		_, err := c.call(t.Context(), st, "orders.star", "refused", s(what))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", what, err, want)
		}
	}
}
