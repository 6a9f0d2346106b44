// Package etcdtest starts real etcd clusters inside the test process, for tests of code that
// talks to etcd (the store/etcd backend and everything built on it).
//
// [Start] launches N members of one cluster with go.etcd.io/etcd/server/v3/embed on
// 127.0.0.1, each on two free ports (client and peer) with its data in t.TempDir(), and waits
// until every member serves. The cluster is stopped by t.Cleanup. Members can be stopped and
// restarted individually or all together, keeping their data and ports, so that tests can
// exercise fault handling: lost members, lost quorum, reconnects.
//
// The clusters are tuned for tests, not production: short raft ticks (fast elections), no
// fsync, no gRPC gateway. Each member logs warnings and errors to a file in the test's
// temporary directory, whose last lines are shown when the test fails. A stopped member ends
// its in-flight requests and streams at once with codes.Unavailable, as a crashed process
// would, instead of waiting for them to drain.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// tickMs and electionMs are the raft heartbeat and election timeout. They are short so that
	// elections after a start or a restart take about a second, and long enough for a member
	// starved of CPU on a loaded two-core machine running the race detector not to start an
	// election: at 25/250 ms, members at load 20 changed leaders under a stream of proposals,
	// and requests failed with etcd's own "request timed out" (its request timeout is 5 s plus
	// two election timeouts).
	tickMs     = 100
	electionMs = 1000

	// readyTimeout bounds how long a start or restart may take before the test fails.
	readyTimeout = 30 * time.Second

	// logTail is how many lines of each member's log a failed test shows.
	logTail = 15
)

// Cluster is a running etcd cluster started by [Start]. Its methods are safe for concurrent
// use, but a test usually drives it from one goroutine. Methods that fail call t.Fatal, so
// they must be called from the test's goroutine.
type Cluster struct {
	t     testing.TB
	opts  Options
	token string

	// mu guards the running state of every member (member.etcd, member.stop).
	mu      sync.Mutex
	members []*member
}

// member is one etcd server of a cluster, running or stopped. Its name, directory and URLs
// never change, so a restarted member rejoins with its identity and data.
type member struct {
	name      string
	dir       string
	logFile   string
	clientURL url.URL
	peerURL   url.URL

	etcd *embed.Etcd        // nil while stopped
	stop context.CancelFunc // ends in-flight requests of the running server
}

// Start launches a cluster of members servers (1, 3, ...) and returns once every member
// serves client requests. It fails the test if the cluster does not come up.
func Start(t testing.TB, members int) *Cluster {
	t.Helper()
	return StartWith(t, members, Options{})
}

// Options change how the members of a cluster run.
type Options struct {
	// QuotaBackendBytes is each member's --quota-backend-bytes; 0 means etcd's default.
	QuotaBackendBytes int64
}

// StartWith is Start with options.
func StartWith(t testing.TB, members int, opts Options) *Cluster {
	t.Helper()
	if members < 1 {
		t.Fatalf("etcdtest.Start: members = %d, want at least 1", members)
	}
	dir := t.TempDir()
	// Free ports are found by listening on port 0 and releasing the port; another process may
	// take one before etcd binds it, so a start that fails to bind is tried again on new ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c := &Cluster{t: t, opts: opts, token: fmt.Sprintf("etcdtest-%d", time.Now().UnixNano())}
		clusterDir := filepath.Join(dir, fmt.Sprintf("attempt%d", attempt))
		ports, err := freePorts(2 * members)
		if err != nil {
			t.Fatalf("etcdtest.Start: %v", err)
		}
		for i := 0; i < members; i++ {
			name := fmt.Sprintf("m%d", i)
			c.members = append(c.members, &member{
				name:      name,
				dir:       filepath.Join(clusterDir, name),
				logFile:   filepath.Join(clusterDir, name+".log"),
				clientURL: url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])},
				peerURL:   url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])},
			})
		}
		if err := os.MkdirAll(clusterDir, 0o700); err != nil {
			t.Fatalf("etcdtest.Start: %v", err)
		}
		err = c.startMembers(c.members)
		if err == nil {
			t.Cleanup(func() {
				c.StopAll()
				if t.Failed() {
					c.logTails()
				}
			})
			return c
		}
		c.logTails()
		c.StopAll()
		lastErr = err
		if !isAddrInUse(err) {
			break
		}
	}
	t.Fatalf("etcdtest.Start: %d-member cluster did not start: %v", members, lastErr)
	return nil
}

// Endpoints returns the client URLs of all members (running or not), in member order.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL.String()
	}
	return eps
}

// Endpoint returns the client URL of member i.
func (c *Cluster) Endpoint(i int) string {
	return c.member(i).clientURL.String()
}

// Len returns the number of members.
func (c *Cluster) Len() int { return len(c.members) }

// Stop stops member i, as if its process had died: open streams and requests on it fail with
// codes.Unavailable. Its data and ports are kept for [Cluster.Restart]. Stopping a stopped
// member does nothing. If the running members still form a quorum, Stop returns once they
// agree on a leader among them, so that a test's next request is not the one that meets
// the election (etcd fails it with "request timed out, possibly due to previous leader
// failure" and clients do not retry it).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	m := c.member(i)
	c.mu.Lock()
	m.close()
	c.mu.Unlock()
	if err := c.awaitLeader(); err != nil {
		c.t.Fatalf("etcdtest: after stopping member %s: %v", m.name, err)
	}
}

// awaitLeader waits until every running member names the same leader, itself a running
// member, when the running members form a quorum; otherwise it returns at once.
func (c *Cluster) awaitLeader() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		agreed, quorum := c.leaderAgreed()
		if agreed || !quorum {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the running members agreed on no leader within %v", readyTimeout)
		}
		time.Sleep(10 * time.Millisecond) // polling raft's state: there is no event to wait on
	}
}

// leaderAgreed reports whether the running members name the same leader, one that runs, and
// whether they form a quorum of the cluster.
func (c *Cluster) leaderAgreed() (agreed, quorum bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	running := map[uint64]bool{}
	for _, m := range c.members {
		if m.etcd != nil {
			running[uint64(m.etcd.Server.MemberID())] = true
		}
	}
	if len(running) <= len(c.members)/2 {
		return false, false
	}
	var leader uint64
	for _, m := range c.members {
		if m.etcd == nil {
			continue
		}
		l := uint64(m.etcd.Server.Leader())
		if !running[l] || (leader != 0 && l != leader) {
			return false, true
		}
		leader = l
	}
	return true, true
}

// Restart starts member i again with its data and ports, stopping it first if it runs, and
// waits until it serves. In a cluster of several members, it serves only once it has joined a
// quorum, so restart a majority with [Cluster.RestartAll] after a [Cluster.StopAll].
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.member(i)
	c.mu.Lock()
	m.close()
	c.mu.Unlock()
	if err := c.startMembers([]*member{m}); err != nil {
		c.t.Fatalf("etcdtest: restart member %s: %v", m.name, err)
	}
}

// StopAll stops every running member, concurrently. It is registered with t.Cleanup by
// [Start] and may also be called by a test (then followed by [Cluster.RestartAll]).
func (c *Cluster) StopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Go(m.close)
	}
	wg.Wait()
}

// RestartAll starts every stopped member again and waits until all serve.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	var stopped []*member
	c.mu.Lock()
	for _, m := range c.members {
		if m.etcd == nil {
			stopped = append(stopped, m)
		}
	}
	c.mu.Unlock()
	if err := c.startMembers(stopped); err != nil {
		c.t.Fatalf("etcdtest: restart all members: %v", err)
	}
}

func (c *Cluster) member(i int) *member {
	c.t.Helper()
	if i < 0 || i >= len(c.members) {
		c.t.Fatalf("etcdtest: member %d does not exist (cluster of %d)", i, len(c.members))
	}
	return c.members[i]
}

// startMembers launches ms together (a new cluster needs a quorum of its members running
// before any of them is ready) and waits until each one serves.
func (c *Cluster) startMembers(ms []*member) error {
	c.mu.Lock()
	for _, m := range ms {
		if m.etcd != nil {
			continue
		}
		if err := c.launch(m); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("member %s: %w", m.name, err)
		}
	}
	running := make(map[*member]*embed.Etcd, len(ms))
	for _, m := range ms {
		running[m] = m.etcd
	}
	c.mu.Unlock()

	deadline := time.After(readyTimeout)
	for m, e := range running {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			return fmt.Errorf("member %s failed: %v", m.name, err)
		case <-deadline:
			return fmt.Errorf("member %s not ready after %v", m.name, readyTimeout)
		}
	}
	return nil
}

// launch starts m's server; c.mu must be held.
func (c *Cluster) launch(m *member) error {
	stopCtx, stop := context.WithCancel(context.Background())
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{m.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{m.clientURL}
	cfg.ListenPeerUrls = []url.URL{m.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{m.peerURL}
	cfg.InitialCluster = c.initialCluster()
	cfg.InitialClusterToken = c.token
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.TickMs = tickMs
	cfg.ElectionMs = electionMs
	cfg.UnsafeNoFsync = true
	cfg.QuotaBackendBytes = c.opts.QuotaBackendBytes
	cfg.EnableGRPCGateway = false
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{m.logFile}
	cfg.GRPCAdditionalServerOptions = []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unaryUntil(stopCtx)),
		grpc.ChainStreamInterceptor(streamUntil(stopCtx)),
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		stop()
		return err
	}
	m.etcd, m.stop = e, stop
	return nil
}

func (c *Cluster) initialCluster() string {
	parts := make([]string, len(c.members))
	for i, m := range c.members {
		parts[i] = m.name + "=" + m.peerURL.String()
	}
	return strings.Join(parts, ",")
}

// logTails shows the end of each member's log in the test output.
func (c *Cluster) logTails() {
	for _, m := range c.members {
		data, err := os.ReadFile(m.logFile)
		if err != nil {
			c.t.Logf("etcdtest: member %s log: %v", m.name, err)
			continue
		}
		c.t.Logf("etcdtest: end of member %s log (%s):\n%s", m.name, m.logFile, tail(string(data), logTail))
	}
}

// close stops m's server if it runs; the cluster's mu must be held.
func (m *member) close() {
	if m.etcd == nil {
		return
	}
	// End in-flight requests and streams first: embed's Close otherwise waits for open watch
	// streams to drain for its request timeout (several seconds). Then stop raft without
	// handing leadership over, as a crash would: a graceful stop of a leader whose peers are
	// stopping too waits for a transfer that cannot happen.
	m.stop()
	m.etcd.Server.HardStop()
	m.etcd.Close()
	m.etcd, m.stop = nil, nil
}

// errStopped is what a request in flight on a stopping member fails with: Unavailable, so
// that clients treat it like a lost connection and retry elsewhere.
var errStopped = status.Error(codes.Unavailable, "etcdtest: member stopped")

// unaryUntil ends each unary request when stopCtx is done.
func unaryUntil(stopCtx context.Context) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(stopCtx, cancel)()
		resp, err := handler(ctx, req)
		if err != nil && stopCtx.Err() != nil {
			return nil, errStopped
		}
		return resp, err
	}
}

// streamUntil ends each stream (watches, lease keep-alives) when stopCtx is done.
func streamUntil(stopCtx context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(stopCtx, cancel)()
		err := handler(srv, &stoppableStream{ServerStream: ss, ctx: ctx})
		if stopCtx.Err() != nil {
			return errStopped
		}
		return err
	}
}

// stoppableStream is a server stream whose context also ends when its member stops.
type stoppableStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stoppableStream) Context() context.Context { return s.ctx }

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
