package runtime

import (
	"os"
	"runtime/debug"
)

// ServingGCPercent is the collector's GOGC for a process that serves requests (see PaceGC).
const ServingGCPercent = 400

// PaceGC sets the garbage collector's pacing for a process that serves Starlark requests
// within Limits.MaxHeapBytes maxHeap, unless the environment sets GOGC or GOMEMLIMIT (which
// then rule, as for any Go program). It returns the previous settings' restore function.
//
// A node's live heap is small (its caches and the requests in flight: a few MiB) while a
// request allocates much (100 KiB to render a 100-row page), so at Go's default GOGC of
// 100 the collector runs every few requests and takes a quarter of the CPU of an HTML
// page (BenchmarkPage_Table, and the harness's profiles). PaceGC lets the heap grow to
// ServingGCPercent (4x) over the live heap between collections instead, and sets the soft
// memory limit to maxHeap, the heap guard's budget (guard.go), so that the collector works
// harder as the heap nears the budget rather than letting a 4x goal pass it: a process
// whose live heap is 400 MiB still collects before 2 GiB. Memory held is then at most 5x
// the live heap while it is small (50 MiB for 10 MiB live), and the guard's budget bounds
// it as before.
func PaceGC(maxHeap ByteSize) (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(ServingGCPercent)
	limit := debug.SetMemoryLimit(-1)
	if maxHeap > 0 {
		debug.SetMemoryLimit(int64(maxHeap))
	}
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
