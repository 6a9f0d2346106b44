package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/starbase/starbase/store"
)

// Pauses between attempts to re-establish a watch that etcd ended, doubling from the first
// to the last while attempts fail.
const (
	rewatchFirstPause = 50 * time.Millisecond
	rewatchMaxPause   = time.Second
)

// Watch delivers the revisions after fromRev that change keys under prefix. See
// [store.Store.Watch]; the watch survives members that stop or lose their leader, resuming
// from the last revision it delivered, and waits while the cluster is unavailable.
//
// For fromRev 0, Watch reads the current revision before it returns, so that every commit
// made after Watch returns is delivered. If the cluster is unavailable then, the watch
// starts from the revision current when it first reaches the cluster.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) <-chan store.Event {
	out := make(chan store.Event)
	if s.ctx.Err() != nil {
		close(out)
		return out
	}
	if fromRev == 0 {
		if rev, err := s.Revision(ctx); err == nil {
			fromRev = rev
		}
	}
	s.watchers.Add(1)
	go func() {
		defer s.watchers.Done()
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.ctx, cancel)()
		w := &watch{s: s, prefix: prefix, out: out}
		if err := w.run(ctx, fromRev); err != nil && ctx.Err() == nil {
			select {
			case out <- store.Event{Err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

// watch is the state of one Watch: it is owned by the Watch goroutine.
type watch struct {
	s      *Store
	prefix string
	out    chan<- store.Event
	// last is the last revision delivered (or the one the watch starts after).
	last int64
}

// run delivers events until ctx ends (it then returns nil) or the watch fails for good
// (ErrCompacted, a refusal by etcd), which it returns.
func (w *watch) run(ctx context.Context, fromRev int64) error {
	if fromRev < 0 {
		return fmt.Errorf("etcd: watch %q: revision %d is negative; use 0 for now", w.prefix, fromRev)
	}
	pause := rewatchFirstPause
	w.last = fromRev
	for ctx.Err() == nil {
		delivered, err := w.once(ctx)
		if err != nil {
			return err
		}
		if delivered {
			pause = rewatchFirstPause
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		pause = min(2*pause, rewatchMaxPause)
	}
	return nil
}

// once runs one etcd watch from w.last until etcd ends it. It reports whether it delivered
// anything, and returns an error only when the watch must end; a transient failure (no
// connection, no leader) returns nil so that run tries again.
func (w *watch) once(ctx context.Context) (delivered bool, err error) {
	if w.last == 0 {
		rev, err := w.s.Revision(ctx)
		if err != nil {
			return false, w.transient(err)
		}
		w.last = rev
	} else if err := w.checkRetained(ctx); err != nil {
		return false, w.transient(err)
	}

	// WithRequireLeader makes a member that lost its leader end the watch instead of keeping
	// it silently stale; the next attempt may land on a member that has one.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	full := w.s.prefix + w.prefix
	for resp := range w.s.cli.Watch(wctx, full, clientv3.WithPrefix(), clientv3.WithRev(w.last+1)) {
		if resp.CompactRevision != 0 {
			return delivered, w.compacted()
		}
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return delivered, w.compacted()
			}
			return delivered, w.transient(err)
		}
		for _, ev := range w.split(resp.Events) {
			select {
			case w.out <- ev:
				w.last = ev.Revision
				delivered = true
			case <-ctx.Done():
				return delivered, nil
			}
		}
	}
	return delivered, nil
}

// checkRetained fails with ErrCompacted when revision w.last has been compacted away. etcd
// would start a watch at w.last+1 even when w.last+1 is the compaction point, whose
// deletions compaction has already dropped; reading at w.last is refused exactly when
// history after it may be incomplete.
func (w *watch) checkRetained(ctx context.Context) error {
	cctx, cancel := w.s.callContext(ctx)
	defer cancel()
	_, err := w.s.cli.Get(cctx, w.s.probeKey(), clientv3.WithRev(w.last), clientv3.WithCountOnly())
	if err == nil || errors.Is(err, rpctypes.ErrFutureRev) {
		return nil // a watch from the future waits for it
	}
	return w.s.mapErr(ctx, err)
}

func (w *watch) compacted() error {
	return fmt.Errorf("etcd: watch %q after revision %d: %w", w.prefix, w.last, store.ErrCompacted)
}

// transient returns nil for an error after which the watch should be tried again, and the
// error itself (mapped to the store's errors) when it must end.
func (w *watch) transient(err error) error {
	switch {
	case errors.Is(err, store.ErrCompacted) || errors.Is(err, rpctypes.ErrCompacted):
		return w.compacted()
	case errors.Is(err, store.ErrClosed) || errors.Is(err, context.Canceled):
		return nil // the watch is ending: run sees its context done
	case isPermanent(err):
		return fmt.Errorf("etcd: watch %q: %w", w.prefix, err)
	}
	return nil
}

// isPermanent reports whether etcd refused a watch for a reason that retrying cannot change.
func isPermanent(err error) bool {
	if errors.Is(err, rpctypes.ErrPermissionDenied) {
		return true
	}
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return etcdErr.Code() == codes.PermissionDenied || etcdErr.Code() == codes.InvalidArgument
	}
	st, ok := status.FromError(err)
	return ok && (st.Code() == codes.PermissionDenied || st.Code() == codes.InvalidArgument)
}

// split groups events by revision, skipping revisions already delivered, and returns one
// store.Event per revision with its changes in key order. etcd never splits a revision
// across watch responses (without WithFragment), but one response may hold several.
func (w *watch) split(events []*clientv3.Event) []store.Event {
	var out []store.Event
	for _, ev := range events {
		rev := ev.Kv.ModRevision
		if rev <= w.last || len(ev.Kv.Key) == len(w.s.prefix) {
			continue // delivered, or the format marker
		}
		if len(out) == 0 || out[len(out)-1].Revision != rev {
			out = append(out, store.Event{Revision: rev})
		}
		change := store.Change{KeyValue: w.s.keyValue(ev.Kv)}
		if ev.Type == mvccpb.DELETE {
			change.Deleted = true
			change.Value = nil
			change.CreateRevision = 0
		}
		cur := &out[len(out)-1]
		cur.Changes = append(cur.Changes, change)
	}
	for i := range out {
		slices.SortFunc(out[i].Changes, func(a, b store.Change) int { return strings.Compare(a.Key, b.Key) })
	}
	return out
}
