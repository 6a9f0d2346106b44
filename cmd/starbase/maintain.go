package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/store"
)

// DefaultCacheMaxBytes bounds the bytecode cache of a node's data directory.
const DefaultCacheMaxBytes = 256 << 20

// maintenanceInterval is how often the audit log and the bytecode cache are pruned.
const maintenanceInterval = 10 * time.Minute

// retentionFlags say how much a node keeps: store history, audit records, cached bytecode.
type retentionFlags struct {
	history       time.Duration
	auditMaxAge   time.Duration
	cacheMaxBytes runtime.ByteSize
}

func (f *retentionFlags) register(fl *pflag.FlagSet) {
	f.cacheMaxBytes = DefaultCacheMaxBytes
	fl.DurationVar(&f.history, "retain-history", store.DefaultRetention, "store history kept (older revisions are compacted); 0 keeps all")
	fl.DurationVar(&f.auditMaxAge, "audit-max-age", auth.DefaultAuditMaxAge, "audit records older than this are deleted; 0 keeps all")
	fl.Var(&f.cacheMaxBytes, "cache-max-bytes", "bytecode cache on disk (DATA/cache), least recently used files removed beyond it")
}

// maintain runs a node's housekeeping until ctx is done: compacting store history older than
// the window, pruning the audit log and the bytecode cache. Failures are logged and tried
// again at the next tick. It returns the Retainer (nil when history is kept whole), whose
// Stats the metrics report.
func maintain(ctx context.Context, f retentionFlags, st store.Store, cacheDir string, logger *slog.Logger) *store.Retainer {
	var r *store.Retainer
	if f.history > 0 {
		r = &store.Retainer{Store: st, Window: f.history}
		go r.Run(ctx, store.RetainInterval(f.history), logger)
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
