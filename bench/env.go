package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// env is what every scenario runs with: the built programs, a scratch directory and the
// tools found. It is used by one goroutine at a time.
type env struct {
	cfg     config
	root    string // the repository root (where go.mod is)
	tmp     string // scratch directory, removed by close
	starbin string // the built starbase binary
	self    string // this program, built without the race detector, run as the child servers (see child.go)
	log     io.Writer
	started time.Time
	load    string // the load average when the run started

	wrk      string // path of wrk, "" when the Go load generator is used
	gunicorn string // path of gunicorn, "" when missing (Flask is then not compared)
	notes    []string
}

// newEnv finds the repository, builds the starbase binary, and finds (or installs) wrk and
// gunicorn when the configuration needs them.
func newEnv(ctx context.Context, cfg config, log io.Writer) (*env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "starbase-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, root: root, tmp: tmp, log: log, started: time.Now(), load: loadAverage()}
	e.starbin, e.self = filepath.Join(tmp, "starbase"), filepath.Join(tmp, "bench")
	// The child servers are this program built like the binary (not the test binary of the
	// smoke test, which may run under the race detector), so that they compare fairly.
	e.logf("building the starbase binary and the child servers")
	for _, b := range []struct{ out, pkg string }{{e.starbin, "./cmd/starbase"}, {e.self, "./bench"}} {
		build := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			e.close()
			return nil, fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	if cfg.load == "wrk" {
		if e.wrk, err = tool(ctx, e, "wrk", "wrk"); err != nil {
			e.close()
			return nil, fmt.Errorf("%w (or run with -load go)", err)
		}
	} else if cfg.load != "go" {
		e.close()
		return nil, fmt.Errorf("-load %q: want wrk or go", cfg.load)
	}
	if cfg.wants("hotpath") {
		e.gunicorn, err = tool(ctx, e, "gunicorn", "gunicorn", "python3-flask")
		if err == nil {
			err = checkFlask(ctx, e.gunicorn)
		}
		if err != nil {
			if !cfg.smoke {
				e.close()
				return nil, err
			}
			e.gunicorn = ""
			e.note("Flask was not compared: %v", err)
		}
	}
	return e, nil
}

func (e *env) close() { os.RemoveAll(e.tmp) }

// logf reports progress on the harness's log (stderr), with the time since the start.
func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "[%6.1fs] %s\n", time.Since(e.started).Seconds(), fmt.Sprintf(format, args...))
}

// note records a fact the report must state (something skipped, a substitution).
func (e *env) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	e.notes = append(e.notes, n)
	e.logf("note: %s", n)
}

// dir returns a new empty directory under the scratch directory.
func (e *env) dir(name string) (string, error) {
	return os.MkdirTemp(e.tmp, name+"-")
}

// tool returns the path of name, installing the Debian packages when it is missing and
// this process may (root, apt-get present, not in smoke mode: a smoke run installs nothing).
func tool(ctx context.Context, e *env, name string, packages ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if e.cfg.smoke {
		return "", fmt.Errorf("%s is not installed (apt-get install %s)", name, strings.Join(packages, " "))
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%s is not installed, and installing it needs root: run sudo apt-get install %s", name, strings.Join(packages, " "))
	}
	e.logf("installing %s with apt-get", strings.Join(packages, " "))
	install := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, packages...)...)
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := install.CombinedOutput(); err != nil {
		// The package lists may be missing on a fresh machine: update once and retry.
		update := exec.CommandContext(ctx, "apt-get", "update", "-q")
		update.Env = install.Env
		if uout, uerr := update.CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("apt-get update: %v\n%s", uerr, uout)
		}
		retry := exec.CommandContext(ctx, "apt-get", install.Args[1:]...)
		retry.Env = install.Env
		if out2, err2 := retry.CombinedOutput(); err2 != nil {
			return "", fmt.Errorf("apt-get install %s: %v\n%s\n%s", strings.Join(packages, " "), err2, out, out2)
		}
	}
	return exec.LookPath(name)
}

// checkFlask checks that the Python interpreter of gunicorn can import Flask.
func checkFlask(ctx context.Context, gunicorn string) error {
	python, err := gunicornPython(gunicorn)
	if err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, python, "-c", "import flask").CombinedOutput(); err != nil {
		return fmt.Errorf("%s cannot import flask (apt-get install python3-flask): %v\n%s", python, err, out)
	}
	return nil
}

// gunicornPython returns the interpreter named by gunicorn's #! line.
func gunicornPython(gunicorn string) (string, error) {
	b, err := os.ReadFile(gunicorn)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 {
		return "", fmt.Errorf("%s has no #! line naming its Python", gunicorn)
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		return exec.LookPath(fields[1])
	}
	return fields[0], nil
}

// loadAverage returns the 1, 5 and 15 minute load averages of the machine, "" if unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// repoRoot returns the nearest directory holding go.mod, from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run bench inside the starbase repository (no go.mod found above the working directory)")
		}
		dir = parent
	}
}
