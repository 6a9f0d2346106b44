package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// The operations tests drive the built binary through what an operator does: check the
// version, start on a wrong or damaged data directory, stop a node with requests running.

func TestE2E_VersionNamesTheStoreFormats(t *testing.T) {
	out, err := exec.Command(binary(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("starbase --version: %v\n%s", err, out)
	}
	for _, want := range []string{"starbase ", "store formats: bolt 1, etcd 1", "backup formats: 1 to 2 (backups are written in format 2)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("starbase --version = %q, want it to say %q", out, want)
		}
	}
}

// serveFails runs `starbase serve` on dataDir (and args), requires it to exit non-zero
// within a bound, and returns its output.
func serveFails(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	bin := binary(t) // built on first use: not within the bound
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), "STARBASE_ADMIN_TOKEN="+e2eToken)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("starbase serve on %s did not exit: it served\n%s", dataDir, out)
	}
	if err == nil {
		t.Fatalf("starbase serve on %s exited 0, want a refusal\n%s", dataDir, out)
	}
	if strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine ") {
		t.Errorf("starbase serve on %s panicked:\n%s", dataDir, out)
	}
	return string(out)
}

func TestE2E_ServeRefusesForeignEmptyAndDamagedStores(t *testing.T) {
	// A real store with an app and data, for the damaged cases.
	good := t.TempDir()
	n := startServe(t, good)
	apiClient(t, n).Push(context.Background(), api.PushRequest{Files: versionApp(1), Force: true})
	n.stop(t)
	db := filepath.Join(good, "starbase.db")
	content, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		make  func(path string)
		words []string
	}{
		{"empty file", func(path string) { os.WriteFile(path, nil, 0o600) }, []string{"empty file"}},
		{"another program's bbolt file", func(path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
			db.Close()
		}, []string{"another program", "widgets"}},
		{"truncated", func(path string) { os.WriteFile(path, content[:len(content)/2], 0o600) }, []string{"truncated"}},
		{"zeroed pages", func(path string) {
			b := append([]byte(nil), content...)
			clear(b[8192:])
			os.WriteFile(path, b, 0o600)
		}, []string{"damaged"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "starbase.db")
			c.make(path)
			before, _ := os.ReadFile(path)
			out := serveFails(t, dir)
			for _, w := range append(c.words, path) {
				if !strings.Contains(out, w) {
					t.Errorf("serve output does not say %q:\n%s", w, out)
				}
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Errorf("serve changed the refused file")
			}
			if _, err := os.Stat(filepath.Join(dir, "admin.token")); err == nil {
				t.Errorf("serve wrote an admin token beside a refused store")
			}
		})
	}
}

// TestE2E_ServeRefusesAnEtcdPrefixOfAnotherProgramOrANewerFormat: on both etcd servers,
// serve refuses a prefix holding another program's keys (no format marker, no Starbase key)
// and one marked with a newer format, saying why and what to do, and writes nothing there.
func TestE2E_ServeRefusesAnEtcdPrefixOfAnotherProgramOrANewerFormat(t *testing.T) {
	for _, es := range etcdServers {
		t.Run(es.name, func(t *testing.T) {
			ep := es.start(t, etcdtest.Options{})
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ctx := context.Background()
			for k, v := range map[string]string{"/other/config/a": "x", "/newer/": fmt.Sprintf("starbase-etcd %d", etcd.FormatVersion+1)} {
				if _, err := cli.Put(ctx, k, v); err != nil {
					t.Fatal(err)
				}
			}
			for prefix, words := range map[string][]string{
				"/other/": {"another program", "/other/config/a", "choose another --etcd-prefix"},
				"/newer/": {fmt.Sprintf("format %d", etcd.FormatVersion+1), "run a newer starbase"},
			} {
				out := serveFails(t, t.TempDir(), "--etcd", ep, "--etcd-prefix", prefix)
				for _, w := range words {
					if !strings.Contains(out, w) {
						t.Errorf("serve on %s does not say %q:\n%s", prefix, w, out)
					}
				}
				resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
				if err != nil || resp.Count != 1 {
					t.Errorf("keys under %s after the refusal: %v %v, want the 1 key it held", prefix, resp, err)
				}
			}
		})
	}
}

// holdRequest opens a connection to n and sends the start of a push whose body is held back,
// so that the request runs until the rest is sent or the connection is closed. It returns
// once the handler runs (it asked for the body: "100 Continue"), with a reader of the
// connection and a function that sends the body.
func holdRequest(t *testing.T, n *node) (*bufio.Reader, func()) {
	t.Helper()
	u, _ := url.Parse(n.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	b, _ := json.Marshal(api.PushRequest{Files: versionApp(1), Force: true})
	body := string(b)
	fmt.Fprintf(conn, "POST /-/api/push HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
		u.Host, e2eToken, len(body))
	r := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, "100") {
		t.Fatalf("held push: got %q, %v; want 100 Continue", line, err)
	}
	r.ReadString('\n') // the blank line after it
	return r, func() { fmt.Fprint(conn, body) }
}

// waitLog waits until n's logs hold s.
func waitLog(t *testing.T, n *node, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(n.logText(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the logs never said %q:\n%s", s, n.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2E_StopWaitsForRunningRequestsThenCutsAndLogsThem stops a node (SIGINT) while a push
// runs, on bolt and on both etcd servers: within --shutdown-grace the push finishes and the
// process exits 0 saying every request finished; past it, the request is cut off, named in
// the log, and the exit is still 0.
func TestE2E_StopWaitsForRunningRequestsThenCutsAndLogsThem(t *testing.T) {
	t.Run("bolt", func(t *testing.T) { stopWaitsThenCuts(t) })
	for _, es := range etcdServers {
		t.Run(es.name, func(t *testing.T) { stopWaitsThenCuts(t, "--etcd", es.start(t, etcdtest.Options{})) })
	}
}

func stopWaitsThenCuts(t *testing.T, store ...string) {
	t.Run("finished within the grace period", func(t *testing.T) {
		n := startServe(t, t.TempDir(), append([]string{"--shutdown-grace", "60s"}, store...)...)
		answer, send := holdRequest(t, n)
		n.cmd.Process.Signal(os.Interrupt)
		waitLog(t, n, `"running":1`)
		send()
		status, err := answer.ReadString('\n')
		if err != nil || !strings.Contains(status, "200") {
			t.Errorf("the running push got %q, %v; want its answer, 200", status, err)
		}
		if err := n.cmd.Wait(); err != nil {
			t.Errorf("serve exited with %v, want status 0\n%s", err, n.logText())
		}
		if !strings.Contains(n.logText(), "every request finished") {
			t.Errorf("the logs do not say the stop was clean:\n%s", n.logText())
		}
	})
	t.Run("cut off at the end of the grace period", func(t *testing.T) {
		n := startServe(t, t.TempDir(), append([]string{"--shutdown-grace", "1s"}, store...)...)
		holdRequest(t, n)
		n.cmd.Process.Signal(os.Interrupt)
		if err := n.cmd.Wait(); err != nil {
			t.Errorf("serve exited with %v, want status 0\n%s", err, n.logText())
		}
		logs := n.logText()
		if !strings.Contains(logs, "request cut off") || !strings.Contains(logs, `"path":"/-/api/push"`) {
			t.Errorf("the logs do not name the request that was cut off:\n%s", logs)
		}
	})
}

func TestE2E_CompactRewritesAStoppedNodesFileAndRefusesARunningOne(t *testing.T) {
	data := t.TempDir()
	n := startServe(t, data)
	c := apiClient(t, n)
	for i := range 3 {
		if _, err := c.Push(context.Background(), api.PushRequest{Files: versionApp(i), Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, errOut, err := n.try("compact", "--data", data); err == nil || !strings.Contains(errOut, "locked") {
		t.Errorf("compact of a served store: err %v, stderr %q; want a refusal saying it is locked", err, errOut)
	}
	n.stop(t)
	out, errOut, err := n.try("compact", "--data", data)
	if err != nil || !strings.Contains(out, "compacted") {
		t.Fatalf("compact of a stopped node: %v\n%s%s", err, out, errOut)
	}
	n = startServe(t, data)
	n.waitBody(t, "/", "v2")
}
