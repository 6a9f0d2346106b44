package etcd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/storetest"
)

// TestStore_PassesConformanceOnEtcd34 runs the suite against the oldest etcd server the
// backend supports: Debian's etcd-server 3.4, which ./test.sh installs, started here as a
// separate process on loopback.
func TestStore_PassesConformanceOnEtcd34(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("the etcd server binary is not on PATH: install Debian's etcd-server (./test.sh does)")
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("etcd --version: %v", err)
	}
	t.Logf("server: %s", strings.SplitN(string(out), "\n", 2)[0])
	endpoint := startEtcdProcess(t, bin)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, []string{endpoint}, nil)
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcdProcess runs one etcd member from bin and waits until it answers.
func startEtcdProcess(t *testing.T, bin string) string {
	t.Helper()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--name", "m0", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m0="+peer, "--log-level", "error", "--logger", "zap")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logFile.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{client}, DialTimeout: time.Second})
		cancel()
		if err == nil {
			s.Close()
			return client
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("etcd did not answer within 20s: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
