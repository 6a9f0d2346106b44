package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/runtime/printlog"
)

// CallOptions are what one Call runs with beside its function and arguments. The zero
// value is a call outside any request: a print budget of its own, no clock, no request id.
type CallOptions struct {
	// RequestID tags the call's print and log output (the attribute request_id).
	RequestID string
	// Prints, if not nil, is the budget the call's print() output is charged to instead of
	// one of its own. A server passes one per request, so that a handler re-run after a
	// data conflict shares its budget with the earlier runs, and reports what it dropped
	// once, when the request ends.
	Prints *printlog.Budget
	// Now is the time the time module's now() returns during the call (see ThreadNow). A
	// server passes the time its request started, the same for every run of a handler that
	// a data conflict re-runs, so that a request sees one instant however often it runs;
	// the validation gate passes a fixed time. A call given none has no clock: now() fails.
	Now time.Time
	// Bind, if not nil, is called with the call's thread before it starts, to set the
	// thread locals that a builtin package owns (objects.Bind: the request's transaction).
	Bind func(*starlark.Thread)
}

// ThreadNow returns the clock of the Call running on thread (its CallOptions.Now) and true,
// or false when it has none: a call given no Now, or a module's top level, which must not
// depend on the clock (its globals are computed once and shared by every request).
func ThreadNow(thread *starlark.Thread) (time.Time, bool) {
	if e := executionOf(thread); e != nil && !e.now.IsZero() {
		return e.now, true
	}
	return time.Time{}, false
}

// ThreadSnapshot returns the snapshot of the Call running on thread, for builtins that
// read assets of the request's commit. It returns nil on a module's top level, which has
// no request.
func ThreadSnapshot(thread *starlark.Thread) *Snapshot {
	if e := executionOf(thread); e != nil {
		return e.snap
	}
	return nil
}

// Call runs fn(*args, **kwargs) on a new thread bounded by the limits: MaxSteps, the
// Timeout, and ctx (its cancellation and deadline, which stop the thread within 10ms of
// ctx ending). opts.Bind sets the thread locals of builtin packages; opts.RequestID tags
// print output; snap is available to builtins through ThreadSnapshot, and opts.Now through
// ThreadNow.
//
// The Timeout is counted from the start of the call, unless ctx's deadline comes no later:
// a caller that bounds several calls with one deadline (a request re-run after a data
// conflict) costs Call no timer of its own.
//
// print() output is bounded by Limits.MaxPrintLines and MaxPrintBytes: per call, the
// excess being dropped and counted in one warning when the call returns, or by the
// opts.Prints, which the caller reports.
//
// If the thread is stopped, the error wraps ErrStepLimit, ErrTimeout, ErrCanceled or
// ErrMemoryLimit (the heap guard) together with the *starlark.EvalError holding the
// backtrace. An operation refused by a check fails like any Starlark error, with an
// *starlark.EvalError wrapping ErrMemoryLimit, ErrDepthLimit or ErrResponseTooLarge. Other
// failures of fn are returned as they are (usually a *starlark.EvalError). Call returns
// ErrClosed after Close.
func (l *Loader) Call(ctx context.Context, snap *Snapshot, fn starlark.Callable, args starlark.Tuple, kwargs []starlark.Tuple, opts CallOptions) (starlark.Value, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	e := &execution{kind: "call", snap: snap, started: time.Now(), requestID: opts.RequestID, prints: opts.Prints, now: opts.Now, budget: budgetOf(ctx)}
	thread := &e.thread
	thread.Name, thread.Print = fn.Name(), printToLog
	if opts.Bind != nil {
		opts.Bind(thread)
	}
	if snap != nil {
		e.commit = snap.Commit
	}

	if deadline, ok := ctx.Deadline(); !ok || deadline.Sub(e.started) > l.limits.Timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, l.limits.Timeout, l.callTimeout)
		defer cancel()
	}
	var result starlark.Value
	err := l.limit(ctx, e, func() (err error) {
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

// limit runs f, which executes Starlark on e's thread, stopping the thread when it
// exceeds MaxSteps, when ctx ends, or when the heap guard stops it. An error of a stopped
// thread is wrapped with the reason: ErrStepLimit, ErrTimeout (ctx's deadline, or a cause
// wrapping ErrTimeout), ErrCanceled or ErrMemoryLimit. A panic in f (a Go builtin's bug)
// is returned as an error. The thread must not have started; e needs only its kind,
// commit, snapshot, thread name, print function and (optionally) start time and print
// budget set. Without a budget, e's print output is bounded by Limits.MaxPrintLines and
// MaxPrintBytes, and what was dropped is logged when f returns.
func (l *Loader) limit(ctx context.Context, e *execution, f func() error) (err error) {
	thread := &e.thread
	e.loader, e.maxSteps = l, l.limits.MaxSteps
	if e.started.IsZero() {
		e.started = time.Now()
	}
	if e.prints == nil {
		e.own = printlog.NewBudget(printlog.Options{MaxLines: l.limits.MaxPrintLines, MaxBytes: int(l.limits.MaxPrintBytes)})
		e.prints = e.own
		defer e.reportPrints()
	}
	thread.SetLocal(executionLocal, e)
	// The step limit is reached in checkpoints: at each, OnMaxSteps (which runs on the
	// thread's goroutine) publishes the count and sets the next one.
	thread.SetMaxExecutionSteps(min(e.maxSteps, stepCheckpoint))
	thread.OnMaxSteps = stepCheckpointReached
	thread.SetMaxCallDepth(l.limits.MaxCallDepth, l.tooDeep)

	if ctx.Err() != nil {
		return stopReason(ctx)
	}
	// The watchdog stops the thread when ctx ends.
	e.ctx = ctx
	l.watchdog.add(e)
	defer func() {
		l.watchdog.remove(e)
		e.finished.Store(true)
	}()
	defer func() {
		if p := recover(); p != nil {
			l.logger.Error("panic in Starlark thread", "thread", e.name(), "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s: panic: %v", e.name(), p)
		}
	}()

	if err := f(); err != nil {
		if why := e.reason.Load(); why != nil {
			return &stoppedError{reason: *why, err: err}
		}
		return err
	}
	return nil
}

// LimitCallDepth makes thread refuse a Starlark call that would nest deeper than max
// (Limits.MaxCallDepth) with ErrDepthLimit: the interpreter checks the depth as each
// function starts. Every thread the Loader runs is limited so; a thread made outside it
// that calls stored functions must be too.
func LimitCallDepth(thread *starlark.Thread, max int) {
	thread.SetMaxCallDepth(max, tooDeep(max))
}

// tooDeep returns the error of a call that would nest deeper than max.
func tooDeep(max int) func(depth int) error {
	return func(depth int) error {
		return fmt.Errorf("%w: %d nested calls, over the limit of %d (Limits.MaxCallDepth); does a recursion lack its base case?",
			ErrDepthLimit, depth, max)
	}
}

// stepCheckpointReached is the OnMaxSteps of threads run by limit.
func stepCheckpointReached(thread *starlark.Thread) {
	e := executionOf(thread)
	if e.budget != nil {
		e.budget.charge(e, int64(thread.Steps-e.steps.Load())*bytesPerStep)
	}
	e.steps.Store(thread.Steps)
	if thread.Steps >= e.maxSteps {
		e.stop(fmt.Errorf("%w: more than %d steps", ErrStepLimit, e.maxSteps))
		return
	}
	thread.SetMaxExecutionSteps(min(e.maxSteps, thread.Steps+stepCheckpoint))
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
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrTimeout, cause)
	default:
		return fmt.Errorf("%w: %w", ErrCanceled, cause)
	}
}

// printToLog is the print function of threads run by limit: each line is logged at level
// Info with the attribute source="print" (see Log).
func printToLog(thread *starlark.Thread, msg string) {
	logRecord(thread, slog.LevelInfo, "print", msg, nil, 0)
}

// Log writes one record for the stored code running on thread, as print() does but at
// level and with attrs (which the caller bounds): source="log", the position of the call
// (of the builtin that calls Log), the commit and the call's request id. It is
// charged to the execution's print budget, as len(msg)+size bytes, and dropped (and
// counted) beyond it. A thread that no Loader runs has nowhere to log.
func Log(thread *starlark.Thread, level slog.Level, msg string, attrs []slog.Attr, size int) {
	logRecord(thread, level, "log", msg, attrs, size)
}

// logRecord logs msg for print or Log.
//
// A request may print in a loop, and its budget then drops most lines: each call is kept
// cheap, a record built without the caller's program counter (which slog.Logger would
// unwind the stack for) or fmt, and a dropped line costs no record at all.
func logRecord(thread *starlark.Thread, level slog.Level, source, msg string, attrs []slog.Attr, size int) {
	e := executionOf(thread)
	if e == nil {
		return // a thread not run by a Loader: nowhere to log
	}
	handler := e.loader.logger.Handler()
	ctx := context.Background()
	if !handler.Enabled(ctx, level) {
		return
	}
	var pos syntax.Position // of the call: frame 0 is print (or the log builtin) itself
	if thread.CallStackDepth() > 1 {
		pos = thread.CallFrame(1).Pos
	}
	if !e.prints.Admit(len(msg)+size, pos) {
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(slog.String("source", source))
	if pos.IsValid() {
		r.AddAttrs(slog.String("module", pos.Filename()), slog.String("pos", printlog.PositionString(pos)))
	}
	if e.commit != "" {
		r.AddAttrs(slog.String("commit", string(e.commit)))
	}
	if e.requestID != "" {
		r.AddAttrs(slog.String("request_id", e.requestID))
	}
	r.AddAttrs(attrs...)
	_ = handler.Handle(ctx, r) // a log that cannot be written is not the program's failure
}

// reportPrints logs, if e dropped print output over its own budget, one warning counting
// it.
func (e *execution) reportPrints() {
	if e.own.Dropped() == 0 {
		return
	}
	attrs := []slog.Attr{slog.String("thread", e.name())}
	if e.commit != "" {
		attrs = append(attrs, slog.String("commit", string(e.commit)))
	}
	if e.requestID != "" {
		attrs = append(attrs, slog.String("request_id", e.requestID))
	}
	e.own.Report(context.Background(), e.loader.logger, "print output over the limit of one "+e.kind+" was dropped", attrs...)
}
