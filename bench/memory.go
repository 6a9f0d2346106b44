package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/starbase/starbase/bench/apps"
)

// memoryOverTime reads a node's resident memory after e.cfg.memCommits[0] commits and again
// after e.cfg.memCommits[1], each commit a new version of the benchmark app that the node
// switches to: every commit adds a resolved graph, a compiled app.star and a module instance
// to the loader's caches, which must stay bounded.
func memoryOverTime(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	data, err := e.dir("memory")
	if err != nil {
		return nil, err
	}
	node, err := e.startStarbase(ctx, "memory", data, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer node.stop()
	hc := &http.Client{Timeout: 30 * time.Second}
	type point struct {
		commits    int
		mem        memory
		heap, sys  float64
		storeBytes int64
	}
	var points []point
	version := 0
	start := time.Now()
	for _, target := range e.cfg.memCommits {
		var last struct {
			commit string
			rev    int64
		}
		for version < target {
			version++
			res, err := push(ctx, node, apps.Starlark(version), fmt.Sprintf("version %d", version))
			if err != nil {
				return nil, err
			}
			last.commit, last.rev = res.Commit, res.Revision
			if version%1000 == 0 {
				e.logf("%d commits", version)
			}
		}
		if err := waitServing(ctx, node, last.commit, last.rev); err != nil {
			return nil, err
		}
		for _, path := range []string{"/hello/Ada", "/table"} {
			if a, err := get(ctx, hc, node, path, 0); err != nil || a.status != http.StatusOK {
				return nil, fmt.Errorf("GET %s after %d commits: status %d, %v", path, version, a.status, err)
			}
		}
		m, err := node.memory()
		if err != nil {
			return nil, err
		}
		heap, err := metric(ctx, hc, node, "go_memstats_heap_inuse_bytes")
		if err != nil {
			return nil, err
		}
		sys, err := metric(ctx, hc, node, "go_memstats_sys_bytes")
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(filepath.Join(data, "starbase.db"))
		if err != nil {
			return nil, err
		}
		points = append(points, point{commits: version, mem: m, heap: heap, sys: sys, storeBytes: fi.Size()})
	}
	elapsed := time.Since(start)

	sec.printf("One node; %s commits pushed one after the other through the API (%.0f per second), each changing `VERSION` "+
		"in app.star, so that every commit adds a resolved module graph, a compiled app.star and an app.star instance to "+
		"the loader's caches (bounded at %d entries each by default). Memory is read once the node serves the last commit "+
		"and has answered both pages: resident set from /proc (anonymous, and file-backed, which includes the pages of "+
		"the bolt file the node has read) and the Go heap in use from `/-/metrics`.\n\n",
		count(float64(version)), float64(version)/elapsed.Seconds(), 4096)
	sec.printf("| Commits | RSS | anonymous | file-backed | Go heap in use | Go runtime total | store file |\n|---|---|---|---|---|---|---|\n")
	for _, p := range points {
		sec.printf("| %s | %s | %s | %s | %s | %s | %s |\n", count(float64(p.commits)), mib(float64(p.mem.RSS)), mib(float64(p.mem.Anon)),
			mib(float64(p.mem.File)), mib(p.heap), mib(p.sys), mib(float64(p.storeBytes)))
	}
	first, last := points[0], points[len(points)-1]
	growth := float64(last.mem.RSS)/float64(first.mem.RSS) - 1
	heapGrowth := last.heap/first.heap - 1
	sec.printf("\nGrowth from %s to %s commits: RSS %s, anonymous %s, Go heap %s.\n\n", count(float64(first.commits)),
		count(float64(last.commits)), pct(growth), pct(float64(last.mem.Anon)/float64(first.mem.Anon)-1), pct(heapGrowth))
	sec.goal(atMost(fmt.Sprintf("RSS growth, %s → %s commits", count(float64(first.commits)), count(float64(last.commits))), growth, 0.20, pct))
	sec.figure("rss first", float64(first.mem.RSS), false)
	sec.figure("rss last", float64(last.mem.RSS), false)
	return sec, nil
}
