package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"math/big"
	"sort"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

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
}

// Renderer renders the templates of snapshots. It caches each tree's parsed template set,
// keyed by the paths and blob ids of its templates, so that commits sharing their
// templates share one set. It is safe for concurrent use.
type Renderer struct {
	maxOutput int
	maxSets   int

	// mu guards sets and order.
	mu    sync.Mutex
	sets  map[string]*parsedSet // by the hash of the templates' paths and blob ids
	order []string              // keys of sets, oldest first
}

// parsedSet is the template set of a tree and the sources it was parsed from (to locate
// execution errors).
type parsedSet struct {
	set   *template.Template
	files map[string][]byte
}

// New returns a Renderer.
func New(opts Options) *Renderer {
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	if opts.MaxSets <= 0 {
		opts.MaxSets = DefaultMaxSets
	}
	return &Renderer{maxOutput: opts.MaxOutput, maxSets: opts.MaxSets, sets: map[string]*parsedSet{}}
}

// Predeclared returns the names this package adds to stored code: {"render": builtin}.
// Give them to runtime.Options.Predeclared of every loader that runs stored modules
// (the server's and the validation gate's), so that every module resolves them alike.
func (r *Renderer) Predeclared() starlark.StringDict {
	return starlark.StringDict{"render": starlark.NewBuiltin("render", r.builtin)}
}

// builtin implements render(path, **data) on the snapshot of the running request.
func (r *Renderer) builtin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &path); err != nil {
		return nil, err
	}
	snap := runtime.ThreadSnapshot(thread)
	if snap == nil {
		return nil, fmt.Errorf("render: templates can be rendered only while handling a request, not at a module's top level")
	}
	data := make(map[string]any, len(kwargs))
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		v, err := toGo(kv[1], 0)
		if err != nil {
			return nil, fmt.Errorf("render: argument %s: %w", name, err)
		}
		data[name] = v
	}
	// The thread carries no context: blob reads are bounded by the store's own timeouts.
	html, err := r.Render(context.Background(), snap, path, data)
	if err != nil {
		return nil, err
	}
	return starlark.String(html), nil
}

// Render executes the template at path of snap's tree with data. Errors located in a
// template are *traceback.SourceError.
func (r *Renderer) Render(ctx context.Context, snap *runtime.Snapshot, path string, data any) (string, error) {
	ps, err := r.set(ctx, snap)
	if err != nil {
		return "", err
	}
	t := ps.set.Lookup(path)
	if t == nil {
		return "", fmt.Errorf("render: no template %q in the tree of commit %s (templates are the files under %s and the files ending in .html)",
			path, commitName(snap.Commit), Dir)
	}
	out := &limitedBuilder{max: r.maxOutput}
	if err := t.Execute(out, data); err != nil {
		return "", execError(err, ps.files)
	}
	return out.String(), nil
}

// set returns the parsed template set of snap's tree.
func (r *Renderer) set(ctx context.Context, snap *runtime.Snapshot) (*parsedSet, error) {
	var paths []string
	for p := range snap.Tree {
		if IsTemplate(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%s\x00", p, snap.Tree[p])
	}
	key := hex.EncodeToString(h.Sum(nil))
	r.mu.Lock()
	ps, ok := r.sets[key]
	r.mu.Unlock()
	if ok {
		return ps, nil
	}

	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := snap.Blobs.Blob(ctx, snap.Tree[p])
		if err != nil {
			return nil, fmt.Errorf("render: reading template %s: %w", p, err)
		}
		if code.HashBlob(b) != snap.Tree[p] {
			return nil, fmt.Errorf("render: template %s: %w", p, runtime.ErrBadBlob)
		}
		files[p] = b
	}
	set, problems := Parse(files)
	if len(problems) > 0 {
		return nil, problems[0]
	}
	ps = &parsedSet{set: set, files: files}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.sets[key]; !ok {
		r.sets[key] = ps
		r.order = append(r.order, key)
		if len(r.order) > r.maxSets {
			delete(r.sets, r.order[0])
			r.order = r.order[1:]
		}
	}
	return ps, nil
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

// limitedBuilder collects output up to max bytes, then fails every write, which stops the
// template's execution.
type limitedBuilder struct {
	strings.Builder
	max int
}

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrOutputTooLarge, b.max)
	}
	return b.Builder.Write(p)
}

// toGo converts a Starlark value to the Go value a template sees: None is nil, bools,
// ints (int64, or *big.Int beyond), floats and strings are themselves, bytes are strings,
// lists, tuples and ranges are []any, dicts with string keys and structs are map[string]any.
func toGo(v starlark.Value, depth int) (any, error) {
	if depth > maxDataDepth {
		return nil, fmt.Errorf("nested more than %d levels deep (a list or dict that contains itself?)", maxDataDepth)
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		return new(big.Int).Set(v.BigInt()), nil
	case starlark.Float:
		return float64(v), nil
	case starlark.String:
		return string(v), nil
	case starlark.Bytes:
		return string(v), nil
	case *starlark.Dict:
		m := make(map[string]any, v.Len())
		for _, item := range v.Items() {
			k, ok := starlark.AsString(item[0])
			if !ok {
				return nil, fmt.Errorf("dict key %s is %s; templates need string keys", item[0], item[0].Type())
			}
			x, err := toGo(item[1], depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", k, err)
			}
			m[k] = x
		}
		return m, nil
	case *starlarkstruct.Struct:
		m := map[string]any{}
		for _, name := range v.AttrNames() {
			attr, err := v.Attr(name)
			if err != nil {
				return nil, err
			}
			x, err := toGo(attr, depth+1)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", name, err)
			}
			m[name] = x
		}
		return m, nil
	case starlark.Indexable: // list, tuple, range
		return listToGo(v, depth)
	}
	return nil, fmt.Errorf("a %s cannot be passed to a template (pass strings, numbers, lists, dicts or structs)", v.Type())
}

func listToGo(v starlark.Indexable, depth int) ([]any, error) {
	out := make([]any, v.Len())
	for i := range out {
		x, err := toGo(v.Index(i), depth+1)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = x
	}
	return out, nil
}
