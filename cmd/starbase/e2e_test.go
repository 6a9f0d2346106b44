package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The end-to-end tests drive the built binary: `starbase serve` as a separate process and
// the client commands as separate processes, over loopback HTTP, on a real bolt file.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/starbase once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "starbase-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "starbase")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const e2eToken = "e2e-admin-token"

// node is a `starbase serve` process.
type node struct {
	url string
	// editorURL is the editor's own origin (serve --editor-addr), "" when not served.
	editorURL string
	data      string
	cmd       *exec.Cmd
	logs      *bytes.Buffer
	lw        *lockedWriter // writes logs; logText reads them under its lock
}

// logText returns what the node logged so far.
func (n *node) logText() string {
	n.lw.mu.Lock()
	defer n.lw.mu.Unlock()
	return n.logs.String()
}

// startServe runs `starbase serve` on a free loopback port with data in dataDir and waits
// until it listens.
func startServe(t *testing.T, dataDir string, args ...string) *node {
	t.Helper()
	return startServeBin(t, binary(t), nil, dataDir, args...)
}

// startServeBin runs `starbase serve` as startServe does, from the binary bin, with env
// added to the environment.
func startServeBin(t *testing.T, bin string, env []string, dataDir string, args ...string) *node {
	t.Helper()
	binary(t) // the client commands run the ordinary binary
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir}, args...)...)
	cmd.Env = append(append(os.Environ(), "STARBASE_ADMIN_TOKEN="+e2eToken), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{data: dataDir, cmd: cmd, logs: &bytes.Buffer{}}
	n.lw = &lockedWriter{w: n.logs}
	cmd.Stderr = n.lw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(t) })
	urlc := make(chan string, 1)
	editorc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "starbase serving on "); ok {
				urlc <- strings.Fields(u)[0]
			}
			// serve prints the editor's line first.
			if u, ok := strings.CutPrefix(sc.Text(), "starbase editor on "); ok {
				editorc <- strings.TrimSuffix(strings.Fields(u)[0], "/-/ui/")
			}
		}
	}()
	select {
	case n.url = <-urlc:
		select {
		case n.editorURL = <-editorc:
		default:
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("starbase serve did not start; logs:\n%s", n.logs)
	}
	return n
}

func (n *node) stop(t *testing.T) {
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		n.cmd.Process.Kill()
		<-done
		t.Errorf("starbase serve did not stop on SIGINT")
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// String returns what was written so far.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.w)
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cli runs a client command against n and returns its stdout; it fails the test on error.
func (n *node) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := n.try(args...)
	if err != nil {
		t.Fatalf("starbase %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// try runs a client command against n and returns stdout, stderr and the exit error.
func (n *node) try(args ...string) (string, string, error) {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "STARBASE_SERVER="+n.url, "STARBASE_TOKEN="+e2eToken)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (n *node) get(t *testing.T, path string) (string, string) {
	t.Helper()
	resp, err := http.Get(n.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	return string(b), resp.Header.Get("Starbase-Commit")
}

// waitBody polls path until it answers want, or fails after a deadline.
func (n *node) waitBody(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, commit := n.get(t, path)
		if body == want {
			return commit
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %q, want %q", path, body, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestE2E_PushChangeRevertPullRestart(t *testing.T) {
	data := t.TempDir()
	n := startServe(t, data)
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"app.star":        "load(\"lib/helper.star\", \"greeting\")\ndef index(req):\n    return greeting()\nroutes = {\"GET /\": index}\n",
		"lib/helper.star": "def greeting():\n    return \"hello v1\"\n",
		"static/note.txt": "binary-safe \x00\xff bytes\n",
		".hidden":         "not pushed\n",
	})

	first := lastLine(n.cli(t, "push", src, "-m", "first", "--wait"))
	if c := n.waitBody(t, "/", "hello v1"); c != first {
		t.Fatalf("Starbase-Commit = %s, want the pushed commit %s", c, first)
	}

	writeTree(t, src, map[string]string{"lib/helper.star": "def greeting():\n    return \"hello v2\"\n"})
	second := lastLine(n.cli(t, "push", src, "-m", "second"))
	if second == first {
		t.Fatal("pushing a change printed the old commit id")
	}
	n.waitBody(t, "/", "hello v2")

	if again := lastLine(n.cli(t, "push", src)); again != second {
		t.Fatalf("pushing an unchanged tree printed %s, want the current commit %s", again, second)
	}
	if log := n.cli(t, "log"); !strings.HasPrefix(log, second) || !strings.Contains(log, first) || strings.Count(log, "\n") != 2 {
		t.Fatalf("log = %q, want two commits, newest (%s) first", log, second)
	}
	if diff := n.cli(t, "diff"); !strings.Contains(diff, "-    return \"hello v1\"") || !strings.Contains(diff, "+    return \"hello v2\"") {
		t.Fatalf("diff = %q, want the helper's change", diff)
	}

	reverted := lastLine(n.cli(t, "revert", first[:7]))
	if c := n.waitBody(t, "/", "hello v1"); c != reverted {
		t.Fatalf("after revert Starbase-Commit = %s, want %s", c, reverted)
	}

	pulled := t.TempDir()
	if got := lastLine(n.cli(t, "pull", pulled)); got != reverted {
		t.Fatalf("pull printed %s, want %s", got, reverted)
	}
	for _, p := range []string{"app.star", "lib/helper.star", "static/note.txt"} {
		want, _ := os.ReadFile(filepath.Join(src, p))
		if p == "lib/helper.star" {
			want = []byte("def greeting():\n    return \"hello v1\"\n")
		}
		got, err := os.ReadFile(filepath.Join(pulled, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("pulled %s = %q (%v), want %q", p, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(pulled, ".hidden")); err == nil {
		t.Error("a dotfile was pushed and pulled back")
	}

	n.stop(t)
	restarted := startServe(t, data)
	if body, commit := restarted.get(t, "/"); body != "hello v1" || commit != reverted {
		t.Fatalf("after restart GET / = %q from %s, want \"hello v1\" from %s", body, commit, reverted)
	}
	if st := restarted.cli(t, "status"); !strings.Contains(st, reverted) || strings.Count(st, "\n") != 2 {
		t.Fatalf("status = %q, want one node serving %s", st, reverted)
	}
}

func TestE2E_PushRefusesToDiscardOthersWork(t *testing.T) {
	n := startServe(t, t.TempDir())
	alice, bob := t.TempDir(), t.TempDir()
	app := "def index(req):\n    return \"%s\"\nroutes = {\"GET /\": index}\n"
	writeTree(t, alice, map[string]string{"app.star": fmt.Sprintf(app, "alice")})
	n.cli(t, "push", alice)

	writeTree(t, bob, map[string]string{"app.star": fmt.Sprintf(app, "bob")})
	_, stderr, err := n.try("push", bob)
	if err == nil || !strings.Contains(stderr, "--force") {
		t.Fatalf("push from a directory with no base while main exists: err=%v stderr=%q, want a refusal mentioning --force", err, stderr)
	}
	n.cli(t, "pull", bob, "--force")
	writeTree(t, bob, map[string]string{"app.star": fmt.Sprintf(app, "bob")})
	n.cli(t, "push", bob)

	writeTree(t, alice, map[string]string{"app.star": fmt.Sprintf(app, "alice again")})
	if _, stderr, err := n.try("push", alice); err == nil || !strings.Contains(stderr, "pull") {
		t.Fatalf("stale push: err=%v stderr=%q, want a refusal saying to pull", err, stderr)
	}
	if _, stderr, err := n.try("pull", alice); err == nil || !strings.Contains(stderr, "app.star") {
		t.Fatalf("pull over a local edit: err=%v stderr=%q, want a refusal naming app.star", err, stderr)
	}
	n.waitBody(t, "/", "bob")
	n.cli(t, "push", alice, "--force")
	n.waitBody(t, "/", "alice again")
}

func TestE2E_DemoAndBadInput(t *testing.T) {
	n := startServe(t, t.TempDir(), "--demo=demo")
	body, _ := n.get(t, "/hello/Ada")
	if !strings.Contains(body, "Hello, Ada!") {
		t.Fatalf("demo /hello/Ada = %q", body)
	}
	if index, _ := n.get(t, "/"); !strings.Contains(index, "<h1>Hello, world!</h1>") || !strings.Contains(index, "<li>item 3</li>") {
		t.Fatalf("demo / = %q, want the rendered template", index)
	}
	demoCommit := lastLine(n.cli(t, "log"))

	src := t.TempDir()
	writeTree(t, src, map[string]string{"app.star": "routes = {\n"})
	_, stderr, err := n.try("push", src, "--force")
	if err == nil || !strings.Contains(stderr, "app.star:2:1") {
		t.Fatalf("push of a syntax error: err=%v stderr=%q, want a refusal at app.star:2:1", err, stderr)
	}
	cmd := exec.Command(binPath, "push", src, "--force", "--token", "wrong")
	cmd.Env = append(os.Environ(), "STARBASE_SERVER="+n.url)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "unauthenticated") {
		t.Fatalf("push with a wrong token: err=%v out=%q, want unauthenticated", err, out)
	}
	if log := n.cli(t, "log"); lastLine(log) != demoCommit || strings.Count(log, "\n") != 1 {
		t.Fatalf("log after refused pushes = %q, want only the demo commit", log)
	}
	if body, _ := n.get(t, "/hello/Ada"); !strings.Contains(body, "Hello, Ada!") {
		t.Fatalf("after refused pushes /hello/Ada = %q", body)
	}
}
