package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/backup"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/postgres"
	"github.com/starbase/starbase/objects/postgres/pgtest"
	"github.com/starbase/starbase/objects/sqlite"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// objectsModule declares a model and a handler that saves one instance, for tests that need
// real objects in a data tier.
const objectsModule = `
Item = model("Item", fields = {"name": "", "n": 0}, indexes = ["name"])

def save(name, n):
    return db.put(Item(name = name, n = n))
`

// itemSaver saves objects into a data tier through the db builtin, as requests do.
type itemSaver struct {
	save    starlark.Value
	globals starlark.StringDict
}

func newItemSaver(t *testing.T) itemSaver {
	t.Helper()
	globals, err := starlark.ExecFile(&starlark.Thread{}, "items.star", objectsModule, objects.Builtins())
	if err != nil {
		t.Fatal(err)
	}
	return itemSaver{globals["save"], globals}
}

// put saves one Item and returns its id.
func (s itemSaver) put(ctx context.Context, eng objects.Engine, name string, n int) (string, error) {
	var id string
	resolve := func(_ context.Context, module, name string) (*objects.Model, error) {
		return objects.ClassIn(s.globals, module, name)
	}
	err := objects.Run(ctx, eng, resolve, 20, func(tx *objects.Tx) error {
		thread := &starlark.Thread{}
		objects.Bind(thread, tx)
		v, err := starlark.Call(thread, s.save, starlark.Tuple{starlark.String(name), starlark.MakeInt(n)}, nil)
		if err != nil {
			return err
		}
		id = string(v.(starlark.String))
		return nil
	})
	return id, err
}

func openBolt(t *testing.T) store.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openSQLite(t *testing.T) objects.Engine {
	t.Helper()
	eng, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func openEtcd(t *testing.T, c *etcdtest.Cluster, prefix string) store.Store {
	t.Helper()
	st, err := etcd.Open(t.Context(), etcd.Config{Endpoints: c.Endpoints(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func commit(t *testing.T, st store.Store, ops ...store.Op) {
	t.Helper()
	if _, err := st.Commit(t.Context(), nil, ops); err != nil {
		t.Fatal(err)
	}
}

// take backs src up into a file and returns its path.
func take(t *testing.T, src backup.Source) (string, backup.Summary) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.sbk")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := backup.Take(t.Context(), f, src)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
}

func restore(t *testing.T, path string, dst backup.Target) (backup.Summary, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return backup.Restore(t.Context(), f, dst)
}

// keys returns every key and value of st.
func keys(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	res, err := st.Range(t.Context(), "", store.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for _, kv := range res.KVs {
		m[kv.Key] = string(kv.Value)
	}
	return m
}

// exported returns the export of eng, which names every object with its exact record.
func exported(t *testing.T, eng objects.Engine) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := objects.Export(t.Context(), eng, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestBackup_RoundTripsKeysAndObjects(t *testing.T) {
	saver := newItemSaver(t)
	for _, c := range []struct {
		name     string
		src, dst func(t *testing.T) store.Store
	}{
		{"bolt to bolt", openBolt, openBolt},
		{"etcd to bolt", func(t *testing.T) store.Store { return openEtcd(t, etcdtest.Start(t, 1), "/a/") }, openBolt},
		{"bolt to etcd", openBolt, func(t *testing.T) store.Store { return openEtcd(t, etcdtest.Start(t, 1), "/b/") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, data := c.src(t), openSQLite(t)
			commit(t, st, store.Put("code/refs/main", []byte("c1")), store.Put("auth/tokens/x", []byte("admin")),
				store.Put("nodes/n1", []byte("live")), store.Put("bin", []byte{0, 1, 0xff}))
			commit(t, st, store.Put("code/refs/main", []byte("c2")), store.Delete("bin"))
			for i := range 1200 { // more than a page of each
				commit(t, st, store.Put(fmt.Sprintf("audit/%05d", i), []byte("rec")))
			}
			for i := range 1100 {
				if _, err := saver.put(t.Context(), data, fmt.Sprintf("item%d", i%7), i); err != nil {
					t.Fatal(err)
				}
			}
			// The sequences of db.next, which a restored node must go on numbering from.
			im := objects.NewImporter(t.Context(), data)
			for name, n := range map[string]int64{"invoice": 41, "order.2026": 7} {
				if err := im.Sequence(name, n); err != nil {
					t.Fatal(err)
				}
			}
			path, sum := take(t, backup.Source{Store: st, Data: data, Exclude: []string{"nodes/"}, Node: "n1"})
			if sum.Trailer.Keys != 1202 || sum.Trailer.Objects != 1100 || sum.Trailer.Sequences != 2 || sum.Header.Data != "sqlite" || sum.Header.Node != "n1" {
				t.Errorf("summary %+v; want 1202 keys, 1100 objects, 2 sequences from sqlite on n1", sum)
			}

			dst, dstData := c.dst(t), openSQLite(t)
			got, err := restore(t, path, backup.Target{Store: dst, Data: dstData})
			if err != nil {
				t.Fatal(err)
			}
			if got.Trailer != sum.Trailer {
				t.Errorf("restored %+v, backed up %+v", got.Trailer, sum.Trailer)
			}
			want := keys(t, st)
			delete(want, "nodes/n1")
			if gotKeys := keys(t, dst); fmt.Sprint(gotKeys) != fmt.Sprint(want) {
				t.Errorf("restored keys differ: %d keys, want %d", len(gotKeys), len(want))
			}
			if exported(t, dstData) != exported(t, data) {
				t.Errorf("restored objects and sequences differ from the backed up ones")
			}
			if exp := exported(t, dstData); !strings.Contains(exp, `{"sequence":"invoice","value":41}`) {
				t.Errorf("the restored tier's export ends with %q, want sequence invoice at 41", exp[max(0, len(exp)-120):])
			}
			if err := backup.Unfinished(t.Context(), dst); err != nil {
				t.Errorf("a finished restore reads as unfinished: %v", err)
			}
		})
	}
}

func TestBackup_KVDataTierTravelsAsKeys(t *testing.T) {
	saver := newItemSaver(t)
	st := openBolt(t)
	for i := range 20 {
		if _, err := saver.put(t.Context(), objects.KV(st), "k", i); err != nil {
			t.Fatal(err)
		}
	}
	path, sum := take(t, backup.Source{Store: st, Data: objects.KV(st)})
	if sum.Header.Data != "kv" || sum.Trailer.Objects != 0 {
		t.Errorf("summary %+v; want the objects as keys", sum)
	}
	if _, err := restore(t, path, backup.Target{Store: openBolt(t), Data: openSQLite(t)}); err == nil || !strings.Contains(err.Error(), "--data-url kv") {
		t.Errorf("restoring a kv backup into SQLite: %v; want a refusal that says to restore with --data-url kv", err)
	}
	dst := openBolt(t)
	if _, err := restore(t, path, backup.Target{Store: dst}); err != nil {
		t.Fatal(err)
	}
	if exported(t, objects.KV(dst)) != exported(t, objects.KV(st)) {
		t.Errorf("restored objects differ")
	}
}

func TestRestore_RefusesANonEmptyTarget(t *testing.T) {
	src := openBolt(t)
	commit(t, src, store.Put("code/refs/main", []byte("c1")))
	path, _ := take(t, backup.Source{Store: src, Data: openSQLite(t)})

	full := openBolt(t)
	commit(t, full, store.Put("code/refs/main", []byte("other")))
	if _, err := restore(t, path, backup.Target{Store: full, Data: openSQLite(t)}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Errorf("restore into a store with keys: %v; want ErrNotEmpty", err)
	}
	if got := keys(t, full); got["code/refs/main"] != "other" || len(got) != 1 {
		t.Errorf("the refused restore changed the store: %v", got)
	}
	data := openSQLite(t)
	if _, err := newItemSaver(t).put(t.Context(), data, "x", 1); err != nil {
		t.Fatal(err)
	}
	empty := openBolt(t)
	if _, err := restore(t, path, backup.Target{Store: empty, Data: data}); !errors.Is(err, backup.ErrNotEmpty) || !strings.Contains(err.Error(), "sqlite") {
		t.Errorf("restore into a data tier with objects: %v; want ErrNotEmpty naming sqlite", err)
	}
	if got := keys(t, empty); len(got) != 0 {
		t.Errorf("the refused restore wrote %v", got)
	}
}

// TestTake_HoldsEveryWriteAcknowledgedBeforeItStarted takes backups while writers commit
// store keys and objects (SQLite, PostgreSQL) without pause; each backup is restored (into
// bolt and SQLite), and every write acknowledged before its backup started is in it, with
// its value or a later one.
func TestTake_HoldsEveryWriteAcknowledgedBeforeItStarted(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { holdsAcknowledgedWrites(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		pg, err := postgres.Open(t.Context(), pgtest.Shared(t).NewDatabase(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		holdsAcknowledgedWrites(t, pg)
	})
}

func holdsAcknowledgedWrites(t *testing.T, data objects.Engine) {
	saver := newItemSaver(t)
	st := openBolt(t)
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu      sync.Mutex
		counter = map[string]int{} // key -> last acknowledged value
		ids     []string           // acknowledged objects
		wg      sync.WaitGroup
		writes  atomic.Int64
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("data/counter/%d", w)
				if _, err := st.Commit(ctx, nil, []store.Op{store.Put(key, []byte(fmt.Sprint(i)))}); err != nil {
					return
				}
				id, err := saver.put(ctx, data, key, i)
				if err != nil {
					return
				}
				mu.Lock()
				counter[key] = i
				ids = append(ids, id)
				mu.Unlock()
				writes.Add(1)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	for round := range 3 {
		deadline := time.Now().Add(60 * time.Second)
		for start := writes.Load(); writes.Load() < start+20; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the writers made no progress", round)
			}
		}
		mu.Lock()
		ackedCounters := maps(counter)
		ackedIDs := append([]string(nil), ids...)
		mu.Unlock()
		path, _ := take(t, backup.Source{Store: st, Data: data})

		dst, dstData := openBolt(t), openSQLite(t)
		if _, err := restore(t, path, backup.Target{Store: dst, Data: dstData}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		got := keys(t, dst)
		for k, v := range ackedCounters {
			var n int
			fmt.Sscan(got[k], &n)
			if _, ok := got[k]; !ok || n < v {
				t.Errorf("round %d: %s is %q in the backup, but %d was acknowledged before it started", round, k, got[k], v)
			}
		}
		have := exported(t, dstData)
		for _, id := range ackedIDs {
			if !strings.Contains(have, `"id":"`+id+`"`) {
				t.Errorf("round %d: object %s was acknowledged before the backup started and is not in it", round, id)
			}
		}
		t.Logf("round %d: %d counters and %d objects acknowledged before the backup, all restored", round, len(ackedCounters), len(ackedIDs))
	}
}

func maps(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// smallBackup returns a backup of a few keys and objects.
func smallBackup(t testing.TB) []byte {
	var b bytes.Buffer
	w, err := backup.NewWriter(&b, backup.Header{Revision: 7, Data: "sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	w.Key("auth/t", []byte("tok"))
	w.Key("code/refs/main", []byte("abc"))
	w.Object("0000000000000000000000000a", []byte("rec1"))
	w.Object("0000000000000000000000000b", []byte("rec2"))
	w.Sequence("invoice", 42)
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReader_RefusesEveryTruncationAndChangedByte(t *testing.T) {
	good := smallBackup(t)
	if _, tr, err := backup.Check(bytes.NewReader(good)); err != nil || tr.Keys != 2 || tr.Objects != 2 || tr.Sequences != 1 {
		t.Fatalf("Check of a good backup: %+v, %v", tr, err)
	}
	for n := range len(good) {
		_, _, err := backup.Check(bytes.NewReader(good[:n]))
		if !errors.Is(err, backup.ErrDamaged) {
			t.Fatalf("Check of the first %d of %d bytes: %v; want ErrDamaged", n, len(good), err)
		}
		if n > len(backup.Magic) && !strings.Contains(err.Error(), "truncated") {
			t.Errorf("Check of the first %d of %d bytes: %v; want it to say truncated", n, len(good), err)
		}
	}
	for i := range len(good) {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if _, _, err := backup.Check(bytes.NewReader(bad)); !errors.Is(err, backup.ErrDamaged) {
			t.Fatalf("Check with byte %d changed: %v; want ErrDamaged", i, err)
		}
	}
	if _, _, err := backup.Check(bytes.NewReader(append(bytes.Clone(good), 0))); !errors.Is(err, backup.ErrDamaged) || !strings.Contains(err.Error(), "after the trailer") {
		t.Errorf("Check with a byte appended: %v; want data after the trailer", err)
	}
	if _, _, err := backup.Check(strings.NewReader("SQLite format 3\x00...")); !errors.Is(err, backup.ErrDamaged) || !strings.Contains(err.Error(), "not a Starbase backup") {
		t.Errorf("Check of another file: %v", err)
	}
}

func TestReader_RefusesANewerFormat(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(backup.Magic)
	// A header frame of format 3, its checksum right.
	payload := []byte(`{"format":3,"revision":1,"data":"kv","new":"field"}`)
	b.Write(frame('H', payload))
	if _, _, err := backup.Check(&b); !errors.Is(err, backup.ErrFormat) || !strings.Contains(err.Error(), "newer starbase") {
		t.Errorf("Check of format 3: %v; want ErrFormat saying to use a newer starbase", err)
	}
}

func TestReader_BoundsAClaimedHugeFrame(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(backup.Magic)
	b.Write([]byte{'H', 0xff, 0xff, 0xff, 0xff, 0x0f}) // a header claiming 4 GiB
	if _, _, err := backup.Check(&b); !errors.Is(err, backup.ErrDamaged) {
		t.Errorf("Check of a 4 GiB frame: %v; want ErrDamaged", err)
	}
	b.Reset()
	good := smallBackup(t)
	b.Write(good[:len(backup.Magic)])
	// A key frame that claims 90 MiB (under MaxFrame) in a file that holds 10 bytes of it.
	hdr := frame('H', []byte(`{"format":1,"revision":1,"data":"kv"}`))
	b.Write(hdr)
	b.Write([]byte{'K', 0x80, 0x80, 0x80, 0x2d})
	b.WriteString("0123456789")
	var before, after runtimeMem
	before.read()
	_, _, err := backup.Check(&b)
	after.read()
	if !errors.Is(err, backup.ErrDamaged) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Check of a frame longer than its file: %v; want truncated", err)
	}
	if grew := after.total - before.total; grew > 16<<20 {
		t.Errorf("reading a 10-byte frame that claims 90 MiB allocated %d bytes", grew)
	}
}

// TestWriter_RefusesWhatTheReaderWouldRefuse: a sequence whose last number is below 1, a
// sequence out of order, and an object or a key after the sequences are refused when they
// are written, not found by a Reader once the backup is done; what was written before
// still makes a backup that checks.
func TestWriter_RefusesWhatTheReaderWouldRefuse(t *testing.T) {
	var b bytes.Buffer
	w, err := backup.NewWriter(&b, backup.Header{Revision: 7, Data: "sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Object("0000000000000000000000000a", []byte("rec1")); err != nil {
		t.Fatal(err)
	}
	if err := w.Sequence("invoice", 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		err  error
	}{
		{"a sequence at 0", w.Sequence("order", 0)},
		{"a sequence at -1", w.Sequence("order", -1)},
		{"a sequence out of order", w.Sequence("a", 1)},
		{"an object after the sequences", w.Object("0000000000000000000000000c", []byte("rec3"))},
		{"a key after the sequences", w.Key("zz", []byte("v"))},
	} {
		if c.err == nil {
			t.Errorf("%s was written", c.what)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, tr, err := backup.Check(&b); err != nil || tr.Objects != 1 || tr.Sequences != 1 {
		t.Errorf("Check of the backup written around the refusals: %+v, %v; want 1 object and 1 sequence", tr, err)
	}
}

// format1 returns a backup of format 1, as written before sequences (one key, one object,
// then the frames extra), its trailer's counts and SHA-256 right.
func format1(extra ...[]byte) []byte {
	pair := func(name, value string) []byte {
		return append(append(binary.AppendUvarint(nil, uint64(len(name))), name...), value...)
	}
	var b bytes.Buffer
	b.WriteString(backup.Magic)
	b.Write(frame('H', []byte(`{"format":1,"revision":3,"data":"sqlite"}`)))
	b.Write(frame('K', pair("code/refs/main", "abc")))
	b.Write(frame('O', pair("0000000000000000000000000a", "rec1")))
	for _, f := range extra {
		b.Write(f)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(frame('T', fmt.Appendf(nil, `{"keys":1,"objects":1,"sha256":"%x"}`, sum)))
	return b.Bytes()
}

// TestReader_ReadsFormat1AndRefusesSequencesInIt: a backup of format 1 (before sequences)
// still checks and reads, as the package documentation promises; an 'S' frame in one is
// an unknown kind of frame.
func TestReader_ReadsFormat1AndRefusesSequencesInIt(t *testing.T) {
	h, tr, err := backup.Check(bytes.NewReader(format1()))
	if err != nil || h.Format != 1 || tr.Keys != 1 || tr.Objects != 1 || tr.Sequences != 0 {
		t.Errorf("Check of a format 1 backup: %+v %+v, %v; want format 1 with 1 key, 1 object", h, tr, err)
	}
	seq := frame('S', append(append(binary.AppendUvarint(nil, 7), "invoice"...), "42"...))
	if _, _, err := backup.Check(bytes.NewReader(format1(seq))); !errors.Is(err, backup.ErrDamaged) || !strings.Contains(err.Error(), "unknown frame kind 0x53") {
		t.Errorf("Check of a format 1 backup holding a sequence: %v; want ErrDamaged, an unknown frame kind", err)
	}
}

// firstWrite calls f before the first Write to w goes through: the moment a backup has
// read its revision and written its header, and reads the store's keys next.
type firstWrite struct {
	w    *bytes.Buffer
	f    func()
	done bool
}

func (fw *firstWrite) Write(p []byte) (int, error) {
	if !fw.done {
		fw.done = true
		fw.f()
	}
	return fw.w.Write(p)
}

// TestTake_HoldsItsRevisionAgainstCompaction: a node's Retainer that compacts past a
// backup's revision while the backup is being taken (a slow reader of the answer, a window
// shorter than the backup) does not break it: Take holds its revision, the backup completes
// and restores to the keys as they were when it started. On etcd the Retainer runs on
// another client, as another node of the cluster would. Without the hold, Take failed with
// store.ErrCompacted.
func TestTake_HoldsItsRevisionAgainstCompaction(t *testing.T) {
	c := etcdtest.Start(t, 1)
	for _, tc := range []struct {
		name          string
		holder, other store.Store
	}{
		{"bolt", nil, nil},
		{"etcd", openEtcd(t, c, "/hold/"), openEtcd(t, c, "/hold/")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.holder == nil {
				tc.holder = openBolt(t)
				tc.other = tc.holder
			}
			for i := range 50 {
				commit(t, tc.holder, store.Put(fmt.Sprintf("code/k%02d", i), []byte(fmt.Sprint("before-", i))))
			}
			before := keys(t, tc.holder)
			clock := time.Unix(1e9, 0)
			r := &store.Retainer{Store: tc.other, Window: time.Minute, Now: func() time.Time { return clock }}
			var compactedAt int64
			out := &firstWrite{w: new(bytes.Buffer), f: func() {
				for range 2 {
					for i := range 50 {
						commit(t, tc.other, store.Put(fmt.Sprintf("code/k%02d", i), []byte("after")))
					}
					rev, err := r.Tick(t.Context())
					if err != nil {
						t.Errorf("Tick: %v", err)
					}
					compactedAt = rev
					clock = clock.Add(2 * time.Minute)
				}
			}}
			sum, err := backup.Take(t.Context(), out, backup.Source{Store: tc.holder, Node: "n1"})
			if err != nil {
				t.Fatalf("Take while a Retainer compacted: %v", err)
			}
			if compactedAt != sum.Header.Revision {
				t.Errorf("the Retainer compacted at %d during a backup of revision %d, want at the backup's revision", compactedAt, sum.Header.Revision)
			}
			path := filepath.Join(t.TempDir(), "backup.sbk")
			if err := os.WriteFile(path, out.w.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			dst := openBolt(t)
			if _, err := restore(t, path, backup.Target{Store: dst}); err != nil {
				t.Fatalf("restoring the backup: %v", err)
			}
			if got := keys(t, dst); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("restored keys:\n%v\nwant the keys when the backup started:\n%v", got, before)
			}
			if rev, err := r.Tick(t.Context()); err != nil || rev <= sum.Header.Revision {
				t.Errorf("the tick after the backup compacted at %d (%v), want past the backup's revision %d", rev, err, sum.Header.Revision)
			}
		})
	}
}
