package runtime

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	goruntime "runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Timing of the watchdog.
const (
	guardInterval = 10 * time.Millisecond  // between two polls of the contexts and readings of the heap
	guardForceGap = 100 * time.Millisecond // least time between two collections it forces
	guardStopWait = 5 * time.Second        // longest wait for a stopped execution to return
	// guardShare: an execution is stopped only if its usage is at least 1/guardShare of
	// the excess over the budget.
	guardShare = 4
	guardQuiet = time.Second // rest after finding no execution to blame
)

// watchdog watches every running execution, from one goroutine, at every tick
// (guardInterval):
//
//   - It stops an execution whose context has ended (the caller's cancellation or
//     deadline, Limits.Timeout, LoadTimeout), with ErrCanceled or ErrTimeout. Polling
//     costs an execution nothing to start, where a context.AfterFunc per execution would
//     cost three allocations and two locks of the caller's context; the price is that a
//     thread is stopped up to one tick (10ms) after its context ended.
//
//   - It keeps the process's live heap under Limits.MaxHeapBytes (when positive) by
//     stopping the execution with the largest usage when the budget is exceeded. Go has
//     no per-goroutine memory accounting, so it reads process-wide figures
//     (runtime/metrics) and attributes them by each execution's usage estimate. It acts
//     on live memory only: the live heap is what the last garbage collection marked, so
//     before stopping anyone it forces a collection and reads the figure again. Garbage
//     left by an execution stopped earlier (or that ended by itself) is therefore never
//     held against the executions still running. After stopping one, it waits for that
//     execution to return before it considers stopping another, and the next reading
//     comes from a collection that ran after the stopped execution's memory became
//     garbage.
//
// Every execution registers on start and unregisters on return. The registry is sharded,
// each shard an intrusive list under its own mutex, so that registering allocates nothing
// and concurrent executions seldom share a lock. The goroutine runs only while executions
// do: add starts it, and it returns after a tick that finds no execution registered and
// none added since the previous tick.
//
// One watchdog serves one Loader. On Close its goroutine hands every execution still
// running over to a context.AfterFunc of its own (so that their contexts still stop
// them) and returns; executions registered later watch their own contexts the same way.
// It is safe for concurrent use.
type watchdog struct {
	limit  int64 // heap bytes; <= 0 disables the heap guard
	logger *slog.Logger
	ctx    context.Context // ends on Loader.Close

	shards [guardShards]guardShard

	running atomic.Bool // a goroutine is running run (or about to)
	added   atomic.Bool // an execution was added since the last tick
	closing atomic.Bool // the goroutine polls no more: executions watch their contexts

	// mu guards closed and the transitions of running (start, and stopping when idle).
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // goroutines running run

	stops atomic.Uint64 // executions stopped by the heap guard

	// pressure is set while the guard confirms an excess (see throttle), and closed when
	// it has decided.
	pressure atomic.Pointer[chan struct{}]
}

// guardShards is the number of shards of the registry of executions.
const guardShards = 8

// guardShard is one shard of the registry of executions: a doubly linked list.
type guardShard struct {
	mu   sync.Mutex // guards head and the prev and next links of the executions listed
	head *execution
	_    [48]byte // keeps shards on distinct cache lines (64 bytes with mu and head)
}

func newWatchdog(ctx context.Context, limit ByteSize, logger *slog.Logger) *watchdog {
	return &watchdog{limit: int64(limit), logger: logger, ctx: ctx}
}

// add registers e, whose context is e.ctx, starting the goroutine unless it runs.
func (g *watchdog) add(e *execution) {
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
	// The goroutine may have scanned e's shard for its hand-over before e was in it: it
	// set closing before scanning, so e sees it here.
	if g.closing.Load() || !g.running.Load() && !g.start() {
		e.watchContext()
	}
}

// remove unregisters e, and releases the AfterFunc of its context, if any.
func (g *watchdog) remove(e *execution) {
	s := e.shard
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
	if release := e.unwatch.Load(); release != nil {
		(*release)()
	}
}

// start launches the goroutine unless it runs, and reports whether one runs: none does
// after Close.
func (g *watchdog) start() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	if !g.running.Load() {
		g.running.Store(true)
		g.wg.Add(1)
		go g.run()
	}
	return true
}

// stopIfIdle is called by run when no execution is registered. It reports whether none
// was added since the previous call either; if so run must return.
//
// It cannot miss an execution added meanwhile: add registers, then reads running. If the
// registration came after the reading of the shards here, add's reading of running comes
// after running was cleared here, so add starts a new goroutine (waiting on mu until this
// one has decided).
func (g *watchdog) stopIfIdle() bool {
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

// wait makes the watchdog stop for good and returns when its goroutine, if any, has
// returned. The Loader's context must have ended.
func (g *watchdog) wait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// handOver makes every registered execution watch its own context, as the goroutine
// stops polling for good.
func (g *watchdog) handOver() {
	g.closing.Store(true)
	g.each(func(e *execution) { e.watchContext() })
}

// each calls f with every registered execution, holding the lock of its shard.
func (g *watchdog) each(f func(e *execution)) {
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		for e := s.head; e != nil; e = e.next {
			f(e)
		}
		s.mu.Unlock()
	}
}

// stopEnded stops the executions whose context has ended.
func (g *watchdog) stopEnded() {
	g.each(func(e *execution) {
		if e.reason.Load() == nil && e.ctx.Err() != nil {
			e.stop(stopReason(e.ctx))
		}
	})
}

// weighed is an execution and its usage as read once (execution.usage changes while the
// execution runs).
type weighed struct {
	*execution
	usage int64
}

// heaviest returns the registered executions by decreasing usage (the oldest first among
// equals), and the sum of their usage. Each usage is read once, before sorting: the
// executions keep running, and a sort whose comparisons read figures that change meanwhile
// has no consistent order (TestWatchdog_HeaviestSortsOneReadingOfUsages).
func (g *watchdog) heaviest() ([]weighed, int64) {
	var all []weighed
	var total int64
	g.each(func(e *execution) {
		w := weighed{e, e.usage()}
		all = append(all, w)
		total = satAdd(total, w.usage)
	})
	slices.SortStableFunc(all, func(a, b weighed) int {
		if c := cmp.Compare(b.usage, a.usage); c != 0 {
			return c
		}
		return a.started.Compare(b.started)
	})
	return all, total
}

// busy reports whether an execution is registered.
func (g *watchdog) busy() bool {
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

func (g *watchdog) run() {
	defer g.wg.Done()
	tick := time.NewTicker(guardInterval)
	defer tick.Stop()
	heap := newHeapReader()
	var forced time.Time
	// quietUntil: after finding no execution to blame, the heap guard rests a while
	// rather than forcing a collection on every tick.
	var quietUntil time.Time
	// victims: the executions stopped last, until they return or waitUntil passes. A
	// stopped thread returns at its next instruction; one instruction is bounded by
	// MaxAllocBytes, but a builtin of another package might block.
	var victims []*execution
	var waitUntil time.Time
	for {
		select {
		case <-g.ctx.Done():
			g.handOver()
			return
		case <-tick.C:
		}
		if !g.busy() {
			if g.stopIfIdle() {
				return
			}
			continue
		}
		g.stopEnded()
		if g.limit <= 0 {
			continue
		}
		now := time.Now()
		if len(victims) > 0 {
			if now.Before(waitUntil) && slices.ContainsFunc(victims, func(e *execution) bool { return !e.finished.Load() }) {
				continue
			}
			victims = nil
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
		// While it confirms and decides, executions making large allocations wait
		// (throttle): hoarders do not grow the heap during a collection that takes seconds
		// on a loaded machine.
		pressure := make(chan struct{})
		g.pressure.Store(&pressure)
		if stopped := g.confirmAndStop(heap, &quietUntil); len(stopped) > 0 {
			victims, waitUntil = stopped, time.Now().Add(guardStopWait)
		}
		forced = time.Now()
		g.pressure.Store(nil)
		close(pressure)
	}
}

// confirmAndStop forces a collection and, if the live heap is still over the budget,
// stops the executions to blame (see run), which it returns. It sets quietUntil when no
// execution is to blame.
func (g *watchdog) confirmAndStop(heap *heapReader, quietUntil *time.Time) []*execution {
	goruntime.GC()
	live, _ := heap.read()
	if live <= g.limit {
		return nil
	}
	all, total := g.heaviest()
	if len(all) == 0 {
		return nil
	}
	// Executions that together allocated a small fraction of the excess cannot be its
	// cause: the heap is held by something else (caches, another loader), and stopping
	// innocent requests would free nothing.
	excess := live - g.limit
	if total*guardShare < excess {
		g.logger.Warn("the live heap is over Limits.MaxHeapBytes, but the Starlark executions hold no significant part of it",
			"live_bytes", live, "limit_bytes", g.limit, "executions_usage_bytes", total)
		*quietUntil = time.Now().Add(guardQuiet)
		return nil
	}
	// Stop the execution that allocated the most, and the next ones while their usage
	// does not yet cover the excess and each allocated at least a quarter of what the
	// first did: many hoarders at once are stopped together, not one per collection, and
	// a small request is never stopped beside a large one.
	var victims []*execution
	var covered int64
	for i, w := range all {
		e, usage := w.execution, w.usage
		if covered >= excess || i > 0 && usage*guardShare < all[0].usage {
			break
		}
		covered = satAdd(covered, usage)
		e.stop(fmt.Errorf("%w: the live heap of the process is %s, over its limit of %s (Limits.MaxHeapBytes), and this execution had allocated the most (about %s)",
			ErrMemoryLimit, ByteSize(live), ByteSize(g.limit), ByteSize(usage)))
		g.stops.Add(1)
		g.logger.Warn("stopped a Starlark execution that allocated the most: the live heap is over Limits.MaxHeapBytes",
			"thread", e.name(), "usage_bytes", usage, "live_bytes", live, "limit_bytes", g.limit)
		victims = append(victims, e)
	}
	return victims
}

// throttleBytes: an admitted allocation this large waits while the heap guard confirms
// that the heap is over its budget.
const throttleBytes = 1 << 20

// throttle makes e, which was just admitted an allocation of size bytes, wait while the
// guard confirms an excess and decides whom to stop (at most guardStopWait, and not past
// e's context). A stopped execution then stops at its next instruction.
func (g *watchdog) throttle(e *execution, size int64) {
	if size < throttleBytes {
		return
	}
	p := g.pressure.Load()
	if p == nil {
		return
	}
	t := time.NewTimer(guardStopWait)
	defer t.Stop()
	select {
	case <-*p:
	case <-e.ctx.Done():
	case <-t.C:
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
