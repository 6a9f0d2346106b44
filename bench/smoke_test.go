package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every scenario of the harness at toy sizes with the Go load generator,
// and checks that each one runs and measures every figure it reports. It needs nothing
// installed; Flask is compared only where gunicorn and Flask are installed, and the test
// log says whether it was.
func TestSmoke(t *testing.T) {
	// A bound for a stuck scenario, not a duration the test holds: the smoke run takes two
	// to three minutes on a quiet 2-core machine, and took over 8 minutes at load 20 (the
	// micro scenario compiles four test binaries; the rollout scenario pushes the ERP example,
	// whose 52 tests the gate runs). It stays under the 20 minutes test.sh gives a package.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var log strings.Builder
	cfg := smokeConfig()
	e, err := newEnv(ctx, cfg, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	rep, err := runScenarios(ctx, e)
	if err != nil {
		t.Fatalf("%v\nharness log:\n%s", err, log.String())
	}
	var ran []string
	for _, s := range rep.sections {
		ran = append(ran, s.name)
	}
	if got, want := strings.Join(ran, ","), strings.Join(scenarioNames(), ","); got != want {
		t.Errorf("scenarios run: got %s, want %s", got, want)
	}
	for _, bad := range rep.check() {
		t.Errorf("figure not measured: %s", bad)
	}
	for _, s := range rep.sections {
		if s.name == "rollout" {
			checkRollout(t, s, cfg)
		}
	}
	md := rep.markdown(e)
	for _, s := range rep.sections {
		if !strings.Contains(md, "## "+s.title) {
			t.Errorf("report has no section %q", s.title)
		}
	}
	if e.gunicorn != "" {
		t.Logf("Flask on gunicorn was compared (%s)", e.gunicorn)
	} else {
		t.Logf("Flask was not compared: %s", strings.Join(e.notes, "; "))
	}
	for _, n := range e.notes {
		t.Logf("note: %s", n)
	}
	if testing.Verbose() {
		io.WriteString(os.Stderr, log.String())
	}
}

// checkRollout checks what the rollout scenario saw (issue 18): new clients were served by
// both commits, no request failed, and every abort and promote reached all three nodes of
// the etcd cluster (a node still answering from the old state fails the scenario itself).
func checkRollout(t *testing.T, s *section, cfg config) {
	t.Helper()
	if share := s.figures["new clients on the new commit"]; share <= 0 || share >= 1 {
		t.Errorf("rollout at 50%%: new clients' share on the new commit = %v, want both commits serving some", share)
	}
	for _, c := range rolloutClients {
		if failed := s.figures[c.name+" failed"]; failed != 0 {
			t.Errorf("rollout, %s clients: %v requests failed, want 0", c.name, failed)
		}
	}
	for _, change := range []string{"abort", "promote"} {
		if got, want := s.figures[change+" nodes reached"], float64(3*cfg.rolloutCycles); got != want {
			t.Errorf("%s: %v node answers showed it, want %v (%d rollouts on 3 nodes)", change, got, want, cfg.rolloutCycles)
		}
	}
	if one, two := s.figures["memory live one commit"], s.figures["memory live two commits"]; one <= 0 || two <= 0 {
		t.Errorf("memory of a node serving one commit and two: live heap %v and %v, want both read", one, two)
	}
}
