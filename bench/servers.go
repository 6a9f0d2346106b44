package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/bench/apps"
	"github.com/starbase/starbase/client"
)

// adminToken is the admin token of every starbase node the harness starts.
const adminToken = "bench-admin-token"

// startTimeout bounds how long any server may take to start.
const startTimeout = 2 * time.Minute

// startStarbase runs `starbase serve` on addr ("127.0.0.1:0" for any port) with its data in
// data, and returns once it listens.
func (e *env) startStarbase(ctx context.Context, name, data, addr string, args ...string) (*proc, error) {
	cmd := exec.Command(e.starbin, append([]string{"serve", "--addr", addr, "--data", data, "--node", name}, args...)...)
	cmd.Env = append(os.Environ(), "STARBASE_ADMIN_TOKEN="+adminToken)
	return startProc(ctx, name, cmd, "", "", func(line string) (string, bool) {
		u, ok := strings.CutPrefix(line, "starbase serving on ")
		if !ok {
			return "", false
		}
		return strings.Fields(u)[0], true
	}, startTimeout)
}

// startChild runs this program as the child server of mode (see child.go) with dir as its
// STARBASE_BENCH_DIR and extra environment variables.
func (e *env) startChild(ctx context.Context, mode, dir string, extra ...string) (*proc, error) {
	cmd := exec.Command(e.self)
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childDir+"="+dir)
	cmd.Env = append(cmd.Env, extra...)
	return startProc(ctx, mode, cmd, "", "", func(line string) (string, bool) {
		return strings.CutPrefix(line, childReady)
	}, startTimeout)
}

// flaskSetup is a gunicorn configuration.
type flaskSetup struct {
	workers int
	threads int // 0: sync workers, which close the connection after each response
}

func (f flaskSetup) String() string {
	if f.threads == 0 {
		return fmt.Sprintf("%d sync workers", f.workers)
	}
	return fmt.Sprintf("%d gthread workers × %d threads", f.workers, f.threads)
}

// startFlask runs the Flask app on gunicorn with setup, and returns once it answers.
func (e *env) startFlask(ctx context.Context, setup flaskSetup) (*proc, error) {
	dir, err := e.dir("flask")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(apps.Flask(1)), 0o644); err != nil {
		return nil, err
	}
	for path, text := range apps.FlaskTemplates() {
		if err := writeFiles(dir, map[string][]byte{path: []byte(text)}); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--bind", addr, "--workers", strconv.Itoa(setup.workers), "--chdir", dir,
		"--log-level", "warning", "--backlog", "2048"}
	if setup.threads > 0 {
		args = append(args, "--worker-class", "gthread", "--threads", strconv.Itoa(setup.threads))
	}
	cmd := exec.Command(e.gunicorn, append(args, "app:app")...)
	return startProc(ctx, "flask", cmd, "http://"+addr, "/hello/Ada", nil, startTimeout)
}

// push makes main's tree equal to files, as the admin, through node p's API (forced: the
// harness is main's only writer).
func push(ctx context.Context, p *proc, files map[string][]byte, message string) (api.CommitResult, error) {
	return pushRef(ctx, p, "", files, message)
}

// pushRef makes ref's tree ("" for main) equal to files, as push does.
func pushRef(ctx context.Context, p *proc, ref string, files map[string][]byte, message string) (api.CommitResult, error) {
	c, err := p.admin()
	if err != nil {
		return api.CommitResult{}, err
	}
	res, err := c.Push(ctx, api.PushRequest{Ref: ref, Files: files, Force: true, Message: message})
	if err != nil {
		return res, fmt.Errorf("push to %s: %w", p.name, err)
	}
	return res, nil
}

// admin returns a client of node p's API with the admin token.
func (p *proc) admin() (*client.Client, error) {
	return client.New(p.url, client.Options{Token: adminToken})
}

// answer is one response as the benchmarks check it.
type answer struct {
	status int
	commit string // Starbase-Commit
	retry  bool   // Retry-After was set
	header http.Header
	body   []byte
}

// get sends GET path to p, with Starbase-Min-Revision when minRev > 0. The node holds
// such a request a few seconds at most, then answers 503 with Retry-After: get asks again,
// for up to a minute, so that a slow moment of the machine is measured, not failed.
func get(ctx context.Context, hc *http.Client, p *proc, path string, minRev int64) (answer, error) {
	return getWith(ctx, hc, p, path, minRev, nil)
}

// getWith is get with the request headers of header.
func getWith(ctx context.Context, hc *http.Client, p *proc, path string, minRev int64, header map[string]string) (answer, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		a, err := getOnce(ctx, hc, p, path, minRev, header)
		if err != nil || minRev == 0 || a.status != http.StatusServiceUnavailable || !a.retry || time.Now().After(deadline) {
			return a, err
		}
	}
}

func getOnce(ctx context.Context, hc *http.Client, p *proc, path string, minRev int64, header map[string]string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
	if err != nil {
		return answer{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if minRev > 0 {
		req.Header.Set("Starbase-Min-Revision", strconv.FormatInt(minRev, 10))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, commit: resp.Header.Get("Starbase-Commit"),
		retry: resp.Header.Get("Retry-After") != "", header: resp.Header, body: body}, err
}

// metric reads one unlabelled sample of the node's Prometheus metrics.
func metric(ctx context.Context, hc *http.Client, p *proc, name string) (float64, error) {
	a, err := get(ctx, hc, p, "/-/metrics", 0)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(a.body)))
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), name+" ")
		if ok {
			return strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	return 0, fmt.Errorf("%s: no metric %s at /-/metrics", p.name, name)
}
