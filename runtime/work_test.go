package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/starbase/starbase/runtime"
)

// workPrelude builds the values of the attacks of issue 11, item 3: a tuple nesting
// shared tuples 62 levels deep (2^62 paths), a list nesting 10 lists of width 10 ten
// levels deep (10^10 paths within the comparison depth), and a tuple nested 1001 levels.
const workPrelude = `
def dag(n):
    t = (1,)
    for _ in range(n):
        t = (t, t)
    return t

def wide(k, depth):
    l = [1] * k
    for _ in range(depth):
        l = [l] * k
    return l

def deep(n):
    t = ()
    for _ in range(n):
        t = (t,)
    return t

def wt(k, depth):
    t = (1,) * k
    for _ in range(depth):
        t = (t,) * k
    return t
`

// workAttacks are operations that hash or compare inside one instruction, each of which
// ran for seconds to years before: every one must be refused before it starts.
var workAttacks = map[string]string{
	"dict key":               "d = {}\n    d[dag(62)] = 1",
	"dict lookup":            "return {}.get(dag(62))",
	"index read":             "return {}[dag(62)]",
	"dict display":           "return {dag(62): 1}",
	"dict comprehension":     "return {t: 1 for t in [dag(62)]}",
	"in dict":                "return dag(62) in {}",
	"not in set":             "return dag(62) not in set()",
	"set()":                  "return set([dag(62)])",
	"set.add":                "s = set()\n    s.add(dag(62))",
	"getattr set.add":        "s = set()\n    getattr(s, 'add')(dag(62))",
	"set.union":              "return set().union([dag(62)])",
	"dict |":                 "d = {1: 1}\n    d[1] = dag(30)\n    return {dag(30): 1} | {dag(30): 1}",
	"dict()":                 "return dict([(dag(62), 1)])",
	"dict.update":            "d = {}\n    d.update([(dag(62), 1)])",
	"dict.setdefault":        "return {}.setdefault(dag(62), 1)",
	"dict.pop":               "return {}.pop(dag(62), 1)",
	"== wide":                "return wide(10, 9) == wide(10, 9)",
	"!= wide":                "return wide(10, 9) != wide(10, 9)",
	"< wide":                 "return wide(10, 9) < wide(10, 9)",
	"in list":                "return wide(10, 9) in [wide(10, 9)]",
	"list.index":             "return [wide(10, 9)].index(wide(10, 9))",
	"list.remove":            "[wide(10, 9)].remove(wide(10, 9))",
	"sorted":                 "return sorted([wide(10, 9), wide(10, 9)])",
	"sorted key":             "return sorted([1, 2], key = lambda x: wide(10, 9))",
	"max":                    "return max([wide(10, 9), wide(10, 9)])",
	"min args":               "return min(wide(10, 9), wide(10, 9))",
	"max key":                "return max([1, 2], key = lambda x: wide(10, 9))",
	"tuple deeper than 1000": "return {deep(1001): 1}",
}

func TestChecks_HashingAndComparingAreBoundedBeforeTheyStart(t *testing.T) {
	l := newLoader(t, runtime.Options{})
	for name, body := range workAttacks {
		t.Run(name, func(t *testing.T) {
			snap := snapshotOf(t, map[string]string{"app.star": workPrelude + "\ndef f():\n    " + body + "\n"})
			_, err := call(l, context.Background(), snap, mustLoad(t, l, snap, "app.star"), "f", runtime.CallOptions{})
			if name == "tuple deeper than 1000" {
				if !errors.Is(err, runtime.ErrDepthLimit) {
					t.Fatalf("%s = %v, want ErrDepthLimit", body, err)
				}
				wantContains(t, err, "a tuple nested more than 1000 levels deep cannot be hashed")
				return
			}
			if !errors.Is(err, runtime.ErrStepLimit) {
				t.Fatalf("%s = %v, want ErrStepLimit", body, err)
			}
			wantContains(t, err, "values in one operation (runtime.MaxOperationVisits)")
		})
	}
}

// The same operations on values they can afford keep their results.
func TestChecks_HashingAndComparingKeepTheirResults(t *testing.T) {
	runSpecWith(t, "testdata/work.star", runtime.Options{})
}

// A request stopped by its timeout ends even when it hashes and compares in a loop: each
// operation is bounded, so the interpreter sees the deadline between them.
func TestChecks_HashingInALoopStopsAtTheTimeout(t *testing.T) {
	l := newLoader(t, runtime.Options{Limits: runtime.Limits{MaxSteps: 1 << 62, Timeout: 200 * time.Millisecond}})
	snap := snapshotOf(t, map[string]string{"app.star": workPrelude + `
def f():
    t = wt(20, 4)  # 3.4 million paths: admitted, tens of ms each
    d = {}
    for i in range(1 << 40):
        d[t] = i
        if t in d and t == t:
            pass
`})
	_, err := call(l, context.Background(), snap, mustLoad(t, l, snap, "app.star"), "f", runtime.CallOptions{})
	if !errors.Is(err, runtime.ErrTimeout) {
		t.Fatalf("f() = %v, want ErrTimeout", err)
	}
}
