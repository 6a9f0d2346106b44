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
// the node in the degraded state that /-/health reports, until a commit writes again. A
// SQL data tier (SQLite, PostgreSQL) is not the store, but its writes refused for space
// put the node in the same state, reported apart, until a data transaction writes again
// (dataOutcome). It is safe for concurrent use.
type watchedStore struct {
	store.Store
	log      *slog.Logger
	ops      *prometheus.CounterVec   // by op and result
	duration *prometheus.HistogramVec // by op

	// mu guards full and dataFull.
	mu       sync.Mutex
	full     *fullState // the store refuses commits for space
	dataFull *fullState // the SQL data tier refuses writes for space
}

// fullState is why and since when the store, or the data tier, refuses writes for space.
type fullState struct {
	what    string // "the store", "the data tier (sqlite)"
	refused string // what is refused: "pushes and writes", "app writes"
	since   time.Time
	err     string
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
			Help: "1 while the store (etcd's NOSPACE alarm, a full disk) or the SQL data tier (SQLite's SQLITE_FULL, PostgreSQL's 53100 disk_full) refuses writes for space: those writes answer 507, and /-/health says which is full.",
		}, func() float64 {
			if len(w.fullSince()) > 0 {
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

// setFull enters the degraded state of the store.
func (w *watchedStore) setFull(err error) {
	w.enter(&w.full, fullState{what: "the store", refused: "pushes and writes"}, err)
}

// setRoom leaves the degraded state of the store.
func (w *watchedStore) setRoom() { w.leave(&w.full) }

// dataOutcome records the outcome of a data transaction of a SQL data tier named tier: a
// write refused for space (store.ErrFull, objects.Dialect.Full) enters its degraded
// state, and a transaction that wrote leaves it. The kv tier writes through the store,
// whose commits record themselves.
func (w *watchedStore) dataOutcome(tier string, err error, wrote bool) {
	switch {
	case tier == "kv":
	case errors.Is(err, store.ErrFull):
		w.enter(&w.dataFull, fullState{what: "the data tier (" + tier + ")", refused: "app writes"}, err)
	case err == nil && wrote:
		w.leave(&w.dataFull)
	}
}

// enter sets *slot to st as of now, with err, logging it once.
func (w *watchedStore) enter(slot **fullState, st fullState, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if *slot != nil {
		return
	}
	st.since, st.err = time.Now().UTC(), err.Error()
	*slot = &st
	w.log.Error(st.what+" is full: "+st.refused+" are refused (507) until it has room again; reads and app requests that only read are served",
		"err", err)
}

// leave clears *slot, logging it.
func (w *watchedStore) leave(slot **fullState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if *slot == nil {
		return
	}
	w.log.Info((*slot).what+" has room again: writes are accepted", "full_since", (*slot).since, "for", time.Since((*slot).since).String())
	*slot = nil
}

// fullSince returns the degraded states (the store's, the data tier's), none when both
// have room.
func (w *watchedStore) fullSince() []*fullState {
	w.mu.Lock()
	defer w.mu.Unlock()
	var states []*fullState
	for _, st := range []*fullState{w.full, w.dataFull} {
		if st != nil {
			states = append(states, st)
		}
	}
	return states
}
