package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	texttemplate "text/template"
	"text/template/parse"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/traceback"
)

// Defaults of Options.
const (
	DefaultMaxOutput = 16 << 20 // bytes of HTML per render call
	DefaultMaxSets   = 16       // parsed template sets kept
	maxDataDepth     = 64       // nesting of data values
)

// ErrOutputTooLarge is returned (wrapped) when a template writes more than
// Options.MaxOutput bytes.
var ErrOutputTooLarge = errors.New("template output too large")

// Options configure a Renderer. The zero value takes the defaults.
type Options struct {
	MaxOutput int // bytes per render; default DefaultMaxOutput
	MaxSets   int // parsed sets cached; default DefaultMaxSets
	// CSRFToken returns the CSRF token of the request thread runs, for the template
	// functions csrf_token and csrf_field (helpers.go); nil: they fail.
	CSRFToken func(thread *starlark.Thread) (string, error)
}

// Renderer renders the templates of snapshots. It caches each tree's parsed template set,
// keyed by the paths and blob ids of its templates, so that commits sharing their
// templates share one set. It is safe for concurrent use.
type Renderer struct {
	maxOutput int
	maxSets   int
	csrfToken func(*starlark.Thread) (string, error)

	// mu guards sets and order.
	mu    sync.Mutex
	sets  map[string]*parsedSet // by the hash of the templates' paths and blob ids
	order []string              // keys of sets, oldest first

	frozen frozenCache // conversions of frozen data (frozen.go)
}

// parsedSet is the template set of a tree and the sources it was parsed from (to locate
// execution errors). A set whose templates call csrf_token or csrf_field is rendered
// through copies of pristine instead (csrfCopy, helpers.go).
type parsedSet struct {
	set      *template.Template
	files    map[string][]byte
	pristine *template.Template // nil: set calls no CSRF function and is executed itself

	mu   sync.Mutex  // guards idle
	idle []*csrfCopy // copies no render uses, at most maxIdleCopies

	// lastSize holds, per template file, the size of its last output: the next render
	// of the file starts with that much room rather than growing its buffer from nothing
	// (a dozen allocations and copies for a page of 8 KiB).
	lastSize map[string]*atomic.Int64
}

// take returns a copy of the set for one render (ps.pristine is not nil).
func (ps *parsedSet) take() (*csrfCopy, error) {
	ps.mu.Lock()
	if n := len(ps.idle); n > 0 {
		c := ps.idle[n-1]
		ps.idle = ps.idle[:n-1]
		ps.mu.Unlock()
		return c, nil
	}
	ps.mu.Unlock()
	return newCSRFCopy(ps.pristine)
}

// give returns a copy taken by a render that is over.
func (ps *parsedSet) give(c *csrfCopy) {
	c.out = nil
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.idle) < maxIdleCopies {
		ps.idle = append(ps.idle, c)
	}
}

// New returns a Renderer.
func New(opts Options) *Renderer {
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	if opts.MaxSets <= 0 {
		opts.MaxSets = DefaultMaxSets
	}
	return &Renderer{maxOutput: opts.MaxOutput, maxSets: opts.MaxSets, csrfToken: opts.CSRFToken, sets: map[string]*parsedSet{}}
}

// Predeclared returns the names this package adds to stored code: {"render": builtin}.
// Give them to runtime.Options.Predeclared of every loader that runs stored modules
// (the server's and the validation gate's), so that every module resolves them alike.
func (r *Renderer) Predeclared() starlark.StringDict {
	return starlark.StringDict{"render": starlark.NewBuiltin("render", r.builtin)}
}

// builtin implements render(path, **data) on the snapshot of the running request. The
// conversion of data is charged to the execution's allocation check, and the template's
// execution to its steps and context (see output).
func (r *Renderer) builtin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &path); err != nil {
		return nil, err
	}
	snap := runtime.ThreadSnapshot(thread)
	if snap == nil {
		return nil, fmt.Errorf("render: templates can be rendered only while handling a request, not at a module's top level")
	}
	const what = "render() of its data"
	conv := &converter{
		max:    int64(runtime.ThreadLimits(thread).MaxAllocBytes),
		refuse: func(size int64) error { return runtime.ChargeAlloc(thread, what, size) },
	}
	data := make(map[string]any, len(kwargs))
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		v, err := r.convert(conv, kv[1])
		if err != nil {
			return nil, fmt.Errorf("render: argument %s: %w", name, err)
		}
		data[name] = v
	}
	if err := runtime.ChargeAlloc(thread, what, conv.size); err != nil {
		return nil, err
	}
	html, err := r.execute(runtime.ThreadContext(thread), thread, snap, path, data)
	if err != nil {
		return nil, err
	}
	return starlark.String(html), nil
}

// convert converts v with conv, or takes its kept conversion if v is frozen (frozen.go).
func (r *Renderer) convert(conv *converter, v starlark.Value) (any, error) {
	if !cacheable(v) {
		return conv.toGo(v, 0)
	}
	if e, ok := r.frozen.get(v); ok {
		return e.data, conv.charge(e.size)
	}
	before := conv.size
	data, err := conv.toGo(v, 0)
	if err != nil {
		return nil, err
	}
	r.frozen.put(v, frozenEntry{data: data, size: conv.size - before})
	return data, nil
}

// Render executes the template at path of snap's tree with data, until ctx ends. Errors
// located in a template are *traceback.SourceError.
func (r *Renderer) Render(ctx context.Context, snap *runtime.Snapshot, path string, data any) (string, error) {
	return r.execute(ctx, nil, snap, path, data)
}

// execute executes the template at path of snap's tree with data, for the Starlark
// thread if not nil, until ctx ends.
func (r *Renderer) execute(ctx context.Context, thread *starlark.Thread, snap *runtime.Snapshot, path string, data any) (string, error) {
	ps, err := r.set(ctx, snap)
	if err != nil {
		return "", err
	}
	t := ps.set.Lookup(path)
	if _, isFile := ps.files[path]; t == nil || !isFile {
		return "", fmt.Errorf("render: no template file %q in the tree of commit %s (render() takes the path of a template file: the files under %s and the files ending in .html)",
			path, commitName(snap.Commit), Dir)
	}
	out := r.output(ctx, thread)
	lastSize := ps.lastSize[path]
	out.reserve(lastSize.Load())
	if ps.pristine != nil {
		c, err := ps.take()
		if err != nil {
			return "", err
		}
		defer ps.give(c)
		c.out = out
		t = c.set.Lookup(path)
	}
	if err := t.Execute(out, data); err != nil {
		err = execError(err, ps.files)
		if _, located := err.(*traceback.SourceError); !located {
			err = fmt.Errorf("%w (rendering %s)", err, path) // a writer's error: no line to name
		}
		return "", err
	}
	if err := out.finish(); err != nil {
		return "", err
	}
	lastSize.Store(int64(out.Len()))
	return out.String(), nil
}

// Prepare parses, checks and escapes the templates of snap's tree, as a render on snap
// would, and keeps the set for the renders to come. It returns the templates' problems
// (see Parse), or the error that kept them from being read.
func (r *Renderer) Prepare(ctx context.Context, snap *runtime.Snapshot) ([]*traceback.SourceError, error) {
	_, problems, err := r.parsed(ctx, snap)
	return problems, err
}

// set returns the parsed template set of snap's tree, or its first problem as the error.
func (r *Renderer) set(ctx context.Context, snap *runtime.Snapshot) (*parsedSet, error) {
	ps, problems, err := r.parsed(ctx, snap)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, problems[0]
	}
	return ps, nil
}

// parsed returns the parsed template set of snap's tree, or its problems. Only sets
// without problems are kept.
func (r *Renderer) parsed(ctx context.Context, snap *runtime.Snapshot) (*parsedSet, []*traceback.SourceError, error) {
	key := setKey(snap.Tree)
	r.mu.Lock()
	ps, ok := r.sets[key]
	r.mu.Unlock()
	if ok {
		return ps, nil, nil
	}
	files, err := Files(ctx, snap)
	if err != nil {
		return nil, nil, err
	}
	set, pristine, problems := parseSet(files, true)
	if len(problems) > 0 {
		return nil, problems, nil
	}
	set.Funcs(funcs(r.maxOutput))
	if pristine != nil {
		pristine.Funcs(funcs(r.maxOutput))
	}
	ps = &parsedSet{set: set, files: files, pristine: pristine, lastSize: make(map[string]*atomic.Int64, len(files))}
	for path := range files {
		ps.lastSize[path] = new(atomic.Int64)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cached, ok := r.sets[key]; ok {
		return cached, nil, nil
	}
	r.sets[key] = ps
	r.order = append(r.order, key)
	if len(r.order) > r.maxSets {
		delete(r.sets, r.order[0])
		r.order = r.order[1:]
	}
	return ps, nil, nil
}

// setKey identifies the templates of tree: a hash of their paths and blob ids.
func setKey(tree code.Tree) string {
	var paths []string
	for p := range tree {
		if IsTemplate(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%s\x00", p, tree[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Files reads the templates of snap's tree (see IsTemplate), each checked against its id.
func Files(ctx context.Context, snap *runtime.Snapshot) (map[string][]byte, error) {
	files := map[string][]byte{}
	for p, id := range snap.Tree {
		if !IsTemplate(p) {
			continue
		}
		b, err := snap.Blobs.Blob(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("render: reading template %s: %w", p, err)
		}
		if code.HashBlob(b) != id {
			return nil, fmt.Errorf("render: template %s: %w", p, runtime.ErrBadBlob)
		}
		files[p] = b
	}
	return files, nil
}

func commitName(id code.ID) string {
	if id == "" {
		return "(uncommitted)"
	}
	return id.Short()
}

// execError locates an execution error in the template that failed.
func execError(err error, files map[string][]byte) error {
	if errors.Is(err, ErrOutputTooLarge) {
		return fmt.Errorf("render: %w", err)
	}
	var herr *template.Error
	if errors.As(err, &herr) {
		fn := templateFunction(herr.Name)
		if herr.Node != nil {
			loc, _ := (*parse.Tree)(nil).ErrorContext(herr.Node)
			if path, line, col, _ := splitLocation(loc+": ", files); path != "" {
				return &traceback.SourceError{Path: path, Line: line, Col: col, Function: fn, Err: errors.New(herr.Description)}
			}
		}
		return &traceback.SourceError{Path: herr.Name, Line: herr.Line, Function: fn, Err: errors.New(herr.Description)}
	}
	var eerr texttemplate.ExecError
	if errors.As(err, &eerr) {
		// text/template puts the location in the message only: "template: PATH:LINE:COL: ...".
		msg := strings.TrimPrefix(eerr.Err.Error(), "template: ")
		if path, line, col, rest := splitLocation(msg, files); path != "" && line > 0 {
			return &traceback.SourceError{Path: path, Line: line, Col: col, Function: templateFunction(eerr.Name), Err: errors.New(rest)}
		}
	}
	return fmt.Errorf("render: %w", err)
}

// stepBatch is how many writes an output counts before it charges them to the thread.
const stepBatch = 1024

// output collects the HTML of one execution, and is where the ticks Parse inserted land
// (see bounds.go): every write, even an empty one, counts as a step of the calling
// Starlark thread, charged every stepBatch writes with runtime.ChargeSteps, which fails
// at the thread's step limit; and every write first looks at the context, so a render
// ends within one iteration of the request's deadline. The HTML is bounded by
// Options.MaxOutput and, for a thread, by its Limits.MaxAllocBytes.
type output struct {
	strings.Builder
	max      int
	tooLarge func(size int) error // the error for size bytes, over max
	done     <-chan struct{}      // the context's
	stopped  func() error         // why done is closed
	thread   *starlark.Thread     // nil when rendering for Go code
	writes   uint64               // since the last charge
	// csrfHook is Options.CSRFToken; once csrfAsked, csrf and csrfErr are what it
	// returned for thread (see output.csrfToken).
	csrfHook  func(*starlark.Thread) (string, error)
	csrfAsked bool
	csrf      string
	csrfErr   error
}

func (r *Renderer) output(ctx context.Context, thread *starlark.Thread) *output {
	o := &output{max: r.maxOutput, done: ctx.Done(), thread: thread, csrfHook: r.csrfToken}
	o.tooLarge = func(size int) error {
		return fmt.Errorf("%w: more than %d bytes (Options.MaxOutput)", ErrOutputTooLarge, r.maxOutput)
	}
	o.stopped = func() error { return fmt.Errorf("render stopped: %w", context.Cause(ctx)) }
	if thread != nil {
		o.stopped = func() error { return runtime.Stopped(thread) }
		if maxAlloc := int(runtime.ThreadLimits(thread).MaxAllocBytes); maxAlloc < o.max {
			o.max = maxAlloc
			o.tooLarge = func(size int) error { return runtime.ChargeAlloc(thread, "render() output", int64(size)) }
		}
	}
	return o
}

// reserve makes room for n bytes of output (the size of the file's last output), within
// o's limit: what is reserved beyond the output's size is never charged, so it must not
// exceed what one operation may allocate.
func (o *output) reserve(n int64) {
	o.Grow(int(min(n, int64(o.max))))
}

func (o *output) Write(p []byte) (int, error) {
	select {
	case <-o.done:
		return 0, o.stopped()
	default:
	}
	if o.thread != nil {
		if o.writes++; o.writes == stepBatch {
			o.writes = 0
			if err := runtime.ChargeSteps(o.thread, stepBatch); err != nil {
				return 0, err
			}
		}
	}
	if o.Len()+len(p) > o.max {
		return 0, o.tooLarge(o.Len() + len(p))
	}
	o.Builder.Write(p)
	return len(p), nil
}

// finish charges what the execution has not charged yet: its last writes and its HTML.
func (o *output) finish() error {
	if o.thread == nil {
		return nil
	}
	if err := runtime.ChargeSteps(o.thread, o.writes); err != nil {
		return err
	}
	return runtime.ChargeAlloc(o.thread, "render() output", int64(o.Len()))
}
