package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
)

// Limits bound every Starlark execution: each Call and each run of a module's top level.
// A zero field takes its default. Package doc ("Resource limits") explains how each holds.
type Limits struct {
	MaxSteps    uint64        // Starlark execution steps per Call and per module load
	Timeout     time.Duration // wall time per Call
	LoadTimeout time.Duration // wall time per module load (its top level, or its compilation)

	// MaxAllocBytes bounds what one Starlark operation may allocate: a concatenation, a
	// repetition, a join, a conversion to string or JSON, a list built from a range... The
	// size is computed before the operation runs, and an operation over the limit fails
	// with ErrMemoryLimit instead of allocating. It is therefore also the largest string,
	// bytes, list or tuple stored code can build in one step.
	MaxAllocBytes ByteSize

	// MaxHeapBytes is a budget for the whole process: when the live heap (measured after
	// a garbage collection, so that garbage does not count) stays above it, the Loader
	// stops the running execution that allocated the most, with ErrMemoryLimit. Negative
	// disables this guard.
	MaxHeapBytes ByteSize

	// MaxCallDepth bounds the nesting of Starlark function calls (recursion), failing the
	// call one deeper with ErrDepthLimit.
	MaxCallDepth int

	// MaxResponseBytes bounds the body of one HTTP response: response() refuses a larger
	// body, and the server refuses a larger handler result (string, bytes or JSON).
	MaxResponseBytes ByteSize

	// MaxPrintLines and MaxPrintBytes bound the print() output one execution writes to
	// the log: a Call (or every Call given one printlog.Budget, a request's), or a run of a
	// module's top level. The excess is dropped and counted in one warning
	// (runtime/printlog).
	MaxPrintLines int
	MaxPrintBytes ByteSize
}

// Default limits, used for zero fields of Limits.
const (
	DefaultMaxSteps         = 10_000_000 // about 0.1s of a tight Starlark loop on one core
	DefaultTimeout          = 10 * time.Second
	DefaultLoadTimeout      = 5 * time.Second
	DefaultMaxAllocBytes    = 128 * MiB
	DefaultMaxHeapBytes     = 2 * GiB
	DefaultMaxCallDepth     = 1000
	DefaultMaxResponseBytes = 32 * MiB
	DefaultMaxPrintLines    = 100
	DefaultMaxPrintBytes    = 64 * KiB
	DefaultMaxModules       = 4096
	DefaultMaxModuleBytes   = 32 * MiB
)

// maxResolved bounds the cache of resolved module graphs, keyed by (commit, root module).
// A graph is only useful for the commits a node serves or has just served (a few, while
// it switches from one release to the next), so the bound is small: 64 commits of four
// root modules each. A graph that was evicted is resolved again from the program cache,
// without compiling or running anything.
const maxResolved = 256

// keepCommits is how many new commits a module instance or a compiled program stays
// cached without being used. A Loader counts the commits it loads from; each commit it
// has not loaded from recently (among the last 64) starts an epoch, which evicts the
// instances and programs not used during the last keepCommits epochs. So a node keeps
// the modules of the commits it serves, whatever their size (up to MaxModuleBytes), and
// drops those of commits it stopped serving a few deployments ago, instead of keeping them
// until the byte bound fills: the caches stay at about keepCommits commits' worth of
// modules however many commits the node has served. Modules are used (and kept) by every
// Load that reaches them; programs by every resolution of a new commit's graph.
const keepCommits = 16

// DefaultLimits returns the Default* values above.
func DefaultLimits() Limits {
	return Limits{
		MaxSteps:         DefaultMaxSteps,
		Timeout:          DefaultTimeout,
		LoadTimeout:      DefaultLoadTimeout,
		MaxAllocBytes:    DefaultMaxAllocBytes,
		MaxHeapBytes:     DefaultMaxHeapBytes,
		MaxCallDepth:     DefaultMaxCallDepth,
		MaxResponseBytes: DefaultMaxResponseBytes,
		MaxPrintLines:    DefaultMaxPrintLines,
		MaxPrintBytes:    DefaultMaxPrintBytes,
	}
}

// WithDefaults returns lim with each zero (or, but for MaxHeapBytes, negative) field
// replaced by its default: the limits a Loader built with lim enforces.
func (lim Limits) WithDefaults() Limits {
	def := DefaultLimits()
	if lim.MaxSteps == 0 {
		lim.MaxSteps = def.MaxSteps
	}
	if lim.Timeout <= 0 {
		lim.Timeout = def.Timeout
	}
	if lim.LoadTimeout <= 0 {
		lim.LoadTimeout = def.LoadTimeout
	}
	if lim.MaxAllocBytes <= 0 {
		lim.MaxAllocBytes = def.MaxAllocBytes
	}
	if lim.MaxHeapBytes == 0 {
		lim.MaxHeapBytes = def.MaxHeapBytes
	}
	if lim.MaxCallDepth <= 0 {
		lim.MaxCallDepth = def.MaxCallDepth
	}
	if lim.MaxResponseBytes <= 0 {
		lim.MaxResponseBytes = def.MaxResponseBytes
	}
	if lim.MaxPrintLines <= 0 {
		lim.MaxPrintLines = def.MaxPrintLines
	}
	if lim.MaxPrintBytes <= 0 {
		lim.MaxPrintBytes = def.MaxPrintBytes
	}
	return lim
}

// Options configure a Loader. The zero value is valid.
type Options struct {
	Limits Limits

	// CacheDir holds compiled bytecode across restarts, shared by any number of loaders
	// and processes. "" keeps compiled programs in memory only. It is created if missing.
	CacheDir string

	// Predeclared names are added to Builtins for every module, for example the data
	// API. They must not redefine a builtin. Their values are frozen by New and shared by
	// all threads; a builtin that needs the current request reads it from thread locals
	// (see Call), which module top levels do not have.
	Predeclared starlark.StringDict

	// MaxModules bounds the number of entries of each of the caches of module instances
	// and compiled programs (LRU), and of resolved module graphs (which is also bounded
	// by 64 commits of four root modules: 256 entries). Zero means DefaultMaxModules.
	MaxModules int

	// MaxModuleBytes bounds each of the caches of module instances and compiled programs
	// by an estimate of the memory its entries hold (a program's bytecode; an instance's
	// program, which its functions keep alive, and the strings, lists, dicts... its top
	// level built), so that many distinct commits or
	// large modules cannot grow them beyond it whatever MaxModules is. A module larger
	// than the bound is not cached (it runs again on the next Load). Zero means
	// DefaultMaxModuleBytes; negative means bounded by MaxModules only.
	MaxModuleBytes ByteSize

	// Logger receives print() output and cache warnings. Nil means slog.Default().
	Logger *slog.Logger

	// OnModuleRun, if set, is called after each run of a module's top level, successful
	// or not, with the module path and the commit of the request that started the run.
	// It is called from the goroutine of the run and must not block.
	OnModuleRun func(path string, commit code.ID)
}

// Stats are cumulative counters of a Loader.
type Stats struct {
	ModuleRuns   uint64 // module top levels run
	ModuleHits   uint64 // module lookups served from the instance cache
	ModuleMisses uint64 // module lookups that waited for a run
	Compiles     uint64 // modules compiled from source
	CompileHits  uint64 // compiled programs served from the memory or disk cache
	DiskHits     uint64 // compiled programs read from CacheDir (included in CompileHits)
	HeapStops    uint64 // executions stopped by the heap guard (Limits.MaxHeapBytes)
}

// Loader loads modules from snapshots and runs Starlark within limits. It is safe for
// concurrent use; one Loader serves every commit of a process.
type Loader struct {
	limits      Limits
	cacheDir    string
	predeclared starlark.StringDict // Builtins, checks and Options.Predeclared, frozen
	config      string              // configID of predeclared, part of every cache key
	logger      *slog.Logger
	onModuleRun func(path string, commit code.ID)

	// The causes of the timeouts of Call and of module runs, built once.
	callTimeout, loadTimeout error
	// tooDeep makes the error of a call nested deeper than limits.MaxCallDepth.
	tooDeep func(depth int) error

	ctx    context.Context // canceled by Close; bounds module runs and compilations
	cancel context.CancelFunc
	closed atomic.Bool
	// watchdog stops executions whose context ended and enforces Limits.MaxHeapBytes.
	watchdog *watchdog

	programs *lru[*starlark.Program]   // by programKey
	modules  *lru[starlark.StringDict] // frozen globals by module key
	resolved *lru[*node]               // resolved module graphs by commit and path
	// uncommitted holds what was resolved from the last few snapshots without a commit.
	uncommitted uncommittedGraphs
	commits     *lru[struct{}] // the commits loaded from recently; a new one expires modules and programs
	compiles    flights[*starlark.Program]
	runs        flights[starlark.StringDict]

	stats struct {
		moduleRuns, moduleHits, moduleMisses atomic.Uint64
		compiles, compileHits, diskHits      atomic.Uint64
	}
}

// New returns a Loader. It fails if CacheDir cannot be created or Predeclared redefines
// a builtin (or a universe function the Loader replaces with a checked one).
func New(opts Options) (*Loader, error) {
	limits := opts.Limits.WithDefaults()
	predeclared := Builtins()
	for name, value := range newChecks(limits).predeclared() {
		predeclared[name] = value
	}
	for name, value := range opts.Predeclared {
		if predeclared.Has(name) {
			return nil, fmt.Errorf("runtime: Options.Predeclared redefines the builtin %q", name)
		}
		predeclared[name] = value
	}
	predeclared.Freeze()
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("runtime: bytecode cache: %w", err)
		}
	}
	limit := opts.MaxModules
	if limit <= 0 {
		limit = DefaultMaxModules
	}
	maxBytes := int64(opts.MaxModuleBytes)
	if maxBytes == 0 {
		maxBytes = int64(DefaultMaxModuleBytes)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Loader{
		watchdog:    newWatchdog(ctx, limits.MaxHeapBytes, logger),
		limits:      limits,
		callTimeout: fmt.Errorf("%w: call ran longer than %v", ErrTimeout, limits.Timeout),
		loadTimeout: fmt.Errorf("%w: module top level ran longer than %v", ErrTimeout, limits.LoadTimeout),
		tooDeep:     tooDeep(limits.MaxCallDepth),
		cacheDir:    opts.CacheDir,
		predeclared: predeclared,
		config:      configID(predeclared),
		logger:      logger,
		onModuleRun: opts.OnModuleRun,
		ctx:         ctx,
		cancel:      cancel,
		programs:    newCostLRU(limit, maxBytes, programCost),
		modules:     newCostLRU[starlark.StringDict](limit, maxBytes, nil), // costs given by instance
		resolved:    newLRU[*node](min(limit, maxResolved)),
		commits:     newLRU[struct{}](4 * keepCommits),
	}, nil
}

// Limits returns the limits the Loader enforces: Options.Limits with defaults.
func (l *Loader) Limits() Limits { return l.limits }

// Stats returns the counters.
func (l *Loader) Stats() Stats {
	return Stats{
		ModuleRuns:   l.stats.moduleRuns.Load(),
		ModuleHits:   l.stats.moduleHits.Load(),
		ModuleMisses: l.stats.moduleMisses.Load(),
		Compiles:     l.stats.compiles.Load(),
		CompileHits:  l.stats.compileHits.Load(),
		DiskHits:     l.stats.diskHits.Load(),
		HeapStops:    l.watchdog.stops.Load(),
	}
}

// Close stops running module loads and compilations and the watchdog's goroutine, waits
// for them, and makes later Load and Call fail with ErrClosed. Threads already started by
// Call are not stopped: their callers' contexts bound them.
func (l *Loader) Close() error {
	l.closed.Store(true)
	l.cancel()
	l.watchdog.wait()
	l.runs.close()
	l.compiles.close()
	return nil
}

// waitError maps a context error met while waiting or running to ErrTimeout or
// ErrCanceled, keeping the context error in the chain.
func waitError(err error) error {
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrCanceled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", ErrCanceled, err)
	}
	return err
}
