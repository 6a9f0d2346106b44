package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// TestFormat_MarkerIsWrittenHiddenAndChecked: a new prefix gets the marker; reads, range
// compares and watches of the store never see it; a newer format or another program's value
// at the prefix key is refused.
func TestFormat_MarkerIsWrittenHiddenAndChecked(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cli := rawClient(t, c)
	ctx := context.Background()

	s := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.Prefix = "/fmt/" })
	resp, err := cli.Get(ctx, "/fmt/")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != fmt.Sprintf("starbase-etcd %d", etcd.FormatVersion) {
		t.Fatalf("marker after Open = %v, %v", resp, err)
	}
	watch := s.Watch(ctx, "", 1)
	rev, err := s.Commit(ctx, []store.Compare{store.UnmodifiedSince("", 0)}, []store.Op{store.Put("a", []byte("1"))})
	if err != nil {
		t.Fatalf("commit under a range compare of the whole (empty) store: %v", err)
	}
	res, err := s.Range(ctx, "", store.RangeOptions{})
	if err != nil || len(res.KVs) != 1 || res.KVs[0].Key != "a" {
		t.Errorf("Range of everything = %+v, %v; want only a", res.KVs, err)
	}
	if kv, _, err := s.Get(ctx, "", 0); kv != nil || err != nil {
		t.Errorf(`Get("") = %+v, %v; want absent`, kv, err)
	}
	ev := <-watch
	if ev.Revision != rev || len(ev.Changes) != 1 || ev.Changes[0].Key != "a" {
		t.Errorf("first watch event from revision 1 = %+v, want the commit of a at %d (the marker is not an event)", ev, rev)
	}

	for _, bad := range []struct{ value, words string }{
		{fmt.Sprintf("starbase-etcd %d", etcd.FormatVersion+1), fmt.Sprintf("format %d", etcd.FormatVersion+1)},
		{"something else", "another program"},
	} {
		if _, err := cli.Put(ctx, "/fmt/", bad.value); err != nil {
			t.Fatal(err)
		}
		s2, err := etcd.Open(ctx, etcd.Config{Endpoints: c.Endpoints(), Prefix: "/fmt/"})
		if err == nil {
			s2.Close()
			t.Errorf("Open with %q at the prefix succeeded", bad.value)
			continue
		}
		if !errors.Is(err, store.ErrFormat) || !strings.Contains(err.Error(), bad.words) {
			t.Errorf("Open with %q at the prefix = %v, want ErrFormat saying %q", bad.value, err, bad.words)
		}
	}
}

// TestFormat_KeysWithoutAMarkerAreAdoptedOnlyWhenStarbases: a prefix holding keys but no
// marker is refused as another program's, unless some of its keys are Starbase's (code/,
// auth/: a store written before the marker existed), which is adopted and gets the marker.
// Before, another program's keys were taken for a store and served.
func TestFormat_KeysWithoutAMarkerAreAdoptedOnlyWhenStarbases(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cli := rawClient(t, c)
	ctx := context.Background()
	for _, k := range []string{"/other/config/a", "/other/config/b", "/old/code/refs/main", "/old/data/x"} {
		if _, err := cli.Put(ctx, k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	s, err := etcd.Open(ctx, etcd.Config{Endpoints: c.Endpoints(), Prefix: "/other/"})
	if err == nil {
		s.Close()
		t.Errorf("Open of a prefix holding another program's keys succeeded")
	} else if !errors.Is(err, store.ErrFormat) || !strings.Contains(err.Error(), `the 2 etcd keys under "/other/" (the first "/other/config/a")`) ||
		!strings.Contains(err.Error(), "another program") {
		t.Errorf("Open of a prefix holding another program's keys = %v, want ErrFormat naming the keys and another program", err)
	}
	if resp, err := cli.Get(ctx, "/other/"); err != nil || len(resp.Kvs) != 0 {
		t.Errorf("the refused prefix got a marker: %v %v", resp, err)
	}
	old := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.Prefix = "/old/" })
	if kv, _, err := old.Get(ctx, "code/refs/main", 0); err != nil || kv == nil || string(kv.Value) != "v" {
		t.Errorf("the adopted store's ref = %+v %v, want it read", kv, err)
	}
	if resp, err := cli.Get(ctx, "/old/"); err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != fmt.Sprintf("starbase-etcd %d", etcd.FormatVersion) {
		t.Errorf("marker of the adopted store = %v, %v", resp, err)
	}
}

// rawClient is an etcd client of c that sees the keys as they are, prefixes and markers
// included.
func rawClient(t *testing.T, c *etcdtest.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
