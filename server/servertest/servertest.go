// Package servertest starts in-process Starbase nodes for tests of the server and of the
// commands that talk to it.
//
// [Start] builds a server.Server over the store the test gives, or over a fresh bolt file in
// t.TempDir(), bootstraps its first admin token ([AdminToken]), starts it and serves it over
// loopback HTTP with net/http/httptest ([StartTLS]: HTTPS with httptest's certificate). The
// [Node] it returns holds an API client acting as that admin, and helpers to push an app,
// wait until the node serves a commit, and request it. Everything is stopped by t.Cleanup.
//
// Helpers that fail call t.Fatal, so they must be called from the test's goroutine.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// AdminToken is the secret of the admin token every node is bootstrapped with.
const AdminToken = "test-admin-token"

// commitTimeout bounds how long Push and WaitCommit wait for a node to take a commit: a
// failure bound for a loaded machine, not a measure of propagation.
const commitTimeout = time.Minute

// Node is one started node served over loopback HTTP. Its fields are set by Start and must
// not be changed. Its methods fail the test with t.Fatal, so they belong to the goroutine of
// the test (or subtest) whose t they are given.
type Node struct {
	// Server is the node itself.
	Server *server.Server
	// Store is the store it serves: Config.Store, or the bolt file Start opened.
	Store store.Store
	// URL is the base URL of the node, http://127.0.0.1:PORT (https:// with StartTLS).
	URL string
	// HTTP is an HTTP client that trusts the node's certificate under StartTLS.
	HTTP *http.Client
	// Client is an API client that acts with AdminToken over HTTP.
	Client *client.Client
	// Log holds the JSON log of the node, unless Config.Logger was given (then it stays
	// empty). It keeps every record: a test that makes millions of logged requests should
	// pass its own Logger.
	Log *Log

	tls bool
}

// Start starts a node with cfg over plain HTTP. A nil cfg.Store is a fresh bolt file in
// t.TempDir(); a nil cfg.Logger writes JSON to Node.Log.
func Start(t testing.TB, cfg server.Config) *Node {
	t.Helper()
	return start(t, cfg, false)
}

// StartTLS is Start over HTTPS with httptest's self-signed certificate; Node.HTTP and
// Node.Client trust it.
func StartTLS(t testing.TB, cfg server.Config) *Node {
	t.Helper()
	return start(t, cfg, true)
}

func start(t testing.TB, cfg server.Config, tls bool) *Node {
	t.Helper()
	if cfg.Store == nil {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	logs := &Log{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := srv.Tokens().Bootstrap(ctx, AdminToken); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	if tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	hc := hs.Client()
	c, err := client.New(hs.URL, client.Options{Token: AdminToken, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	return &Node{Server: srv, Store: cfg.Store, URL: hs.URL, HTTP: hc, Client: c, Log: logs, tls: tls}
}

// ServeEditor serves the node's editor origin (server.Server.Editor, what serve
// --editor-addr listens with) on a listener of its own, over HTTPS under StartTLS with the
// same certificate as the node's (Node.HTTP trusts it), and returns its base URL. It is
// closed by t.Cleanup.
func (n *Node) ServeEditor(t testing.TB) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(n.Server.Editor())
	if n.tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	return hs.URL
}

// Push pushes files as the admin, replacing whatever main is (a forced push), waits until
// the node serves the commit or reports that it does not build there, and returns it.
func (n *Node) Push(t testing.TB, files map[string]string) api.CommitResult {
	t.Helper()
	res, err := n.Client.Push(context.Background(), api.PushRequest{Files: Files(files), Force: true})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	// The node takes the commit from its watch: wait until it serves it or reports that it
	// does not build, so that the test's next request meets the pushed code.
	deadline := time.Now().Add(commitTimeout)
	for st := n.Server.Status(); st.Commit != res.Commit && st.Node.Wanted != res.Commit; st = n.Server.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("push: the node still serves %q %v after the push of %q", st.Commit, st.Node.Wanted, res.Commit)
		}
		time.Sleep(time.Millisecond)
	}
	return res
}

// WaitCommit waits until the node serves commit, failing the test after commitTimeout.
func (n *Node) WaitCommit(t testing.TB, commit string) {
	t.Helper()
	deadline := time.Now().Add(commitTimeout)
	for n.Server.Status().Commit != commit {
		if time.Now().After(deadline) {
			t.Fatalf("node still serves %q, want %q", n.Server.Status().Commit, commit)
		}
		time.Sleep(time.Millisecond)
	}
}

// WaitRefused waits until the node reports that commit does not build there (its status
// names it as Wanted), failing the test after commitTimeout, and returns that status.
func (n *Node) WaitRefused(t testing.TB, commit string) api.Node {
	t.Helper()
	deadline := time.Now().Add(commitTimeout)
	for {
		st := n.Server.Status().Node
		if st.Wanted == commit {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("node status = %+v, want it to report that %s does not build", st, commit)
		}
		time.Sleep(time.Millisecond)
	}
}

// Deploy pushes files as Push does, waits until the node serves them and returns the commit.
func (n *Node) Deploy(t testing.TB, files map[string]string) string {
	t.Helper()
	res := n.Push(t, files)
	n.WaitCommit(t, res.Commit)
	return res.Commit
}

// Do sends req with Node.HTTP and returns the response with its whole body, read and closed.
func (n *Node) Do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	return Do(t, n.HTTP, req)
}

// Do sends req with hc and returns the response with its whole body, read and closed.
func Do(t testing.TB, hc *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// Get requests path (with its query) of the node and returns the status, headers and body.
func (n *Node) Get(t testing.TB, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := n.Do(t, req)
	return resp.StatusCode, resp.Header, body
}

// Files converts a tree written as text, path to content, into the form pushes take.
func Files(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		out[k] = []byte(v)
	}
	return out
}
