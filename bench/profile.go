package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// profileStore profiles the CPU of a store-backed node (the child "store" mode: the same
// server code as the binary, which has no profiling endpoint) serving the small JSON page
// under the hot path's load, and reports the top of the profile.
func profileStore(ctx context.Context, e *env, sec *section) error {
	data, err := e.dir("profile")
	if err != nil {
		return err
	}
	prof := filepath.Join(data, "cpu.pprof")
	p, err := e.startChild(ctx, "store", data, childProf+"="+prof)
	if err != nil {
		return err
	}
	defer p.stop()
	gen := e.loadGen(e.cfg.conns)
	url := p.url + hotPages[0].path
	if _, err := gen.run(ctx, url, e.cfg.warmup); err != nil {
		return err
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	if err := p.waitLine("bench child profiling", 10*time.Second); err != nil {
		return err
	}
	res, err := gen.run(ctx, url, e.cfg.profile)
	if err != nil {
		return err
	}
	if err := p.stop(); err != nil {
		return err
	}
	header, flat, err := pprofTop(ctx, prof, "-nodecount=25")
	if err != nil {
		return err
	}
	_, ours, err := pprofTop(ctx, prof, "-cum", "-nodecount=30", "-show=github.com/starbase/starbase/")
	if err != nil {
		return err
	}
	reportProfile(sec, e, res, header, flat, ours)
	return nil
}

// pprofLine is one row of `go tool pprof -top`.
type pprofLine struct {
	flatPct, cumPct float64
	name            string
	text            string
}

// pprofTop runs `go tool pprof -top` on prof and returns its header and rows.
func pprofTop(ctx context.Context, prof string, args ...string) (header []string, rows []pprofLine, err error) {
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"tool", "pprof", "-top"}, args...), prof)...)
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go tool pprof: %v\n%s", err, out)
	}
	inRows := false
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if !inRows {
			header = append(header, line)
			inRows = len(f) > 0 && f[0] == "flat" && f[1] == "flat%"
			continue
		}
		if len(f) < 6 {
			continue
		}
		flatPct, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cumPct, err2 := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		rows = append(rows, pprofLine{flatPct: flatPct, cumPct: cumPct, name: strings.Join(f[5:], " "), text: line})
	}
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("go tool pprof printed no rows:\n%s", out)
	}
	return header, rows, nil
}

// costs are the parts of a request that the report names, by the function that does it.
var costs = [...]struct{ fn, what string }{
	{"server.(*Server).ServeHTTP", "everything the server does for an app request (the rest is net/http, the kernel and the GC)"},
	{"runtime.(*Loader).Call", "running the Starlark handler, with its thread, limits and deadline"},
	{"runtime.(*Loader).limit", "of which: step limit and context watch around the call"},
	{"server.newRequestValue", "building the request value (params, query, every header as a dict)"},
	{"server.toReply", "converting the result (JSON encoding through Starlark's json.encode)"},
	{"server.(*app).match", "routing (ServeMux on a copy of the request with a context value)"},
	{"server.(*metrics).observe", "Prometheus counter and histogram of the request"},
	{"server.newRequestID", "the request id (crypto/rand)"},
}

// reportProfile writes what the profile shows: the share of CPU of each named part of a
// request, then the top of the profile, by flat time and, for our code, by cumulative time.
func reportProfile(sec *section, e *env, res loadResult, header []string, flat, ours []pprofLine) {
	sec.printf("### Profile of (a) under load\n\n")
	sec.printf("A CPU profile of a node over a bolt store, running the server code of the binary in a child process of the harness "+
		"(the binary has no profiling endpoint, by design), serving the small JSON page for %v under the same load (%s req/s). "+
		"Percentages are of all CPU samples of that process. Regenerate with `go run ./bench -only hotpath`; "+
		"the same code path in process: `go test -run '^$' -bench SmallJSON -cpuprofile cpu.out ./server`.\n\n",
		e.cfg.profile, count(res.RPS()))
	sec.printf("| Function | cum | What it does |\n|---|---|---|\n")
	for _, c := range costs {
		row, ok := findRow(ours, c.fn)
		if !ok {
			continue
		}
		sec.printf("| `%s` | %.1f%% | %s |\n", c.fn, row.cumPct, c.what)
		if c.fn == costs[0].fn {
			sec.figure("profile ServeHTTP cum%", row.cumPct, false)
		}
	}
	sec.printf("\nTop of the profile by flat time:\n\n```\n")
	for _, h := range header {
		if strings.TrimSpace(h) != "" && !strings.HasPrefix(h, "File:") && !strings.HasPrefix(h, "Build ID:") {
			sec.printf("%s\n", h)
		}
	}
	for _, r := range flat {
		sec.printf("%s\n", r.text)
	}
	sec.printf("```\n\nStarbase's own functions by cumulative time:\n\n```\n")
	for _, r := range ours {
		sec.printf("%s\n", r.text)
	}
	sec.printf("```\n\n")
}

// findRow returns the row of function fn (a name relative to the module path).
func findRow(rows []pprofLine, fn string) (pprofLine, bool) {
	for _, r := range rows {
		name := strings.TrimSuffix(r.name, " (inline)")
		if name == "github.com/starbase/starbase/"+fn {
			return r, true
		}
	}
	return pprofLine{}, false
}
