package runtime_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/starbase/starbase/runtime"
)

func TestLoader_BoundsModuleCacheByBytes(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{MaxModuleBytes: runtime.MiB, OnModuleRun: runs.record})
	snap := snapshotOf(t, map[string]string{
		"big1.star": "S = 'x' * 600000\n",
		"big2.star": "S = 'y' * 600000\n",
		"huge.star": "S = 'z' * 2000000\n",
	})
	for _, p := range []string{"big1.star", "big1.star", "big2.star", "big1.star", "huge.star", "huge.star"} {
		mustLoad(t, l, snap, p)
	}
	// big2.star pushed big1.star out (together they exceed 1 MiB, though MaxModules is
	// 4096); huge.star is larger than the bound, so it is never kept.
	want := []string{"big1.star", "big1.star", "big2.star", "huge.star", "huge.star"} // sorted
	if got := runs.take(); !slices.Equal(got, want) {
		t.Errorf("runs = %q, want %q", got, want)
	}
}

func TestLoader_NegativeMaxModuleBytesBoundsByEntriesOnly(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{MaxModuleBytes: -1, OnModuleRun: runs.record})
	snap := snapshotOf(t, map[string]string{"huge.star": "S = 'z' * 20000000\n"})
	mustLoad(t, l, snap, "huge.star")
	mustLoad(t, l, snap, "huge.star")
	if got, want := runs.take(), []string{"huge.star"}; !slices.Equal(got, want) {
		t.Errorf("runs = %q, want %q", got, want)
	}
}

func TestLoader_DropsModulesOfCommitsNotServedForSixteenCommits(t *testing.T) {
	var runs runLog
	l := newLoader(t, runtime.Options{OnModuleRun: runs.record})
	version := func(v int) *runtime.Snapshot {
		return snapshotOf(t, map[string]string{
			"app.star": fmt.Sprintf("load('lib.star', 'x')\nVERSION = %d\n", v),
			"lib.star": "x = 1\n",
		})
	}
	first := version(0)
	mustLoad(t, l, first, "app.star")
	for v := 1; v < 15; v++ {
		mustLoad(t, l, version(v), "app.star")
	}
	runs.take()
	// Fifteen new commits later, the first commit's modules are still cached.
	mustLoad(t, l, first, "app.star")
	if got := runs.take(); len(got) != 0 {
		t.Errorf("runs after 15 new commits = %q, want none", got)
	}
	for v := 15; v < 31; v++ {
		mustLoad(t, l, version(v), "app.star")
	}
	runs.take()
	// Sixteen new commits without using it: its app.star instance is gone, but lib.star,
	// which every commit loads, stays.
	mustLoad(t, l, first, "app.star")
	if got, want := runs.take(), []string{"app.star"}; !slices.Equal(got, want) {
		t.Errorf("runs after 16 new commits = %q, want %q", got, want)
	}
}
