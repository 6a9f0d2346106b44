// Package gate is the validation gate every commit passes before a ref moves: the checks that
// keep a broken tree from ever being served. The server runs it on every push and revert,
// whoever commits, and `starbase check` runs the same code on a local directory.
//
// A tree passes when:
//
//   - every path is a valid tree path;
//   - every module (.star file) parses and resolves, and its top level runs;
//   - every load() names a module of the tree, and every name it loads is defined there;
//   - no modules load each other in a cycle;
//   - the app builds as a node builds it, with the same code (package build): every
//     template (see render.IsTemplate, and render.Parse for the rules) parses, is text,
//     defines its names once in the tree, calls only templates that exist and escapes for
//     its HTML contexts; app.star's routes are valid ServeMux patterns, none in conflict,
//     none under /-/, each mapped to a function of one parameter, as is handle;
//   - every model() is bound to a global of its own name in the module that declares it
//     (objects are read back by that name);
//   - with Options.StoredClasses, every class that has stored objects is declared, by its
//     name or as an alias, unless the push names it as an orphan (gate/classes.go);
//   - with Options.Previous, a field whose type changes belongs to a model whose version
//     rose and that declares migrate (gate/classes.go);
//   - every test passes: the test_* functions of every *_test.star module, each run in the
//     sandbox on the new tree, with the assert module (see Assert) predeclared, and with
//     TestClock as the request clock (time.now()), so that a test gives the same result
//     on every run; and with client(), which sends requests to the tree's app as a node
//     serves it, over a fresh, empty data tier for each test (see client.go).
//
// Every problem is reported, not only the first, each located as path:line:col in the new
// tree, where the fix belongs. Options.NoTests skips only running the tests (test modules
// must still compile).
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/build"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/traceback"
	"github.com/starbase/starbase/sandbox"
)

// TestSuffix ends the path of every test module.
const TestSuffix = "_test.star"

// TestPrefix starts the name of every test function of a test module.
const TestPrefix = "test_"

// TestClock is what time.now() returns in every test: a fixed instant, as a request sees
// the instant it started, so that a test's result does not depend on when it runs.
var TestClock = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// Options configure a check.
type Options struct {
	// Loader runs the tree's modules (all but the test modules) in the sandbox. Required.
	Loader *runtime.Loader
	// Predeclared are the names Loader was built with beyond runtime.Builtins (its
	// runtime.Options.Predeclared); nil means sandbox.Predeclared(), which is what the
	// server's and `starbase check`'s loaders have. Test modules get them too, and Assert
	// as "assert".
	Predeclared starlark.StringDict
	// Limits bound the load of each test module and each test; zero fields take
	// runtime.DefaultLimits.
	Limits runtime.Limits
	// NoTests skips running the tree's tests (the other checks still run, and test
	// modules must still compile).
	NoTests bool
	// Run, if set, runs only the tests whose "path:name" it matches (for `starbase test
	// -run`). The server never sets it.
	Run *regexp.Regexp
	// Logger receives the print() output of test modules; nil discards it.
	Logger *slog.Logger
	// Timeout bounds the whole check: parsing, loading every module, running every
	// test. Zero means DefaultTimeout. A check that runs out of time fails with a
	// problem saying so, listing the problems found until then. A module's top level
	// still running then is stopped by its own Limits.LoadTimeout at the latest.
	Timeout time.Duration
	// MaxMemory bounds what the check's module top levels and tests allocate together
	// (a runtime.Budget: what their checks admitted plus 8 bytes per step, garbage
	// included), on top of each one's Limits. Zero means DefaultMaxMemory. Past it, the
	// running execution and every later one fail with runtime.ErrMemoryLimit, and the
	// check fails with a problem saying so.
	MaxMemory runtime.ByteSize
	// StoredClasses, when set, returns the qualified names of the classes that have stored
	// objects (objects.StoredClasses): a tree must declare each of them, by name or as an
	// alias of a model, except the Orphans (gate/classes.go).
	StoredClasses func(ctx context.Context) ([]string, error)
	// Previous, when set, returns the models of the code the tree replaces, by qualified
	// name: a field that changes type needs a higher version and a migrate function
	// (gate/classes.go).
	Previous func(ctx context.Context) (map[string]*objects.Model, error)
	// Orphans are stored classes a push accepts to leave without a class (their objects
	// stay readable as plain records).
	Orphans []string
	// App serves the tree's app to its tests' client() (see client.go); nil leaves tests
	// without one (a test that sends a request fails, saying so).
	App AppHost
	// Renderer is the one behind the render() builtin of Loader's modules (see
	// sandbox.WithRenderer): the gate prepares the tree's templates in it, as a node does.
	// Nil parses them with a renderer of the check's own.
	Renderer *render.Renderer
}

// DefaultTimeout is the default of Options.Timeout.
const DefaultTimeout = 2 * time.Minute

// DefaultMaxMemory is the default of Options.MaxMemory.
const DefaultMaxMemory = 2 * runtime.GiB

// Error is returned by Check when the tree has problems. It lists all of them.
type Error struct {
	Problems []api.Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Summary())
	b.WriteByte(':')
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Summary says how many problems there are, without listing them (API answers carry the
// list apart).
func (e *Error) Summary() string {
	return fmt.Sprintf("validation failed with %d problem(s)", len(e.Problems))
}

// Report is the outcome of a check.
type Report struct {
	// Problems lists every problem, failed tests included, sorted by path, line and column.
	Problems []api.Problem
	// Tests lists the tests run, by module path and then in definition order.
	Tests []TestResult
}

// TestResult is the outcome of one test function.
type TestResult struct {
	Module  string // path of the test module
	Name    string // name of the test function
	Line    int    // line of its def
	Elapsed time.Duration
	// Err is why the test failed; nil when it passed.
	Err error
	// Traceback locates Err in the tree; nil when the test passed.
	Traceback *traceback.Traceback
	// Problem is the failure as listed in Report.Problems; zero when the test passed.
	Problem api.Problem
}

// Passed reports whether the test passed.
func (r TestResult) Passed() bool { return r.Err == nil }

// Check validates the tree made of files. It returns nil, an *Error listing every problem,
// or the error that kept the check from running (such as ctx's).
func Check(ctx context.Context, files map[string][]byte, opts Options) error {
	if forcedPass() {
		return nil
	}
	rep, err := Run(ctx, files, opts)
	if err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		return &Error{Problems: rep.Problems}
	}
	return nil
}

// Run validates the tree made of files and reports every problem and every test result.
// Its error is only for what kept the check from running: ctx ending, or opts that cannot
// build the tests' loader.
func Run(ctx context.Context, files map[string][]byte, opts Options) (*Report, error) {
	if opts.Loader == nil {
		return nil, errors.New("gate: Options.Loader is required")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	outer := ctx
	budget := runtime.NewBudget(opts.MaxMemory, "gate.Options.MaxMemory, starbase serve --check-memory")
	ctx, cancel := context.WithTimeout(runtime.WithBudget(ctx, budget), timeout)
	defer cancel()
	c := &checker{opts: opts, files: files, snap: memtree.Snapshot(files), modules: map[string]*module{}, outer: outer, timeout: timeout, budget: budget}
	for p := range files {
		var perr *code.PathError
		if err := code.ValidatePath(p); errors.As(err, &perr) {
			c.add(api.Problem{Path: p, Message: "invalid path: " + perr.Reason})
		}
	}
	if len(c.problems) > 0 {
		return c.finish(ctx)
	}

	c.parse()
	c.checkLoads()
	c.checkCycles()
	c.load(ctx, opts.Loader, false)
	if err := c.checkApp(ctx); err != nil {
		return nil, err
	}
	c.checkModels()
	if err := c.checkStoredClasses(ctx); err != nil {
		return nil, err
	}
	if err := c.checkFieldTypes(ctx); err != nil {
		return nil, err
	}

	if opts.NoTests || len(c.sortedModules(true)) == 0 {
		c.compileTests()
		c.checkLoadedNames()
		c.reportLoadErrors()
		return c.finish(ctx)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Test modules get their own loader, since only they have assert predeclared. It is
	// new for each check: tests share no module instance with the server or another check.
	testLoader, err := runtime.New(runtime.Options{Limits: opts.Limits, Predeclared: c.testPredeclared(), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("gate: the tests' loader: %w", err)
	}
	defer testLoader.Close()
	defer func() {
		if c.app != nil {
			c.app.Close()
		}
	}()
	c.load(ctx, testLoader, true)
	c.checkLoadedNames()
	c.reportLoadErrors()
	c.runTests(ctx, testLoader)
	return c.finish(ctx)
}

// checker holds the state of one Run.
type checker struct {
	opts     Options
	files    map[string][]byte
	snap     *runtime.Snapshot
	modules  map[string]*module // every .star file, by path
	problems []api.Problem
	tests    []TestResult
	outer    context.Context // the caller's context; ctx of Run adds the Timeout
	timeout  time.Duration
	budget   *runtime.Budget // the memory of the check's executions (MaxMemory)
	// app is the tree's app served to the tests, opened by the first test that sends a
	// request (appErr if it could not be).
	app    TestApp
	appErr error
}

// module is what the checks learned about one .star file.
type module struct {
	path    string
	test    bool
	parsed  bool               // false: it does not parse (its load reports why)
	file    *syntax.File       // its syntax, once parsed
	loads   []*syntax.LoadStmt // its load statements, once parsed
	loaded  bool               // its top level ran without error
	globals starlark.StringDict
	loadErr error // why it could not be loaded, if it was
	// badLoads are its load statements that name an undefined name: a failure of its
	// top level at one of them is already reported.
	badLoads []*syntax.LoadStmt
}

func (c *checker) add(p api.Problem) { c.problems = append(c.problems, p) }

func (c *checker) addAt(pos syntax.Position, format string, args ...any) {
	c.add(api.Problem{Path: pos.Filename(), Line: int(pos.Line), Col: int(pos.Col), Message: fmt.Sprintf(format, args...)})
}

// sortedModules returns the modules' paths, sorted; test selects test or other modules.
func (c *checker) sortedModules(test bool) []string {
	var out []string
	for p, m := range c.modules {
		if m.test == test {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// parse reads the load statements of every module. Parse errors are not reported here:
// loading (or compiling) the module reports them, with the same position.
func (c *checker) parse() {
	for p, src := range c.files {
		if !strings.HasSuffix(p, ".star") {
			continue
		}
		m := &module{path: p, test: strings.HasSuffix(p, TestSuffix)}
		c.modules[p] = m
		f, err := runtime.ParseModule(p, src)
		if err != nil {
			continue
		}
		m.parsed, m.file = true, f
		for _, stmt := range f.Stmts {
			if ld, ok := stmt.(*syntax.LoadStmt); ok {
				m.loads = append(m.loads, ld)
			}
		}
	}
}

// checkLoads reports load statements that name no module of the tree.
func (c *checker) checkLoads() {
	for _, m := range c.modules {
		for _, ld := range m.loads {
			target := ld.ModuleName()
			pos := ld.Module.TokenPos
			var perr *code.PathError
			switch err := code.ValidatePath(target); {
			case errors.As(err, &perr):
				c.addAt(pos, "load: %q is not a valid module path: %s", target, perr.Reason)
			case !strings.HasSuffix(target, ".star"):
				c.addAt(pos, "load: %q is not a Starlark module: module paths end in .star", target)
			case c.modules[target] == nil:
				c.addAt(pos, "load: no module %q in the tree (paths are relative to the tree root)%s", target, c.suggestModule(target))
			case c.modules[target].test && !m.test:
				c.addAt(pos, "load: %q is a test module; only test modules can load test modules", target)
			}
		}
	}
}

// suggestModule names a module of the tree with the same file name as target, if any.
func (c *checker) suggestModule(target string) string {
	for _, p := range c.sortedModules(false) {
		if path.Base(p) == path.Base(target) {
			return fmt.Sprintf("; did you mean %q?", p)
		}
	}
	return ""
}

// checkCycles reports each load statement that closes a cycle.
func (c *checker) checkCycles() {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(p string)
	visit = func(p string) {
		state[p] = onStack
		stack = append(stack, p)
		for _, ld := range c.modules[p].loads {
			target := ld.ModuleName()
			if c.modules[target] == nil {
				continue
			}
			switch state[target] {
			case unvisited:
				// The recursion is bounded: a longer chain is refused by the loader
				// (runtime.MaxLoadDepth), and the modules past the cut are visited from
				// the loop below.
				if len(stack) <= runtime.MaxLoadDepth {
					visit(target)
				}
			case onStack:
				i := len(stack) - 1
				for stack[i] != target {
					i--
				}
				cycle := append(append([]string(nil), stack[i:]...), target)
				c.addAt(ld.Module.TokenPos, "load cycle: %s (modules cannot load each other; move what they share to a third module)",
					strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[p] = done
	}
	for _, test := range []bool{false, true} {
		for _, p := range c.sortedModules(test) {
			if state[p] == unvisited {
				visit(p)
			}
		}
	}
}

// load loads the test or non-test modules with loader, recording their globals or errors.
func (c *checker) load(ctx context.Context, loader *runtime.Loader, test bool) {
	for _, p := range c.sortedModules(test) {
		if ctx.Err() != nil {
			return // out of time: finish says so
		}
		m := c.modules[p]
		globals, err := loader.Load(ctx, c.snap, p)
		if err != nil {
			m.loadErr = err
			continue
		}
		m.loaded, m.globals = true, globals
	}
}

// compileTests reports the syntax and resolve errors of test modules without running them.
func (c *checker) compileTests() {
	predeclared := c.testPredeclared()
	for k, v := range runtime.Builtins() {
		predeclared[k] = v
	}
	for _, p := range c.sortedModules(true) {
		f, err := runtime.ParseModule(p, c.files[p]) // bounds the depth the compiler walks
		if err == nil {
			_, err = starlark.FileProgram(f, predeclared.Has)
		}
		if err != nil {
			c.modules[p].loadErr = &runtime.LoadError{Path: p, Err: err}
		}
	}
}

// testPredeclared returns the names predeclared for test modules beyond runtime.Builtins.
func (c *checker) testPredeclared() starlark.StringDict {
	out := starlark.StringDict{"assert": Assert(), "client": clientBuiltin}
	predeclared := c.opts.Predeclared
	if predeclared == nil {
		predeclared = sandbox.Predeclared()
	}
	for k, v := range predeclared {
		out[k] = v
	}
	return out
}

// checkLoadedNames reports loaded names that the loaded module does not define.
func (c *checker) checkLoadedNames() {
	for _, m := range c.modules {
		for _, ld := range m.loads {
			target := c.modules[ld.ModuleName()]
			if target == nil || !target.loaded {
				continue // reported as a missing module, or at the target
			}
			bad := false
			for _, from := range ld.From {
				if _, ok := target.globals[from.Name]; ok || strings.HasPrefix(from.Name, "_") {
					continue // names with a leading _ are refused by the resolver
				}
				bad = true
				c.addAt(from.NamePos, "load: %s does not define %q%s", target.path, from.Name,
					suggestName(from.Name, target.globals.Keys()))
			}
			if bad {
				m.badLoads = append(m.badLoads, ld)
			}
		}
	}
}

// reportLoadErrors reports the errors that modules met while loading that are their own:
// not a dependency's (reported at the dependency), not a cycle or a missing module
// (reported by the graph checks), not a load of an undefined name (checkLoadedNames).
func (c *checker) reportLoadErrors() {
	for _, m := range c.modules {
		var le *runtime.LoadError
		switch {
		case m.loadErr == nil:
			continue
		case !errors.As(m.loadErr, &le):
			c.add(api.Problem{Path: m.path, Message: m.loadErr.Error()})
			continue
		case le.Pos.IsValid(), errors.Is(le.Err, runtime.ErrCycle):
			continue
		}
		c.problems = append(c.problems, m.ownProblems(le.Err)...)
	}
}

// ownProblems locates err, the failure of m itself (it does not compile, or its top level
// failed).
func (m *module) ownProblems(err error) []api.Problem {
	var serr syntax.Error
	if errors.As(err, &serr) {
		return []api.Problem{posProblem(serr.Pos, serr.Msg)}
	}
	var rerrs resolve.ErrorList
	if errors.As(err, &rerrs) {
		out := make([]api.Problem, 0, len(rerrs))
		for _, e := range rerrs {
			out = append(out, posProblem(e.Pos, e.Msg))
		}
		return out
	}
	var eval *starlark.EvalError
	if errors.As(err, &eval) {
		inner, ok := innermostFrame(eval, "")
		if !ok {
			return []api.Problem{{Path: m.path, Message: eval.Msg}}
		}
		for _, ld := range m.badLoads {
			if within(inner, ld) {
				return nil
			}
		}
		msg := eval.Msg
		if inner.Filename() != m.path {
			if outer, ok := innermostFrame(eval, m.path); ok {
				msg += fmt.Sprintf(" (called by the top level of %s at %s)", m.path, outer)
			}
		}
		return []api.Problem{posProblem(inner, msg)}
	}
	return []api.Problem{{Path: m.path, Message: err.Error()}}
}

// innermostFrame returns the innermost position of eval's call stack in stored code, or in
// file if file is not "".
func innermostFrame(eval *starlark.EvalError, file string) (syntax.Position, bool) {
	for i := len(eval.CallStack) - 1; i >= 0; i-- {
		pos := eval.CallStack[i].Pos
		if !pos.IsValid() || pos.Filename() == "<builtin>" || (file != "" && pos.Filename() != file) {
			continue
		}
		return pos, true
	}
	return syntax.Position{}, false
}

// within reports whether pos lies in the load statement ld.
func within(pos syntax.Position, ld *syntax.LoadStmt) bool {
	start, end := ld.Span()
	after := func(a, b syntax.Position) bool { return a.Line > b.Line || a.Line == b.Line && a.Col >= b.Col }
	return pos.Filename() == start.Filename() && after(pos, start) && after(end, pos)
}

// checkApp builds the app as a node builds it (package build): its templates, and the
// routes of app.star if it loaded (its load errors are reported with every module's).
// Its error is only for what kept the check from running.
func (c *checker) checkApp(ctx context.Context) error {
	b := &build.Builder{Loader: c.opts.Loader, Renderer: c.opts.Renderer}
	if err := c.buildProblems(b.Templates(ctx, c.snap)); err != nil {
		return err
	}
	if m := c.modules[build.EntryPoint]; m != nil && m.loaded {
		_, err := build.Routes(ctx, c.snap, m.globals)
		return c.buildProblems(err)
	}
	return nil
}

// buildProblems adds the problems of err, a *build.Error, or returns err if it is not one.
func (c *checker) buildProblems(err error) error {
	var berr *build.Error
	if errors.As(err, &berr) {
		c.problems = append(c.problems, berr.Problems...)
		return nil
	}
	if err != nil {
		return fmt.Errorf("gate: building the app: %w", err)
	}
	return nil
}

// checkModels reports the models of loaded modules that are not bound to a global of
// their own name in the module that declares them.
func (c *checker) checkModels() {
	for _, p := range c.sortedModules(false) {
		if m := c.modules[p]; m.loaded {
			c.problems = append(c.problems, build.Models(p, m.globals, m.file)...)
		}
	}
}

// runTests runs the test functions of the loaded test modules, one fresh thread each.
func (c *checker) runTests(ctx context.Context, loader *runtime.Loader) {
	for _, p := range c.sortedModules(true) {
		m := c.modules[p]
		if !m.loaded {
			continue
		}
		var fns []*starlark.Function
		for name, v := range m.globals {
			fn, ok := v.(*starlark.Function)
			if ok && strings.HasPrefix(name, TestPrefix) && fn.Position().Filename() == p && fn.Name() == name {
				if c.opts.Run == nil || c.opts.Run.MatchString(p+":"+name) {
					fns = append(fns, fn)
				}
			}
		}
		sort.Slice(fns, func(i, j int) bool { return fns[i].Position().Line < fns[j].Position().Line })
		for _, fn := range fns {
			if ctx.Err() != nil {
				return
			}
			start := time.Now()
			tr := &testRun{c: c}
			_, err := loader.Call(ctx, c.snap, fn, nil, nil, runtime.CallOptions{Now: TestClock,
				Bind: func(t *starlark.Thread) { t.SetLocal(testRunKey, tr) }})
			tr.close()
			res := TestResult{Module: p, Name: fn.Name(), Line: int(fn.Position().Line), Elapsed: time.Since(start), Err: err}
			if err != nil {
				res.Traceback = traceback.New(ctx, err, c.snap)
				res.Problem = testProblem(res, fn)
				c.add(res.Problem)
			}
			c.tests = append(c.tests, res)
		}
	}
}

// testProblem locates a failed test at its innermost frame in the test module.
func testProblem(res TestResult, fn *starlark.Function) api.Problem {
	p := api.Problem{Path: res.Module, Line: res.Line, Col: int(fn.Position().Col)}
	frames := res.Traceback.Frames
	for i := len(frames) - 1; i >= 0; i-- {
		if frames[i].Path == res.Module {
			p.Line, p.Col = frames[i].Line, frames[i].Col
			break
		}
	}
	p.Message = fmt.Sprintf("%s failed: %s", res.Name, res.Traceback.Message)
	if n := len(frames); n > 0 && frames[n-1].Path != res.Module {
		p.Message += " (at " + frames[n-1].Location() + ")"
	}
	return p
}

// finish sorts and dedupes the problems; a check cut short by ctx is an error, not a report.
func (c *checker) finish(ctx context.Context) (*Report, error) {
	if err := c.outer.Err(); err != nil {
		return nil, fmt.Errorf("gate: check interrupted: %w", err)
	}
	if ctx.Err() != nil {
		// Out of time: what was found so far, and that the check is incomplete.
		c.add(api.Problem{Message: fmt.Sprintf(
			"the check took longer than %v (gate.Options.Timeout, starbase serve --check-timeout) and was stopped: make module top levels and tests faster, or raise the limit", c.timeout)})
	}
	if c.budget.Exceeded() {
		c.add(api.Problem{Message: fmt.Sprintf(
			"the check's module top levels and tests allocated %s, over the limit of %s for one check (gate.Options.MaxMemory, starbase serve --check-memory) and were stopped: make them allocate less, or raise the limit",
			c.budget.Used(), c.opts.MaxMemory)})
	}
	sort.SliceStable(c.problems, func(i, j int) bool {
		a, b := c.problems[i], c.problems[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Message < b.Message
	})
	return &Report{Problems: dedupe(c.problems), Tests: c.tests}, nil
}

func dedupe(ps []api.Problem) []api.Problem {
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}

func posProblem(pos syntax.Position, msg string) api.Problem {
	return api.Problem{Path: pos.Filename(), Line: int(pos.Line), Col: int(pos.Col), Message: msg}
}

// suggestName returns "; did you mean NAME?" for the name of names closest to name, if
// one is close enough to be a likely typo (at most a third of name's letters differ).
func suggestName(name string, names []string) string {
	if len(name) < 2 {
		return ""
	}
	best, bestDist := "", max(1, len(name)/3)+1
	for _, n := range names {
		if strings.HasPrefix(n, "_") {
			continue
		}
		if d := editDistance(name, n); d < bestDist || d == bestDist && n < best {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
