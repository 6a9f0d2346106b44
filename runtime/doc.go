// Package runtime is Starbase's import hook: it loads Starlark modules from a commit's
// tree, caches their compiled bytecode and their frozen globals, and runs Starlark within
// limits of steps, time, memory and call depth, cancellable by the caller.
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
// never invalidated; they are only bounded: LRU by entries ([Options.MaxModules]) and by an
// estimate of bytes ([Options.MaxModuleBytes]), and entries not used while loading the last
// 16 commits are dropped, so a node keeps what the commits it serves use, whatever their
// size, and memory stays flat however many commits it has served:
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
// Load statements nest at most [MaxLoadDepth] (1000) modules deep. A module's dependencies
// are run before it, in post-order, so a run never waits for a nested one. A snapshot
// without a commit (a tree being validated) has the modules resolved from it kept for the
// next Load of the same snapshot, so loading every module of a tree resolves each once.
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
// [Options.Predeclared]: no clock, filesystem, environment or network. (The universe
// functions that allocate are replaced by checked ones of the same name: see Resource
// limits.) Module globals are
// frozen after the top level ran, so they can be shared by all goroutines and no handler
// can mutate them.
//
// [Loader.Call] runs a function (typically a request handler) on a fresh thread bounded by
// [Limits.MaxSteps] and [Limits.Timeout] and cancelled with the caller's context (a
// watchdog goroutine polls the context of every running execution every 10ms, which costs
// a call nothing to start). Its errors wrap [ErrStepLimit], [ErrTimeout] or [ErrCanceled] together with the
// [*starlark.EvalError] that carries the Starlark backtrace.
//
// # Resource limits
//
// Every Call and every module top level runs within [Limits] ([DefaultLimits]; the serve
// command has a flag for each):
//
//   - Steps (MaxSteps, 10M) and wall time (Timeout 10s, LoadTimeout 5s): checked by the
//     interpreter between instructions.
//   - Call depth (MaxCallDepth, 1000): the interpreter checks the depth as every Starlark
//     function starts (Thread.SetMaxCallDepth, in the fork of go.starlark.net), so unbounded
//     recursion fails with [ErrDepthLimit] (TestLimits_AttacksAreStoppedWhileOthersAreServed,
//     /recurse) long before go.starlark.net alone would stop it, deep in goroutine stack.
//   - Memory of one operation (MaxAllocBytes, 128 MiB). Go has no per-goroutine memory
//     limit and Starlark none either; go.starlark.net checks only repetition, against
//     2^30 elements, which for a list is 16 GiB in one instruction. So the loader compiles
//     a check before every operation that can allocate much more than its operands
//     (rewrite.go): + and * on strings, bytes, lists and tuples, % and str.format,
//     str.join, replace and split, the conversions str, repr, print, fail and json.encode
//     (whose output can be exponentially larger than a value that shares structure: 20
//     levels of l = [l, l] hold 40 references and print a million times), list, tuple,
//     sorted, set, enumerate, zip and bytes of a lazy range or string, list.extend and
//     list += iterable, json.decode and json.indent. Each check computes the size first
//     (sizes.go; its own work is bounded by the limit) and refuses the operation with
//     [ErrMemoryLimit] before anything is allocated: "x" * (1 << 30) fails at once having
//     allocated nothing. Integers are bounded to [MaxIntBits], since big-integer
//     arithmetic is not cancellable either. The same limit bounds any single string,
//     list or tuple stored code can build, so doubling s = s + s stops there.
//     There is no way around the checks: getattr returns the same checked methods as
//     x.name, f(*x) checks what collecting x allocates, and builtins that iterate inside
//     one instruction (min, max, any, all, the set methods) count one step per element
//     and stop at the step limit or deadline.
//   - Builtins of other packages keep their work within the same limits through
//     [ThreadContext], [ThreadLimits], [ChargeAlloc] and [ChargeSteps]: render charges
//     its data and output to MaxAllocBytes, counts a step at every template and range
//     iteration and stops at the request's deadline; its parser refuses recursive and
//     too deeply nested templates.
//   - Memory of the process (MaxHeapBytes, 2 GiB): what the checks cannot refuse is
//     growth in small steps (appending a chunk at a time to a list, a comprehension, a
//     dict filled key by key). A guard (guard.go) reads the live heap every 10ms while
//     executions run and, above the budget, stops the running execution that allocated
//     the most with [ErrMemoryLimit], and with it those that allocated at least a quarter
//     as much, until their usage covers the excess (many hoarders at once are stopped
//     together), provided the running executions together hold a significant share (a
//     quarter) of the excess: memory held by something else is not blamed on requests.
//     It acts on live memory only: it confirms with a forced garbage collection before
//     stopping anyone, so garbage left by an execution stopped earlier (or finished)
//     never counts against the next, innocent one; meanwhile executions making an
//     allocation of 1 MiB or more wait for its decision (a collection takes seconds on a
//     loaded machine), and it waits for the stopped executions to return before
//     considering others. While the heap (live and garbage) is above the budget, it
//     forces at most one collection per 100ms. What the checks admit is charged to the
//     estimate, and so is what the other allocating operations make (upper, lower,
//     title, capitalize, slices, dict views, dict(), set and dict operators) and what
//     other packages charge ([ChargeAlloc]: objects read from the data API, render,
//     req.form()).
//   - Memory of a group of executions ([Budget], [WithBudget]): what they allocate
//     together, by the same estimate; the validation gate bounds one check with it.
//   - CPU of one operation ([MaxOperationVisits], work.go): hashing and comparison run
//     inside one instruction, where the interpreter sees no deadline, and visit shared
//     structure once per path: t = (t, t) 62 times, used as a dict key, would never end,
//     and == of lists 10 wide and 9 deep made 10^10 comparisons. Every operation that
//     hashes or compares containers (d[k], {k: v}, in, ==, <, set(), dict(), sorted, min,
//     max, set and dict operators and methods, list.index and remove) first counts the
//     values it would visit, memoised per container (linear, and stopped past the
//     bound), refuses past MaxOperationVisits with [ErrStepLimit], and charges the count
//     to the steps (16 visits a step); a tuple nested more than 1000 levels is refused
//     with [ErrDepthLimit]. sorted is cancellable between comparisons. So a request ends
//     within Timeout plus one operation (BenchmarkWork_LargestAdmittedOperation:
//     0.1-0.9s on a loaded 2-core machine).
//   - Input that is parsed or decoded before any limit can act is bounded by its shape,
//     in one linear pass, before the recursive upstream code sees it: json.decode refuses
//     a text nesting arrays and objects more than [MaxJSONDepth] (1000) levels deep or
//     holding a number of more than [MaxJSONDigits] (4300) digits (a default, if given, is
//     returned instead, as for any text the decoder refuses); [ParseModule] refuses a
//     module larger than [MaxModuleSourceBytes] (1 MiB) before parsing it, and a syntax
//     tree deeper than [MaxSyntaxDepth] (1000: chains of operators, calls, indexes or
//     attributes are built by the parser in a loop) before the rewriter, resolver and
//     compiler walk it, with the position of the first node past the limit. Compiling a
//     module is bounded by LoadTimeout: the deadline is checked after parsing, rewriting
//     and compiling (each cannot be interrupted, and each is linear in at most 1 MiB).
//     Before, 2 MB of "[" given to json.decode and a module of 3 million "+ a" killed the
//     process (stack overflow). Tests: TestJSONDecode_RefusesTooDeepOrTooLongNumbersWithoutCrashing,
//     TestLoader_RefusesSyntaxNestedTooDeepWithItsPosition, FuzzJSONDecode, FuzzParseModule,
//     and through HTTP cmd/starbase TestAttack_DeepJSONBodyIsRefusedAndTheNodeSurvives and
//     TestAttack_DeeplyNestedModuleIsRefusedAtItsPositionAndTheNodeSurvives.
//   - Response size (MaxResponseBytes, 32 MiB): response() and the server refuse larger
//     bodies ([ErrResponseTooLarge]); the server encodes a JSON result into a buffer
//     that fails as soon as it would pass the limit.
//   - Print output (MaxPrintLines 100, MaxPrintBytes 64 KiB per Call, per request given a
//     budget in [CallOptions], and per run of a module's top level): a budget kept
//     with the thread (runtime/printlog) drops the excess and one warning counts it.
//
// What the tests hold (server's TestLimits_AttacksAreStoppedWhileOthersAreServed, attacks
// stored as handlers on a node with MaxAllocBytes 32 MiB, MaxHeapBytes 256 MiB and
// MaxResponseBytes 8 MiB): a handler doubling a string or a list is refused when the
// result would take 64 MiB, one hoarding 1 MiB chunks is stopped by the heap guard, a
// 1 GiB string and a list whose JSON passes the response limit are refused, each by its
// own guard (never by the request's timeout) and with the process heap under a bound
// per attack; 100,000 print() calls leave MaxPrintLines log records and one counting the
// rest; and meanwhile /ping keeps being answered, its median latency under 2s (a bound a
// loaded two-core machine meets under -race). The test logs what it measured for each
// attack (its duration, the heap's peak, the pings' median, 99th percentile and maximum):
// go test -v -run TestLimits_AttacksAreStoppedWhileOthersAreServed ./server.
//
// What the checks cost is measured by BenchmarkChecks (checked against plain execution of
// the same workloads), reported in BENCHMARKS.md. The operations that build pages take fast
// paths instead (format.go): a chain of + is one check that joins its strings with one
// allocation, and str(), % and str.format of strings, ints, bools and None, and direct
// calls of join, replace and format, are done natively with the output of go.starlark.net
// (TestFastPaths_MatchUpstream, FuzzPercent, FuzzFormat); a chain of replaces of single
// bytes, as HTML escaping is, is one pass over the string that allocates once, checked
// and charged as its steps would be (TestReplaceChain_MatchesUpstream, FuzzReplaceChain,
// TestByteChain_ChecksAndChargesAsTheStepsWould), so that the benchmark app's
// 100-row table page costs 0.64x the instructions of go.starlark.net alone (the fork) on
// the same source (BenchmarkPage_Table, measured as bench/optimisations.md says; 1.41x
// the CPU before the fast paths).
//
// The collector: a node's live heap is small and its requests allocate much, so
// `starbase serve` runs with GOGC 400 and the soft memory limit at MaxHeapBytes
// ([PaceGC]) unless GOGC or GOMEMLIMIT is set: 26% less CPU on the table page
// (BenchmarkServe_Table_Files, bench/optimisations.md).
//
// What does not hold, and why:
//
//   - One operation runs to its end: cancellation is checked between instructions. An
//     operation admitted by its check allocates up to MaxAllocBytes, and a large copy of
//     pointers (a list + list of millions of slots) delays the collector's stop-the-world
//     pauses, and so every other request: the longest /ping of each attack, which
//     TestLimits_AttacksAreStoppedWhileOthersAreServed logs, shows the stall. Lower
//     MaxAllocBytes shortens it.
//   - Operations linear in their operands are not refused (+ of integers, list.append,
//     dict and set insertion, slicing, dict.items...): each allocates at most a few times
//     what already exists, is charged to the guard's estimate, and the heap guard bounds
//     their sum. The guard
//     therefore lets the heap overshoot its budget by what one instruction and one
//     collection cycle allocate: TestHeapGuard_StopsTheExecutionThatAllocatedTheMost
//     holds the peak under 8x a 64 MiB budget (and logs it), the /hoard attack of
//     TestLimits_AttacksAreStoppedWhileOthersAreServed under 4x a 256 MiB one.
//   - The guard's choice is an estimate: the bytes an execution's checks admitted plus 8
//     bytes per step. Garbage counts too, so a request that churns may be stopped before
//     one that holds less; the guard reads the whole process, so memory held outside
//     Starlark (caches, other loaders) counts against the budget as well.
//   - An operation linear in one operand runs to its end past the deadline: x in a list
//     of 8M scalars, a copy of MaxAllocBytes. Its cost is bounded by MaxAllocBytes, not
//     counted in visits. The checks of hashing and comparison add a builtin call to each
//     comparison, membership test and index whose operands are not literals or plain
//     arithmetic (BenchmarkWork_Lookups).
//   - Builtins of other packages (Options.Predeclared) allocate outside the checks and
//     must bound themselves.
//   - An augmented assignment *=, %= or <<= whose target calls a function (a[f()] *= n)
//     cannot be checked without evaluating the target twice, and fails to compile.
package runtime
