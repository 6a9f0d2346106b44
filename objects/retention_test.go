package objects_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects/sqlite"
)

// The SQL tiers keep no history of the objects (only the current row of each; SQLite's WAL
// is checkpointed into the file every 1000 pages and then written over from its start), so
// the retention of store revisions (--retain-history) has nothing to compact there: the
// SQLite files of 5 counters stay the same size from 1,000 writes to 4,000.
func TestRetention_SQLiteDataStaysBoundedUnderCounterWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.sqlite")
	eng, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	c := newCode(map[string]string{"counters.star": countersV1, "app.star": counterHandlers})
	var ids []starlark.Value
	for i := range 5 {
		ids = append(ids, c.mustCall(t, eng, "app.star", "create", str(fmt.Sprint("c", i))))
	}
	size := func() int64 {
		var n int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	var after1000 int64
	for i := range 4000 {
		c.mustCall(t, eng, "app.star", "incr", ids[i%5])
		if i == 999 {
			after1000 = size()
		}
	}
	if got := size(); got > 2*after1000 {
		t.Errorf("the SQLite files hold %d bytes after 4,000 writes to 5 counters, %d after 1,000: want at most twice", got, after1000)
	}
	if got := toInt(t, c.mustCall(t, eng, "app.star", "value", ids[0])); got != 800 {
		t.Errorf("counter 0 is %d after 800 increments", got)
	}
}
