package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server process started by the harness. Its methods are safe for concurrent use.
type proc struct {
	name string
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:PORT; for the etcd child, its members' HOST:PORT, comma-separated
	done chan struct{}

	// mu guards tail, switches and printed.
	mu   sync.Mutex
	tail []string // the last lines the process printed, for error messages
	// switches holds the build time of every commit the node switched to, from its
	// "serving commit" log lines.
	switches map[string]time.Duration
	// printed is closed and replaced after every line the process prints.
	printed chan struct{}
}

const tailLines = 40

// startProc starts cmd and returns once ready finds the server's URL in a line the process
// printed, or, if ready is nil, once url answers GET probe with 200. It fails when the
// process exits first or does not serve within timeout.
func startProc(ctx context.Context, name string, cmd *exec.Cmd, url, probe string, ready func(line string) (string, bool), timeout time.Duration) (*proc, error) {
	p := &proc{name: name, cmd: cmd, url: url, done: make(chan struct{}), switches: map[string]time.Duration{}, printed: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	urlc := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); p.read(stdout, ready, urlc) }()
	go func() { defer readers.Done(); p.read(stderr, ready, urlc) }()
	go func() {
		readers.Wait()
		cmd.Wait()
		close(p.done)
	}()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if ready == nil {
		if err := p.waitAnswer(ctx, probe, timeout); err != nil {
			p.stop()
			return nil, err
		}
		return p, nil
	}
	select {
	case p.url = <-urlc:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before serving: %s\n%s", name, cmd.ProcessState, p.lastLines())
	case <-deadline.C:
		p.stop()
		return nil, fmt.Errorf("%s did not serve within %v:\n%s", name, timeout, p.lastLines())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// read consumes one output stream of the process, line by line.
func (p *proc) read(r io.Reader, ready func(string) (string, bool), urlc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if ready != nil {
			if u, ok := ready(line); ok {
				select {
				case urlc <- u:
				default:
				}
			}
		}
		p.mu.Lock()
		p.tail = append(p.tail, line)
		if len(p.tail) > tailLines {
			p.tail = p.tail[len(p.tail)-tailLines:]
		}
		if strings.HasPrefix(line, "{") && strings.Contains(line, `"serving commit"`) {
			p.recordSwitch(line)
		}
		close(p.printed)
		p.printed = make(chan struct{})
		p.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

// recordSwitch records the build time of a node's "serving commit" log line. p.mu is held.
func (p *proc) recordSwitch(line string) {
	var rec struct {
		Msg     string  `json:"msg"`
		Commit  string  `json:"commit"`
		BuildMS float64 `json:"build_ms"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "serving commit" {
		return
	}
	p.switches[rec.Commit] = time.Duration(rec.BuildMS * float64(time.Millisecond))
}

// buildTime returns how long the node took to build the release of commit, from its log,
// waiting up to 5s for the line (the log may trail the switch by a moment).
func (p *proc) buildTime(commit string) (time.Duration, error) {
	var d time.Duration
	err := p.waitPrinted(5*time.Second, func() bool {
		var ok bool
		d, ok = p.switches[commit]
		return ok
	})
	if err != nil {
		return 0, fmt.Errorf("%s logged no switch to commit %s", p.name, commit)
	}
	return d, nil
}

// waitLine waits until one of the last lines the process printed starts with prefix.
func (p *proc) waitLine(prefix string, timeout time.Duration) error {
	err := p.waitPrinted(timeout, func() bool {
		for _, l := range p.tail {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("%s printed no line starting %q within %v:\n%s", p.name, prefix, timeout, p.lastLines())
	}
	return nil
}

// waitPrinted calls found with p.mu held, now and after every line printed, until it
// returns true or timeout passes.
func (p *proc) waitPrinted(timeout time.Duration, found func() bool) error {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		ok := found()
		ch := p.printed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-p.done:
			return errors.New("process exited")
		case <-deadline:
			return errors.New("timed out")
		}
	}
}

func (p *proc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "    " + strings.Join(p.tail, "\n    ")
}

// waitAnswer polls GET path until it answers 200, the process exits or timeout passes.
func (p *proc) waitAnswer(ctx context.Context, path string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(p.url + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before serving: %s\n%s", p.name, p.cmd.ProcessState, p.lastLines())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer GET %s with 200 within %v (last error: %v):\n%s", p.name, path, timeout, err, p.lastLines())
		}
	}
}

// stop ends the process with SIGTERM (SIGKILL after 10s) and waits for it. It returns an
// error if the process had to be killed.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 10s of SIGTERM and was killed", p.name)
	}
}

// cpuTime returns the CPU time (user and system) that process pid has used, from
// /proc/PID/stat, in clock ticks of 1/100 s (Linux's USER_HZ).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count from after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// machineCPU returns the busy time of all the machine's cores (not idle, not waiting for
// I/O), from /proc/stat, in clock ticks of 1/100 s.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: unexpected format")
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errors.New("/proc/stat: unexpected format")
		}
		if i != 3 && i != 4 && i < 8 { // user nice system idle iowait irq softirq steal; guest is in user
			busy += n
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond, nil
}

// treeCPU returns the CPU time used by process root and its live descendants (gunicorn's
// workers, say).
func treeCPU(root int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		_, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil { // field 4
			children[ppid] = append(children[ppid], pid)
		}
	}
	total, err := cpuTime(root)
	if err != nil {
		return 0, err
	}
	queue := children[root]
	for len(queue) > 0 {
		pid := queue[0]
		queue = append(queue[1:], children[pid]...)
		if t, err := cpuTime(pid); err == nil {
			total += t
		}
	}
	return total, nil
}

// memory is a process's resident memory, from /proc/PID/status.
type memory struct {
	RSS, Anon, File int64 // bytes: VmRSS, RssAnon, RssFile
}

func (p *proc) memory() (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for line := range strings.SplitSeq(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "RssAnon":
			m.Anon = kb << 10
		case "RssFile":
			m.File = kb << 10
		}
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS in /proc/PID/status")
	}
	return m, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago, for servers
// that must be told their port before they start.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
