package runtime

import (
	"context"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime/printlog"
)

// executionLocal is the thread-local key of the *execution of a thread run by limit.
const executionLocal = "starbase.execution"

// bytesPerStep estimates what one Starlark step may allocate without passing through a
// check: appending to a list in a comprehension, inserting into a dict, making a small
// tuple. It weighs steps in an execution's usage, so that a request that grows a structure
// one element at a time is seen by the heap guard.
const bytesPerStep = 8

// execution is one running Starlark thread: a Call or a module's top level. It is the
// thread's only runtime local, and carries everything the runtime's hooks need per
// thread (the printer, the step checkpoints, the checks, ThreadSnapshot), so that none of
// them needs a closure or a lock of its own.
//
// The fields before reason are set before the thread starts and then only read. The
// checks, on the thread's goroutine, add to charged; the step checkpoints publish steps;
// the watchdog reads both, and may call stop, from its own goroutine.
type execution struct {
	thread    starlark.Thread // in the execution, to make both with one allocation
	loader    *Loader
	kind      string // "call" or "load": with thread.Name, names the execution in messages
	started   time.Time
	now       time.Time // the Call's clock (CallOptions.Now); zero on a module's top level
	requestID string    // CallOptions.RequestID, for print records; "" on a module's top level
	commit    code.ID   // whose code runs, for print records
	snap      *Snapshot // the Call's snapshot; nil on a module's top level
	maxSteps  uint64
	budget    *Budget // shared with other executions (WithBudget), or nil

	// prints is what print() output is charged to: the caller's budget (a request's,
	// shared by its re-runs), or own, made for the execution when the caller gave none.
	prints *printlog.Budget
	own    *printlog.Budget

	ctx context.Context // ends when the execution must stop (see limit)

	reason   atomic.Pointer[error] // why the thread was stopped; the first reason wins
	finished atomic.Bool           // set when the execution has returned
	charged  atomic.Int64          // bytes admitted by the checks
	steps    atomic.Uint64         // the thread's steps, as of the last checkpoint

	// watched is set once ctx has an AfterFunc of its own (after Loader.Close), and
	// unwatch then holds its stop function.
	watched atomic.Bool
	unwatch atomic.Pointer[func() bool]

	// The watchdog's registry: the shard holding the execution and its neighbours
	// there, guarded by shard.mu.
	shard      *guardShard
	prev, next *execution
}

// executionOf returns the execution of thread, or nil for a thread not run by a Loader.
func executionOf(thread *starlark.Thread) *execution {
	e, _ := thread.Local(executionLocal).(*execution)
	return e
}

// name names the execution in messages and logs: "call handler", "load lib/a.star".
func (e *execution) name() string { return e.kind + " " + e.thread.Name }

// stop cancels the thread with why; the first reason given is the one reported. It may
// be called from any goroutine.
func (e *execution) stop(why error) {
	e.reason.CompareAndSwap(nil, &why)
	e.thread.Cancel(why.Error())
}

// watchContext makes e's context stop e by itself, when the watchdog no longer polls it.
// It may be called more than once, from any goroutine; the first call counts.
func (e *execution) watchContext() {
	if !e.watched.CompareAndSwap(false, true) {
		return
	}
	release := context.AfterFunc(e.ctx, func() { e.stop(stopReason(e.ctx)) })
	e.unwatch.Store(&release)
}

// usage estimates the memory the execution holds: what it allocated through the checks
// plus what its steps may have allocated. It counts garbage the execution already dropped,
// so it is an upper bound, good for choosing whom to stop, not for billing.
func (e *execution) usage() int64 {
	return satAdd(e.charged.Load(), satMul(int64(e.steps.Load()), bytesPerStep))
}
