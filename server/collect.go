package server

import (
	"context"
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/code"
)

// Collection of old code: the node's part.
//
// code.Collector does the mark and sweep; a node tells it what else names commits: the
// rollouts stored beside the refs (followed like refs, over the store's retained history),
// the records of the live nodes of the registry (what each serves, wants and rolls out), and
// its own releases (the current one, the rollout's, the commit it failed to build). Serve
// runs Collect beside the store.Retainer; see code.Collector for the rule.

// newCollector returns the collector of cfg's retention over repo. When every commit is kept
// (the default) it still deletes what no commit reaches: the blobs a push stored before it
// failed (a stale base, a crash) and trees no commit names.
func (s *Server) newCollector() *code.Collector {
	return &code.Collector{
		Repo:      s.repo,
		Retention: s.cfg.CodeRetention,
		Pointers: []code.Pointers{
			{Prefix: rolloutPrefix, Commits: rolloutCommits},
			{Prefix: NodePrefix, Commits: nodeCommits, Live: true},
		},
		Held:          s.releases.heldCommits,
		DroppedMaxAge: s.cfg.DroppedMaxAge,
	}
}

// rolloutCommits names the commits of a stored rollout: the one it rolls out and its base.
func rolloutCommits(value []byte) []code.ID {
	ro, err := decodeRollout(value)
	if err != nil {
		return nil
	}
	return []code.ID{code.ID(ro.Commit), code.ID(ro.Base)}
}

// nodeCommits names the commits a live node's record says it serves, wants or rolls out.
func nodeCommits(value []byte) []code.ID {
	var n api.Node
	if json.Unmarshal(value, &n) != nil {
		return nil
	}
	ids := []code.ID{code.ID(n.Commit), code.ID(n.Wanted)}
	if n.Rollout != nil {
		ids = append(ids, code.ID(n.Rollout.Commit))
	}
	return ids
}

// heldCommits returns the commits of the releases this node holds or tried to build.
func (rs *releases) heldCommits() []code.ID {
	var ids []code.ID
	if cur := rs.current.Load(); cur != nil {
		ids = append(ids, cur.commit)
	}
	if c := rs.candidate.Load(); c != nil {
		ids = append(ids, code.ID(c.rollout.Commit))
	}
	if f := rs.failed.Load(); f != nil {
		ids = append(ids, f.commit)
	}
	return ids
}

// CollectCode collects the code objects the node's retention (Config.CodeRetention) does
// not keep, once, logging what it deleted: with every commit kept, the objects no commit
// reaches.
func (s *Server) CollectCode(ctx context.Context) (code.Collection, error) {
	col, err := s.collector.Collect(ctx)
	if err != nil {
		return col, err
	}
	if col.Dropped+col.Trees+col.Blobs+col.Records > 0 {
		s.log.Info("old code collected", "policy", s.cfg.CodeRetention.String(), "revision", col.Revision,
			"kept_commits", col.Kept, "dropped_commits", col.Dropped, "trees", col.Trees, "blobs", col.Blobs,
			"expired_records", col.Records)
	}
	return col, nil
}

// collectorMetrics are the metrics of the collection of old code.
func (s *Server) collectorMetrics() []prometheus.Collector {
	stat := func(name, help string, get func(code.CollectStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(s.collector.Stats())) })
	}
	return []prometheus.Collector{
		stat("starbase_code_collections_total", "Collections of old code run (mark and sweep).",
			func(c code.CollectStats) uint64 { return c.Runs }),
		stat("starbase_code_collection_failures_total", "Collections of old code that failed (retried at the next interval).",
			func(c code.CollectStats) uint64 { return c.Failures }),
		stat("starbase_code_commits_dropped_total", "Commits dropped by the code retention policy.",
			func(c code.CollectStats) uint64 { return c.Dropped }),
		stat("starbase_code_trees_collected_total", "Trees deleted because no kept commit names them.",
			func(c code.CollectStats) uint64 { return c.Trees }),
		stat("starbase_code_blobs_collected_total", "Blobs deleted because no kept tree names them.",
			func(c code.CollectStats) uint64 { return c.Blobs }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "starbase_code_commits_kept",
			Help: "Commits kept by the last collection of old code.",
		}, func() float64 { return float64(s.collector.Stats().LastKept) }),
	}
}
