package etcd_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
	"github.com/starbase/starbase/store/storetest"
)

// TestRetention_WritesNeverReachTheQuota: on a cluster with a 64 MiB quota, 10,000 writes of
// 10 KB (100 MB written, more than the quota) to 5 keys never raise NOSPACE while a Retainer
// keeps a window of history (here about 100 writes' worth: the clock moves one second per
// write, the window is 100 s, it ticks every 25 writes). etcd reuses the pages compaction
// frees, so its file stops growing.
func TestRetention_WritesNeverReachTheQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB to etcd")
	}
	c := etcdtest.StartWith(t, 1, etcdtest.Options{QuotaBackendBytes: 64 << 20})
	s := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.RequestTimeout = 30 * time.Second })
	clock := time.Unix(1e9, 0)
	r := &store.Retainer{Store: s, Window: 100 * time.Second, Now: func() time.Time { return clock }}
	value := []byte(strings.Repeat("x", 10_000))
	for i := range 10_000 {
		if _, err := s.Commit(t.Context(), nil, []store.Op{store.Put(fmt.Sprintf("data/counter-%d", i%5), value)}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		clock = clock.Add(time.Second)
		if i%25 == 0 {
			if _, err := r.Tick(t.Context()); err != nil {
				t.Fatalf("tick after write %d: %v", i, err)
			}
		}
	}
	if st := r.Stats(); st.Compacted == 0 {
		t.Errorf("the retainer never compacted: %+v", st)
	}
}

// TestRetention_AHeldRevisionIsNotCompactedByAnyNode: a revision held through one client
// (store.HoldHistory: an ephemeral key under store.HoldPrefix) is not compacted by the
// Retainer of another client of the cluster, as a backup on one node holds the history
// against the compactions of every node; released, it is compacted at the next tick.
func TestRetention_AHeldRevisionIsNotCompactedByAnyNode(t *testing.T) {
	c := etcdtest.Start(t, 1)
	storetest.RunHold(t, open(t, c.Endpoints(), nil), open(t, c.Endpoints(), nil))
}
