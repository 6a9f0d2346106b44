package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// BenchmarkQuota_MillionWritesAndTenThousandPushes runs a node on a one-member etcd with a
// 64 MiB quota (--quota-backend-bytes) and --keep-commits 10: 10,000 pushes of one changing
// module through the API (gate, audit record and all), and after each push 100 small writes
// (100 bytes to one of 1,000 keys; one million in all) from 4 writers. The node's history
// retention runs as serve runs it, with a window of 10 pushes (the clock moves a second a
// push; the Retainer ticks and the code is collected every 10 pushes). No write and no push
// may meet NOSPACE; it reports the largest etcd database size seen (sampled every 500
// pushes) and the commits kept at the end. Run it once:
//
//	go test -run '^$' -bench Quota_Million -benchtime 1x -timeout 60m ./server
func BenchmarkQuota_MillionWritesAndTenThousandPushes(b *testing.B) {
	const (
		pushes         = 10_000
		writesPerPush  = 100
		writers        = 4
		quota          = 64 << 20
		keep           = 10
		sampleInterval = 500
	)
	for range b.N {
		ctx := context.Background()
		cluster := etcdtest.StartWith(b, 1, etcdtest.Options{QuotaBackendBytes: quota})
		st, err := etcd.Open(ctx, etcd.Config{Endpoints: cluster.Endpoints(), Prefix: "/quota/", RequestTimeout: 30 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		cli, err := clientv3.New(clientv3.Config{Endpoints: cluster.Endpoints(), DialTimeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Close()
		dbSize := func() int64 {
			res, err := cli.Status(ctx, cluster.Endpoint(0))
			if err != nil {
				b.Fatal(err)
			}
			return res.DbSize
		}
		n := servertest.Start(b, server.Config{Store: st, CodeRetention: code.Retention{KeepCommits: keep}})
		clock := time.Unix(1e9, 0)
		r := &store.Retainer{Store: st, Window: 10 * time.Second, Now: func() time.Time { return clock }}
		value := []byte(strings.Repeat("x", 100))
		var maxDB int64
		start := time.Now()
		for i := range pushes {
			n.Push(b, map[string]string{
				"app.star":   "load(\"lib/v.star\", \"V\")\ndef index(req):\n    return V\nroutes = {\"GET /{$}\": index}\n",
				"lib/v.star": fmt.Sprintf("V = \"version %d\"\n", i),
			})
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := w; j < writesPerPush; j += writers {
						key := fmt.Sprintf("data/bench/%d", (i*writesPerPush+j)%1000)
						if _, err := st.Commit(ctx, nil, []store.Op{store.Put(key, value)}); err != nil {
							errs <- fmt.Errorf("write %d after push %d: %w", j, i, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if errors.Is(err, store.ErrFull) {
					b.Fatalf("NOSPACE: %v", err)
				}
				b.Fatal(err)
			}
			clock = clock.Add(time.Second)
			if i%10 == 9 {
				if _, err := r.Tick(ctx); err != nil {
					b.Fatalf("tick after push %d: %v", i, err)
				}
				if _, err := n.Server.CollectCode(ctx); err != nil {
					b.Fatalf("collection after push %d: %v", i, err)
				}
			}
			if i%sampleInterval == sampleInterval-1 {
				size := dbSize()
				maxDB = max(maxDB, size)
				b.Logf("after %d pushes and %d writes (%v): etcd database %d bytes", i+1, (i+1)*writesPerPush, time.Since(start).Round(time.Second), size)
			}
		}
		repo := n.Server.Repo()
		main, _, err := repo.Ref(ctx, code.DefaultBranch)
		if err != nil {
			b.Fatal(err)
		}
		log, err := repo.Log(ctx, main, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(maxDB), "max-db-bytes")
		b.ReportMetric(float64(len(log)), "commits-kept")
		b.ReportMetric(float64(pushes*writesPerPush), "writes")
	}
}
