package runtime

import (
	"context"
	"fmt"
	"sync/atomic"
)

// A Budget bounds the memory that a group of executions allocates together, where each
// alone is bounded by Limits: the validation of one push runs every module's top level
// and every test, each within MaxAllocBytes per operation and the heap guard, but a
// tree of a thousand modules each holding 100 MiB would otherwise hold them all. An
// execution started with a context carrying a Budget (WithBudget), and a module's top
// level run for a Load given one, adds its usage (what its checks admitted, and 8 bytes
// per step) to the budget; past the budget it is stopped with ErrMemoryLimit, and so is
// every later execution charging it. The usage counts allocations, garbage included, so
// it bounds what the group can hold at any time from above. A Budget is safe for
// concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
	what string // names the limit in errors: "gate.Options.MaxMemory"
}

// NewBudget returns a budget of max bytes; what names the setting in error messages.
func NewBudget(max ByteSize, what string) *Budget { return &Budget{max: int64(max), what: what} }

// Used returns the bytes charged so far.
func (b *Budget) Used() ByteSize { return ByteSize(b.used.Load()) }

// Exceeded reports whether the executions charged more than the budget.
func (b *Budget) Exceeded() bool { return b.used.Load() > b.max }

type budgetKey struct{}

// WithBudget returns ctx carrying b: Call and Load with it charge their executions to b.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

func budgetOf(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// charge adds n bytes of e's usage to b, and stops e once b is exceeded.
func (b *Budget) charge(e *execution, n int64) {
	if b == nil || n <= 0 {
		return
	}
	if used := b.used.Add(n); used > b.max {
		e.stop(fmt.Errorf("%w: the executions sharing a budget of %s (%s) allocated %s",
			ErrMemoryLimit, ByteSize(b.max), b.what, ByteSize(used)))
	}
}
