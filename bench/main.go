// Command bench measures what serving code from the store costs, against the peers users
// would pick instead, and writes BENCHMARKS.md. Run it from the repository:
//
//	go run ./bench                 # every scenario, writes BENCHMARKS.md (about 10 minutes)
//	go run ./bench -smoke          # every scenario at toy sizes (seconds), writes nothing
//	go run ./bench -only hotpath   # some scenarios (comma-separated names, see -h)
//
// The harness builds the starbase binary, runs every server as its own process on
// loopback, drives load with wrk (installed with apt-get if missing and running as root;
// -load go uses the built-in Go load generator instead), and reports every figure as the
// median of several runs with its spread, and each comparison as a ratio measured in the
// same run. The servers compared are:
//
//	store   the starbase binary, serving the app pushed to its bolt store
//	files   the same server code and runtime serving the same files, loaded once, with no
//	        store (server.NewStatic, in a child process of this program), behind the same
//	        front as the binary (server.Front), so that store and files differ only in
//	        where the code comes from
//	go      the same work as a plain net/http handler (bench/apps.Go, in a child process)
//	flask   the same work in Flask on gunicorn (Debian's python3-flask and gunicorn)
//
// The smoke run (TestSmoke, part of `go test ./...`) uses the Go load generator so that it
// needs nothing installed; it runs Flask only where gunicorn and Flask are installed, and
// says so.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	cfg := fullConfig()
	var only, out string
	smoke := flag.Bool("smoke", false, "run every scenario at toy sizes, quickly, and write no report")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run: "+strings.Join(scenarioNames(), ", "))
	flag.StringVar(&out, "out", "BENCHMARKS.md", "report to write, relative to the repository root (\"-\" for stdout)")
	flag.StringVar(&cfg.load, "load", cfg.load, "load generator of the hot path: wrk or go")
	flag.Parse()
	if *smoke {
		base := smokeConfig()
		base.load = cfg.load
		if !isFlagSet("load") {
			base.load = "go"
		}
		cfg = base
		if out == "BENCHMARKS.md" {
			out = "-"
		}
	}
	if only != "" {
		cfg.only = strings.Split(only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func isFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// run prepares the environment, runs the scenarios of cfg and writes the report to out.
func run(ctx context.Context, cfg config, out string) error {
	e, err := newEnv(ctx, cfg, os.Stderr)
	if err != nil {
		return err
	}
	defer e.close()
	rep, err := runScenarios(ctx, e)
	if err != nil {
		return err
	}
	text := rep.markdown(e)
	if out == "-" {
		_, err := os.Stdout.WriteString(text)
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(e.root, out)
	}
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		return err
	}
	e.logf("wrote %s in %v", out, time.Since(e.started).Round(time.Second))
	return nil
}
