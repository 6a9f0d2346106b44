package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/server"
)

// Front is what every node serves behind: a request is tracked while it runs and only then,
// a client that trickles its header is cut off at the header timeout while others are
// answered, and the connection limits hold.
func TestFront_TracksRequestsCutsTricklersAndLimitsConnections(t *testing.T) {
	running := server.NewInflight()
	entered, release := make(chan struct{}), make(chan struct{})
	addr := startFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "ok")
	}), server.FrontConfig{HeaderTimeout: 300 * time.Millisecond, Running: running})
	url := "http://" + addr

	slow := make(chan error, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	<-entered
	got := running.Snapshot()
	if len(got) != 1 || got[0].Method != "GET" || got[0].Path != "/slow" || !strings.HasPrefix(got[0].Remote, "127.0.0.1:") {
		t.Fatalf("while /slow runs: %+v, want the one GET /slow from 127.0.0.1", got)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a finished request is no longer tracked", func() bool { return len(running.Snapshot()) == 0 })

	// A client that sends half a header and stops is closed by the node.
	trickler, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer trickler.Close()
	io.WriteString(trickler, "GET / HTTP/1.1\r\nHost: x\r\n")
	trickler.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := trickler.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("a half-sent header: read %d bytes, %v; want the node to close the connection", n, err)
	}

	// Three connections are admitted, the fourth is refused.
	addr = startFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		server.FrontConfig{Conns: server.ConnLimits{Max: 3}})
	for i := range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		resp.Body.Close()
		want := http.StatusOK
		if i == 3 {
			want = http.StatusServiceUnavailable
		}
		if resp.StatusCode != want {
			t.Errorf("connection %d: %s, want %d", i+1, resp.Status, want)
		}
	}
}

// startFront serves h behind server.Front on a loopback port until the test ends, and
// returns the address.
func startFront(t *testing.T, h http.Handler, cfg server.FrontConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs, fln := server.Front(ln, h, cfg)
	go hs.Serve(fln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
