package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/code"
)

// node is a module of a resolved load graph: its program and the modules it loads, all
// known before anything runs. Nodes are immutable once resolved and may be shared by
// requests of different commits that reach them through the module cache.
type node struct {
	path string
	prog *starlark.Program
	deps []dep // in load-statement order
	key  string
}

// dep is one load statement of a node.
type dep struct {
	pos  syntax.Position
	node *node
}

// Load returns the frozen globals of module path as of snap, loading the modules it
// loads first. Modules whose content and dependencies did not change since an earlier
// Load, from any commit, are not run again. The returned dict is shared by every caller
// that loads the same module instance: its values are frozen, and callers must not modify
// the dict itself.
//
// Errors are *LoadError chains (see LoadError), except ErrClosed after Close. If ctx
// ends while Load waits for a module run, Load returns an error wrapping ErrCanceled or
// ErrTimeout; the run itself continues for other waiters and the cache.
func (l *Loader) Load(ctx context.Context, snap *Snapshot, path string) (starlark.StringDict, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if snap == nil || snap.Blobs == nil {
		return nil, &LoadError{Path: path, Err: errors.New("no snapshot (or no BlobSource) to load from")}
	}
	if ctx.Err() != nil {
		// Nothing is started for a caller that cannot wait for it.
		return nil, &LoadError{Path: path, Commit: snap.Commit, Err: waitError(ctx.Err())}
	}
	resolvedKey := ""
	if snap.Commit != "" {
		if l.commits.addIfAbsent(string(snap.Commit), struct{}{}) {
			l.modules.expire(keepCommits)
			l.programs.expire(keepCommits)
		}
		resolvedKey = string(snap.Commit) + "\x00" + path
		if root, ok := l.resolved.get(resolvedKey); ok {
			return l.instantiate(ctx, snap.Commit, root)
		}
	}
	r := resolver{l: l, snap: snap, done: make(map[string]*node), onStack: make(map[string]int)}
	if snap.Commit == "" {
		res := l.uncommitted.of(snap)
		res.mu.Lock()
		defer res.mu.Unlock()
		r.done, r.failed = res.done, res.failed
	}
	root, err := r.resolve(ctx, path)
	if err != nil {
		var le *LoadError
		if !errors.As(err, &le) {
			err = &LoadError{Path: path, Commit: snap.Commit, Err: err}
		}
		return nil, err
	}
	if resolvedKey != "" {
		l.resolved.add(resolvedKey, root)
	}
	return l.instantiate(ctx, snap.Commit, root)
}

// instantiate returns the globals of root, running it (and its dependencies) if needed.
// Dependencies are instantiated first, in post-order, so that each module's run finds
// the modules it loads cached instead of running them nested inside its own run (which
// for a chain of n modules nested n goroutines, each waiting for the next).
func (l *Loader) instantiate(ctx context.Context, commit code.ID, root *node) (starlark.StringDict, error) {
	if globals, ok := l.modules.get(root.key); ok {
		l.stats.moduleHits.Add(1)
		return globals, nil
	}
	order, via := postOrder(root)
	var globals starlark.StringDict
	var err error
	for _, n := range order {
		if globals, err = l.instance(ctx, commit, n); err != nil {
			if n != root {
				err = chainFailure(n, err, via)
			}
			break
		}
	}
	if err != nil {
		var f *runFailure
		if errors.As(err, &f) {
			return nil, f.loadError(commit)
		}
		return nil, &LoadError{Path: root.path, Commit: commit, Err: waitError(err)}
	}
	return globals, nil
}

// postOrder returns the nodes of root's graph, each after the nodes it loads, root last,
// in the order in which running root would run them (load statements in order, depth
// first), and for each node but root the load statement through which it was reached
// first. It walks the graph with an explicit stack.
func postOrder(root *node) (order []*node, via map[*node]loadedBy) {
	type frame struct {
		n    *node
		next int // index of the next dependency to visit
	}
	via = map[*node]loadedBy{root: {}}
	stack := []frame{{n: root}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next < len(top.n.deps) {
			d := top.n.deps[top.next]
			top.next++
			if _, seen := via[d.node]; !seen {
				via[d.node] = loadedBy{from: top.n, pos: d.pos}
				stack = append(stack, frame{n: d.node})
			}
			continue
		}
		order = append(order, top.n)
		stack = stack[:len(stack)-1]
	}
	return order, via
}

// loadedBy is the load statement, at pos in module from, through which a node was
// reached.
type loadedBy struct {
	from *node
	pos  syntax.Position
}

// chainFailure returns the failure err of module n, a dependency of the root of via, as
// the root's run would have reported it: a *runFailure for each load statement from the
// root down to n.
func chainFailure(n *node, err error, via map[*node]loadedBy) error {
	if _, ok := err.(*runFailure); !ok {
		err = &runFailure{path: n.path, err: waitError(err)}
	}
	for by := via[n]; by.from != nil; by = via[by.from] {
		err = &runFailure{path: by.from.path, pos: by.pos, err: err}
	}
	return err
}

// MaxLoadDepth bounds the length of a chain of modules loading each other (a loads b,
// which loads c...): resolving a graph recurses once per module of the chain, and a
// failure at its end is reported through every load statement of it.
const MaxLoadDepth = 1000

// uncommittedGraphs keeps, for the last few snapshots without a commit (which the cache
// of resolved graphs cannot key), the modules resolved from each, so that loading every
// module of a tree (as the validation gate does) resolves each module once, not once per
// module that loads it: a chain of n modules cost n^2/2 resolutions. Snapshots are
// keyed by pointer: a snapshot's tree and blobs do not change.
type uncommittedGraphs struct {
	mu     sync.Mutex
	recent []*resolution // most recent last, at most maxUncommitted
}

const maxUncommitted = 4

// resolution is what was resolved from one snapshot: nodes by path, and the errors of
// the paths that failed (not retried: the snapshot does not change). mu is held by the
// Load resolving from it.
type resolution struct {
	snap   *Snapshot
	mu     sync.Mutex
	done   map[string]*node
	failed map[string]error
}

// of returns the resolution of snap, making it if needed.
func (g *uncommittedGraphs) of(snap *Snapshot) *resolution {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.recent {
		if r.snap == snap {
			return r
		}
	}
	r := &resolution{snap: snap, done: make(map[string]*node), failed: make(map[string]error)}
	if len(g.recent) == maxUncommitted {
		g.recent = append(g.recent[:0], g.recent[1:]...)
	}
	g.recent = append(g.recent, r)
	return r
}

// depthLimitError is a syntax.Error (located at a load statement) that is also an
// ErrDepthLimit.
type depthLimitError struct{ err syntax.Error }

func (e depthLimitError) Error() string   { return e.err.Error() }
func (e depthLimitError) Unwrap() []error { return []error{ErrDepthLimit, e.err} }

// resolver walks the load graph of one Load, depth first, reading and compiling each
// module once, detecting cycles, and computing module keys bottom-up.
type resolver struct {
	l       *Loader
	snap    *Snapshot
	done    map[string]*node // resolved modules by path
	failed  map[string]error // modules that failed to resolve, if kept (see Snapshot.graphs)
	onStack map[string]int   // modules being resolved: index of their entry in stack
	stack   []edge           // load statements from the root to the module being resolved
}

// resolve returns the node of path. Errors are *LoadError chains along the load
// statements, except a cycle, which is reported once by Load with the whole cycle.
func (r *resolver) resolve(ctx context.Context, path string) (_ *node, err error) {
	if n, ok := r.done[path]; ok {
		return n, nil
	}
	if r.failed != nil {
		if err, ok := r.failed[path]; ok {
			return nil, err
		}
		defer func() {
			if err != nil && ctx.Err() == nil {
				r.failed[path] = err
			}
		}()
	}
	fail := func(err error) (*node, error) {
		return nil, &LoadError{Path: path, Commit: r.snap.Commit, Err: err}
	}
	if err := checkModulePath(path); err != nil {
		return fail(err)
	}
	blob, ok := r.snap.Tree[path]
	if !ok {
		return fail(fmt.Errorf("%w in the tree of commit %s", ErrNotFound, commitName(r.snap.Commit)))
	}
	prog, err := r.l.program(ctx, r.snap.Blobs, path, blob)
	if err != nil {
		return fail(err)
	}

	n := &node{path: path, prog: prog, deps: make([]dep, prog.NumLoads())}
	r.onStack[path] = len(r.stack)
	for i := range prog.NumLoads() {
		name, pos := prog.Load(i)
		if start, ok := r.onStack[name]; ok {
			cycle := append(append([]edge(nil), r.stack[start:]...), edge{from: path, to: name, pos: pos})
			return nil, cycleError(cycle)
		}
		if len(r.stack) >= MaxLoadDepth {
			return nil, &LoadError{Path: path, Commit: r.snap.Commit, Err: depthLimitError{syntax.Error{Pos: pos, Msg: fmt.Sprintf(
				"%v: a chain of more than %d modules loading each other passes through this load (runtime.MaxLoadDepth)",
				ErrDepthLimit, MaxLoadDepth)}}}
		}
		r.stack = append(r.stack, edge{from: path, to: name, pos: pos})
		d, err := r.resolve(ctx, name)
		r.stack = r.stack[:len(r.stack)-1]
		if err != nil {
			if errors.Is(err, ErrCycle) {
				return nil, err
			}
			return nil, &LoadError{Path: path, Commit: r.snap.Commit, Pos: pos, Err: err}
		}
		n.deps[i] = dep{pos: pos, node: d}
	}
	delete(r.onStack, path)

	h := sha256.New()
	fmt.Fprintf(h, "module\x00%s\x00%s\x00%s\x00", r.l.config, path, blob)
	for _, d := range n.deps {
		fmt.Fprintf(h, "%s\x00", d.node.key)
	}
	n.key = hex.EncodeToString(h.Sum(nil))
	r.done[path] = n
	return n, nil
}

// checkModulePath reports whether path can name a module.
func checkModulePath(path string) error {
	if err := code.ValidatePath(path); err != nil {
		return err
	}
	if !strings.HasSuffix(path, ".star") {
		return fmt.Errorf("%w: %q does not end in .star", ErrNotModule, path)
	}
	return nil
}

func commitName(id code.ID) string {
	if id == "" {
		return "(uncommitted)"
	}
	return id.Short()
}

// instance returns the frozen globals of n: from the module cache, or from a run of n
// shared with every concurrent caller. A failed run returns a *runFailure and is not
// cached. The run is not bound to ctx; only the wait is.
func (l *Loader) instance(ctx context.Context, commit code.ID, n *node) (starlark.StringDict, error) {
	if globals, ok := l.modules.get(n.key); ok {
		l.stats.moduleHits.Add(1)
		return globals, nil
	}
	l.stats.moduleMisses.Add(1)
	cached := func() (starlark.StringDict, bool) { return l.modules.get(n.key) }
	return l.runs.do(ctx, n.key, cached, func() (starlark.StringDict, error) {
		globals, err := l.run(commit, n, budgetOf(ctx))
		if err != nil {
			return nil, err
		}
		// The functions of globals keep n's program alive: charge it too.
		l.modules.addCost(n.key, globals, instanceCost(globals)+programCost(n.prog))
		return globals, nil
	})
}

// maxFreezeVisits bounds the work of freezing a module's globals (about 0.1s).
const maxFreezeVisits = 10_000_000

// run loads the dependencies of n, then runs its top level on a fresh thread without
// locals, bounded by LoadTimeout and MaxSteps (and its print output by MaxPrintLines and
// MaxPrintBytes, like a request's), and freezes its globals.
func (l *Loader) run(commit code.ID, n *node, budget *Budget) (starlark.StringDict, error) {
	loaded := make(map[string]starlark.StringDict, len(n.deps))
	ctx := l.ctx
	if budget != nil {
		ctx = WithBudget(ctx, budget)
	}
	for _, d := range n.deps {
		globals, err := l.instance(ctx, commit, d.node)
		if err != nil {
			if _, ok := err.(*runFailure); !ok {
				err = &runFailure{path: d.node.path, err: waitError(err)}
			}
			return nil, &runFailure{path: n.path, pos: d.pos, err: err}
		}
		loaded[d.node.path] = globals
	}

	e := &execution{kind: "load", commit: commit, budget: budget}
	thread := &e.thread
	thread.Name, thread.Print = n.path, printToLog
	thread.Load = func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
		if globals, ok := loaded[module]; ok {
			return globals, nil
		}
		return nil, fmt.Errorf("module %s was not resolved before running %s", module, n.path)
	}
	ctx, cancel := context.WithTimeoutCause(l.ctx, l.limits.LoadTimeout, l.loadTimeout)
	defer cancel()
	var globals starlark.StringDict
	err := l.limit(ctx, e, func() (err error) {
		globals, err = n.prog.Init(thread, l.predeclared)
		return err
	})
	l.stats.moduleRuns.Add(1)
	if l.onModuleRun != nil {
		l.onModuleRun(n.path, commit)
	}
	if err != nil {
		return nil, &runFailure{path: n.path, err: err}
	}
	// Freeze visits a tuple once per path to it; refuse globals that would make it run
	// for hours (it cannot be cancelled).
	if cost := freezeCost(globals, maxFreezeVisits); cost > maxFreezeVisits {
		return nil, &runFailure{path: n.path, err: fmt.Errorf(
			"%w: the module's globals share tuples so deeply that freezing them would visit more than %d values; build them with lists instead",
			ErrDepthLimit, maxFreezeVisits)}
	}
	globals.Freeze()
	return globals, nil
}

// Estimates of the memory cached values hold, for Options.MaxModuleBytes. They need only
// be proportionate: a program or an instance that is ten times larger than another must
// cost about ten times more.
const (
	// programBytesPerEncodedByte scales the length of a program's encoding to the
	// memory of its decoded form (bytecode, constants, names, positions, Go headers),
	// with the instructions the interpreter decodes on a function's first call (12 bytes
	// each, for one to six bytes of the encoding).
	programBytesPerEncodedByte = 10
	// valueOverhead is charged for each value of a module's globals on top of its
	// contents: headers, the dict entry or list slot holding it.
	valueOverhead = 48
	// maxCostVisits bounds the walk of a module's globals; the values beyond it are
	// charged valueOverhead each without being visited further.
	maxCostVisits = 100_000
)

// programCost estimates the bytes prog holds in memory.
func programCost(prog *starlark.Program) int64 {
	var n byteCounter
	if err := prog.Write(&n); err != nil {
		return int64(4 * KiB)
	}
	return int64(n)*programBytesPerEncodedByte + 512
}

// byteCounter is an io.Writer that counts the bytes written to it.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// instanceCost estimates the bytes a module's frozen globals hold besides the module's
// program (which its functions keep alive, and Loader.instance charges as well): strings, bytes, lists, tuples, dicts and sets built by its top level.
// Functions are charged a header only (their code belongs to the program). Values shared
// by several globals are counted once.
func instanceCost(globals starlark.StringDict) int64 {
	w := costWalk{seen: make(map[any]bool)}
	var total int64
	for name, v := range globals {
		total += int64(len(name)) + valueOverhead + w.cost(v)
	}
	return total
}

// costWalk walks values for instanceCost, visiting each container once.
type costWalk struct {
	seen   map[any]bool // containers already charged
	visits int
}

func (w *costWalk) cost(v starlark.Value) int64 {
	w.visits++
	if w.visits > maxCostVisits {
		return valueOverhead
	}
	switch v := v.(type) {
	case starlark.String:
		return int64(len(v))
	case starlark.Bytes:
		return int64(len(v))
	case starlark.Tuple:
		var n int64
		for _, e := range v {
			n += valueOverhead + w.cost(e)
		}
		return n
	case *starlark.List:
		if w.seen[v] {
			return 0
		}
		w.seen[v] = true
		var n int64
		for i := range v.Len() {
			n += valueOverhead + w.cost(v.Index(i))
		}
		return n
	case *starlark.Dict:
		if w.seen[v] {
			return 0
		}
		w.seen[v] = true
		var n int64
		for _, item := range v.Items() {
			n += 2*valueOverhead + w.cost(item[0]) + w.cost(item[1])
		}
		return n
	case *starlark.Set:
		if w.seen[v] {
			return 0
		}
		w.seen[v] = true
		var n int64
		iter := v.Iterate()
		defer iter.Done()
		var e starlark.Value
		for iter.Next(&e) {
			n += valueOverhead + w.cost(e)
		}
		return n
	}
	return valueOverhead
}
