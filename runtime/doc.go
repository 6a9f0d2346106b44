// Package runtime is Starbase's import hook: it loads Starlark modules from a commit's
// tree, caches their compiled bytecode and their frozen globals, and runs Starlark with
// step, time and cancellation limits.
//
// # Snapshots
//
// A request resolves its ref to a commit once and builds a [Snapshot]: the commit id, its
// tree (path -> blob id) and a [BlobSource] to read blobs. Every Load of that request is
// resolved against that one tree, so no request ever mixes two revisions of the code.
//
// # Module paths
//
// A module is named by its tree path, relative to the tree root and ending in ".star":
//
//	load("lib/util.star", "slugify")
//
// Paths are not relative to the loading module: "lib/util.star" means the same file from
// every module. Paths must pass [code.ValidatePath], so "../x.star" and "/x.star" are
// rejected with the position of the offending load statement.
//
// # Caching
//
// Two caches make loading cheap, and both are keyed by content, never by time, so they are
// never invalidated; they are only bounded (LRU, [Options.MaxModules]):
//
//   - Compiled programs, keyed by (module path, blob id, compiler version, dialect,
//     predeclared names), in memory and optionally on disk ([Options.CacheDir]). The path is
//     part of the key because the compiled program records it for tracebacks. A cache file
//     is a checksum header followed by the [starlark.Program.Write] encoding; a file that is
//     damaged or unreadable is recompiled and overwritten, never trusted and never fatal.
//
//   - Module instances (frozen globals), keyed by a Merkle hash of (module path, blob id,
//     dialect, predeclared names, keys of the modules it loads, in load order). Load
//     statements are static, so Load computes every key bottom-up before it runs anything,
//     and detects load cycles on the way. A module whose key is cached is not run again:
//     between two commits only the changed modules and the modules that (transitively)
//     load them are re-run, and each at most once per process at a time (single flight).
//
// A failed module run is returned to every request that waited for it but is not cached:
// the next Load retries. A run is not tied to the context of the request that started it
// (other requests may be waiting for it); it is bounded by [Limits.LoadTimeout] and
// [Limits.MaxSteps] instead, and each waiting request stops waiting when its own context
// ends.
//
// # Sandbox
//
// Module top-level code runs on a thread with no thread locals: no request, no request
// data. Stored code sees only the Starlark universe, the names listed in builtins.go and
// [Options.Predeclared]: no clock, filesystem, environment or network. Module globals are
// frozen after the top level ran, so they can be shared by all goroutines and no handler
// can mutate them.
//
// [Loader.Call] runs a function (typically a request handler) on a fresh thread bounded by
// [Limits.MaxSteps] and [Limits.Timeout] and cancelled with the caller's context. Its
// errors wrap [ErrStepLimit], [ErrTimeout] or [ErrCanceled] together with the
// [*starlark.EvalError] that carries the Starlark backtrace.
package runtime
