package runtime

import (
	"context"
	"fmt"

	"go.starlark.net/starlark"
)

// Builtins of other packages (render, the data API) do work for stored code inside one
// Starlark instruction, where the interpreter neither counts steps nor sees cancellation.
// The functions below let them keep that work within the execution's limits: its
// context, its step budget, the memory check of one operation, and the heap guard's
// verdict. They read the thread's execution (execution.go); a thread that no Loader runs
// has none, and gets context.Background() and DefaultLimits().

// stepBatch is how many elements or iterations a builtin counts before it charges them
// to the thread's steps and looks at its context.
const stepBatch = 1024

// ThreadContext returns the context of the execution running on thread: it ends when
// the caller's context ends and at the execution's deadline (Limits.Timeout or
// LoadTimeout), and its cause then wraps ErrTimeout or ErrCanceled. A builtin that blocks
// must give up when it ends; one that loops should call Stopped, which also sees the
// other reasons to stop. For a thread that no Loader runs it returns
// context.Background().
func ThreadContext(thread *starlark.Thread) context.Context {
	if e := executionOf(thread); e != nil && e.ctx != nil {
		return e.ctx
	}
	return context.Background()
}

// ThreadLimits returns the limits of the execution running on thread: those of the
// Loader that runs it, or DefaultLimits() for a thread that no Loader runs.
func ThreadLimits(thread *starlark.Thread) Limits {
	if e := executionOf(thread); e != nil {
		return e.loader.limits
	}
	return DefaultLimits()
}

// ChargeAlloc admits an allocation of size bytes that a builtin is about to make for the
// execution running on thread, before making it. Over Limits.MaxAllocBytes it refuses with
// an error wrapping ErrMemoryLimit that names the operation what ("render() data", ...);
// otherwise it counts size in the execution's usage, which the heap guard weighs.
func ChargeAlloc(thread *starlark.Thread, what string, size int64) error {
	if size <= 0 {
		return nil
	}
	e := executionOf(thread)
	maxAlloc := int64(DefaultLimits().MaxAllocBytes)
	if e != nil {
		maxAlloc = int64(e.loader.limits.MaxAllocBytes)
	}
	if size > maxAlloc {
		return allocError(what, size, maxAlloc)
	}
	if e != nil {
		e.charged.Add(size)
		e.budget.charge(e, size)
		e.loader.watchdog.throttle(e, size)
	}
	return nil
}

// allocError is the refusal of an operation what that would allocate size bytes, over
// maxAlloc.
func allocError(what string, size, maxAlloc int64) error {
	return fmt.Errorf("%w: %s would allocate %s, over the limit of %s for one operation (Limits.MaxAllocBytes)",
		ErrMemoryLimit, what, ByteSize(size), ByteSize(maxAlloc))
}

// ChargeSteps counts n steps of work that a builtin did for the execution running on
// thread: one per element it visited, per iteration of a template's loop, and so on. It
// fails with an error wrapping ErrStepLimit once the thread's steps reach
// Limits.MaxSteps, and with Stopped's error once the execution must stop. A builtin that
// loops should call it every few thousand iterations and stop at its first error. It
// must be called on the thread's goroutine, that is, from a builtin the thread runs.
func ChargeSteps(thread *starlark.Thread, n uint64) error {
	if err := Stopped(thread); err != nil {
		return err
	}
	maxSteps := DefaultLimits().MaxSteps
	if e := executionOf(thread); e != nil {
		maxSteps = e.maxSteps
	}
	if thread.Steps >= maxSteps || n >= maxSteps-thread.Steps {
		// The interpreter stops the thread at its next instruction, too.
		thread.Steps = maxSteps
		return fmt.Errorf("%w: more than %d steps", ErrStepLimit, maxSteps)
	}
	thread.Steps += n
	return nil
}

// Stopped returns nil while the execution running on thread may go on, and why it must
// stop once it must: its context ended (an error wrapping ErrTimeout or ErrCanceled), or
// it was stopped (ErrStepLimit, or ErrMemoryLimit from the heap guard). It is cheap
// enough to call at every iteration of a loop.
func Stopped(thread *starlark.Thread) error {
	e := executionOf(thread)
	if e == nil {
		return nil
	}
	if why := e.reason.Load(); why != nil {
		return *why
	}
	if e.ctx == nil {
		return nil
	}
	select {
	case <-e.ctx.Done():
		return stopReason(e.ctx)
	default:
		return nil
	}
}

// meter is an iterable given to a builtin in place of the one stored code passed, so that
// iterating it counts steps: min(range(1 << 60)) is one instruction that the interpreter
// cannot stop, but its iterator charges every stepBatch elements and ends the iteration
// at the first refusal, which err records. The caller then returns err instead of the
// builtin's (truncated) result, so meter suits only builtins without side effects.
type meter struct {
	starlark.Iterable
	thread *starlark.Thread
	err    error
}

func (m *meter) Iterate() starlark.Iterator {
	return &meterIterator{Iterator: m.Iterable.Iterate(), m: m}
}

type meterIterator struct {
	starlark.Iterator
	m *meter
	n uint64 // elements since the last charge
}

func (it *meterIterator) Next(p *starlark.Value) bool {
	if it.m.err != nil {
		return false
	}
	if it.n++; it.n == stepBatch {
		it.n = 0
		if it.m.err = ChargeSteps(it.m.thread, stepBatch); it.m.err != nil {
			return false
		}
	}
	return it.Iterator.Next(p)
}

func (it *meterIterator) Done() {
	if it.m.err == nil && it.n > 0 {
		it.m.err = ChargeSteps(it.m.thread, it.n)
	}
	it.Iterator.Done()
}

// callMetered calls fn, a builtin that iterates its only argument without side effects
// (min, max, any, all, set.intersection...), with that argument metered, and returns the
// meter's refusal in place of fn's result. Other calls (max(a, b)) are passed through.
func callMetered(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var it starlark.Iterable
	if len(args) == 1 {
		it, _ = args[0].(starlark.Iterable)
	}
	if it == nil {
		return fn.CallInternal(thread, args, kwargs)
	}
	m := &meter{Iterable: it, thread: thread}
	v, err := fn.CallInternal(thread, starlark.Tuple{m}, kwargs)
	if m.err != nil {
		return nil, m.err
	}
	return v, err
}
