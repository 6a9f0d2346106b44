package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGoLoad_RunsUntilMinAnswers checks that a run whose duration ends before any answer
// (a server slower than the run, as a toy run on a loaded machine can see) goes on until
// minAnswers requests were answered, and that without minAnswers it measures what its
// duration saw.
func TestGoLoad_RunsUntilMinAnswers(t *testing.T) {
	// The server takes longer to answer than the run's duration: that is the condition
	// under test, not a wait for something to happen.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	got, err := goLoad{conns: 2}.run(ctx, srv.URL, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 0 {
		t.Errorf("without minAnswers: %d answers within 1 ms of a server answering in 20 ms, want 0", got.Requests)
	}

	got, err = goLoad{conns: 2, minAnswers: 5}.run(ctx, srv.URL, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests < 5 || got.Failed != 0 {
		t.Errorf("with minAnswers 5: %d answers, %d failed (%v), want at least 5 and none failed", got.Requests, got.Failed, got.First)
	}
	if got.RPS() <= 0 {
		t.Errorf("with minAnswers 5: %v req/s, want a positive rate", got.RPS())
	}
}

// TestRoundOrder_EveryRoundAPermutationAndNoFixedPredecessor: each round measures every
// server once, and over the rounds no server always runs right after the same one (the
// predecessor of a round's first server is the last of the page or round before it).
func TestRoundOrder_EveryRoundAPermutationAndNoFixedPredecessor(t *testing.T) {
	const n, rounds = 4, 9
	var sequence []int
	for r := range rounds {
		order := roundOrder(n, r)
		seen := map[int]bool{}
		for _, i := range order {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("round %d: order %v is not a permutation of 0..%d", r, order, n-1)
			}
			seen[i] = true
		}
		// Two pages per round, each in the same order, as hotPath runs them.
		sequence = append(sequence, order...)
		sequence = append(sequence, order...)
	}
	predecessors := make([]map[int]int, n)
	for i := range predecessors {
		predecessors[i] = map[int]int{}
	}
	for k := 1; k < len(sequence); k++ {
		predecessors[sequence[k]][sequence[k-1]]++
	}
	for i, p := range predecessors {
		if len(p) < 2 {
			t.Errorf("server %d always runs after the same server: predecessors %v", i, p)
		}
		for j, c := range p {
			if c > len(sequence)*3/(4*n) {
				t.Errorf("server %d ran after server %d in %d of its %d runs, want at most three quarters", i, j, c, len(sequence)/n)
			}
		}
	}
}

// The goals of the store within 3% of files count the pairs run back to back with the
// rounds: three rounds where (a) serves 10% fewer requests than (b) and four pairs where
// both serve alike make a median of 1.00x, met; the rounds alone would miss it.
func TestReportHotPath_TheStoreGoalsCountThePairs(t *testing.T) {
	run := func(requests int64) hotRun {
		return hotRun{loadResult: loadResult{Requests: requests, Elapsed: time.Second}, cpu: time.Duration(requests) * time.Microsecond}
	}
	runs := map[string][]hotRun{}
	for _, pg := range hotPages {
		for range 3 {
			runs[pg.name+"/store"] = append(runs[pg.name+"/store"], run(900))
			runs[pg.name+"/files"] = append(runs[pg.name+"/files"], run(1000))
		}
		for range 4 {
			runs[pg.name+"/"+pairPrefix+"store"] = append(runs[pg.name+"/"+pairPrefix+"store"], run(1000))
			runs[pg.name+"/"+pairPrefix+"files"] = append(runs[pg.name+"/"+pairPrefix+"files"], run(1000))
		}
	}
	sec := newSection()
	reportHotPath(sec, []hotServer{{name: "store"}, {name: "files"}}, runs)
	found := 0
	for _, g := range sec.goals {
		if strings.HasPrefix(g.what, "(a) store within 3% of (b) files, ") && strings.HasSuffix(g.what, ", req/s") {
			found++
			if !g.met || g.got != "1.000×" {
				t.Errorf("%s: got %s (met %v), want 1.000×, met: the median of 3 rounds at 0.9x and 4 pairs at 1x", g.what, g.got, g.met)
			}
		}
	}
	if found != len(hotPages) {
		t.Errorf("%d req/s goals of the store against files, want one per page (%d)", found, len(hotPages))
	}
}
