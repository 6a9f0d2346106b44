package build

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/traceback"
)

// EntryPoint is the module every app starts from.
const EntryPoint = "app.star"

// App is the routing table of one built app: the app.star globals turned into a
// ServeMux. It is immutable and safe for concurrent use.
type App struct {
	// Missing is true when the tree has no app.star: the app serves nothing.
	Missing bool
	// Handle is app.star's handle function, nil when it defines none.
	Handle starlark.Callable
	// Patterns are the route patterns, sorted.
	Patterns []string

	mux *http.ServeMux
}

// Route is one entry of app.star's routes dict.
type Route struct {
	Pattern string
	Params  []string // the wildcard names of the pattern, for req.params
	Fn      starlark.Callable
}

// Builder builds apps with a node's loader and renderer. It is safe for concurrent use.
type Builder struct {
	// Loader loads app.star. Required.
	Loader *runtime.Loader
	// Renderer is the one behind the render() builtin of Loader's modules: Build prepares
	// the tree's templates in it. Nil parses them with render.Parse and keeps nothing.
	Renderer *render.Renderer
}

// Build builds the app of snap: its templates, app.star and its routes. It returns an
// *Error listing the problems of the tree's templates or routes, the error of app.star's
// load (a *runtime.LoadError, or a limit or the context's error), or the error that kept
// the tree from being read.
func (b *Builder) Build(ctx context.Context, snap *runtime.Snapshot) (*App, error) {
	if err := b.Templates(ctx, snap); err != nil {
		return nil, err
	}
	if _, ok := snap.Tree[EntryPoint]; !ok {
		return &App{Missing: true}, nil
	}
	globals, err := b.Loader.Load(ctx, snap, EntryPoint)
	if err != nil {
		return nil, err
	}
	return Routes(ctx, snap, globals)
}

// Templates parses, checks and escapes the templates of snap (see render.Parse). It returns
// an *Error listing their problems, or the error that kept them from being read.
func (b *Builder) Templates(ctx context.Context, snap *runtime.Snapshot) error {
	var problems []*traceback.SourceError
	if b.Renderer != nil {
		var err error
		if problems, err = b.Renderer.Prepare(ctx, snap); err != nil {
			return err
		}
	} else {
		files, err := render.Files(ctx, snap)
		if err != nil {
			return err
		}
		_, problems = render.Parse(files)
	}
	if len(problems) == 0 {
		return nil
	}
	out := make([]api.Problem, len(problems))
	for i, p := range problems {
		out[i] = api.Problem{Path: p.Path, Line: p.Line, Col: p.Col, Message: p.Err.Error()}
	}
	return &Error{Problems: out}
}

// Routes turns the globals of snap's app.star into a routing table. It returns an *Error
// listing every problem, each located in app.star.
func Routes(ctx context.Context, snap *runtime.Snapshot, globals starlark.StringDict) (*App, error) {
	r := &router{app: &App{mux: http.NewServeMux()}}
	r.build(globals)
	if len(r.problems) == 0 {
		return r.app, nil
	}
	loc := newLocator(ctx, snap)
	out := make([]api.Problem, len(r.problems))
	for i, p := range r.problems {
		out[i] = loc.locate(p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Col < out[j].Col
	})
	return nil, &Error{Problems: out}
}

// problem is a problem of app.star not yet located: at the string literal key if set
// (a route's pattern), else at the binding of global.
type problem struct {
	key    string
	global string
	msg    string
}

// router builds an App, collecting every problem.
type router struct {
	app      *App
	problems []problem
}

func (r *router) add(key, global, format string, args ...any) {
	r.problems = append(r.problems, problem{key: key, global: global, msg: fmt.Sprintf(format, args...)})
}

func (r *router) build(globals starlark.StringDict) {
	if h, ok := globals["handle"]; ok {
		if msg := handlerProblem(h); msg != "" {
			r.add("", "handle", "handle %s", msg)
		} else {
			r.app.Handle = h.(starlark.Callable)
		}
	}
	routesVal, hasRoutes := globals["routes"]
	if !hasRoutes {
		if _, ok := globals["handle"]; !ok {
			r.add("", "", "%s defines neither routes nor handle: define routes = {\"GET /\": index} or def handle(req)", EntryPoint)
		}
		return
	}
	dict, ok := routesVal.(*starlark.Dict)
	if !ok {
		r.add("", "routes", "routes must be a dict of pattern to function, got %s", routesVal.Type())
		return
	}
	var routes []Route
	for _, item := range dict.Items() {
		pattern, ok := starlark.AsString(item[0])
		if !ok {
			r.add("", "routes", "routes keys must be strings like \"GET /items/{id}\", got %s", item[0].Type())
			continue
		}
		if msg := handlerProblem(item[1]); msg != "" {
			r.add(pattern, "routes", "route %q %s", pattern, msg)
			continue
		}
		path := pattern
		if i := strings.IndexAny(pattern, " \t"); i >= 0 {
			path = strings.TrimLeft(pattern[i+1:], " \t")
		}
		if !strings.HasPrefix(path, "/") {
			r.add(pattern, "routes", "route %q: the path must start with \"/\" (patterns look like \"GET /items/{id}\": an optional method, one space, then the path)", pattern)
			continue
		}
		if path == "/-" || strings.HasPrefix(path, "/-/") {
			r.add(pattern, "routes", "route %q: paths under /-/ are reserved for the platform", pattern)
			continue
		}
		rt := Route{Pattern: pattern, Fn: item[1].(starlark.Callable)}
		for _, m := range wildcardRE.FindAllStringSubmatch(path, -1) {
			rt.Params = append(rt.Params, m[1])
		}
		routes = append(routes, rt)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Pattern < routes[j].Pattern })
	for _, rt := range routes {
		if msg := register(r.app.mux, rt); msg != "" {
			r.add(rt.Pattern, "routes", "%s", msg)
			continue
		}
		r.app.Patterns = append(r.app.Patterns, rt.Pattern)
	}
}

var wildcardRE = regexp.MustCompile(`\{([^{}$.]+)(\.\.\.)?\}`)

// handlerProblem says why v cannot handle a request (it is called with one positional
// argument, the request), or "" if it can. Builtins are taken on trust.
func handlerProblem(v starlark.Value) string {
	fn, ok := v.(starlark.Callable)
	if !ok {
		return fmt.Sprintf("must be a function of one parameter, the request (def index(req): ...), got %s", v.Type())
	}
	f, ok := fn.(*starlark.Function)
	if !ok {
		return ""
	}
	varargs, kwargs := 0, 0
	if f.HasVarargs() {
		varargs = 1
	}
	if f.HasKwargs() {
		kwargs = 1
	}
	ordinary := f.NumParams() - f.NumKwonlyParams() - varargs - kwargs
	var required []string
	for i := 0; i < ordinary; i++ {
		if f.ParamDefault(i) == nil {
			name, _ := f.Param(i)
			required = append(required, name)
		}
	}
	for i := ordinary; i < ordinary+f.NumKwonlyParams(); i++ {
		if f.ParamDefault(i) == nil {
			name, _ := f.Param(i)
			return fmt.Sprintf("must be a function of one parameter, the request: %s (%s) has the keyword-only parameter %s with no default", f.Name(), f.Position(), name)
		}
	}
	switch {
	case len(required) > 1:
		return fmt.Sprintf("must be a function of one parameter, the request: %s (%s) requires %d (%s)", f.Name(), f.Position(), len(required), strings.Join(required, ", "))
	case ordinary == 0 && varargs == 0:
		return fmt.Sprintf("must be a function of one parameter, the request: %s (%s) takes none (write def %s(req))", f.Name(), f.Position(), f.Name())
	}
	return ""
}

// register adds rt to mux, turning ServeMux's panic on a bad or conflicting pattern into a
// message. ServeMux's own message names the Go source line that registered each pattern;
// the message names the routes instead.
func register(mux *http.ServeMux, rt Route) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = muxProblem(rt.Pattern, fmt.Sprint(p))
		}
	}()
	mux.Handle(rt.Pattern, routeHandler(rt))
	return ""
}

var (
	conflictRE   = regexp.MustCompile(`(?s)^pattern ".*" \(registered at .*\) conflicts with pattern "(.*)" \(registered at [^)]*\):\n(.*)$`)
	registeredRE = regexp.MustCompile(` \(registered at [^)]*\)`)
	parsingRE    = regexp.MustCompile(`(?s)^parsing ".*": (.*)$`)
)

// muxProblem rewrites ServeMux's panic message about pattern without Go source locations.
func muxProblem(pattern, panicMsg string) string {
	if m := conflictRE.FindStringSubmatch(panicMsg); m != nil {
		return fmt.Sprintf("route %q conflicts with route %q: %s; make one more specific, or merge them",
			pattern, m[1], strings.TrimSpace(m[2]))
	}
	if m := parsingRE.FindStringSubmatch(panicMsg); m != nil {
		return fmt.Sprintf("route %q is not a valid pattern: %s (patterns look like \"GET /items/{id}\"; see https://pkg.go.dev/net/http#hdr-Patterns)", pattern, m[1])
	}
	return fmt.Sprintf("route %q: %s", pattern, registeredRE.ReplaceAllString(panicMsg, ""))
}

// routeHandler only records which route matched, in the Matcher Match serves it with;
// the node runs the route with the request's release.
func routeHandler(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if m, ok := w.(*Matcher); ok {
			m.route = &rt
		}
	})
}

// Match finds the route of req in a, and sets req's path values (req.PathValue) to the
// route's wildcards. When no route matches, ok is false and m (a new Matcher) holds what
// ServeMux answers instead: 404, 405 with Allow, or a redirect to the canonical path.
func (a *App) Match(req *http.Request, m *Matcher) (r Route, ok bool) {
	if a.mux == nil {
		m.Status = http.StatusNotFound
		return Route{}, false
	}
	// ServeMux records the match (pattern and path values) on the request it serves.
	a.mux.ServeHTTP(m, req)
	if m.route == nil {
		return Route{}, false
	}
	return *m.route, true
}

// Matcher is the http.ResponseWriter Match serves a request with: it records the route
// that matched, or what ServeMux answers for an unmatched request. Its header is made on
// first use, which only an unmatched request makes. Reset it with NewMatcher's value.
type Matcher struct {
	route  *Route
	header http.Header
	// Status is what ServeMux answered an unmatched request; 200 until then.
	Status int
}

// NewMatcher returns a Matcher for one request.
func NewMatcher() Matcher { return Matcher{Status: http.StatusOK} }

// Header is ServeMux's answer's header for an unmatched request (Allow, Location).
func (m *Matcher) Header() http.Header {
	if m.header == nil {
		m.header = http.Header{}
	}
	return m.header
}

func (m *Matcher) Write(b []byte) (int, error) { return len(b), nil }
func (m *Matcher) WriteHeader(code int)        { m.Status = code }

// locator locates problems of app.star in its source.
type locator struct {
	file *syntax.File // nil if app.star could not be read or parsed
}

func newLocator(ctx context.Context, snap *runtime.Snapshot) *locator {
	l := &locator{}
	id, ok := snap.Tree[EntryPoint]
	if !ok {
		return l
	}
	src, err := snap.Blobs.Blob(ctx, id)
	if err != nil {
		return l
	}
	l.file, _ = runtime.Dialect().Parse(EntryPoint, src, 0)
	return l
}

// locate places p at the first string literal of app.star equal to its key, else at the
// first top-level binding of its global, else at app.star.
func (l *locator) locate(p problem) api.Problem {
	out := api.Problem{Path: EntryPoint, Message: p.msg}
	if l.file == nil {
		return out
	}
	var at syntax.Position
	if p.key != "" {
		syntax.Walk(l.file, func(n syntax.Node) bool {
			if at.IsValid() {
				return false
			}
			if lit, ok := n.(*syntax.Literal); ok && lit.Token == syntax.STRING && lit.Value == p.key {
				at = lit.TokenPos
			}
			return true
		})
	}
	if !at.IsValid() && p.global != "" {
		at = bindingPos(l.file, p.global)
	}
	if at.IsValid() {
		out.Line, out.Col = int(at.Line), int(at.Col)
	}
	return out
}

// bindingPos returns the position of the first top-level statement of f that binds name.
func bindingPos(f *syntax.File, name string) syntax.Position {
	for _, stmt := range f.Stmts {
		switch s := stmt.(type) {
		case *syntax.DefStmt:
			if s.Name.Name == name {
				return s.Name.NamePos
			}
		case *syntax.AssignStmt:
			if id, ok := s.LHS.(*syntax.Ident); ok && id.Name == name {
				return id.NamePos
			}
		}
	}
	return syntax.Position{}
}
