package server

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
)

// EntryPoint is the module every app starts from.
const EntryPoint = "app.star"

// app is the routing table of one release: the app.star globals turned into a ServeMux.
type app struct {
	mux      *http.ServeMux
	handle   starlark.Callable // nil when app.star defines no handle
	patterns []string          // of the routes, sorted
}

// appRoute is one entry of app.star's routes dict.
type appRoute struct {
	pattern string
	params  []string // the wildcard names of the pattern, for req.params
	fn      starlark.Callable
}

// release is what a node serves: one commit with its app loaded. It is immutable.
type release struct {
	commit    code.ID
	committed time.Time // the commit's time, for propagation metrics
	revision  int64     // store revision at which the ref was read
	snap      *runtime.Snapshot
	app       *app  // nil when loadErr is set
	loadErr   error // why app.star could not be loaded
}

var wildcardRE = regexp.MustCompile(`\{([^{}$.]+)(\.\.\.)?\}`)

// buildApp turns the globals of app.star into a routing table. Every problem is reported
// with the name of the route at fault.
func buildApp(globals starlark.StringDict) (*app, error) {
	a := &app{mux: http.NewServeMux()}
	if h, ok := globals["handle"]; ok {
		fn, ok := h.(starlark.Callable)
		if !ok {
			return nil, fmt.Errorf("%s: handle must be a function, got %s", EntryPoint, h.Type())
		}
		a.handle = fn
	}
	routesVal, hasRoutes := globals["routes"]
	if !hasRoutes && a.handle == nil {
		return nil, fmt.Errorf("%s defines neither routes nor handle: define routes = {\"GET /\": index} or def handle(req)", EntryPoint)
	}
	if !hasRoutes {
		return a, nil
	}
	dict, ok := routesVal.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: routes must be a dict of pattern to function, got %s", EntryPoint, routesVal.Type())
	}
	routes, err := parseRoutes(dict)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if err := register(a.mux, r); err != nil {
			return nil, err
		}
		a.patterns = append(a.patterns, r.pattern)
	}
	return a, nil
}

func parseRoutes(dict *starlark.Dict) ([]appRoute, error) {
	var routes []appRoute
	for _, item := range dict.Items() {
		pattern, ok := starlark.AsString(item[0])
		if !ok {
			return nil, fmt.Errorf("%s: routes keys must be strings like \"GET /items/{id}\", got %s", EntryPoint, item[0].Type())
		}
		fn, ok := item[1].(starlark.Callable)
		if !ok {
			return nil, fmt.Errorf("%s: route %q must map to a function, got %s", EntryPoint, pattern, item[1].Type())
		}
		path := pattern
		if i := strings.IndexByte(pattern, ' '); i >= 0 {
			path = strings.TrimSpace(pattern[i+1:])
		}
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("%s: route %q: the path must start with \"/\" (patterns look like \"GET /items/{id}\")", EntryPoint, pattern)
		}
		if path == "/-" || strings.HasPrefix(path, "/-/") {
			return nil, fmt.Errorf("%s: route %q: paths under /-/ are reserved for the platform", EntryPoint, pattern)
		}
		r := appRoute{pattern: pattern, fn: fn}
		for _, m := range wildcardRE.FindAllStringSubmatch(path, -1) {
			r.params = append(r.params, m[1])
		}
		routes = append(routes, r)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].pattern < routes[j].pattern })
	return routes, nil
}

// register adds r to mux, turning ServeMux's panics on bad or conflicting patterns into errors.
func register(mux *http.ServeMux, r appRoute) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: route %q: %v", EntryPoint, r.pattern, p)
		}
	}()
	mux.Handle(r.pattern, routeHandler(r))
	return nil
}

// routeHandler only records which route matched, in the matcher match serves it with;
// the server runs the route with the request's release.
func routeHandler(r appRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if m, ok := w.(*matcher); ok {
			m.route = &r
		}
	})
}

// match finds the route of req in a, and sets req's path values (req.PathValue) to the
// route's wildcards. When no route matches, ok is false and m (a new matcher) holds what
// ServeMux answers instead: 404, 405 with Allow, or a redirect to the canonical path.
func (a *app) match(req *http.Request, m *matcher) (r appRoute, ok bool) {
	// ServeMux records the match (pattern and path values) on the request it serves.
	a.mux.ServeHTTP(m, req)
	if m.route == nil {
		return appRoute{}, false
	}
	return *m.route, true
}

// matcher is the http.ResponseWriter match serves a request with: it records the route
// that matched, or what ServeMux answers for an unmatched request. Its header is made on
// first use, which only an unmatched request makes. A new matcher has status 200.
type matcher struct {
	route  *appRoute
	header http.Header
	status int
}

func (m *matcher) Header() http.Header {
	if m.header == nil {
		m.header = http.Header{}
	}
	return m.header
}

func (m *matcher) Write(b []byte) (int, error) { return len(b), nil }
func (m *matcher) WriteHeader(code int)        { m.status = code }

// errNoApp is the load error of a release whose tree has no app.star.
var errNoApp = errors.New("the tree has no " + EntryPoint + ": add one that defines routes or handle(req)")
