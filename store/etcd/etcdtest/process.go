package etcdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// StartProcess runs one member of the etcd server installed on the machine as a process of
// its own, on loopback, and returns its client URL once it answers; it is killed when the
// test ends. That server is Debian's etcd-server 3.4, the oldest the backend supports, which
// ./test.sh installs (Start runs the newest, from Go modules, in process). The test fails
// when no etcd binary is on PATH or it does not answer in time. opts apply as for Start.
func StartProcess(t testing.TB, opts Options) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcdtest: the etcd server binary is not on PATH: install Debian's etcd-server (./test.sh does)")
	}
	dir := t.TempDir()
	var lastErr error
	// A free port found by listening on port 0 may be taken before etcd binds it: a start
	// that fails is tried again on new ports.
	for attempt := range 3 {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		logPath := filepath.Join(dir, fmt.Sprintf("etcd%d.log", attempt))
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"--name", "m0", "--data-dir", filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "m0=" + peer, "--log-level", "error", "--logger", "zap"}
		if opts.QuotaBackendBytes > 0 {
			args = append(args, "--quota-backend-bytes", strconv.FormatInt(opts.QuotaBackendBytes, 10))
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH=")
		if err := cmd.Start(); err != nil {
			logFile.Close()
			t.Fatalf("etcdtest: starting %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
			logFile.Close()
		}
		if lastErr = awaitProcess(client, exited); lastErr == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					log, _ := os.ReadFile(logPath)
					t.Logf("etcd (%s) log:\n%s", bin, tail(string(log), logTail))
				}
			})
			return client
		}
		stop()
		log, _ := os.ReadFile(logPath)
		lastErr = fmt.Errorf("%w\n%s", lastErr, tail(string(log), logTail))
	}
	t.Fatalf("etcdtest: %s did not start: %v", bin, lastErr)
	return ""
}

// awaitProcess waits until the etcd server at client answers a status request, it exits, or
// readyTimeout passes.
func awaitProcess(client string, exited <-chan struct{}) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Status(ctx, client)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("etcd exited before answering: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd did not answer within %v: %v", readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond) // polling: the server signals readiness no other way
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
