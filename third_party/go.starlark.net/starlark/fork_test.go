package starlark_test

// Tests of this repository's changes to go.starlark.net (FORK.md).

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// argsRecorder returns a builtin function that records, for each call, the address of
// its args slice's first slot and the slice itself.
func argsRecorder(addrs *[]unsafe.Pointer, kept *[]starlark.Tuple) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		*addrs = append(*addrs, unsafe.Pointer(&args[0]))
		*kept = append(*kept, args)
		return starlark.None, nil
	}
}

func TestBorrowingBuiltin_GetsTheOperandStackOthersACopy(t *testing.T) {
	var borrowedAddrs, copiedAddrs []unsafe.Pointer
	var borrowed, copied []starlark.Tuple
	predeclared := starlark.StringDict{
		"borrow": starlark.NewBorrowingBuiltin("borrow", argsRecorder(&borrowedAddrs, &borrowed)),
		"keep":   starlark.NewBuiltin("keep", argsRecorder(&copiedAddrs, &copied)),
	}
	// Each pair of calls is made from the same operand stack slots.
	src := `
def f():
    borrow(1, 2)
    borrow(3, 4)
    keep(5, 6)
    keep(7, 8)
f()
`
	if _, err := starlark.ExecFileOptions(&syntax.FileOptions{}, &starlark.Thread{}, "fork.star", src, predeclared); err != nil {
		t.Fatal(err)
	}
	if len(borrowedAddrs) != 2 || borrowedAddrs[0] != borrowedAddrs[1] {
		t.Errorf("a borrowing builtin's calls from the same stack slots got args at %v, want one address (the operand stack, not a copy)", borrowedAddrs)
	}
	if len(copiedAddrs) != 2 || copiedAddrs[0] == copiedAddrs[1] {
		t.Errorf("a builtin's calls got args at %v, want two copies", copiedAddrs)
	}
	// The slices a non-borrowing builtin kept are its own: later calls do not change them.
	for i, want := range []string{"(5, 6)", "(7, 8)"} {
		if got := copied[i].String(); got != want {
			t.Errorf("kept args of call %d = %s, want %s", i+1, got, want)
		}
	}
	// The borrowed view was overwritten by the later calls, made from the same slots, and
	// cleared when f returned: why a builtin that keeps its args must not borrow them.
	if got := borrowed[0].String(); got != "(<nil>, <nil>)" {
		t.Errorf("first borrowed args after f returned = %s, want (<nil>, <nil>): f's space, cleared", got)
	}
}

func TestValueStack_CallsReuseTheSpaceOfReturnedCalls(t *testing.T) {
	var addrs []unsafe.Pointer
	var kept []starlark.Tuple
	var errs []error
	predeclared := starlark.StringDict{
		"borrow": starlark.NewBorrowingBuiltin("borrow", argsRecorder(&addrs, &kept)),
		// twice calls f twice, from the same frame, and records their errors.
		"twice": starlark.NewBuiltin("twice", func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			for range 2 {
				_, err := starlark.Call(thread, args[0], nil, nil)
				errs = append(errs, err)
			}
			return starlark.None, nil
		}),
	}
	// g's operand stack holds borrow's arguments: its address is where g's space is.
	// deep(n) nests n calls, each with its own locals, far more than a first chunk holds.
	src := `
def g(x):
    borrow(x, 0)

def deep(n, acc):
    a, b, c = n, n * 2, acc
    if n == 0:
        return c
    return deep(n - 1, c + a + b - n)

def f():
    g(1)
    g(2)
    g()  # fails: g takes one argument

def main():
    twice(f)
`
	thread := &starlark.Thread{}
	globals, err := starlark.ExecFileOptions(&syntax.FileOptions{Recursion: true}, thread, "space.star", src, predeclared)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := starlark.Call(thread, globals["main"], nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "missing 1 argument (x)") {
			t.Errorf("f(): got %v, want the error of g()'s missing argument", err)
		}
	}
	if len(addrs) != 4 || addrs[0] != addrs[1] || addrs[2] != addrs[0] || addrs[3] != addrs[0] {
		t.Errorf("g's calls, in two calls of f, the second after a call that failed to bind its arguments, had their space at %v, want one address", addrs)
	}
	for i, args := range kept {
		if args[0] != nil || args[1] != nil {
			t.Errorf("g's call %d left %v in its space after returning, want it cleared", i+1, args)
		}
	}
	// Recursion across chunks returns the value each frame's own locals compute.
	got, err := starlark.Call(thread, globals["deep"], starlark.Tuple{starlark.MakeInt(2000), starlark.MakeInt(0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := starlark.MakeInt(2000 * 2001); got != want { // the sum of 2n for n in 1..2000
		t.Errorf("deep(2000, 0) = %v, want %v", got, want)
	}
}

func TestBorrowingBuiltin_BindReceiverKeepsTheKind(t *testing.T) {
	fn := func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return starlark.None, nil
	}
	if !starlark.NewBorrowingBuiltin("m", fn).BindReceiver(starlark.None).BorrowsArgs() {
		t.Error("a bound borrowing builtin does not borrow its args")
	}
	if starlark.NewBuiltin("m", fn).BindReceiver(starlark.None).BorrowsArgs() {
		t.Error("a bound builtin borrows its args")
	}
}

// The builtins and methods of the language borrow their args (none keeps the slice).
func TestBorrowingBuiltin_UniverseAndMethodsBorrow(t *testing.T) {
	for name, v := range starlark.Universe {
		if b, ok := v.(*starlark.Builtin); ok && !b.BorrowsArgs() {
			t.Errorf("universe %s does not borrow its args", name)
		}
	}
	receivers := []starlark.HasAttrs{starlark.String(""), starlark.Bytes(""), starlark.NewList(nil), starlark.NewDict(0), starlark.NewSet(0)}
	for _, recv := range receivers {
		for _, name := range recv.AttrNames() {
			m, err := recv.Attr(name)
			if err != nil {
				t.Fatal(err)
			}
			if b, ok := m.(*starlark.Builtin); ok && !b.BorrowsArgs() {
				t.Errorf("%s.%s does not borrow its args", recv.Type(), name)
			}
		}
	}
}

// Predeclared and universal names are resolved once per module: a module made with an
// environment keeps using its values, and a name missing from the predeclared
// environment is still reported.
func TestResolvedNames_ServeEachModuleItsOwnEnvironment(t *testing.T) {
	src := `x = greeting + " " + str(len(greeting))`
	_, prog, err := starlark.SourceProgramOptions(&syntax.FileOptions{}, "names.star", src, func(name string) bool { return name == "greeting" })
	if err != nil {
		t.Fatal(err)
	}
	for _, greeting := range []string{"hello", "bonjour"} {
		globals, err := prog.Init(&starlark.Thread{}, starlark.StringDict{"greeting": starlark.String(greeting)})
		if err != nil {
			t.Fatal(err)
		}
		want := greeting + " " + map[string]string{"hello": "5", "bonjour": "7"}[greeting]
		if got := globals["x"]; got != starlark.String(want) {
			t.Errorf("x = %v, want %q", got, want)
		}
	}
	_, err = prog.Init(&starlark.Thread{}, starlark.StringDict{})
	if err == nil || err.Error() != "internal error: predeclared variable greeting is uninitialized" {
		t.Errorf("Init without greeting: err = %v, want the uninitialized-variable error", err)
	}
}

// errTooDeep is the error TestMaxCallDepth's limit makes.
var errTooDeep = errors.New("too deep")

func TestMaxCallDepth_StopsTheCallThatWouldNestDeeper(t *testing.T) {
	// f(n) recurses n times below the top level, through a builtin in between.
	src := `
def f(n):
    if n > 0:
        call(f, n - 1)
`
	opts := &syntax.FileOptions{Recursion: true}
	predeclared := starlark.StringDict{
		"call": starlark.NewBuiltin("call", func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			return starlark.Call(thread, args[0], args[1:], nil)
		}),
	}
	globals, err := starlark.ExecFileOptions(opts, &starlark.Thread{}, "depth.star", src, predeclared)
	if err != nil {
		t.Fatal(err)
	}
	f := globals["f"]
	// f(n) makes a stack of 2n+1 frames: f, then call and f for each level.
	for _, tc := range []struct {
		max, n  int
		tooDeep int // the depth refused, or 0 if the call succeeds
	}{
		{max: 7, n: 3},
		{max: 7, n: 4, tooDeep: 9},
		{max: 1, n: 0},
		{max: 0, n: 500}, // no limit
	} {
		var refused []int
		thread := &starlark.Thread{}
		thread.SetMaxCallDepth(tc.max, func(depth int) error {
			refused = append(refused, depth)
			return fmt.Errorf("%w at %d", errTooDeep, depth)
		})
		_, err := starlark.Call(thread, f, starlark.Tuple{starlark.MakeInt(tc.n)}, nil)
		switch {
		case tc.tooDeep == 0 && err != nil:
			t.Errorf("max %d, f(%d): %v, want success", tc.max, tc.n, err)
		case tc.tooDeep != 0 && (!errors.Is(err, errTooDeep) || len(refused) != 1 || refused[0] != tc.tooDeep):
			t.Errorf("max %d, f(%d): error %v after refusing depths %v, want errTooDeep at depth %d only", tc.max, tc.n, err, refused, tc.tooDeep)
		}
		if thread.CallStackDepth() != 0 {
			t.Errorf("max %d, f(%d): %d frames left on the stack", tc.max, tc.n, thread.CallStackDepth())
		}
	}

	// Without tooDeep, the error says what was refused.
	thread := &starlark.Thread{}
	thread.SetMaxCallDepth(2, nil)
	_, err = starlark.Call(thread, f, starlark.Tuple{starlark.MakeInt(1)}, nil)
	if err == nil || !strings.Contains(err.Error(), "3 nested calls, over the limit of 2") {
		t.Errorf("default error: got %v, want one naming 3 nested calls and the limit of 2", err)
	}
}

// A thread keeps its first four locals without a map: setting and reading them allocates
// nothing, and a fifth key makes the map, which then holds the keys set after it. Every
// key reads back its last value however it is stored.
func TestThreadLocals_TheFirstFourNeedNoMap(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e", "f"}
	allocs := testing.AllocsPerRun(100, func() {
		var thread starlark.Thread
		for i, k := range keys[:4] {
			thread.SetLocal(k, i)
		}
		thread.SetLocal("b", 10)
		if thread.Local("b") != 10 || thread.Local("d") != 3 || thread.Local("e") != nil {
			panic("wrong local")
		}
	})
	if allocs != 0 {
		t.Errorf("four locals set, one set again and three read: %v allocations, want 0", allocs)
	}

	thread := new(starlark.Thread)
	for i, k := range keys {
		thread.SetLocal(k, i)
	}
	thread.SetLocal("a", "first again")
	thread.SetLocal("f", "last again")
	want := map[string]any{"a": "first again", "b": 1, "c": 2, "d": 3, "e": 4, "f": "last again", "g": nil}
	for k, v := range want {
		if got := thread.Local(k); got != v {
			t.Errorf("Local(%q) = %v, want %v", k, got, v)
		}
	}
}

// A thread's first four frames are its own: a call of a builtin that calls another
// allocates no frame, where a thread used to allocate a frame and grow its stack for each
// new depth. Calls nested deeper than four get frames from the heap, and every depth
// still sees the whole call stack.
func TestThreadFrames_ShallowCallsAllocateNone(t *testing.T) {
	inner := starlark.NewBuiltin("inner", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return starlark.None, nil
	})
	outer := starlark.NewBuiltin("outer", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		return starlark.Call(thread, inner, nil, nil)
	})
	allocs := testing.AllocsPerRun(100, func() {
		thread := new(starlark.Thread)
		if _, err := starlark.Call(thread, outer, nil, nil); err != nil {
			panic(err)
		}
	})
	if allocs != 1 { // the thread itself
		t.Errorf("a new thread calling two nested builtins: %v allocations, want 1 (the thread)", allocs)
	}

	var stacks []string
	var nest *starlark.Builtin
	nest = starlark.NewBuiltin("nest", func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		var names []string
		for _, fr := range thread.CallStack() {
			names = append(names, fr.Name)
		}
		stacks = append(stacks, strings.Join(names, " "))
		if n := args[0].(starlark.Int); n.Sign() > 0 {
			return starlark.Call(thread, nest, starlark.Tuple{starlark.MakeInt(int(n.BigInt().Int64()) - 1)}, nil)
		}
		return starlark.None, nil
	})
	thread := new(starlark.Thread)
	for round := range 2 { // the second round reuses the frames of the first
		stacks = stacks[:0]
		if _, err := starlark.Call(thread, nest, starlark.Tuple{starlark.MakeInt(6)}, nil); err != nil {
			t.Fatal(err)
		}
		for depth, got := range stacks {
			if want := strings.TrimSpace(strings.Repeat("nest ", depth+1)); got != want {
				t.Errorf("round %d, depth %d: call stack %q, want %q", round, depth+1, got, want)
			}
		}
		if len(stacks) != 7 || thread.CallStackDepth() != 0 {
			t.Errorf("round %d: %d calls, depth %d after return; want 7 calls and depth 0", round, len(stacks), thread.CallStackDepth())
		}
	}
}

// The interpreter calls builtins without Call's deferred pop: a builtin that panics leaves
// its frame, and the pop of the Starlark function below it cuts the stack back. After a
// recovered panic three calls deep, the thread's stack is empty and the next call sees
// exactly its own frames.
func TestCallBuiltin_APanicLeavesTheStackAsItWas(t *testing.T) {
	var seen string
	predeclared := starlark.StringDict{
		"boom": starlark.NewBuiltin("boom", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			panic("boom")
		}),
		"where": starlark.NewBuiltin("where", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			var names []string
			for _, fr := range thread.CallStack() {
				names = append(names, fr.Name)
			}
			seen = strings.Join(names, " ")
			return starlark.None, nil
		}),
	}
	thread := new(starlark.Thread)
	globals, err := starlark.ExecFile(thread, "p.star", "def a():\n    b()\ndef b():\n    boom()\ndef c():\n    where()\n", predeclared)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the builtin's panic", p)
			}
		}()
		starlark.Call(thread, globals["a"], nil, nil)
	}()
	if d := thread.CallStackDepth(); d != 0 {
		t.Errorf("after the recovered panic: call stack depth %d, want 0", d)
	}
	if _, err := starlark.Call(thread, globals["c"], nil, nil); err != nil {
		t.Fatal(err)
	}
	if seen != "c where" {
		t.Errorf("the next call's builtin saw the stack %q, want \"c where\"", seen)
	}
}

// len(x) and range(n) take a fast path for their common call (one positional argument;
// for range, an int that fits): the results, and the errors of the calls it leaves to the
// generic unpacking, are those of go.starlark.net.
func TestLenAndRange_CommonCallsKeepTheirResultsAndErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`len("héllo")`, "6"},
		{`len([1, 2, 3])`, "3"},
		{`len({"a": 1})`, "1"},
		{`len(())`, "0"},
		{`len(range(10))`, "10"},
		{`len(1)`, "len: value of type int has no len"},
		{`len()`, "len: got 0 arguments, want 1"},
		{`len("a", "b")`, "len: got 2 arguments, want 1"},
		{`len(x = "a")`, "len: unexpected keyword arguments"},
		{`list(range(3))`, "[0, 1, 2]"},
		{`list(range(-2))`, "[]"},
		{`list(range(0))`, "[]"},
		{`len(range(1 << 40))`, "1099511627776"},
		{`range(1 << 70)`, "range: for parameter 1: " + bigIntError()},
		{`range("3")`, "range: for parameter 1: got string, want int"},
		{`range(3.0)`, "range: for parameter 1: got float, want int"},
		{`list(range(1, 7, 2))`, "[1, 3, 5]"},
		{`range(1, 2, 0)`, "range: step argument must not be zero"},
		{`range(stop = 3)`, "range: unexpected keyword arguments"},
		{`range(3) == range(0, 3, 1)`, "True"},
	}
	for _, c := range cases {
		v, err := starlark.Eval(new(starlark.Thread), "expr", c.expr, starlark.Universe)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = v.String()
		}
		if got != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
}

// bigIntError is the error of unpacking 1 << 70 into an int, as go.starlark.net words it.
func bigIntError() string {
	var n int
	return starlark.AsInt(starlark.MakeInt(1).Lsh(70), &n).Error()
}

// Change 14: one comparison per instruction covers the step limit and the cancellation.
func TestStop_TheStepLimitAndCancelStillStopEveryLoop(t *testing.T) {
	const loop = "def f():\n    for i in range(100000000):\n        tick()\nf()\n"
	run := func(thread *starlark.Thread, tick func()) error {
		builtin := starlark.NewBuiltin("tick", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			tick()
			return starlark.None, nil
		})
		_, err := starlark.ExecFileOptions(&syntax.FileOptions{}, thread, "loop.star", loop, starlark.StringDict{"tick": builtin})
		return err
	}

	// The limit, with no OnMaxSteps: stopped at the limit, not later.
	thread := new(starlark.Thread)
	thread.SetMaxExecutionSteps(1000)
	if err := run(thread, func() {}); err == nil || !strings.Contains(err.Error(), "too many steps") {
		t.Errorf("a loop past 1000 steps: %v, want too many steps", err)
	}
	if thread.Steps < 1000 || thread.Steps > 1001 {
		t.Errorf("stopped after %d steps, want 1000", thread.Steps)
	}

	// OnMaxSteps moving the limit (as checkpoints do) is called at each one, until it cancels.
	thread = new(starlark.Thread)
	thread.SetMaxExecutionSteps(100)
	calls := 0
	thread.OnMaxSteps = func(th *starlark.Thread) {
		if calls++; calls == 5 {
			th.Cancel("fifth checkpoint")
			return
		}
		th.SetMaxExecutionSteps(th.Steps + 100)
	}
	if err := run(thread, func() {}); err == nil || !strings.Contains(err.Error(), "cancelled: fifth checkpoint") || calls != 5 || thread.Steps != 500 {
		t.Errorf("checkpoints every 100 steps, cancelling at the fifth: %v after %d calls and %d steps, want cancelled after 5 and 500", err, calls, thread.Steps)
	}

	// Cancelled before it starts: no step runs; uncancelled: it runs.
	thread = new(starlark.Thread)
	thread.Cancel("not now")
	if _, err := starlark.ExecFile(thread, "one.star", "x = 1\n", nil); err == nil || !strings.Contains(err.Error(), "cancelled: not now") {
		t.Errorf("a cancelled thread: %v, want cancelled: not now", err)
	}
	thread.Uncancel()
	if _, err := starlark.ExecFile(thread, "one.star", "x = 1\n", nil); err != nil {
		t.Errorf("after Uncancel: %v", err)
	}

	// A Cancel from another goroutine is seen by a thread with no limit, and by one whose
	// checkpoints move its limit every 3 steps, wherever it falls between them (the race
	// of checkStop).
	for i := range 200 {
		thread := new(starlark.Thread)
		if i%2 == 1 {
			thread.SetMaxExecutionSteps(3)
			thread.OnMaxSteps = func(th *starlark.Thread) { th.SetMaxExecutionSteps(th.Steps + 3) }
		}
		started := make(chan struct{})
		ticks := 0
		go func() {
			<-started
			thread.Cancel("from another goroutine")
		}()
		err := run(thread, func() {
			if ticks++; ticks == 1 {
				close(started)
			}
		})
		if err == nil || !strings.Contains(err.Error(), "cancelled: from another goroutine") {
			t.Fatalf("a loop cancelled from another goroutine: %v after %d ticks, want cancelled", err, ticks)
		}
	}
}
