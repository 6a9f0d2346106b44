package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	goruntime "runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

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
// Every execution registers on start and unregisters on return. The registry is sharded,
// each shard an intrusive list under its own mutex, so that registering allocates nothing
// and concurrent executions seldom share a lock. The guard's goroutine runs only while
// executions do: add starts it, and it returns after a tick that finds no execution
// registered and none added since the previous tick. One guard serves one Loader; Close
// stops it for good. It is safe for concurrent use.
type heapGuard struct {
	limit  int64 // bytes; <= 0 disables the guard
	logger *slog.Logger
	ctx    context.Context // ends on Loader.Close

	shards [guardShards]guardShard

	running atomic.Bool // a goroutine is running run (or about to)
	added   atomic.Bool // an execution was added since the last tick

	// mu guards closed and the transitions of running (start, and stopping when idle).
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // goroutines running run

	stops atomic.Uint64 // executions stopped by the guard
}

// guardShards is the number of shards of the registry of executions.
const guardShards = 8

// guardShard is one shard of the registry of executions: a doubly linked list.
type guardShard struct {
	mu   sync.Mutex // guards head and the prev and next links of the executions listed
	head *execution
	_    [48]byte // keeps shards on distinct cache lines (64 bytes with mu and head)
}

func newHeapGuard(ctx context.Context, limit ByteSize, logger *slog.Logger) *heapGuard {
	return &heapGuard{limit: int64(limit), logger: logger, ctx: ctx}
}

// add registers e, starting the guard's goroutine unless it runs.
func (g *heapGuard) add(e *execution) {
	if g.limit <= 0 {
		return
	}
	s := &g.shards[rand.IntN(guardShards)]
	e.shard = s
	s.mu.Lock()
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	s.mu.Unlock()
	if !g.added.Load() {
		g.added.Store(true)
	}
	if !g.running.Load() {
		g.start()
	}
}

// remove unregisters e, if add registered it.
func (g *heapGuard) remove(e *execution) {
	s := e.shard
	if s == nil {
		return
	}
	s.mu.Lock()
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
	s.mu.Unlock()
}

// start launches the guard's goroutine unless it runs or the Loader is closed.
func (g *heapGuard) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.running.Load() || g.ctx.Err() != nil {
		return
	}
	g.running.Store(true)
	g.wg.Add(1)
	go g.run()
}

// stopIfIdle is called by run when no execution is registered. It reports whether none
// was added since the previous call either; if so run must return.
//
// It cannot miss an execution added meanwhile: add registers, then reads running. If the
// registration came after the reading of the shards here, add's reading of running comes
// after running was cleared here, so add starts a new goroutine (waiting on mu until this
// one has decided).
func (g *heapGuard) stopIfIdle() bool {
	if g.added.Swap(false) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running.Store(false)
	if g.busy() {
		g.running.Store(true)
		return false
	}
	return true
}

// wait makes the guard stop for good and returns when its goroutine, if any, has
// returned. The Loader's context must have ended.
func (g *heapGuard) wait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// largest returns the registered execution with the largest usage (the oldest among
// equals), or nil.
func (g *heapGuard) largest() *execution {
	var best *execution
	var bestUsage int64
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		for e := s.head; e != nil; e = e.next {
			u := e.usage()
			if best == nil || u > bestUsage || u == bestUsage && e.started.Before(best.started) {
				best, bestUsage = e, u
			}
		}
		s.mu.Unlock()
	}
	return best
}

// busy reports whether an execution is registered.
func (g *heapGuard) busy() bool {
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		busy := s.head != nil
		s.mu.Unlock()
		if busy {
			return true
		}
	}
	return false
}

func (g *heapGuard) run() {
	defer g.wg.Done()
	tick := time.NewTicker(guardInterval)
	defer tick.Stop()
	heap := newHeapReader()
	var forced time.Time
	// quietUntil: after finding no execution to blame, the guard rests a while rather than
	// forcing a collection on every tick.
	var quietUntil time.Time
	// victim: the execution stopped last, until it returns or waitUntil passes. A stopped
	// thread returns at its next instruction; one instruction is bounded by MaxAllocBytes,
	// but a builtin of another package might block.
	var victim *execution
	var waitUntil time.Time
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-tick.C:
		}
		if !g.busy() {
			if g.stopIfIdle() {
				return
			}
			continue
		}
		now := time.Now()
		if victim != nil {
			if !victim.finished.Load() && now.Before(waitUntil) {
				continue
			}
			victim = nil
		}
		if now.Before(quietUntil) {
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
		candidate := g.largest()
		if candidate == nil {
			continue
		}
		usage := candidate.usage()
		// An execution that allocated a small fraction of the excess cannot be its cause:
		// the heap is held by something else (caches, another loader), and stopping an
		// innocent request would free nothing.
		if usage*guardShare < live-g.limit {
			g.logger.Warn("the live heap is over Limits.MaxHeapBytes, but no Starlark execution holds a significant part of it",
				"live_bytes", live, "limit_bytes", g.limit, "largest_usage_bytes", usage)
			quietUntil = time.Now().Add(guardQuiet)
			continue
		}
		candidate.stop(fmt.Errorf("%w: the live heap of the process is %s, over its limit of %s (Limits.MaxHeapBytes), and this execution had allocated the most (about %s)",
			ErrMemoryLimit, ByteSize(live), ByteSize(g.limit), ByteSize(usage)))
		g.stops.Add(1)
		g.logger.Warn("stopped the Starlark execution that allocated the most: the live heap is over Limits.MaxHeapBytes",
			"thread", candidate.name(), "usage_bytes", usage, "live_bytes", live, "limit_bytes", g.limit)
		victim, waitUntil = candidate, time.Now().Add(guardStopWait)
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
