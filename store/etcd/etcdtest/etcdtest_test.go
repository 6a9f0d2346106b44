package etcdtest_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/starbase/starbase/store/etcd/etcdtest"
)

func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New(%v): %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// put writes key, retrying while the cluster is unavailable: a put sent to a member as it
// stops fails with Unavailable (the client does not retry writes by itself), and writing
// the same value again is harmless.
func put(t *testing.T, cli *clientv3.Client, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := cli.Put(ctx, key, value)
		if err == nil {
			return
		}
		if status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("Get(%q): %d keys, want 1", key, len(resp.Kvs))
	}
	return string(resp.Kvs[0].Value)
}

func TestStart_OneMemberServes(t *testing.T) {
	c := etcdtest.Start(t, 1)
	if got := len(c.Endpoints()); got != 1 {
		t.Fatalf("len(Endpoints()) = %d, want 1", got)
	}
	cli := newClient(t, c.Endpoints())
	put(t, cli, "k", "v")
	if got := get(t, cli, "k"); got != "v" {
		t.Errorf("Get(k) = %q, want %q", got, "v")
	}
}

func TestCluster_ThreeMembersSurviveOneStopAndKeepDataAcrossRestarts(t *testing.T) {
	c := etcdtest.Start(t, 3)
	cli := newClient(t, c.Endpoints())
	put(t, cli, "before", "1")

	c.Stop(0)
	put(t, cli, "during", "2")
	c.Restart(0)

	// Member 0 alone must now have both keys: it kept its data and caught up.
	only0 := newClient(t, []string{c.Endpoint(0)})
	if got := get(t, only0, "during"); got != "2" {
		t.Errorf("member 0 after restart: Get(during) = %q, want %q", got, "2")
	}

	c.StopAll()
	c.RestartAll()
	if got := get(t, cli, "before"); got != "1" {
		t.Errorf("after RestartAll: Get(before) = %q, want %q", got, "1")
	}
}

func TestCluster_StopEndsOpenWatchesPromptly(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cli := newClient(t, c.Endpoints())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := cli.Watch(ctx, "w", clientv3.WithCreatedNotify())
	<-wch // created

	start := time.Now()
	c.Stop(0)
	if took := time.Since(start); took > 10*time.Second { // it hung for good before
		t.Errorf("Stop with an open watch took %v, want under 10s", took)
	}
}
