package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
	"github.com/starbase/starbase/store/storetest"
)

// open opens a store on endpoints, adjusted by configure when not nil, and closes it when the
// test ends.
func open(t testing.TB, endpoints []string, configure func(*etcd.Config)) *etcd.Store {
	t.Helper()
	cfg := etcd.Config{Endpoints: endpoints, Prefix: "/starbase/"}
	if configure != nil {
		configure(&cfg)
	}
	s, err := etcd.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("etcd.Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore_PassesConformanceWithOneMember(t *testing.T) {
	c := etcdtest.Start(t, 1)
	// No prefix here and "/starbase/" with three members: both ways of mapping keys are run.
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.Prefix = "" })
	})
}

func TestStore_PassesConformanceWithThreeMembers(t *testing.T) {
	c := etcdtest.Start(t, 3)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, c.Endpoints(), nil) })
}

// wantNothingWritten checks that no key exists under prefix and the revision is still before.
func wantNothingWritten(t *testing.T, s store.Store, prefix string, before int64) {
	t.Helper()
	res, err := s.Range(t.Context(), prefix, store.RangeOptions{})
	if err != nil {
		t.Fatalf("Range(%q): %v", prefix, err)
	}
	if len(res.KVs) != 0 || res.Revision != before {
		t.Errorf("after a refused commit: %d keys under %q at revision %d, want none at revision %d", len(res.KVs), prefix, res.Revision, before)
	}
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(t.Context())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

func absents(prefix string, n int) []store.Compare {
	compares := make([]store.Compare, n)
	for i := range compares {
		compares[i] = store.Absent(fmt.Sprintf("%s%04d", prefix, i))
	}
	return compares
}

func puts(prefix string, n, valueSize int) []store.Op {
	ops := make([]store.Op, n)
	for i := range ops {
		ops[i] = store.Put(fmt.Sprintf("%s%04d", prefix, i), make([]byte, valueSize))
	}
	return ops
}

func TestCommit_BeyondLimitsIsRefusedBeforeSending(t *testing.T) {
	c := etcdtest.Start(t, 1)
	// The server accepts 128 ops and 1.5 MiB: each refusal below comes from the store itself.
	s := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.MaxTxnOps = 8; cfg.MaxRequestBytes = 64 << 10 })
	if got, want := s.Limits(), (store.Limits{MaxCompares: 8, MaxOps: 8, MaxBytes: (64 << 10) * 2 / 3}); got != want {
		t.Fatalf("Limits() = %+v, want %+v", got, want)
	}
	// Opened first: Open writes the format marker under its prefix.
	long := open(t, c.Endpoints(), func(cfg *etcd.Config) {
		cfg.Prefix = strings.Repeat("p", 8<<10)
		cfg.MaxRequestBytes = 64 << 10
	})
	before := revision(t, s)

	_, err := s.Commit(t.Context(), nil, puts("ops/", 9, 1))
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("commit of 9 ops with MaxTxnOps 8: got %v, want ErrTooLarge", err)
	}
	_, err = s.Commit(t.Context(), absents("cmp/", 9), puts("ops/", 1, 1))
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("commit of 9 compares and 1 op with MaxTxnOps 8: got %v, want ErrTooLarge", err)
	}
	_, err = s.Commit(t.Context(), nil, puts("bytes/", 2, s.Limits().MaxBytes/2))
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("commit of more than MaxBytes: got %v, want ErrTooLarge", err)
	}
	wantNothingWritten(t, s, "", before)

	// A long prefix is sent with every key: the encoded commit is too large although its own
	// keys and values are small.
	_, err = long.Commit(t.Context(), nil, puts("k", 8, 1))
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("commit of 8 ops under an 8 KiB prefix with MaxRequestBytes 64 KiB: got %v, want ErrTooLarge", err)
	}
	wantNothingWritten(t, long, "", before)
}

func TestCommit_RefusedByTheServerIsTooLarge(t *testing.T) {
	c := etcdtest.Start(t, 1)
	// A store configured beyond the server's --max-txn-ops (128): the server refuses.
	s := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.MaxTxnOps = 1000 })
	before := revision(t, s)
	_, err := s.Commit(t.Context(), nil, puts("ops/", 200, 1))
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("commit of 200 ops refused by the server: got %v, want ErrTooLarge", err)
	}
	// 129 compares (and so 129 reads in the failure branch) and no op.
	_, err = s.Commit(t.Context(), absents("cmp/", 129), nil)
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("commit of 129 compares refused by the server: got %v, want ErrTooLarge", err)
	}
	wantNothingWritten(t, s, "", before)
}

// TestCommit_StoreRefusesExactlyWhatTheServerRefuses finds, with a store that lets everything
// through to the server, the largest commits the server accepts, and checks that the store
// with the server's setting allows exactly those: compares and ops are each bounded by
// --max-txn-ops, the failure branch (one read per compare) included.
func TestCommit_StoreRefusesExactlyWhatTheServerRefuses(t *testing.T) {
	c := etcdtest.Start(t, 1)
	permissive := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.MaxTxnOps = 1000 })
	exact := open(t, c.Endpoints(), nil)
	for _, tc := range []struct{ compares, ops int }{
		{128, 128}, {129, 0}, {129, 1}, {0, 129}, {1, 129}, {128, 0}, {0, 128}, {127, 128},
	} {
		compares := absents(fmt.Sprintf("exact/%d-%d/cmp/", tc.compares, tc.ops), tc.compares)
		ops := puts(fmt.Sprintf("exact/%d-%d/ops/", tc.compares, tc.ops), tc.ops, 1)
		_, serverErr := permissive.Commit(t.Context(), compares, ops)
		if serverErr != nil && !errors.Is(serverErr, store.ErrTooLarge) {
			t.Fatalf("%d compares and %d ops: the server answered %v", tc.compares, tc.ops, serverErr)
		}
		allowed := exact.Limits().Allows(store.SizeOf(compares, ops))
		if allowed != (serverErr == nil) {
			t.Errorf("%d compares and %d ops: Limits().Allows = %v, but the server's answer is %v", tc.compares, tc.ops, allowed, serverErr)
		}
		_, err := exact.Commit(t.Context(), compares, ops)
		if allowed && err != nil || !allowed && !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("%d compares and %d ops: Commit = %v, want success exactly when the server accepts it (%v)", tc.compares, tc.ops, err, serverErr)
		}
	}
}

func TestCommit_AtBothLimitsSucceeds(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := open(t, c.Endpoints(), nil)
	limits := s.Limits()
	// One compare and MaxOps puts whose keys and values add up to MaxBytes exactly.
	n := limits.MaxOps
	ops := puts("k/", n, 0)
	room := limits.MaxBytes - len("x")
	for _, op := range ops {
		room -= len(op.Key)
	}
	for i := range ops {
		size := room / n
		if i == 0 {
			size += room % n
		}
		ops[i].Value = make([]byte, size)
	}
	before := revision(t, s)
	rev, err := s.Commit(t.Context(), []store.Compare{store.Absent("x")}, ops)
	if err != nil {
		t.Fatalf("commit of 1 compare, %d ops and %d bytes (the limits %+v): %v", n, limits.MaxBytes, limits, err)
	}
	if rev != before+1 {
		t.Errorf("commit at the limits: got revision %d, want %d", rev, before+1)
	}
}

// commitOnce puts key, which must be absent, and returns the revision that created it. It
// retries while the cluster is unavailable: the Absent compare makes a retry of a commit that
// was applied fail with a conflict, and the key then tells its revision.
func commitOnce(t *testing.T, s store.Store, key string) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rev, err := s.Commit(t.Context(), []store.Compare{store.Absent(key)}, []store.Op{store.Put(key, []byte(key))})
		if err == nil {
			return rev
		}
		if errors.Is(err, store.ErrConflict) {
			kv, _, err := s.Get(t.Context(), key, 0)
			if err == nil && kv != nil {
				return kv.CreateRevision
			}
		}
		if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrConflict) {
			t.Fatalf("commit %q: %v", key, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit %q: still failing after 20s: %v", key, err)
		}
	}
}

// wantRevisions reads events until the last of revs and checks that they are exactly revs,
// in order, each with the one key that commitOnce wrote.
func wantRevisions(t *testing.T, events <-chan store.Event, revs []int64, keys []string) {
	t.Helper()
	for i, rev := range revs {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch closed before revision %d (%d of %d)", rev, i+1, len(revs))
			}
			if ev.Err != nil || ev.Revision != rev || len(ev.Changes) != 1 || ev.Changes[0].Key != keys[i] {
				t.Fatalf("event %d: got revision %d %+v (err %v), want revision %d changing %q", i, ev.Revision, ev.Changes, ev.Err, rev, keys[i])
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no event for revision %d (%d of %d) within 20s", rev, i+1, len(revs))
		}
	}
	select {
	case ev := <-events:
		t.Errorf("event after the last commit: got revision %d %+v (err %v), want none", ev.Revision, ev.Changes, ev.Err)
	default:
	}
}

func TestWatch_ContinuesAcrossMemberRestartsWithoutGapsOrDuplicates(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.RequestTimeout = 2 * time.Second })
	events := s.Watch(t.Context(), "w/", revision(t, s))

	var revs []int64
	var keys []string
	commit := func(key string) {
		keys = append(keys, "w/"+key)
		revs = append(revs, commitOnce(t, s, "w/"+key))
	}
	// Whichever member serves the watch, one of these stops cuts it off.
	for i := range c.Len() {
		commit(fmt.Sprintf("%d-before", i))
		c.Stop(i)
		commit(fmt.Sprintf("%d-stopped", i))
		c.Restart(i)
		commit(fmt.Sprintf("%d-restarted", i))
	}
	wantRevisions(t, events, revs, keys)
}

func TestWatch_ContinuesAcrossRestartOfTheOnlyMember(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.RequestTimeout = time.Second })
	events := s.Watch(t.Context(), "w/", revision(t, s))
	revs := []int64{commitOnce(t, s, "w/before")}
	c.Stop(0)
	c.Restart(0)
	revs = append(revs, commitOnce(t, s, "w/after"))
	wantRevisions(t, events, revs, []string{"w/before", "w/after"})
}

func TestWatch_ResumesAfterItsMemberLostAndRegainedQuorum(t *testing.T) {
	c := etcdtest.Start(t, 3)
	// Only member 0 is known to the store, so the watch runs there. With members 1 and 2
	// stopped it has no leader: etcd ends the watch (WithRequireLeader) and the store must
	// establish it again once a quorum is back.
	s := open(t, []string{c.Endpoint(0)}, func(cfg *etcd.Config) { cfg.RequestTimeout = time.Second })
	events := s.Watch(t.Context(), "q/", revision(t, s))
	revs := []int64{commitOnce(t, s, "q/before")}

	c.Stop(1)
	c.Stop(2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := s.Get(t.Context(), "q/before", 0)
		if errors.Is(err, store.ErrUnavailable) {
			break // member 0 knows it has no leader (or no quorum to confirm it)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get with 2 of 3 members stopped: got %v for 10s, want ErrUnavailable", err)
		}
	}
	c.RestartAll()
	revs = append(revs, commitOnce(t, s, "q/after"))
	wantRevisions(t, events, revs, []string{"q/before", "q/after"})
}

func TestStore_FailsFastWhileAllMembersAreStoppedAndRecovers(t *testing.T) {
	c := etcdtest.Start(t, 3)
	const timeout = time.Second
	s := open(t, c.Endpoints(), func(cfg *etcd.Config) { cfg.RequestTimeout = timeout })
	events := s.Watch(t.Context(), "k/", revision(t, s))
	revs := []int64{commitOnce(t, s, "k/before")}

	c.StopAll()
	start := time.Now()
	_, err := s.Commit(t.Context(), nil, []store.Op{store.Put("k/during", nil)})
	if took := time.Since(start); !errors.Is(err, store.ErrUnavailable) || took > 10*timeout {
		t.Errorf("Commit with all members stopped: got %v after %v, want ErrUnavailable within %v", err, took, 10*timeout)
	}
	start = time.Now()
	_, _, err = s.Get(t.Context(), "k/before", 0)
	if took := time.Since(start); !errors.Is(err, store.ErrUnavailable) || took > 10*timeout {
		t.Errorf("Get with all members stopped: got %v after %v, want ErrUnavailable within %v", err, took, 10*timeout)
	}
	if _, err := s.Revision(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Revision with all members stopped: got %v, want ErrUnavailable", err)
	}

	c.RestartAll()
	// The failed commit of k/during may or may not have been applied; the watch tells.
	revs = append(revs, commitOnce(t, s, "k/after"))
	keys := []string{"k/before", "k/after"}
	if kv, _, err := s.Get(t.Context(), "k/during", 0); err != nil {
		t.Fatalf("Get(k/during): %v", err)
	} else if kv != nil {
		revs = []int64{revs[0], kv.ModRevision, revs[1]}
		keys = []string{"k/before", "k/during", "k/after"}
	}
	wantRevisions(t, events, revs, keys)
}

func TestOpen_FailsWithUnavailableWhenNoMemberAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close() // nothing listens there now

	start := time.Now()
	s, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{endpoint}, DialTimeout: 500 * time.Millisecond})
	if err == nil {
		s.Close()
	}
	if took := time.Since(start); !errors.Is(err, store.ErrUnavailable) || took > 10*time.Second {
		t.Errorf("Open(%s) with nothing listening: got %v after %v, want ErrUnavailable within 10s", endpoint, err, took)
	}
	if err != nil && !strings.Contains(err.Error(), endpoint) {
		t.Errorf("Open error %q does not name the endpoint %s", err, endpoint)
	}
}

func TestOpen_RefusesABadConfig(t *testing.T) {
	for name, cfg := range map[string]etcd.Config{
		"no endpoints":      {},
		"negative timeout":  {Endpoints: []string{"http://127.0.0.1:2379"}, RequestTimeout: -time.Second},
		"negative txn ops":  {Endpoints: []string{"http://127.0.0.1:2379"}, MaxTxnOps: -1},
		"negative req size": {Endpoints: []string{"http://127.0.0.1:2379"}, MaxRequestBytes: -1},
	} {
		if s, err := etcd.Open(t.Context(), cfg); err == nil {
			s.Close()
			t.Errorf("Open with %s: got no error, want one", name)
		}
	}
}
