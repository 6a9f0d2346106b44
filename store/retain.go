package store

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRetention is how much history a node keeps when nothing else is said: the
// revisions of the last five minutes, far more than a request (bounded by its timeout) or a
// node catching up with a watch needs.
const DefaultRetention = 5 * time.Minute

// compactStep bounds the revisions one Compact call discards, so that catching up on a long
// history is many short commits rather than one that holds the writer for long.
const compactStep = 10000

// Retainer keeps a store's history to a time window: revisions that were superseded more
// than Window ago are compacted. Stores record no time per revision, so the Retainer samples
// the current revision at each Tick and compacts at the newest sample at least Window old:
// history is kept for between Window and Window plus the interval between ticks. This is how
// etcd's own periodic compaction works; when the cluster compacts further by itself
// (--auto-compaction-retention), compacting below its point does nothing, so both may run.
// Several nodes on one etcd cluster may each run a Retainer: compactions at or below the
// compaction point do nothing.
//
// A reader that needs an old revision for longer than the window (a backup reads the whole
// store at one revision) holds it with HoldHistory: no Retainer compacts past the oldest
// revision held. etcd's own periodic compaction knows nothing of holds.
//
// A Retainer is safe for concurrent use.
type Retainer struct {
	Store  Store
	Window time.Duration
	// Now returns the time; nil means time.Now. Tests set it.
	Now func() time.Time

	mu        sync.Mutex
	samples   []sample // ascending in time and revision
	compacted int64
	stats     RetainStats
}

type sample struct {
	at  time.Time
	rev int64
}

// RetainStats count what a Retainer did.
type RetainStats struct {
	// Compactions is the number of Compact calls that moved the compaction point.
	Compactions uint64
	// Failures is the number of ticks that failed.
	Failures uint64
	// Compacted is the revision the history was last compacted at (0 before the first).
	Compacted int64
}

// Stats returns what the Retainer did so far.
func (r *Retainer) Stats() RetainStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Tick samples the current revision and compacts the history older than Window. It returns
// the revision compacted at, or 0 when nothing was old enough.
func (r *Retainer) Tick(ctx context.Context) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rev, err := r.tick(ctx)
	if err != nil {
		r.stats.Failures++
	}
	return rev, err
}

func (r *Retainer) tick(ctx context.Context) (int64, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	cur, err := r.Store.Revision(ctx)
	if err != nil {
		return 0, err
	}
	t := now()
	if n := len(r.samples); n == 0 || r.samples[n-1].rev < cur {
		r.samples = append(r.samples, sample{at: t, rev: cur})
	}
	// The newest sample at least Window old: every revision before it was superseded by then.
	i := -1
	for j, s := range r.samples {
		if t.Sub(s.at) >= r.Window {
			i = j
		}
	}
	if i < 0 {
		return 0, nil
	}
	target := r.samples[i].rev
	r.samples = r.samples[i:]
	held, err := oldestHold(ctx, r.Store)
	if err != nil {
		return 0, err
	}
	if held > 0 && held < target {
		target = held // the samples stay: the next tick compacts further once the hold ends
	}
	for r.compacted < target {
		next := min(target, r.compacted+compactStep)
		if err := r.Store.Compact(ctx, next); err != nil {
			return 0, err
		}
		r.compacted = next
	}
	if target > r.stats.Compacted {
		r.stats.Compactions++
		r.stats.Compacted = target
	}
	return target, nil
}

// Run calls Tick every interval until ctx is done, logging failures (the next tick tries
// again).
func (r *Retainer) Run(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := r.Tick(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("compacting the store's history failed; retrying at the next tick", "window", r.Window.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RetainInterval is the interval between ticks for a window: a quarter of it, between one
// second and one minute.
func RetainInterval(window time.Duration) time.Duration {
	return min(max(window/4, time.Second), time.Minute)
}

// HoldPrefix is where a store shared by several processes records the revisions held by
// HoldHistory, one ephemeral key each (its value the revision in decimal), which every node's
// Retainer reads before compacting.
const HoldPrefix = "retain/holds/"

// holdTTL is how long a hold outlives a holder that stopped renewing it (a crashed node).
const holdTTL = 30 * time.Second

var (
	holdSeq   atomic.Uint64
	holdsMu   sync.Mutex
	heldLocal = map[Store]map[uint64]int64{} // holds of stores of one process, by store
)

// HoldHistory keeps the store's history from rev on: until release is called, no Retainer
// compacts the store past rev, so reads at rev go on working however long they take. On a
// store shared by several processes (one that implements Leaser: etcd), the hold is an
// ephemeral key under HoldPrefix, seen by the Retainers of every node and gone within
// holdTTL of its holder stopping; on a store of one process (bolt) it is kept in memory,
// where that process's Retainer sees it. who names the holder in the key. release may be
// called more than once.
func HoldHistory(ctx context.Context, st Store, rev int64, who string) (release func(), err error) {
	id := holdSeq.Add(1)
	if l, ok := st.(Leaser); ok {
		key := fmt.Sprintf("%s%s-%d-%d", HoldPrefix, who, time.Now().UnixNano(), id)
		e, err := l.PutEphemeral(ctx, key, strconv.AppendInt(nil, rev, 10), holdTTL)
		if err != nil {
			return nil, fmt.Errorf("holding the store's history at revision %d: %w", rev, err)
		}
		var once sync.Once
		return func() { once.Do(func() { e.Close() }) }, nil
	}
	holdsMu.Lock()
	defer holdsMu.Unlock()
	if heldLocal[st] == nil {
		heldLocal[st] = map[uint64]int64{}
	}
	heldLocal[st][id] = rev
	return func() {
		holdsMu.Lock()
		defer holdsMu.Unlock()
		delete(heldLocal[st], id)
		if len(heldLocal[st]) == 0 {
			delete(heldLocal, st)
		}
	}, nil
}

// oldestHold returns the oldest revision held on st by HoldHistory, or 0 when none is.
func oldestHold(ctx context.Context, st Store) (int64, error) {
	var oldest int64
	hold := func(rev int64) {
		if rev > 0 && (oldest == 0 || rev < oldest) {
			oldest = rev
		}
	}
	if _, ok := st.(Leaser); ok {
		after := ""
		for {
			res, err := st.Range(ctx, HoldPrefix, RangeOptions{After: after, Limit: 1000})
			if err != nil {
				return 0, fmt.Errorf("reading the holds on the store's history: %w", err)
			}
			for _, kv := range res.KVs {
				rev, err := strconv.ParseInt(string(kv.Value), 10, 64)
				if err != nil {
					v := kv.Value[:min(len(kv.Value), 64)]
					return 0, fmt.Errorf("the hold %q on the store's history holds %q, not a revision: nothing is compacted until it is deleted (it is not Starbase's: delete the key)", kv.Key, v)
				}
				hold(rev)
			}
			if !res.More || len(res.KVs) == 0 {
				break
			}
			after = res.KVs[len(res.KVs)-1].Key
		}
		return oldest, nil
	}
	holdsMu.Lock()
	defer holdsMu.Unlock()
	for _, rev := range heldLocal[st] {
		hold(rev)
	}
	return oldest, nil
}
