package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/starbase/starbase/store"
)

// watchedStore is the node's store as the node uses it: every operation is timed and its
// outcome counted by kind (metrics), and a commit refused for space (store.ErrFull) puts
// the node in the degraded state that /-/health reports, until a commit writes again. It
// is safe for concurrent use.
type watchedStore struct {
	store.Store
	log      *slog.Logger
	ops      *prometheus.CounterVec   // by op and result
	duration *prometheus.HistogramVec // by op

	// mu guards full.
	mu   sync.Mutex
	full *fullState
}

// fullState is why and since when the store refuses commits for space.
type fullState struct {
	since time.Time
	err   string
}

// watchedLeaser is a watchedStore over a store that is also a store.Leaser (etcd): the
// registry of nodes finds the Leaser through it.
type watchedLeaser struct {
	*watchedStore
	store.Leaser
}

// watchStore wraps st. The result is a store.Leaser when st is one.
func watchStore(st store.Store, logger *slog.Logger) (store.Store, *watchedStore) {
	w := &watchedStore{
		Store: st,
		log:   logger,
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "starbase_store_operations_total",
			Help: "Operations on the store (get, range, commit, revision) by result: ok, conflict, full, unavailable, compacted, too_large, closed, canceled, error.",
		}, []string{"op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "starbase_store_operation_duration_seconds",
			Help:    "Latency of store operations by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"}),
	}
	if l, ok := st.(store.Leaser); ok {
		return watchedLeaser{w, l}, w
	}
	return w, w
}

// collectors are the store's metrics, for the node's registry.
func (w *watchedStore) collectors() []prometheus.Collector {
	return []prometheus.Collector{w.ops, w.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "starbase_store_full",
			Help: "1 while the store refuses commits for space (etcd's NOSPACE alarm, a full disk): pushes and writes answer 507.",
		}, func() float64 {
			if w.fullSince() != nil {
				return 1
			}
			return 0
		}),
	}
}

// resultOf names the kind of an operation's outcome.
func resultOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	case errors.Is(err, store.ErrFull):
		return "full"
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, store.ErrCompacted):
		return "compacted"
	case errors.Is(err, store.ErrTooLarge):
		return "too_large"
	case errors.Is(err, store.ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

func (w *watchedStore) record(op string, start time.Time, err error) {
	w.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	w.ops.WithLabelValues(op, resultOf(err)).Inc()
}

func (w *watchedStore) Get(ctx context.Context, key string, rev int64) (*store.KeyValue, int64, error) {
	start := time.Now()
	kv, r, err := w.Store.Get(ctx, key, rev)
	w.record("get", start, err)
	return kv, r, err
}

func (w *watchedStore) Range(ctx context.Context, prefix string, opts store.RangeOptions) (store.RangeResult, error) {
	start := time.Now()
	res, err := w.Store.Range(ctx, prefix, opts)
	w.record("range", start, err)
	return res, err
}

func (w *watchedStore) Revision(ctx context.Context) (int64, error) {
	start := time.Now()
	rev, err := w.Store.Revision(ctx)
	w.record("revision", start, err)
	return rev, err
}

func (w *watchedStore) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	start := time.Now()
	rev, err := w.Store.Commit(ctx, compares, ops)
	w.record("commit", start, err)
	switch {
	case errors.Is(err, store.ErrFull):
		w.setFull(err)
	case err == nil && len(ops) > 0:
		w.setRoom()
	}
	return rev, err
}

// setFull enters the degraded state, logging it once.
func (w *watchedStore) setFull(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.full != nil {
		return
	}
	w.full = &fullState{since: time.Now().UTC(), err: err.Error()}
	w.log.Error("the store is full: pushes and writes are refused (507) until it has room again; reads and app requests that only read are served",
		"err", err)
}

// setRoom leaves the degraded state, logging it.
func (w *watchedStore) setRoom() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.full == nil {
		return
	}
	w.log.Info("the store has room again: writes are accepted", "full_since", w.full.since, "for", time.Since(w.full.since).String())
	w.full = nil
}

// fullSince returns the degraded state, nil when the store has room.
func (w *watchedStore) fullSince() *fullState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.full
}
