package main

import (
	"slices"
	"time"
)

// config sizes every scenario. fullConfig is what BENCHMARKS.md reports; smokeConfig runs
// the same code at toy sizes, to check that every scenario starts and produces numbers.
type config struct {
	smoke bool
	only  []string // scenario names; nil runs all
	load  string   // hot-path load generator: "wrk" or "go"

	// Hot path.
	rounds     int           // rounds of every (page, server) pair, in rotated order (roundOrder)
	storeRuns  int           // pairs of runs of (a) and (b) alone, back to back, after the rounds
	duration   time.Duration // per load run
	warmup     time.Duration // per (page, server) before the first round
	conns      int           // concurrent keep-alive connections of the load generator
	minAnswers int           // the Go load generator runs past duration until this many answers
	profile    time.Duration // CPU profile of the store server under load

	// Propagation.
	pushes int

	// Deploys under load.
	deployFor     time.Duration // load with pushes in all; as much without
	deployWindows int           // pairs of windows (without, with pushes) deployFor is split into
	deployEvery   time.Duration

	// Incremental reload.
	reloadModules int
	reloadReps    int // pushes of each kind of change

	// Memory over time.
	memCommits []int // memory is read after each of these numbers of commits

	// Cold start.
	coldModules int
	coldRuns    int // starts with and without the bytecode cache, each

	// Go micro-benchmarks.
	microCount     int
	microBenchtime string

	// Rollouts (the hot path's rounds, duration and connections apply too).
	rolloutCycles int // rollouts aborted and promoted on three nodes, each
	rolloutNodes  int // fresh ERP nodes whose memory is read with one commit and two
	rolloutGCs    int // collections awaited per memory reading (0: none, the last one's live heap)
}

func fullConfig() config {
	return config{
		load:           "wrk",
		rounds:         9,
		storeRuns:      12,
		duration:       2 * time.Second,
		warmup:         time.Second,
		conns:          16,
		profile:        10 * time.Second,
		pushes:         500,
		deployFor:      30 * time.Second,
		deployWindows:  6,
		deployEvery:    50 * time.Millisecond,
		reloadModules:  200,
		reloadReps:     5,
		memCommits:     []int{100, 1000, 2500, 5000, 7500, 10000},
		coldModules:    1000,
		coldRuns:       5,
		microCount:     5,
		microBenchtime: "0.3s",
		rolloutCycles:  50,
		rolloutNodes:   5,
		rolloutGCs:     3,
	}
}

func smokeConfig() config {
	return config{
		smoke:          true,
		load:           "go",
		rounds:         2,
		storeRuns:      1,
		duration:       100 * time.Millisecond,
		warmup:         50 * time.Millisecond,
		conns:          4,
		minAnswers:     20, // 100 ms on a loaded machine may see no answer at all
		profile:        300 * time.Millisecond,
		pushes:         5,
		deployFor:      400 * time.Millisecond,
		deployWindows:  2,
		deployEvery:    50 * time.Millisecond,
		reloadModules:  24,
		reloadReps:     1,
		memCommits:     []int{3, 6, 10},
		coldModules:    40,
		coldRuns:       1,
		microCount:     1,
		microBenchtime: "1x",
		rolloutCycles:  2,
		rolloutNodes:   1,
		rolloutGCs:     0,
	}
}

func (c config) wants(name string) bool {
	return len(c.only) == 0 || slices.Contains(c.only, name)
}
