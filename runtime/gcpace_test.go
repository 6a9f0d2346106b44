package runtime

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestPaceGC_SetsGOGCAndTheSoftLimitAndRestoresThem checks PaceGC's settings, and that the
// environment's GOGC or GOMEMLIMIT rules instead when set.
func TestPaceGC_SetsGOGCAndTheSoftLimitAndRestoresThem(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		restore := PaceGC(256 * MiB)
		if got := debug.SetGCPercent(-1); got == ServingGCPercent {
			t.Errorf("GOGC is set in the environment, yet PaceGC set %d", got)
		}
		restore()
		return
	}
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	restore := PaceGC(256 * MiB)
	gotPercent, gotLimit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gotPercent)
	restore()
	if gotPercent != ServingGCPercent || gotLimit != 256<<20 {
		t.Errorf("PaceGC(256 MiB) set GOGC %d and a memory limit of %d, want %d and %d", gotPercent, gotLimit, ServingGCPercent, 256<<20)
	}
	if p, l := debug.SetGCPercent(percent), debug.SetMemoryLimit(limit); p != percent || l != limit {
		t.Errorf("restore left GOGC %d and the limit %d, want %d and %d", p, l, percent, limit)
	}
	t.Setenv("GOGC", "150")
	restore = PaceGC(256 * MiB)
	if p := debug.SetGCPercent(percent); p != percent {
		t.Errorf("with GOGC in the environment PaceGC set GOGC %d", p)
	}
	restore()
}
