package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/store"
)

// DefaultCacheMaxBytes bounds the bytecode cache of a node's data directory.
const DefaultCacheMaxBytes = 256 << 20

// maintenanceInterval is how often the audit log and the bytecode cache are pruned.
const maintenanceInterval = 10 * time.Minute

// retentionFlags say how much a node keeps: store history, code history, audit records,
// cached bytecode.
type retentionFlags struct {
	history       time.Duration
	code          code.Retention
	auditMaxAge   time.Duration
	cacheMaxBytes runtime.ByteSize
}

func (f *retentionFlags) register(fl *pflag.FlagSet) {
	f.cacheMaxBytes = DefaultCacheMaxBytes
	fl.DurationVar(&f.history, "retain-history", store.DefaultRetention, "store history kept (older revisions are compacted); 0 keeps all")
	fl.IntVar(&f.code.KeepCommits, "keep-commits", 0, "keep the newest N commits of each ref's history (and those --keep-commits-for keeps); older ones are dropped and their code collected. 0 keeps every commit")
	fl.DurationVar(&f.code.KeepFor, "keep-commits-for", 0, "keep the commits of each ref's history made within this long (and those --keep-commits keeps); 0 sets no age")
	fl.DurationVar(&f.auditMaxAge, "audit-max-age", auth.DefaultAuditMaxAge, "audit records older than this are deleted; 0 keeps all")
	fl.Var(&f.cacheMaxBytes, "cache-max-bytes", "bytecode cache on disk (DATA/cache), least recently used files removed beyond it")
}

// check refuses settings that cannot work together. A code retention policy needs the store
// history compacted (deleted objects stay in the history until then, freeing nothing), and
// a window at least as long as a request: a commit stays readable for --retain-history after
// the refs left it, so that a request still running on it can finish (code.Collector).
func (f retentionFlags) check(requestTimeout time.Duration) error {
	switch {
	case f.code.KeepCommits < 0 || f.code.KeepFor < 0:
		return fmt.Errorf("--keep-commits %d / --keep-commits-for %v: use 0 to keep every commit, not a negative value", f.code.KeepCommits, f.code.KeepFor)
	case f.code.KeepsAll():
		return nil
	case f.history <= 0:
		return fmt.Errorf("%s needs --retain-history above 0: objects deleted stay in the store's history until it is compacted, so with all history kept nothing would be freed", f.code)
	case f.history < requestTimeout:
		return fmt.Errorf("%s needs --retain-history (%v) at least --timeout (%v): a commit is kept for --retain-history after the refs leave it, so that requests running on it finish",
			f.code, f.history, requestTimeout)
	}
	return nil
}

// maintain runs a node's housekeeping until ctx is done: compacting store history older than
// the window, pruning the audit log and the bytecode cache. Failures are logged and tried
// again at the next tick. collectCode (the server's) runs at the Retainer's interval with a
// code retention policy, every maintenanceInterval without one (it then deletes only the
// objects no commit reaches). It returns the Retainer (nil when history is kept whole).
func maintain(ctx context.Context, f retentionFlags, st store.Store, collectCode func(context.Context) (code.Collection, error),
	cacheDir string, logger *slog.Logger) *store.Retainer {
	var r *store.Retainer
	if f.history > 0 {
		r = &store.Retainer{Store: st, Window: f.history}
		go r.Run(ctx, store.RetainInterval(f.history), logger)
	}
	if f.history > 0 {
		// A policy drops commits as soon as it can; with every commit kept, a collection
		// only finds what failed pushes left, and rereads every commit and tree to do so.
		interval := store.RetainInterval(f.history)
		if f.code.KeepsAll() {
			interval = maintenanceInterval
		}
		go func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if _, err := collectCode(ctx); err != nil && ctx.Err() == nil {
					logger.Warn("collecting old code failed; retrying at the next tick", "policy", f.code.String(), "err", err)
				}
			}
		}()
	}
	go func() {
		tick := time.NewTicker(maintenanceInterval)
		defer tick.Stop()
		for {
			if f.auditMaxAge > 0 {
				n, err := auth.PruneAudit(ctx, st, time.Now().Add(-f.auditMaxAge))
				if err != nil && ctx.Err() == nil {
					logger.Warn("pruning the audit log failed; retrying later", "err", err)
				} else if n > 0 {
					logger.Info("audit log pruned", "deleted", n, "max_age", f.auditMaxAge.String())
				}
			}
			if f.cacheMaxBytes > 0 {
				n, left, err := runtime.PruneCache(cacheDir, int64(f.cacheMaxBytes))
				if err != nil && ctx.Err() == nil {
					logger.Warn("pruning the bytecode cache failed; retrying later", "dir", cacheDir, "err", err)
				} else if n > 0 {
					logger.Info("bytecode cache pruned", "removed", n, "bytes_left", left)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return r
}
