package runtime

import (
	"context"
	"fmt"
	"sync"
)

// flights runs at most one computation per key at a time and lets any number of callers
// wait for it, each until its own context ends. The computation runs in its own goroutine,
// so a waiter that gives up does not stop it: other waiters, and the cache it fills, still
// get its result. Combined with a cache filled by the computation before it finishes, it
// computes each key once: see do.
type flights[V any] struct {
	wg sync.WaitGroup // counts running computations, for close

	mu      sync.Mutex // guards running and closed
	running map[string]*flight[V]
	closed  bool
}

// flight is one running computation; value and err are set before done is closed.
type flight[V any] struct {
	done  chan struct{}
	value V
	err   error
}

// do returns the result for key: from cached if it has it, else from the computation
// running for key, else from fn started now in a new goroutine. fn must store a
// successful result where cached finds it before returning: then no second computation
// can start for a key whose first one succeeded, because cached is consulted again under
// the lock that also guards the set of running computations. Failures are not kept.
//
// do returns ctx.Err() if ctx ends first, and ErrClosed after close.
func (g *flights[V]) do(ctx context.Context, key string, cached func() (V, bool), fn func() (V, error)) (V, error) {
	var zero V
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return zero, ErrClosed
	}
	f, ok := g.running[key]
	if !ok {
		if v, ok := cached(); ok {
			g.mu.Unlock()
			return v, nil
		}
		f = &flight[V]{done: make(chan struct{})}
		if g.running == nil {
			g.running = make(map[string]*flight[V])
		}
		g.running[key] = f
		g.wg.Add(1)
		go g.run(key, f, fn)
	}
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.value, f.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func (g *flights[V]) run(key string, f *flight[V], fn func() (V, error)) {
	defer g.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			f.err = fmt.Errorf("internal error: panic: %v", p)
		}
		g.mu.Lock()
		delete(g.running, key)
		g.mu.Unlock()
		close(f.done)
	}()
	f.value, f.err = fn()
}

// close makes do return ErrClosed and waits for the running computations, which the
// caller must have told to stop.
func (g *flights[V]) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
