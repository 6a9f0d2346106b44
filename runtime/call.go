package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/code"
)

// snapshotLocal is the thread-local key under which Call stores the request's snapshot.
const snapshotLocal = "starbase.snapshot"

// ThreadSnapshot returns the snapshot of the Call running on thread, for builtins that
// read assets of the request's commit. It returns nil on a module's top level, which has
// no request.
func ThreadSnapshot(thread *starlark.Thread) *Snapshot {
	snap, _ := thread.Local(snapshotLocal).(*Snapshot)
	return snap
}

// Call runs fn(*args, **kwargs) on a new thread bounded by the limits: MaxSteps, the
// Timeout, and ctx (its cancellation and deadline). locals become thread locals, for
// builtins to read (a "request_id" local also tags print output); snap is available to
// builtins through ThreadSnapshot.
//
// If the thread is stopped, the error wraps ErrStepLimit, ErrTimeout, ErrCanceled or
// ErrMemoryLimit (the heap guard) together with the *starlark.EvalError holding the
// backtrace. An operation refused by a check fails like any Starlark error, with an
// *starlark.EvalError wrapping ErrMemoryLimit, ErrDepthLimit or ErrResponseTooLarge. Other failures of fn are
// returned as they are (usually a *starlark.EvalError). Call returns ErrClosed after Close.
func (l *Loader) Call(ctx context.Context, snap *Snapshot, fn starlark.Callable, args starlark.Tuple, kwargs []starlark.Tuple, locals map[string]any) (starlark.Value, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	var commit code.ID
	if snap != nil {
		commit = snap.Commit
	}
	thread := &starlark.Thread{Name: "call " + fn.Name(), Print: l.printer(commit)}
	for k, v := range locals {
		thread.SetLocal(k, v)
	}
	thread.SetLocal(snapshotLocal, snap)

	ctx, cancel := context.WithTimeoutCause(ctx, l.limits.Timeout,
		fmt.Errorf("%w: call ran longer than %v", ErrTimeout, l.limits.Timeout))
	defer cancel()
	var result starlark.Value
	err := l.limit(ctx, thread, func() (err error) {
		result, err = starlark.Call(thread, fn, args, kwargs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// stepCheckpoint is how often (in steps) limit publishes a thread's step count for the
// heap guard.
const stepCheckpoint = 1 << 16

// limit runs f, which executes Starlark on thread, stopping the thread when it exceeds
// MaxSteps, when ctx ends, or when the heap guard stops it. An error of a stopped thread
// is wrapped with the reason: ErrStepLimit, ErrTimeout (ctx's deadline, or a cause
// wrapping ErrTimeout), ErrCanceled or ErrMemoryLimit. A panic in f (a Go builtin's bug)
// is returned as an error. thread must not have started.
func (l *Loader) limit(ctx context.Context, thread *starlark.Thread, f func() error) (err error) {
	var reason atomic.Pointer[error] // why the thread was stopped, first reason wins
	stop := func(why error) {
		reason.CompareAndSwap(nil, &why)
		thread.Cancel(why.Error())
	}
	exec := &execution{name: thread.Name, started: time.Now(), stop: stop, done: make(chan struct{})}
	thread.SetLocal(executionLocal, exec)
	setThreadContext(thread, ctx, &l.limits) // for ThreadContext, ChargeAlloc, ChargeSteps
	l.guard.add(exec)
	defer func() {
		l.guard.remove(exec)
		close(exec.done)
	}()

	// The step limit is reached in checkpoints: at each, OnMaxSteps (which runs on the
	// thread's goroutine) publishes the count and sets the next one.
	maxSteps := l.limits.MaxSteps
	thread.SetMaxExecutionSteps(min(maxSteps, stepCheckpoint))
	thread.OnMaxSteps = func(thread *starlark.Thread) {
		exec.steps.Store(thread.Steps)
		if thread.Steps >= maxSteps {
			stop(fmt.Errorf("%w: more than %d steps", ErrStepLimit, maxSteps))
			return
		}
		thread.SetMaxExecutionSteps(min(maxSteps, thread.Steps+stepCheckpoint))
	}
	stopOnDone := context.AfterFunc(ctx, func() { stop(stopReason(ctx)) })
	defer stopOnDone()
	if ctx.Err() != nil {
		return stopReason(ctx)
	}
	defer func() {
		if p := recover(); p != nil {
			l.logger.Error("panic in Starlark thread", "thread", thread.Name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s: panic: %v", thread.Name, p)
		}
	}()

	if err := f(); err != nil {
		if why := reason.Load(); why != nil {
			return &stoppedError{reason: *why, err: err}
		}
		return err
	}
	return nil
}

// stoppedError is the error of a thread stopped by limit: its message is the thread's
// (which already says why), and it wraps both the reason and the thread's error.
type stoppedError struct {
	reason error // wraps ErrStepLimit, ErrTimeout, ErrCanceled or ErrMemoryLimit
	err    error // usually a *starlark.EvalError
}

func (e *stoppedError) Error() string   { return e.err.Error() }
func (e *stoppedError) Unwrap() []error { return []error{e.reason, e.err} }

// stopReason returns why ctx ended, as an error wrapping ErrTimeout or ErrCanceled.
func stopReason(ctx context.Context) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrTimeout):
		return cause
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrTimeout, cause)
	default:
		return fmt.Errorf("%w: %w", ErrCanceled, cause)
	}
}

// printer returns a thread's print function: each line is logged with the position of
// the print call, the commit and the thread's "request_id" local, if any.
//
// A request may print in a loop, and the server's log handler then drops most lines
// (Limits.MaxPrintLines): each call is kept cheap, a record built without the caller's
// program counter (which slog.Logger would unwind the stack for) or fmt.
func (l *Loader) printer(commit code.ID) func(*starlark.Thread, string) {
	handler := l.logger.Handler()
	return func(thread *starlark.Thread, msg string) {
		ctx := context.Background()
		if !handler.Enabled(ctx, slog.LevelInfo) {
			return
		}
		r := slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
		r.AddAttrs(slog.String("source", "print"))
		if thread.CallStackDepth() > 1 {
			pos := thread.CallFrame(1).Pos
			r.AddAttrs(slog.String("module", pos.Filename()), slog.String("pos", positionString(pos)))
		}
		if commit != "" {
			r.AddAttrs(slog.String("commit", string(commit)))
		}
		if id := thread.Local("request_id"); id != nil {
			r.AddAttrs(slog.Any("request_id", id))
		}
		_ = handler.Handle(ctx, r) // a log that cannot be written is not the program's failure
	}
}

// positionString formats pos as syntax.Position.String does, without fmt.
func positionString(pos syntax.Position) string {
	s := pos.Filename()
	if pos.Line > 0 {
		s += ":" + strconv.Itoa(int(pos.Line))
		if pos.Col > 0 {
			s += ":" + strconv.Itoa(int(pos.Col))
		}
	}
	return s
}
