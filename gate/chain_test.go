package gate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
)

// chain returns a tree of n modules, each loading the next.
func chain(n int) map[string][]byte {
	files := make(map[string][]byte, n+1)
	for i := range n {
		src := fmt.Sprintf("x = %d\n", i)
		if i+1 < n {
			src = fmt.Sprintf("load(\"m%d.star\", y = \"x\")\nx = y + 1\n", i+1)
		}
		files[fmt.Sprintf("m%d.star", i)] = []byte(src)
	}
	files["app.star"] = []byte("load(\"m0.star\", \"x\")\nroutes = {}\n")
	return files
}

// BenchmarkCheck_LoadChain checks a tree of modules loading each other in a chain: the
// time per module must not grow with the length of the chain (it grew linearly, so the
// check was quadratic: 0.29, 1.1, 4.3 and 19.4s for 500 to 4000 modules).
func BenchmarkCheck_LoadChain(b *testing.B) {
	for _, n := range []int{250, 500, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			files := chain(n)
			for b.Loop() {
				l := newLoader(b)
				if err := gate.Check(context.Background(), files, gate.Options{Loader: l, NoTests: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/module")
		})
	}
}

// A chain of modules is checked in time linear in its length up to runtime.MaxLoadDepth
// (BenchmarkCheck_LoadChain), and a longer one is refused, at the load statement past
// the limit, without crashing.
func TestCheck_RefusesALoadChainLongerThanTheLimit(t *testing.T) {
	for _, n := range []int{runtime.MaxLoadDepth, 4000} {
		rep := run(t, chainFiles(n), gate.Options{NoTests: true})
		got := strings.Join(problems(rep), "\n")
		if n <= runtime.MaxLoadDepth {
			if got != "" {
				t.Errorf("a chain of %d modules: problems %s, want none", n, got)
			}
			continue
		}
		if !strings.Contains(got, "m999.star:1:6: depth limit exceeded: a chain of more than 1000 modules loading each other passes through this load (runtime.MaxLoadDepth)") {
			t.Errorf("a chain of %d modules: problems %.2000s, want the chain refused", n, got)
		}
	}
}

func chainFiles(n int) map[string]string {
	out := map[string]string{}
	for p, b := range chain(n) {
		out[p] = string(b)
	}
	return out
}

// The whole check is bounded by Options.Timeout: a tree whose modules each run long
// fails with a problem saying the check ran out of time, and the modules not loaded by
// then are not started.
func TestCheck_StopsAtItsTimeoutWithAProblem(t *testing.T) {
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("slow%02d.star", i)] = "def spin():\n    n = 0\n    for i in range(1 << 40):\n        n += i\n    return n\nx = spin()\n"
	}
	runs := 0
	l, err := runtime.New(runtime.Options{
		Limits:      runtime.Limits{LoadTimeout: 200 * time.Millisecond, MaxSteps: 1 << 40},
		OnModuleRun: func(string, code.ID) { runs++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep := run(t, files, gate.Options{Loader: l, NoTests: true, Timeout: time.Second})
	got := strings.Join(problems(rep), "\n")
	if !strings.Contains(got, "the check took longer than 1s (gate.Options.Timeout, starbase serve --check-timeout) and was stopped") {
		t.Errorf("problems %s, want the timeout reported", got)
	}
	if runs >= 50 {
		t.Errorf("%d of 50 slow modules ran: the check did not stop at its timeout", runs)
	}
}
