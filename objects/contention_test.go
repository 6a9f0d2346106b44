package objects_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
)

const hotApp = `
Product = model("Product", fields = {"name": "", "stock": 0, "weight": 0.0, "revenue": decimal("0.00")})
Invoice = model("Invoice", fields = {"number": 0, "total": 0}, indexes = ["number"])

def create(stock):
    return db.put(Product(name = "hot", stock = stock))

def take(id):
    # The lock first: the transaction reads the stock after the previous holder's commit.
    if db.incr(id, "stock", -1) < 0:
        fail("sold out")

def take_after_read(id):
    # A read first: the lock is asked for after the snapshot, and only tried.
    p = db.get(id)
    db.incr(p, "stock", -1)

def take_locked(id):
    p = db.lock(id)
    p.stock -= 1
    db.put(p)

def stock(id):
    return db.get(id).stock

def incr_then_fail(id):
    db.incr(id, "stock", 5)
    fail("changed my mind")

def incr_shows(id):
    p = db.get(id)
    v = db.incr(p, "weight", 1.5)
    return v, p.weight, type(v)

def sell(id, price):
    return db.incr(id, "revenue", decimal(price))

def revenue(id):
    return db.get(id).revenue

def incr_wrong(id, field, n):
    return db.incr(id, field, n)

def invoice(total):
    n = db.next("invoice")
    db.put(Invoice(number = n, total = total))
    if total % 3 == 0:
        fail("refused after taking a number")
    return n

def numbers():
    return sorted([i.number for i in db.query(Invoice).limit(1000).fetch()])
`

// hammer runs fn of hotApp from clients goroutines, perClient times each, with at most
// attempts runs per request, and returns the errors.
func hammer(t *testing.T, st objects.Engine, c *code, clients, perClient, attempts int, fn string, args ...starlark.Value) []error {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range perClient {
				if _, err := c.callAttempts(t.Context(), st, attempts, "app.star", fn, args...); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errs
}

// Under 16 concurrent clients on one object, db.incr and db.lock lose no update and make no
// request fail, with 3 runs allowed per request (optimistic re-runs alone need many more:
// Run_ConcurrentIncrementsAreNotLost allows 2000).
func testDB_IncrAndLockSerializeAHotObject(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"app.star": hotApp})
	const clients, perClient, start = 16, 10, 10000
	for _, fn := range []string{"take", "take_after_read", "take_locked"} {
		t.Run(fn, func(t *testing.T) {
			id := c.mustCall(t, st, "app.star", "create", starlark.MakeInt(start))
			before := c.runs.Load()
			for _, err := range hammer(t, st, c, clients, perClient, 3, fn, id) {
				t.Errorf("%s: %v", fn, err)
			}
			if got, want := toInt(t, c.mustCall(t, st, "app.star", "stock", id)), start-clients*perClient; got != want {
				t.Errorf("after %d concurrent decrements the stock is %d, want %d", clients*perClient, got, want)
			}
			t.Logf("%s: %d requests took %d handler runs", fn, clients*perClient, c.runs.Load()-before)
		})
	}
}

func testDB_IncrIsPartOfTheTransaction(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"app.star": hotApp})
	id := c.mustCall(t, st, "app.star", "create", starlark.MakeInt(7))

	if _, err := c.call(t.Context(), st, "app.star", "incr_then_fail", id); err == nil || !strings.Contains(err.Error(), "changed my mind") {
		t.Fatalf("incr_then_fail: got %v, want the handler's failure", err)
	}
	if got := toInt(t, c.mustCall(t, st, "app.star", "stock", id)); got != 7 {
		t.Errorf("after a failed handler incremented it the stock is %d, want 7 (rolled back)", got)
	}

	got := c.mustCall(t, st, "app.star", "incr_shows", id).(starlark.Tuple)
	if want := (starlark.Tuple{starlark.Float(1.5), starlark.Float(1.5), starlark.String("float")}); !tupleEqual(got, want) {
		t.Errorf("incr of a float field by 1.5: got (new value, the instance's field, type) %v, want %v", got, want)
	}

	for _, tc := range []struct {
		field string
		n     starlark.Value
		want  string
	}{
		{"stock", starlark.Float(1), "an int field by an int"},
		{"name", starlark.MakeInt(1), "adds to int, float and decimal fields"},
		{"revenue", starlark.Float(1), "decimal and float do not mix"},
		{"missing", starlark.MakeInt(1), "has no field missing"},
		{"stock", starlark.String("1"), "want an int, a float or a decimal"},
	} {
		_, err := c.call(t.Context(), st, "app.star", "incr_wrong", id, str(tc.field), tc.n)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("db.incr(p, %q, %v): got %v, want an error saying %q", tc.field, tc.n, err, tc.want)
		}
		if tc.field == "stock" && tc.n.Type() == "float" && !errors.Is(err, objects.ErrInvalidField) {
			t.Errorf("db.incr of an int field by a float: got %v, want an ErrInvalidField (422)", err)
		}
	}
	if got := toInt(t, c.mustCall(t, st, "app.star", "stock", id)); got != 7 {
		t.Errorf("after refused increments the stock is %d, want 7", got)
	}

	// Money adds up exactly: ten sales of 0.10 are 1.00 (ten floats of 0.1 are not 1.0).
	for range 10 {
		c.mustCall(t, st, "app.star", "sell", id, str("0.10"))
	}
	if got := c.mustCall(t, st, "app.star", "revenue", id); got.Type() != "decimal" || got.String() != "1.00" {
		t.Errorf("revenue after ten sales of 0.10: got %s %v, want decimal 1.00", got.Type(), got)
	}
}

// db.next numbers committed invoices 1, 2, 3, ... without a gap or a repeat, although
// concurrent requests take numbers and a third of them fail after taking one.
func testDB_NextNumbersWithoutGaps(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"app.star": hotApp})
	const clients, perClient = 8, 9
	var mu sync.Mutex
	refused := 0
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for j := range perClient {
				total := i*perClient + j // a multiple of 3 fails after taking a number
				_, err := c.callAttempts(t.Context(), st, 3, "app.star", "invoice", starlark.MakeInt(total))
				switch {
				case total%3 == 0 && err != nil && strings.Contains(err.Error(), "refused after taking a number"):
					mu.Lock()
					refused++
					mu.Unlock()
				case err != nil || total%3 == 0:
					t.Errorf("invoice(%d): got %v", total, err)
				}
			}
		})
	}
	wg.Wait()
	got := c.mustCall(t, st, "app.star", "numbers").(*starlark.List)
	committed := clients*perClient - refused
	var numbers []int
	for i := range got.Len() {
		numbers = append(numbers, toInt(t, got.Index(i)))
	}
	want := make([]int, committed)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(numbers, want) {
		t.Errorf("numbers of the %d committed invoices: got %v, want 1 to %d", committed, numbers, committed)
	}
}

func tupleEqual(a, b starlark.Tuple) bool {
	return len(a) == len(b) && fmt.Sprint(a) == fmt.Sprint(b)
}
