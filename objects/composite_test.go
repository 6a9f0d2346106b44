package objects_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/postgres"
	"github.com/starbase/starbase/objects/postgres/pgtest"
	"github.com/starbase/starbase/objects/sqlite"
)

const compositeApp = `
Order = model("Order",
    fields = {"state": "", "total": 0},
    indexes = ["state", "total", ("state", "total")],
)

def seed(n):
    for i in range(n):
        db.put(Order(state = ["open", "paid"][i % 2], total = i))

def by_state():
    q = db.query(Order).group_by("state")
    return q.count(), q.sum("total")

def write_between():
    q = db.query(Order).group_by("state")
    before = (q.count(), q.sum("total"))
    db.put(Order(state = "open", total = 1000))
    after = (q.sum("total"), q.count(), q.max("total"))
    f = q.where("total", ">=", 100)
    return before, after, (f.count(), f.sum("total")), (db.query(Order).count(), db.query(Order).sum("total"))
`

// compositeSetup seeds 200 orders in eng, runs the dashboard's aggregates once (which
// starts the index builds of the model) and waits for the builds.
func compositeSetup(t *testing.T, eng objects.Engine) (*code, *objects.Model) {
	t.Helper()
	c := newCode(map[string]string{"app.star": compositeApp})
	c.mustCall(t, eng, "app.star", "seed", starlark.MakeInt(200))
	got := c.mustCall(t, eng, "app.star", "by_state").(starlark.Tuple)
	if s := got.String(); s != `({"open": 100, "paid": 100}, {"open": 9900, "paid": 10000})` {
		t.Errorf("count and sum by state: got %s", s)
	}
	objects.WaitIndexBuilds(eng)
	globals, err := c.load("app.star")
	if err != nil {
		t.Fatal(err)
	}
	return c, globals["Order"].(*objects.Model)
}

// sqlEngines returns a new SQLite and a new PostgreSQL data tier, closed when t ends.
func sqlEngines(t *testing.T) []objects.Engine {
	t.Helper()
	lite, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg, err := postgres.Open(t.Context(), pgtest.Shared(t).NewDatabase(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return []objects.Engine{lite, pg}
}

// On SQLite, a composite index of the grouped and the summed field answers the grouped
// sum: the statement walks that index, in the group's order, and reads the sum's values
// from it (SQLite reads an object's row only for the first of each group, for its key:
// BenchmarkData_CountAndSumByState measures what that saves).
func TestSQLite_ACompositeIndexAnswersAGroupedSum(t *testing.T) {
	eng, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, m := compositeSetup(t, eng)
	composite := objects.IndexName(1, "state", "total") // the first class of the file
	for _, fn := range []string{"sum", "count"} {
		plan, err := objects.AggregatePlan(t.Context(), eng, m, fn, "total", "state")
		if err != nil {
			t.Fatal(err)
		}
		if plan != "SCAN starbase_objects USING INDEX "+composite {
			t.Errorf("plan of %s by state: %q, want a scan of the composite index %s", fn, plan, composite)
		}
	}
}

// On PostgreSQL, an indexed field's index comes with statistics of the field's expression
// over the whole table (the indexes are partial on the class, so their own statistics do not
// count): with them the planner knows that a group_by makes few groups and hashes them in
// one sequential scan instead of reading the objects one by one in an index's order.
func TestPostgres_AnIndexedFieldHasStatisticsOfItsExpression(t *testing.T) {
	url, err := pgtest.Shared(t).CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := postgres.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, m := compositeSetup(t, eng)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var exprs string
	if err := db.QueryRowContext(t.Context(), `SELECT coalesce(string_agg(pg_get_statisticsobjdef_expressions(oid)::text, ';'), '') FROM pg_statistic_ext WHERE stxname LIKE 'starbase_st_%'`).Scan(&exprs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(exprs, "'state'") || !strings.Contains(exprs, "'total'") {
		t.Errorf("statistics of expressions: %q, want the indexed fields state's and total's", exprs)
	}
	plan, err := objects.AggregatePlan(t.Context(), eng, m, "sum", "total", "state")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Index Scan") {
		t.Errorf("plan of sum(total) by state: %q, want a sequential scan", plan)
	}
}

// The aggregates of one grouping share a statement (a dashboard's count and sums read the
// composite index once), and what it found is kept for the transaction only until it
// writes: they see the transaction's own writes, and other filters are other statements.
func TestAggregates_OfOneGroupingSeeTheTransactionsOwnWrites(t *testing.T) {
	for _, eng := range sqlEngines(t) {
		t.Run(eng.Name(), func(t *testing.T) {
			c, _ := compositeSetup(t, eng)
			got := c.mustCall(t, eng, "app.star", "write_between").String()
			want := `(({"open": 100, "paid": 100}, {"open": 9900, "paid": 10000}), ` +
				`({"open": 10900, "paid": 10000}, {"open": 101, "paid": 100}, {"open": 1000, "paid": 199}), ` +
				`({"open": 51, "paid": 50}, {"open": 8450, "paid": 7500}), (201, 20900))`
			if got != want {
				t.Errorf("aggregates around a write:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

// A report's count and sum of one grouping take one statement on both SQL engines: the
// count's statement also sums the field that follows the group's in the composite index
// (on PostgreSQL under a savepoint, its sums being able to fail), and the sum reads that
// result (BenchmarkData_CountAndSumByState measures what the second scan cost).
func TestAggregates_ACountAndASumOfAGroupingAreOneStatement(t *testing.T) {
	for _, eng := range sqlEngines(t) {
		t.Run(eng.Name(), func(t *testing.T) {
			c, _ := compositeSetup(t, eng)
			before := objects.AggregateStatements(eng)
			got := c.mustCall(t, eng, "app.star", "by_state").String()
			if want := `({"open": 100, "paid": 100}, {"open": 9900, "paid": 10000})`; got != want {
				t.Errorf("count and sum by state: got %s, want %s", got, want)
			}
			if n := objects.AggregateStatements(eng) - before; n != 1 {
				t.Errorf("count and sum by state took %d statements, want 1", n)
			}
		})
	}
}

// An object stored before a field became a number keeps its old value in the field's
// projection until it is migrated. The count of a grouping still answers: SQLite computes
// the sums of the composite index with it (its sum takes a string as 0); on PostgreSQL, whose
// cast of the string fails the statement, the count's statement with the sums fails under
// its savepoint and the count is asked again alone (two statements), and the request goes
// on: its write after the count commits.
func TestAggregates_ACountIsNotFailedByAValueThatIsNotANumber(t *testing.T) {
	v1 := newCode(map[string]string{"app.star": `
Order = model("Order", fields = {"state": "", "total": ""}, indexes = ["state"])

def create(total):
    db.put(Order(state = "open", total = total))
`})
	v2 := newCode(map[string]string{"app.star": `
def _migrate(fields, version):
    return fields

Order = model("Order", fields = {"state": "", "total": 0}, indexes = ["state", ("state", "total")],
              version = 2, migrate = _migrate)

def create(total):
    db.put(Order(state = "open", total = total))

def report(with_sum):
    q = db.query(Order).group_by("state")
    return q.count(), q.sum("total") if with_sum else None

def count_then_write():
    counts = db.query(Order).group_by("state").count()
    db.put(Order(state = "counted", total = 1))
    return counts
`})
	for _, eng := range sqlEngines(t) {
		t.Run(eng.Name(), func(t *testing.T) {
			v1.mustCall(t, eng, "app.star", "create", str("twelve"))
			v2.mustCall(t, eng, "app.star", "create", starlark.MakeInt(12))
			before := objects.AggregateStatements(eng)
			got, err := v2.call(t.Context(), eng, "app.star", "report", starlark.Bool(eng.Name() == "sqlite"))
			if err != nil {
				t.Fatalf("count and sum by state: %v", err)
			}
			counts := got.(starlark.Tuple)[0].String()
			if counts != `{"open": 2}` {
				t.Errorf("count by state: %s, want {\"open\": 2}", counts)
			}
			if sums := got.(starlark.Tuple)[1].String(); eng.Name() == "sqlite" && sums != `{"open": 12}` {
				t.Errorf("sum by state: %s, want {\"open\": 12} (the string taken as 0)", sums)
			}
			want := map[string]int64{"sqlite": 1, "postgres": 2}[eng.Name()]
			if n := objects.AggregateStatements(eng) - before; n != want {
				t.Errorf("count (and sum) by state took %d statements, want %d", n, want)
			}
			if eng.Name() == "postgres" {
				// PostgreSQL's sum fails on the string; the error names the class and the value.
				_, err := v2.call(t.Context(), eng, "app.star", "report", starlark.True)
				if err == nil || !strings.Contains(err.Error(), "Order") || !strings.Contains(err.Error(), "twelve") {
					t.Errorf("sum by state over a stored string on PostgreSQL: %v, want an error naming Order and \"twelve\"", err)
				}
			}
			if got := v2.mustCall(t, eng, "app.star", "count_then_write").String(); got != `{"open": 2}` {
				t.Errorf("count by state before a write: %s, want {\"open\": 2}", got)
			}
			if got := v2.mustCall(t, eng, "app.star", "count_then_write").String(); got != `{"counted": 1, "open": 2}` {
				t.Errorf("count by state after the write of a request that counted: %s, want {\"counted\": 1, \"open\": 2}", got)
			}
		})
	}
}

// Sums of int fields are exact on PostgreSQL whatever the values. The statement of a
// grouping with a composite index (under a savepoint) sums them as bigints (in 128-bit
// integers) while every value of the class fits in 64 bits, and as numerics once a
// statement met one that does not: that statement is run again exactly (with the count
// alone: the sum then is a statement of its own), and the class's sums are numeric from
// then on (one statement for the grouping again). Other sums (here the ungrouped one) are
// numeric.
func TestPostgres_SumsOfIntsAreExactBeyond64Bits(t *testing.T) {
	c := newCode(map[string]string{"app.star": `
Order = model("Order", fields = {"state": "", "total": 0}, indexes = ["state", ("state", "total")])

def create(state, total):
    db.put(Order(state = state, total = total))

def report():
    q = db.query(Order).group_by("state")
    return q.count(), q.sum("total"), db.query(Order).sum("total")
`})
	eng, err := postgres.Open(t.Context(), pgtest.Shared(t).NewDatabase(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	report := func(want string, statements int64) {
		t.Helper()
		before := objects.AggregateStatements(eng)
		if got := c.mustCall(t, eng, "app.star", "report").String(); got != want {
			t.Errorf("count and sums:\ngot  %s\nwant %s", got, want)
		}
		if n := objects.AggregateStatements(eng) - before; n != statements {
			t.Errorf("count and sums took %d statements, want %d", n, statements)
		}
	}
	max64 := starlark.MakeInt64(1<<63 - 1)
	c.mustCall(t, eng, "app.star", "create", str("open"), max64)
	c.mustCall(t, eng, "app.star", "create", str("open"), max64)
	c.mustCall(t, eng, "app.star", "create", str("paid"), starlark.MakeInt(-5))
	// Sums beyond 64 bits of values within them: bigints.
	report(`({"open": 2, "paid": 1}, {"open": 18446744073709551614, "paid": -5}, 18446744073709551609)`, 2)
	c.mustCall(t, eng, "app.star", "create", str("paid"), starlark.MakeInt(1).Lsh(70))
	// The grouped statement with bigints fails on 2**70; the count alone, then the sum, then
	// the ungrouped sum, as numerics.
	report(`({"open": 2, "paid": 2}, {"open": 18446744073709551614, "paid": 1180591620717411303419}, 1199038364791120855033)`, 4)
	report(`({"open": 2, "paid": 2}, {"open": 18446744073709551614, "paid": 1180591620717411303419}, 1199038364791120855033)`, 2)
}
