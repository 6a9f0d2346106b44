package objects_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
)

const countersV1 = `
def _incr(self, n = 1):
    self.value += n

def _label(self):
    return "count: %d" % self.value

Counter = model("Counter",
    fields = {"name": "", "value": 0},
    methods = {"incr": _incr, "label": _label},
    indexes = ["name"],
)
`

const counterHandlers = `
load("counters.star", "Counter")

def create(name):
    return db.put(Counter(name = name))

def incr(id):
    c = db.get(id)
    c.incr()
    db.put(c)
    return c.value

def value(id):
    return db.get(id).value

def label(id):
    return db.get(id).label()

def create_then_fail(name):
    db.put(Counter(name = name))
    fail("handler failed after writing")

def change_then_fail(keep, drop):
    c = db.get(keep)
    c.incr(100)
    db.put(c)
    db.delete(drop)
    db.put(Counter(name = "new"))
    fail("handler failed after writing")

def create_many(n):
    for i in range(n):
        db.put(Counter(name = "c%d" % i))
`

func testRun_ConcurrentIncrementsAreNotLost(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	id := c.mustCall(t, st, "app.star", "create", str("hits"))

	const requests = 200
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for range requests {
		wg.Go(func() {
			// 200 requests contending for one key: each must be allowed to lose many
			// rounds, since this test is about lost updates, not about giving up.
			if _, err := c.callAttempts(t.Context(), st, 2000, "app.star", "incr", id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("incr: %v", err)
	}
	t.Logf("%d concurrent increments took %d handler runs", requests, c.runs.Load()-1)
	if got := toInt(t, c.mustCall(t, st, "app.star", "value", id)); got != requests {
		t.Errorf("after %d concurrent increments the counter is %d, want %d", requests, got, requests)
	}
}

const bank = `
Account = model("Account", fields = {"owner": "", "balance": 0})

def open(owner, balance):
    return db.put(Account(owner = owner, balance = balance))

def transfer(src, dst, amount):
    a, b = db.get(src), db.get(dst)
    if a.balance < amount:
        fail("insufficient funds")
    a.balance -= amount
    db.put(a)
    b.balance += amount
    db.put(b)

def total():
    t = 0
    for a in db.list(Account):
        t += a.balance
    return t
`

func testRun_BankTransfersKeepTheTotal(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"bank.star": bank})
	const accounts, balance = 10, 100
	var ids []starlark.Value
	for i := range accounts {
		ids = append(ids, c.mustCall(t, st, "bank.star", "open", str(fmt.Sprint("owner", i)), starlark.MakeInt(balance)))
	}

	// A reader checks the total all along the transfers, and once after them.
	done := make(chan struct{})
	readerDone := make(chan int)
	go func() {
		reads := 0
		for {
			select {
			case <-done:
				readerDone <- reads
				return
			default:
			}
			total, err := c.call(t.Context(), st, "bank.star", "total")
			if err != nil {
				t.Errorf("total: %v", err)
			} else if got := toInt(t, total); got != accounts*balance {
				t.Errorf("a reader saw a total of %d, want %d (a torn state)", got, accounts*balance)
			}
			reads++
		}
	}()

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 15 {
				src, dst := r.IntN(accounts), r.IntN(accounts-1)
				if dst >= src {
					dst++
				}
				amount := starlark.MakeInt(r.IntN(60))
				_, err := c.call(t.Context(), st, "bank.star", "transfer", ids[src], ids[dst], amount)
				if err != nil && !strings.Contains(err.Error(), "insufficient funds") {
					t.Errorf("transfer: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	if reads := <-readerDone; reads == 0 {
		t.Errorf("the reader made no read during the transfers")
	}
	if got := toInt(t, c.mustCall(t, st, "bank.star", "total")); got != accounts*balance {
		t.Errorf("total after the transfers is %d, want %d", got, accounts*balance)
	}
}

// interleaved runs check then act as one request, twice at the same time, and lets the acts
// of the first attempts start only when both checks are done: the schedule in which snapshot
// isolation lets write skew and phantoms through. It returns the acts' results.
func interleaved(t *testing.T, st objects.Engine, c *code, module, check, act string, args [2][]starlark.Value) [2]starlark.Value {
	t.Helper()
	globals, err := c.load(module)
	if err != nil {
		t.Fatal(err)
	}
	call := func(tx *objects.Tx, fn string, args []starlark.Value) (starlark.Value, error) {
		thread := &starlark.Thread{Name: fn}
		objects.Bind(thread, tx)
		return starlark.Call(thread, globals[fn], args, nil)
	}
	var checked sync.WaitGroup
	checked.Add(2)
	var results [2]starlark.Value
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			first := true
			err := objects.Run(t.Context(), st, c.resolve, attempts, func(tx *objects.Tx) error {
				ok, err := call(tx, check, args[i])
				if first {
					first = false
					checked.Done()
					checked.Wait()
				}
				if err != nil {
					return err
				}
				results[i] = starlark.None
				if ok == starlark.True {
					results[i], err = call(tx, act, args[i])
				}
				return err
			})
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	return results
}

const doctors = `
Doctor = model("Doctor", fields = {"name": "", "on_call": True})

def add(name):
    return db.put(Doctor(name = name))

def both_on_call(me, other):
    return db.get(me).on_call and db.get(other).on_call

def go_off(me, other):
    d = db.get(me)
    d.on_call = False
    db.put(d)
    return True

def on_call(ids):
    return len([id for id in ids if db.get(id).on_call])
`

func testRun_PreventsWriteSkew(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"doctors.star": doctors})
	alice := c.mustCall(t, st, "doctors.star", "add", str("alice"))
	bob := c.mustCall(t, st, "doctors.star", "add", str("bob"))

	// Each goes off call if both are on call: serially, only the first one can.
	results := interleaved(t, st, c, "doctors.star", "both_on_call", "go_off",
		[2][]starlark.Value{{alice, bob}, {bob, alice}})
	if results[0] == results[1] {
		t.Errorf("results %v: want exactly one doctor to go off call", results)
	}
	ids := starlark.NewList([]starlark.Value{alice, bob})
	if got := toInt(t, c.mustCall(t, st, "doctors.star", "on_call", ids)); got != 1 {
		t.Errorf("%d doctors on call, want 1 (write skew)", got)
	}
}

const users = `
User = model("User", fields = {"email": ""}, indexes = ["email"])

def free_by_find(email):
    return len(db.find(User, email = email)) == 0

def free_by_list(email):
    return len([u for u in db.list(User) if u.email == email]) == 0

def register(email):
    return db.put(User(email = email))

def count(email):
    return len(db.find(User, email = email))
`

func testRun_PreventsPhantoms(t *testing.T, open storeOpener) {
	for _, check := range []string{"free_by_find", "free_by_list"} {
		t.Run(check, func(t *testing.T) {
			st := open(t)
			c := newCode(map[string]string{"users.star": users})
			c.mustCall(t, st, "users.star", "register", str("other@example.com"))
			email := []starlark.Value{str("ann@example.com")}

			// Each registers the address if it is free: serially, only the first can.
			results := interleaved(t, st, c, "users.star", check, "register", [2][]starlark.Value{email, email})
			if (results[0] == starlark.None) == (results[1] == starlark.None) {
				t.Errorf("results %v: want exactly one registration", results)
			}
			if got := toInt(t, c.mustCall(t, st, "users.star", "count", email[0])); got != 1 {
				t.Errorf("%d users with the address, want 1 (phantom)", got)
			}
		})
	}
}

func testRun_FailedHandlerWritesNothing(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	keep := c.mustCall(t, st, "app.star", "create", str("keep"))
	drop := c.mustCall(t, st, "app.star", "create", str("drop"))
	rev, keys := revision(t, st), dataKeys(t, st)

	for _, tc := range []struct {
		fn   string
		args []starlark.Value
	}{
		{"create_then_fail", []starlark.Value{str("x")}},
		{"change_then_fail", []starlark.Value{keep, drop}},
	} {
		_, err := c.call(t.Context(), st, "app.star", tc.fn, tc.args...)
		if err == nil || !strings.Contains(err.Error(), "handler failed after writing") {
			t.Errorf("%s: got %v, want the handler's error", tc.fn, err)
		}
	}
	if got := revision(t, st); got != rev {
		t.Errorf("stored state is %s after failed handlers, want %s (unchanged)", got, rev)
	}
	if got := dataKeys(t, st); got != keys {
		t.Errorf("%d data keys after failed handlers, want %d", got, keys)
	}
	if got := toInt(t, c.mustCall(t, st, "app.star", "value", keep)); got != 0 {
		t.Errorf("kept counter is %d, want 0", got)
	}
	if got := c.mustCall(t, st, "app.star", "label", drop); got != str("count: 0") {
		t.Errorf("dropped counter reads %v, want it still there", got)
	}
}

func testRun_RefusesTransactionsLargerThanOneCommit(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	rev := revision(t, st)
	n := objects.KVStore(st).Limits().MaxOps/2 + 1
	_, err := c.call(t.Context(), st, "app.star", "create_many", starlark.MakeInt(n))
	if !errors.Is(err, objects.ErrTooLarge) {
		t.Fatalf("creating %d objects in one request: got %v, want ErrTooLarge", n, err)
	}
	if !strings.Contains(err.Error(), "read and write fewer or smaller objects per request") {
		t.Errorf("error %q does not say how to fix it", err)
	}
	if got := revision(t, st); got != rev {
		t.Errorf("stored state is %s, want %s (nothing written)", got, rev)
	}
}

func testRun_ReturnsErrConflictWhenEveryAttemptLoses(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	id := c.mustCall(t, st, "app.star", "create", str("c"))
	globals, _ := c.load("app.star")
	runs := 0
	err := objects.Run(t.Context(), st, c.resolve, 3, func(tx *objects.Tx) error {
		runs++
		thread := &starlark.Thread{}
		objects.Bind(thread, tx)
		if _, err := starlark.Call(thread, globals["value"], starlark.Tuple{id}, nil); err != nil {
			return err
		}
		// Another request increments the counter after this one read it, before it writes.
		// On SQLite only the first attempt can lose so: the re-run of a transaction that
		// wrote and lost holds the write lock from its start (the other request would wait
		// for it, here for ever, running in this request's goroutine).
		if st.Name() != "sqlite" || runs == 1 {
			if _, err := c.call(context.Background(), st, "app.star", "incr", id); err != nil {
				return err
			}
		}
		_, err := starlark.Call(thread, globals["incr"], starlark.Tuple{id}, nil)
		return err
	})
	if st.Name() == "sqlite" {
		if err != nil || runs != 2 {
			t.Fatalf("Run: %v after %d runs; want the second run, begun as the writer, to win", err, runs)
		}
		if got := toInt(t, c.mustCall(t, st, "app.star", "value", id)); got != 2 {
			t.Errorf("counter is %d, want 2 (the other request's increment, then this one's)", got)
		}
		return
	}
	if !errors.Is(err, objects.ErrConflict) {
		t.Fatalf("Run: got %v, want ErrConflict", err)
	}
	if runs != 3 {
		t.Errorf("fn ran %d times, want 3", runs)
	}
	if got := toInt(t, c.mustCall(t, st, "app.star", "value", id)); got != 3 {
		t.Errorf("counter is %d, want 3 (the other requests' increments only)", got)
	}
}

func testRun_ReadOnlyRequestsDoNotWrite(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	id := c.mustCall(t, st, "app.star", "create", str("c"))
	rev := revision(t, st)
	c.mustCall(t, st, "app.star", "label", id)
	if got := revision(t, st); got != rev {
		t.Errorf("stored state is %s after a read, want %s", got, rev)
	}
}
