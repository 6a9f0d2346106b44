package runtime

import (
	"context"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
)

// executionLocal is the thread-local key of the *execution of a thread run by limit.
const executionLocal = "starbase.execution"

// bytesPerStep estimates what one Starlark step may allocate without passing through a
// check: appending to a list in a comprehension, inserting into a dict, making a small
// tuple. It weighs steps in an execution's usage, so that a request that grows a structure
// one element at a time is seen by the heap guard.
const bytesPerStep = 8

// execution is one running Starlark thread: a Call or a module's top level. The checks,
// on the thread's goroutine, add to charged; limit publishes the step count at every
// checkpoint; the heap guard reads both from its own goroutine.
type execution struct {
	name    string
	started time.Time
	stop    func(why error) // cancels the thread with that reason
	done    chan struct{}   // closed when the execution has returned

	charged atomic.Int64  // bytes admitted by the checks
	steps   atomic.Uint64 // the thread's steps, as of the last checkpoint
}

// usage estimates the memory the execution holds: what it allocated through the checks
// plus what its steps may have allocated. It counts garbage the execution already dropped,
// so it is an upper bound, good for choosing whom to stop, not for billing.
func (e *execution) usage() int64 {
	return satAdd(e.charged.Load(), satMul(int64(e.steps.Load()), bytesPerStep))
}

// executionOf returns the execution of thread, or nil for a thread not run by a Loader.
func executionOf(thread *starlark.Thread) *execution {
	e, _ := thread.Local(executionLocal).(*execution)
	return e
}

// Timing of the heap guard.
const (
	guardInterval = 10 * time.Millisecond  // between two readings of the heap
	guardForceGap = 100 * time.Millisecond // least time between two collections it forces
	guardStopWait = 5 * time.Second        // longest wait for a stopped execution to return
	// guardShare: an execution is stopped only if its usage is at least 1/guardShare of
	// the excess over the budget.
	guardShare = 4
	guardQuiet = time.Second // rest after finding no execution to blame
)

// heapGuard keeps the process's live heap under a budget by stopping the Starlark
// execution with the largest usage when the budget is exceeded.
//
// Go has no per-goroutine memory accounting, so the guard reads process-wide figures
// (runtime/metrics) and attributes them by each execution's usage estimate. It acts on
// live memory only: the live heap is what the last garbage collection marked, so before
// stopping anyone it forces a collection and reads the figure again. Garbage left by an
// execution stopped earlier (or that ended by itself) is therefore never held against the
// executions still running. After stopping one, it waits for that execution to return
// before it considers stopping another, and the next reading comes from a collection that
// ran after the stopped execution's memory became garbage.
//
// One guard serves one Loader; it starts with the first execution and stops on Close.
// It is safe for concurrent use.
type heapGuard struct {
	limit  int64 // bytes; <= 0 disables the guard
	logger *slog.Logger
	ctx    context.Context // ends on Loader.Close

	// mu guards execs and started.
	mu      sync.Mutex
	execs   map[*execution]struct{}
	started bool
	done    chan struct{} // closed when the guard's goroutine returned (once started)

	stops atomic.Uint64 // executions stopped by the guard
}

func newHeapGuard(ctx context.Context, limit ByteSize, logger *slog.Logger) *heapGuard {
	return &heapGuard{limit: int64(limit), logger: logger, ctx: ctx, execs: map[*execution]struct{}{}, done: make(chan struct{})}
}

// add registers e, starting the guard on first use.
func (g *heapGuard) add(e *execution) {
	if g.limit <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.execs[e] = struct{}{}
	if !g.started && g.ctx.Err() == nil {
		g.started = true
		go g.run()
	}
}

// remove unregisters e.
func (g *heapGuard) remove(e *execution) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.execs, e)
}

// wait returns when the guard's goroutine, if started, has returned. The Loader's
// context must have ended.
func (g *heapGuard) wait() {
	g.mu.Lock()
	started := g.started
	g.started = true // no start after Close
	g.mu.Unlock()
	if started {
		<-g.done
	}
}

// largest returns the registered execution with the largest usage (the oldest among
// equals), or nil.
func (g *heapGuard) largest() *execution {
	g.mu.Lock()
	defer g.mu.Unlock()
	var best *execution
	var bestUsage int64
	for e := range g.execs {
		u := e.usage()
		if best == nil || u > bestUsage || u == bestUsage && e.started.Before(best.started) {
			best, bestUsage = e, u
		}
	}
	return best
}

func (g *heapGuard) busy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.execs) > 0
}

func (g *heapGuard) run() {
	defer close(g.done)
	tick := time.NewTicker(guardInterval)
	defer tick.Stop()
	heap := newHeapReader()
	var forced time.Time
	// quietUntil: after finding no execution to blame, the guard rests a while rather than
	// forcing a collection on every tick.
	var quietUntil time.Time
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-tick.C:
		}
		if !g.busy() || time.Now().Before(quietUntil) {
			continue
		}
		live, objects := heap.read()
		// live is as of the last collection; objects includes garbage not yet collected.
		// Confirm either with a fresh collection, at most every guardForceGap for objects.
		if live <= g.limit && (objects <= g.limit || time.Since(forced) < guardForceGap) {
			continue
		}
		goruntime.GC()
		forced = time.Now()
		if live, _ = heap.read(); live <= g.limit {
			continue
		}
		victim := g.largest()
		if victim == nil {
			continue
		}
		usage := victim.usage()
		// An execution that allocated a small fraction of the excess cannot be its cause:
		// the heap is held by something else (caches, another loader), and stopping an
		// innocent request would free nothing.
		if usage*guardShare < live-g.limit {
			g.logger.Warn("the live heap is over Limits.MaxHeapBytes, but no Starlark execution holds a significant part of it",
				"live_bytes", live, "limit_bytes", g.limit, "largest_usage_bytes", usage)
			quietUntil = time.Now().Add(guardQuiet)
			continue
		}
		victim.stop(fmt.Errorf("%w: the live heap of the process is %s, over its limit of %s (Limits.MaxHeapBytes), and this execution had allocated the most (about %s)",
			ErrMemoryLimit, ByteSize(live), ByteSize(g.limit), ByteSize(usage)))
		g.stops.Add(1)
		g.logger.Warn("stopped the Starlark execution that allocated the most: the live heap is over Limits.MaxHeapBytes",
			"thread", victim.name, "usage_bytes", usage, "live_bytes", live, "limit_bytes", g.limit)
		// A stopped thread returns at its next instruction; one instruction is bounded
		// by MaxAllocBytes, but a builtin of another package might block.
		select {
		case <-g.ctx.Done():
			return
		case <-victim.done:
		case <-time.After(guardStopWait):
		}
	}
}

// heapReader reads the live heap and the heap of objects (live and garbage) from
// runtime/metrics, reusing its samples.
type heapReader struct {
	samples []metrics.Sample
}

func newHeapReader() *heapReader {
	return &heapReader{samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}}
}

func (h *heapReader) read() (live, objects int64) {
	metrics.Read(h.samples)
	return int64(h.samples[0].Value.Uint64()), int64(h.samples[1].Value.Uint64())
}
