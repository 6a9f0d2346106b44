package gate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
)

// The modules of a push each stay within the runtime's limits, but together they would
// hold far more than one check may: 20 modules of 1 MiB each (and a test allocating 12 MiB)
// against a budget of 8 MiB. The check stops them and says which limit. (The sizes are
// small because the race detector makes every byte copied costly: 200 MiB took over 10 s
// of a loaded machine, the tests' call timeout.)
func TestCheck_BoundsTheMemoryOfTheWholeCheck(t *testing.T) {
	files := map[string]string{"app.star": "routes = {}\n"}
	for i := range 20 {
		files[fmt.Sprintf("m%d.star", i)] = fmt.Sprintf("X = \"%d\" * (1 << 20)\n", i)
	}
	files["big_test.star"] = "def test_big():\n    keep = [\"t\" * (1 << 20) for _ in range(12)]\n"
	rep := run(t, files, gate.Options{MaxMemory: 8 * runtime.MiB})
	got := strings.Join(problems(rep), "\n")
	for _, want := range []string{
		"over the limit of 8MiB for one check (gate.Options.MaxMemory, starbase serve --check-memory)",
		"memory limit exceeded: the executions sharing a budget of 8MiB (gate.Options.MaxMemory, starbase serve --check-memory) allocated",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant one containing %q", got, want)
		}
	}

	// The same tree within the default budget passes.
	if rep := run(t, files, gate.Options{}); len(rep.Problems) > 0 {
		t.Errorf("problems within the default budget: %s", strings.Join(problems(rep), "\n"))
	}
}
