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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log strings.Builder
	e, err := newEnv(ctx, smokeConfig(), &log)
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
