package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
)

// A profile can hold no sample (a short run on a busy machine): pprofTop then reports no
// rows but keeps the header, whose total (0) profilePage reads instead of failing.
func TestPprofTop_AnEmptyProfileKeepsItsTotal(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	header, rows, err := pprofTop(context.Background(), file, "-nodecount=25")
	if !errors.Is(err, errNoRows) || len(rows) != 0 {
		t.Fatalf("pprofTop of an empty profile: %d rows, err %v; want no rows and errNoRows", len(rows), err)
	}
	found := false
	for _, h := range header {
		if m := pprofTotal.FindStringSubmatch(h); m != nil {
			found = true
			if got := pprofSeconds(m[1]); got != 0 {
				t.Errorf("total of an empty profile = %v, want 0", got)
			}
		}
	}
	if !found {
		t.Errorf("pprofTop of an empty profile returned no total in its header %q", header)
	}
}
