package objects_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/postgres"
	"github.com/starbase/starbase/objects/postgres/pgtest"
	"github.com/starbase/starbase/objects/sqlite"
)

// The data tier benchmarks of BENCHMARKS.md, on STARBASE_BENCH_OBJECTS objects (default
// 1,000,000) created once per engine and test binary:
//
//	go test -run '^$' -bench 'BenchmarkData' -benchtime 200x -timeout 60m ./objects
const benchApp = `
Order = model("Order",
    fields = {"state": "", "customer": "", "total": 0, "created": 0},
    indexes = ["state", "customer", "total", "created", ("state", "total")],
)
Product = model("Product", fields = {"name": "", "stock": 0}, indexes = ["name"])

STATES = ["open", "paid", "shipped", "cancelled"]

def seed(start, n):
    for i in range(start, start + n):
        db.put(Order(state = STATES[i % 4], customer = "c" + str(i % 9973), total = (i * 7919) % 100000, created = i))

def page():
    return len(db.query(Order).where("state", "==", "open").where("total", ">", 50000).order_by("-created").limit(50).fetch())

def by_state():
    q = db.query(Order).group_by("state")
    return q.count(), q.sum("total")

def write(n):
    for i in range(n):
        db.put(Order(state = "bulk", customer = "bulk", total = i, created = -i))

def new_product(stock):
    return db.put(Product(name = "hot", stock = stock))

def order(id):
    p = db.get(id)
    if p.stock < 1:
        fail("sold out")
    p.stock -= 1
    db.put(p)
    db.put(Order(state = "open", customer = "hot", total = 1, created = -1))

def order_incr(id):
    if db.incr(id, "stock", -1) < 0:
        fail("sold out")
    db.put(Order(state = "open", customer = "hot", total = 1, created = -1))
`

var (
	benchMu      sync.Mutex
	benchEngines = map[string]objects.Engine{}
)

// benchTiers are the engines benchmarked: STARBASE_BENCH_TIERS (sqlite, postgres or both,
// comma-separated; default both).
func benchTiers() []string {
	if v := os.Getenv("STARBASE_BENCH_TIERS"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"sqlite", "postgres"}
}

func benchObjects() int {
	if n, err := strconv.Atoi(os.Getenv("STARBASE_BENCH_OBJECTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// benchEngine returns the engine name, seeded with benchObjects() orders, made once.
func benchEngine(b *testing.B, name string, c *code) objects.Engine {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if eng, ok := benchEngines[name]; ok {
		return eng
	}
	var eng objects.Engine
	var err error
	switch name {
	case "sqlite":
		dir, derr := os.MkdirTemp("", "starbase-bench-")
		if derr != nil {
			b.Fatal(derr)
		}
		eng, err = sqlite.Open(context.Background(), filepath.Join(dir, "data.sqlite"), nil)
	case "postgres":
		url, uerr := pgtest.Shared(b).CreateDatabase()
		if uerr != nil {
			b.Fatal(uerr)
		}
		eng, err = postgres.Open(context.Background(), url, nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	n, start := benchObjects(), time.Now()
	const batch = 5000
	for done := 0; done < n; done += batch {
		if _, err := c.call(b.Context(), eng, "app.star", "seed", starlark.MakeInt(done), starlark.MakeInt(min(batch, n-done))); err != nil {
			b.Fatalf("seeding: %v", err)
		}
	}
	b.Logf("%s: %d orders created in %s", name, n, time.Since(start).Round(time.Second))
	// The first query starts the builds of the indexes that writes do not (the composite one).
	if _, err := c.call(b.Context(), eng, "app.star", "by_state"); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	objects.WaitIndexBuilds(eng)
	b.Logf("%s: indexes built in %s", name, time.Since(start).Round(time.Second))
	benchEngines[name] = eng
	return eng
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRequests(b *testing.B, fn string, args ...starlark.Value) {
	c := newCode(map[string]string{"app.star": benchApp})
	for _, name := range benchTiers() {
		b.Run(name, func(b *testing.B) {
			eng := benchEngine(b, name, c)
			b.ResetTimer()
			cpu := processCPU()
			for b.Loop() {
				if _, err := c.call(b.Context(), eng, "app.star", fn, args...); err != nil {
					b.Fatal(err)
				}
			}
			// On a loaded machine the wall time depends on the load; the CPU time of this
			// process (all of SQLite's work; PostgreSQL's server is another process) less so.
			b.ReportMetric(float64((processCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkData_FilteredOrderedPage50 is a request reading one page of 50 orders: state ==
// "open" and total > 50000, newest first.
func BenchmarkData_FilteredOrderedPage50(b *testing.B) { benchRequests(b, "page") }

// BenchmarkData_CountAndSumByState is a request counting the orders and summing their
// totals by state (two aggregates over every order).
func BenchmarkData_CountAndSumByState(b *testing.B) { benchRequests(b, "by_state") }

// BenchmarkData_Write5000 is a request creating 5,000 orders in one transaction.
func BenchmarkData_Write5000(b *testing.B) { benchRequests(b, "write", starlark.MakeInt(5000)) }

// BenchmarkData_HotProduct16 has 16 concurrent clients order the same product (decrement
// its stock, create an order), 20 orders per op, with 10 attempts per request (the
// server's default): optimistic reads and re-runs ("order": read the product, write it
// back) or db.incr ("order_incr": the product's lock first). It reports orders per second
// and the share of requests that failed.
func BenchmarkData_HotProduct16(b *testing.B) {
	for _, fn := range []string{"order", "order_incr"} {
		b.Run(fn, func(b *testing.B) { benchHotProduct(b, fn) })
	}
}

func benchHotProduct(b *testing.B, fn string) {
	c := newCode(map[string]string{"app.star": benchApp})
	for _, name := range benchTiers() {
		b.Run(name, func(b *testing.B) {
			eng := benchEngine(b, name, c)
			id, err := c.call(b.Context(), eng, "app.star", "new_product", starlark.MakeInt(1<<40))
			if err != nil {
				b.Fatal(err)
			}
			var failed atomic.Int64
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for next.Add(1) <= int64(20*b.N) {
						if _, err := c.callAttempts(b.Context(), eng, 10, "app.star", fn, id); err != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.ReportMetric(float64(int64(20*b.N)-failed.Load())/elapsed.Seconds(), "orders/s")
			b.ReportMetric(100*float64(failed.Load())/float64(20*b.N), "%failed")
		})
	}
}
