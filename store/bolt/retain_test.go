package bolt_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/store/storetest"
)

// counterWrites makes n commits, each writing one of 5 counters (as app requests that count
// do), with a Retainer of a 100 s window ticking every 25 writes while the clock moves one
// second per write. It returns the size of the file.
type counters struct {
	s      *bolt.Store
	r      *store.Retainer
	clock  time.Time
	writes int
}

func newCounters(t testing.TB) *counters {
	s := openTemp(t)
	c := &counters{s: s, clock: time.Unix(1e9, 0)}
	c.r = &store.Retainer{Store: s, Window: 100 * time.Second, Now: func() time.Time { return c.clock }}
	return c
}

func (c *counters) write(t testing.TB, n int) int64 {
	t.Helper()
	for range n {
		c.writes++
		key := fmt.Sprintf("data/obj/counter-%d", c.writes%5)
		if _, err := c.s.Commit(t.Context(), nil, []store.Op{store.Put(key, fmt.Appendf(nil, `{"n": %d, "padding": "%0200d"}`, c.writes, 0))}); err != nil {
			t.Fatal(err)
		}
		c.clock = c.clock.Add(time.Second)
		if c.writes%25 == 0 {
			if _, err := c.r.Tick(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	info, err := os.Stat(c.s.Path())
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// TestRetention_BoltFileStaysBoundedUnderCounterWrites: with history retained for a window,
// the file after 5,000 counter writes is within 2x of the file after 500 (without it, it
// grows by about 275 bytes a write). BenchmarkRetention_CounterWrites runs the figure of the
// issue: 50,000 writes against 1,000 (each commit is synced to disk, so 50,000 take minutes).
func TestRetention_BoltFileStaysBoundedUnderCounterWrites(t *testing.T) {
	c := newCounters(t)
	first := c.write(t, 500)
	last := c.write(t, 4500)
	t.Logf("file after 500 writes: %d bytes; after 5,000: %d bytes", first, last)
	if last > 2*first {
		t.Errorf("file after 5,000 writes is %d bytes, more than twice the %d bytes after 500", last, first)
	}
	if st := c.r.Stats(); st.Compacted == 0 {
		t.Errorf("the retainer never compacted: %+v", st)
	}
}

// BenchmarkRetention_CounterWrites reports the file size after 1,000 and after 50,000 counter
// writes with a retention window (the figure of BENCHMARKS.md).
func BenchmarkRetention_CounterWrites(b *testing.B) {
	for b.Loop() {
		c := newCounters(b)
		first := c.write(b, 1000)
		last := c.write(b, 49000)
		b.ReportMetric(float64(first), "bytes@1k")
		b.ReportMetric(float64(last), "bytes@50k")
		b.ReportMetric(float64(last)/float64(first), "ratio")
	}
}

// TestRetention_AHeldRevisionIsNotCompacted: a Retainer of the process that holds a revision
// (store.HoldHistory, as a backup does) compacts up to it and no further until released.
func TestRetention_AHeldRevisionIsNotCompacted(t *testing.T) {
	s := openTemp(t)
	storetest.RunHold(t, s, s)
}
