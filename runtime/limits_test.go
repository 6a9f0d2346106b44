package runtime_test

import (
	"testing"

	"github.com/starbase/starbase/runtime"
)

func TestChecks(t *testing.T) {
	runSpecWith(t, "testdata/limits.star", runtime.Options{Limits: runtime.Limits{
		MaxAllocBytes:    runtime.MiB,
		MaxCallDepth:     50,
		MaxResponseBytes: 256 * runtime.KiB,
	}})
}
