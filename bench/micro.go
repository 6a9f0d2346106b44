package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// microPackages hold the Go micro-benchmarks: serving a request in process (server), the
// loader's cache hit and miss paths (runtime), the store operations (store/bolt) and pushes
// (code).
var microPackages = [...]string{"./server", "./runtime", "./store/bolt", "./code"}

// microSkip names the benchmarks of those packages that are not micro-benchmarks: the
// growth and quota runs (thousands of pushes, a million writes: minutes to half an hour,
// run by the commands BENCHMARKS.md names) and the rollouts on a three-member etcd
// cluster (the rollout scenario measures them against the binary).
const microSkip = "^Benchmark(Growth|Quota|Rollout)_"

// micro runs the Go micro-benchmarks and reports each one's median over e.cfg.microCount
// runs. In smoke mode it runs only the server's, once each.
func micro(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	pkgs := microPackages[:]
	if e.cfg.smoke {
		pkgs = pkgs[:1]
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-skip", microSkip, "-benchmem",
		"-count", strconv.Itoa(e.cfg.microCount), "-benchtime", e.cfg.microBenchtime}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = e.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	results := parseBench(string(out))
	if len(results) == 0 {
		return nil, fmt.Errorf("go %s printed no benchmark results:\n%s", strings.Join(args, " "), out)
	}
	sec.printf("`go %s` (in process, no network). Medians of %d runs, with ranges; the raw output below is what "+
		"benchstat reads (run it before and after a change with `-count 10` and compare the two files).\n\n",
		strings.Join(args, " "), e.cfg.microCount)
	sec.printf("| Package | Benchmark | time/op | B/op | allocs/op |\n|---|---|---|---|---|\n")
	for _, r := range results {
		sec.printf("| %s | %s | %s | %s | %s |\n", r.pkg, r.name, r.ns.format(nsTime),
			count(r.bytes.median()), count(r.allocs.median()))
		sec.figure(r.pkg+" "+r.name+" ns/op", r.ns.median(), false)
	}
	if serve := servingRatios(results); serve != "" {
		sec.printf("\n%s", serve)
	}
	sec.printf("\n<details><summary>Raw output</summary>\n\n```\n%s```\n\n</details>\n\n", strings.TrimLeft(string(out), "\n"))
	return sec, nil
}

// nsTime formats nanoseconds with three significant digits.
func nsTime(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e4:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return ms(ns / 1e9)
	}
}

// benchResult is one benchmark's runs.
type benchResult struct {
	pkg, name         string
	ns, bytes, allocs sample
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

// parseBench reads `go test -bench` output into results in order of first appearance.
func parseBench(out string) []*benchResult {
	var results []*benchResult
	byKey := map[string]*benchResult{}
	pkg := ""
	for line := range strings.SplitSeq(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), "github.com/starbase/starbase/")
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key := pkg + " " + m[1]
		r, ok := byKey[key]
		if !ok {
			r = &benchResult{pkg: pkg, name: m[1]}
			byKey[key] = r
			results = append(results, r)
		}
		for i, s := range []*sample{&r.ns, &r.bytes, &r.allocs} {
			if v, err := strconv.ParseFloat(m[i+2], 64); err == nil {
				*s = append(*s, v)
			}
		}
	}
	return results
}

// servingRatios compares the in-process Serve benchmarks of the server: store against
// files, and store against plain Go, per page.
func servingRatios(results []*benchResult) string {
	find := func(name string) *benchResult {
		i := slices.IndexFunc(results, func(r *benchResult) bool { return r.name == name })
		if i < 0 {
			return nil
		}
		return results[i]
	}
	var b strings.Builder
	for _, page := range []string{"SmallJSON", "Table"} {
		st, fi, g := find("BenchmarkServe_"+page+"_Store"), find("BenchmarkServe_"+page+"_Files"), find("BenchmarkServe_"+page+"_Go")
		if st == nil || fi == nil || g == nil {
			continue
		}
		fmt.Fprintf(&b, "- %s in process: store takes %s the time of files, and %s the time of plain Go.\n",
			page, ratio(st.ns.median()/fi.ns.median()), ratio(st.ns.median()/g.ns.median()))
	}
	return b.String()
}
