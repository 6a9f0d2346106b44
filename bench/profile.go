package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuProfile is a CPU profile of the store server under load, as `go tool pprof -top` shows
// it.
type cpuProfile struct {
	page     hotPage
	load     loadResult // the load during the profile
	total    float64    // seconds of CPU samples
	header   []string   // pprof's header lines
	flat     []pprofRow // the top by flat time
	starbase []pprofRow // Starbase's own functions by cumulative time
	checks   float64    // percentage of samples with the runtime's memory-limit checks on the stack
}

// pprofRow is one row of `go tool pprof -top`.
type pprofRow struct {
	flat   float64 // seconds
	cum    float64 // seconds
	cumPct float64
	name   string
	text   string
}

// profileStore profiles the CPU of a store-backed node serving each page under the hot
// path's load. The node is the child "store" mode: the server code of the binary, which has
// no profiling endpoint by design.
func profileStore(ctx context.Context, e *env, sec *section, ratios map[string]float64) error {
	var profiles []cpuProfile
	for _, pg := range hotPages {
		p, err := profilePage(ctx, e, pg)
		if err != nil {
			return fmt.Errorf("%s: %w", pg.path, err)
		}
		profiles = append(profiles, p)
	}
	reportProfiles(sec, e, profiles)
	reportFindings(sec, profiles, ratios)
	return nil
}

// reportFindings says what the ratios and the profiles mean for the goals, and what would
// close the gaps.
func reportFindings(sec *section, profiles []cpuProfile, ratios map[string]float64) {
	perReq := func(p cpuProfile, fn string) float64 {
		row, ok := findRow(p.starbase, fn)
		if !ok || p.load.Requests == 0 {
			return math.NaN()
		}
		return row.cum / float64(p.load.Requests) * 1e6
	}
	share := func(p cpuProfile, fn string) float64 {
		row, ok := findRow(p.starbase, fn)
		if !ok {
			return math.NaN()
		}
		return row.cumPct
	}
	json, table := profiles[0], profiles[1]
	sec.printf("### Findings\n\n")
	sec.printf("- **(a) against (b)** (%s on the small JSON page, %s on the table): the two take the same request path, and "+
		"a node reads nothing from its store per request (it builds a release once per commit and swaps a pointer), so "+
		"serving from the store costs nothing measurable; the rounds' spread is the noise of this shared two-core machine.\n",
		ratio(ratios["json store/files"]), ratio(ratios["table store/files"]))
	total := json.total / float64(max(json.load.Requests, 1)) * 1e6
	sec.printf("- **Small JSON against plain Go** (%s): per request, Starbase's process used %s of CPU and plain Go's %s. "+
		"Starbase's own code takes %s of its %s per request (%.0f%%), of which running the handler (`Loader.Call`) %s "+
		"and the handler's own Starlark code %s; the rest is net/http, the kernel and the GC, which plain Go pays too "+
		"(though for fewer allocations). Starbase's largest own costs per request, each function's own time with the "+
		"library code it calls:",
		ratio(ratios["json store/go"]), ms(ratios["json store cpu"]), ms(ratios["json go cpu"]),
		us(perReq(json, costs[0].fn)), us(total), share(json, costs[0].fn),
		us(perReq(json, "runtime.(*Loader).Call")), us(perReq(json, "runtime.(*Loader).Call.func1")))
	var own []string
	for _, r := range topOwn(json.starbase, 6) {
		own = append(own, fmt.Sprintf("`%s` %s", strings.TrimPrefix(strings.TrimSuffix(r.name, " (inline)"), "github.com/starbase/starbase/"),
			us(r.flat/float64(max(json.load.Requests, 1))*1e6)))
	}
	sec.printf(" %s. ", strings.Join(own, ", "))
	if own := perReq(json, costs[0].fn); own > 0 && own < total {
		gain := total / (total - own)
		sec.printf("Were Starbase's own code free, (a) would answer at most %.0f%% more requests (about %s plain Go's and "+
			"%s Flask's here; an estimate from the profile, not a measurement).", (gain-1)*100,
			ratio(ratios["json store/go"]*gain), ratio(ratios["json store/flask"]*gain))
	}
	sec.printf("\n")
	sec.printf("- **Table page against Flask** (%s): per request, Starbase's process used %s of CPU and Flask's workers "+
		"%s. Running the handler (`Loader.Call`) takes %.0f%% of Starbase's CPU, %s per request, and the rest of its "+
		"request path %s: the page's 100 rows are formatted by Starlark code (the flat profile is the interpreter's "+
		"loop, in Starbase's fork of go.starlark.net, its calls, its allocations and the GC).",
		ratio(ratios["table store/flask"]), ms(ratios["table store cpu"]), ms(ratios["table flask cpu"]),
		share(table, "runtime.(*Loader).Call"), us(perReq(table, "runtime.(*Loader).Call")),
		us(perReq(table, costs[0].fn)-perReq(table, "runtime.(*Loader).Call")))
	if table.checks >= 1 {
		sec.printf(" %.0f%% of the samples have the runtime's memory-limit checks on their stack (`runtime.(*checks)`, "+
			"compiled into stored code: each string `+` and each call of an allocating method such as `replace` or "+
			"`join` becomes a call to a checking builtin, which then does the operation; on the small JSON page %.0f%%).",
			table.checks, json.checks)
	}
	if ratios["table store/flask"] < 1 {
		sec.printf(" What would close the gap:")
	} else {
		sec.printf(" What would widen the lead:")
	}
	sec.printf(" fewer builtin calls for the checks (a slice of a string, which copies nothing, still calls one), " +
		"cheaper calls of builtins in the interpreter, loops over `range` that allocate nothing, native builtins for " +
		"primitives pages write in Starlark (HTML escaping, number formatting), or templates rendered in Go " +
		"(`render`); not the store.\n")
	sec.printf("\n")
}

func profilePage(ctx context.Context, e *env, pg hotPage) (cpuProfile, error) {
	prof := cpuProfile{page: pg}
	data, err := e.dir("profile")
	if err != nil {
		return prof, err
	}
	file := filepath.Join(data, "cpu.pprof")
	p, err := e.startChild(ctx, "store", data, childProf+"="+file)
	if err != nil {
		return prof, err
	}
	defer p.stop()
	gen := e.loadGen(e.cfg.conns)
	if _, err := gen.run(ctx, p.url+pg.path, e.cfg.warmup); err != nil {
		return prof, err
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return prof, err
	}
	if err := p.waitLine("bench child profiling", 10*time.Second); err != nil {
		return prof, err
	}
	if prof.load, err = gen.run(ctx, p.url+pg.path, e.cfg.profile); err != nil {
		return prof, err
	}
	if err := p.stop(); err != nil {
		return prof, err
	}
	// A short profile on a busy machine may hold no sample at all (the smoke run's 0.3s, at
	// load 20, had none), or none of Starbase's own code: empty lists, not a failure.
	if prof.header, prof.flat, err = pprofTop(ctx, file, "-nodecount=25"); err != nil && !errors.Is(err, errNoRows) {
		return prof, err
	}
	if _, prof.starbase, err = pprofTop(ctx, file, "-cum", "-nodecount=30", "-show=github.com/starbase/starbase/"); err != nil && !errors.Is(err, errNoRows) {
		return prof, err
	}
	if prof.checks, err = pprofFocus(ctx, file, checksFrames); err != nil {
		return prof, err
	}
	// The total is read even from an empty profile ("Total samples = 0"); only a header
	// without it (pprof's format changed) is an error.
	for _, h := range prof.header {
		if m := pprofTotal.FindStringSubmatch(h); m != nil {
			prof.total = pprofSeconds(m[1])
			return prof, nil
		}
	}
	return prof, fmt.Errorf("go tool pprof printed no total:\n%s", strings.Join(prof.header, "\n"))
}

var (
	pprofTotal = regexp.MustCompile(`Total samples = (\S+)`)
	pprofShown = regexp.MustCompile(`Showing nodes accounting for \S+, ([\d.]+)% of`)
)

// checksFrames matches the runtime's checks compiled into stored code, which run before
// every operation that may allocate (see runtime/checks.go).
const checksFrames = `starbase/runtime\.\(\*checks\)`

// pprofFocus returns the percentage of the samples of file whose stack has a frame matching
// focus (0 when none has).
func pprofFocus(ctx context.Context, file, focus string) (float64, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-focus="+focus, "-nodefraction=0", "-nodecount=1000000", file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "no samples") || strings.Contains(string(out), "matched no samples") {
			return 0, nil
		}
		return 0, fmt.Errorf("go tool pprof -focus: %v\n%s", err, out)
	}
	m := pprofShown.FindStringSubmatch(string(out))
	if m == nil {
		return 0, nil
	}
	return strconv.ParseFloat(m[1], 64)
}

// errNoRows is pprofTop's error for a profile with no row to show; the header is still
// returned.
var errNoRows = errors.New("go tool pprof printed no rows")

// pprofTop runs `go tool pprof -top` on file and returns its header and rows.
func pprofTop(ctx context.Context, file string, args ...string) (header []string, rows []pprofRow, err error) {
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"tool", "pprof", "-top"}, args...), file)...)
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go tool pprof: %v\n%s", err, out)
	}
	inRows := false
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if !inRows {
			header = append(header, line)
			inRows = len(f) > 1 && f[0] == "flat" && f[1] == "flat%"
			continue
		}
		if len(f) < 6 {
			continue
		}
		cumPct, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err != nil {
			continue
		}
		rows = append(rows, pprofRow{flat: pprofSeconds(f[0]), cum: pprofSeconds(f[3]), cumPct: cumPct, name: strings.Join(f[5:], " "), text: line})
	}
	if len(rows) == 0 {
		return header, nil, fmt.Errorf("%w:\n%s", errNoRows, out)
	}
	return header, rows, nil
}

// pprofSeconds reads a pprof duration ("1.54s", "230ms", "0").
func pprofSeconds(s string) float64 {
	if d, err := time.ParseDuration(s); err == nil {
		return d.Seconds()
	}
	return 0
}

// costs are the parts of a request that the report names, by the function that does them.
var costs = [...]struct{ fn, what string }{
	{"server.(*Server).ServeHTTP", "everything Starbase does for an app request; the rest of the CPU is net/http, the kernel and the GC"},
	{"objects.Run", "the request's data transaction, around the handler call"},
	{"runtime.(*Loader).Call", "running the handler on a new Starlark thread, within its limits"},
	{"runtime.(*Loader).Call.func1", "of which: the handler's own Starlark code"},
	{"server.newRequestValue", "building the request value"},
	{"server.toReply", "converting the handler's result into the response"},
	{"server.(*securityWriter).WriteHeader", "the security headers"},
	{"server.(*app).match", "routing"},
	{"server.(*metrics).observe", "request metrics"},
	{"server.newRequestID", "the request id"},
}

// topOwn returns the n rows of rows with the most flat time: with pprof's -show, a shown
// function's own time and that of the hidden functions it calls.
func topOwn(rows []pprofRow, n int) []pprofRow {
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(a, b pprofRow) int { return cmp.Compare(b.flat, a.flat) })
	return sorted[:min(n, len(sorted))]
}

// reportProfiles writes what the profiles show: the CPU time per request of each named
// part of a request, then the top of each profile.
func reportProfiles(sec *section, e *env, profiles []cpuProfile) {
	sec.printf("### Where the time goes in (a)\n\n")
	sec.printf("CPU profiles of a node over a bolt store, running the server code of the binary in a child process of the harness "+
		"(the binary has no profiling endpoint, by design), each serving one page for %v under the same load. "+
		"*µs/request* is the function's cumulative CPU time divided by the requests answered during the profile; "+
		"*share* is of all the CPU the process used. Regenerate with `go run ./bench -only hotpath`; the same path in "+
		"process: `go test -run '^$' -bench Serve_SmallJSON_Store -cpuprofile cpu.out ./server`.\n\n", e.cfg.profile)
	sec.printf("| Function | %s | What it does |\n|---|%s---|\n", profileColumns(profiles), strings.Repeat("---|", 2*len(profiles)))
	for _, c := range costs {
		var cells []string
		found := false
		for _, p := range profiles {
			row, ok := findRow(p.starbase, c.fn)
			if !ok || p.load.Requests == 0 {
				cells = append(cells, "—", "—")
				continue
			}
			found = true
			cells = append(cells, fmt.Sprintf("%.1f", row.cum/float64(p.load.Requests)*1e6), fmt.Sprintf("%.1f%%", row.cumPct))
		}
		if found {
			sec.printf("| `%s` | %s | %s |\n", c.fn, strings.Join(cells, " | "), c.what)
		}
	}
	var totals []string
	for _, p := range profiles {
		totals = append(totals, fmt.Sprintf("%.1f", p.total/float64(max(p.load.Requests, 1))*1e6), "100%")
		if row, ok := findRow(p.starbase, costs[0].fn); ok {
			sec.figure("profile "+p.page.name+" ServeHTTP share", row.cumPct, false)
		}
	}
	sec.printf("| all CPU of the process | %s | at %s req/s |\n\n", strings.Join(totals, " | "), joinRPS(profiles))
	for _, p := range profiles {
		sec.printf("<details><summary>Profile of %s: top by flat time, and Starbase's functions by cumulative time</summary>\n\n```\n", p.page.label)
		for _, h := range p.header {
			if strings.TrimSpace(h) != "" && !strings.HasPrefix(h, "File:") && !strings.HasPrefix(h, "Build ID:") && !strings.HasPrefix(h, "Time:") {
				sec.printf("%s\n", h)
			}
		}
		for _, r := range p.flat {
			sec.printf("%s\n", r.text)
		}
		sec.printf("```\n\n```\n")
		for _, r := range p.starbase {
			sec.printf("%s\n", r.text)
		}
		sec.printf("```\n\n</details>\n\n")
	}
}

func profileColumns(profiles []cpuProfile) string {
	var cols []string
	for _, p := range profiles {
		cols = append(cols, p.page.label+" µs/request", "share")
	}
	return strings.Join(cols, " | ")
}

func joinRPS(profiles []cpuProfile) string {
	var s []string
	for _, p := range profiles {
		s = append(s, count(p.load.RPS()))
	}
	return strings.Join(s, " and ")
}

// us formats microseconds.
func us(v float64) string {
	if math.IsNaN(v) {
		return "— µs"
	}
	return fmt.Sprintf("%.1f µs", v)
}

// findRow returns the row of function fn (a name relative to the module path).
func findRow(rows []pprofRow, fn string) (pprofRow, bool) {
	for _, r := range rows {
		if strings.TrimSuffix(r.name, " (inline)") == "github.com/starbase/starbase/"+fn {
			return r, true
		}
	}
	return pprofRow{}, false
}
