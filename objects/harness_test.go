package objects_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/decimal"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/postgres"
	"github.com/starbase/starbase/objects/postgres/pgtest"
	"github.com/starbase/starbase/objects/sqlite"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/store/etcd"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// A storeOpener opens a fresh, empty data tier for one test, closed when the test ends.
type storeOpener func(t *testing.T) objects.Engine

// dataTests are the conformance suite of the data tiers: the behaviours every engine must
// have. They run on every tier, each test on a data tier of its own: TestObjects_OnBolt,
// TestObjects_OnEtcd, TestObjects_OnSQLite, TestObjects_OnPostgres.
var dataTests = []struct {
	name string
	test func(t *testing.T, open storeOpener)
}{
	{"StarlarkSpec", testStarlarkSpec},
	{"Run_ConcurrentIncrementsAreNotLost", testRun_ConcurrentIncrementsAreNotLost},
	{"Run_BankTransfersKeepTheTotal", testRun_BankTransfersKeepTheTotal},
	{"Run_PreventsWriteSkew", testRun_PreventsWriteSkew},
	{"Run_PreventsPhantoms", testRun_PreventsPhantoms},
	{"Run_HistoriesAreLinearizable", testRun_HistoriesAreLinearizable},
	{"Run_FailedHandlerWritesNothing", testRun_FailedHandlerWritesNothing},
	{"Run_ReturnsErrConflictWhenEveryAttemptLoses", testRun_ReturnsErrConflictWhenEveryAttemptLoses},
	{"Run_ReadOnlyRequestsDoNotWrite", testRun_ReadOnlyRequestsDoNotWrite},
	{"Objects_UseTheMethodsOfTheReadingRequestsCode", testObjects_UseTheMethodsOfTheReadingRequestsCode},
	{"Objects_OlderVersionsAreMigratedOnRead", testObjects_OlderVersionsAreMigratedOnRead},
	{"Objects_RollbackRefusesToWriteNewerObjects", testObjects_RollbackRefusesToWriteNewerObjects},
	{"Objects_WhoseClassIsGoneArePlainRecords", testObjects_WhoseClassIsGoneArePlainRecords},
	{"Migrate_UpgradesEveryObjectInResumableBatches", testMigrate_UpgradesEveryObjectInResumableBatches},
	{"Migrate_HalvesBatchesThatDoNotFitOneCommit", testMigrate_HalvesBatchesThatDoNotFitOneCommit},
	{"Migrate_RefusesNewerObjectsAndBadNames", testMigrate_RefusesNewerObjectsAndBadNames},
	{"Migrate_StopsARecursionOfStoredCode", testMigrate_StopsARecursionOfStoredCode},
	{"DB_StoredValuesRoundTripExactly", testDB_StoredValuesRoundTripExactly},
	{"DB_FindUsesTheIndexes", testDB_FindUsesTheIndexes},
	{"DB_QueryAnswersLikeAScan", testDB_QueryAnswersLikeAScan},
	{"DB_ListPagesThroughAClassInIdOrder", testDB_ListPagesThroughAClassInIdOrder},
	{"DB_ListSeesTheRequestsOwnWritesOnEveryPage", testDB_ListSeesTheRequestsOwnWritesOnEveryPage},
	{"DB_AFullListPageThenAPutFitsOneCommit", testDB_AFullListPageThenAPutFitsOneCommit},
	{"DB_AFullFindThenAPutFitsOneCommit", testDB_AFullFindThenAPutFitsOneCommit},
	{"DB_IncrAndLockSerializeAHotObject", testDB_IncrAndLockSerializeAHotObject},
	{"DB_IncrIsPartOfTheTransaction", testDB_IncrIsPartOfTheTransaction},
	{"DB_NextNumbersWithoutGaps", testDB_NextNumbersWithoutGaps},
	{"Classes_ARenamedClassKeepsItsObjectsThroughAnAlias", testClasses_ARenamedClassKeepsItsObjectsThroughAnAlias},
}

// kvTests are behaviours of the KV tier only: its commits' limits and key layout, and the
// precision of its conflict detection (SQL engines detect conflicts their own way: SQLite
// per database, PostgreSQL by predicate locks).
var kvTests = []struct {
	name string
	test func(t *testing.T, open storeOpener)
}{
	{"Run_RefusesTransactionsLargerThanOneCommit", testRun_RefusesTransactionsLargerThanOneCommit},
	{"DB_DeletingEveryObjectLeavesOnlyVersionKeys", testDB_DeletingEveryObjectLeavesOnlyVersionKeys},
	{"DB_ListConflictsExactlyWithChangesToWhatItRead", testDB_ListConflictsExactlyWithChangesToWhatItRead},
	{"DB_FindConflictsWithChangesToWhatItRead", testDB_FindConflictsWithChangesToWhatItRead},
}

func runDataTests(t *testing.T, open storeOpener) {
	for _, dt := range dataTests {
		t.Run(dt.name, func(t *testing.T) { dt.test(t, open) })
	}
	if t.Name() == "TestObjects_OnBolt" || t.Name() == "TestObjects_OnEtcd" {
		for _, dt := range kvTests {
			t.Run(dt.name, func(t *testing.T) { dt.test(t, open) })
		}
	}
}

func TestObjects_OnBolt(t *testing.T) {
	runDataTests(t, func(t *testing.T) objects.Engine {
		t.Helper()
		st, err := bolt.Open(filepath.Join(t.TempDir(), "data.db"), bolt.Options{})
		if err != nil {
			t.Fatalf("bolt.Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return objects.KV(st)
	})
}

// TestObjects_OnEtcd runs the data tests on a real three-member etcd cluster, each test's store
// under a prefix of its own.
func TestObjects_OnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	stores := 0
	runDataTests(t, func(t *testing.T) objects.Engine {
		t.Helper()
		stores++
		// The suite tests semantics, not availability: a loaded machine may keep a
		// three-member cluster from answering within the default 5s.
		cfg := etcd.Config{Endpoints: cluster.Endpoints(), Prefix: fmt.Sprintf("/objects-test/%d/", stores), RequestTimeout: time.Minute}
		st, err := etcd.Open(t.Context(), cfg)
		if err != nil {
			t.Fatalf("etcd.Open(%+v): %v", cfg, err)
		}
		t.Cleanup(func() { st.Close() })
		return objects.KV(st)
	})
}

// TestObjects_OnSQLite runs the data tests on SQLite, each on a database file of its own.
func TestObjects_OnSQLite(t *testing.T) {
	runDataTests(t, func(t *testing.T) objects.Engine {
		t.Helper()
		eng, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data.sqlite"), nil)
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { eng.Close() })
		return eng
	})
}

// TestObjects_OnPostgres runs the data tests on PostgreSQL (Debian's, started once for the
// test binary: TestMain stops it), each on a database of its own.
func TestObjects_OnPostgres(t *testing.T) {
	server := pgtest.Shared(t)
	runDataTests(t, func(t *testing.T) objects.Engine {
		t.Helper()
		eng, err := postgres.Open(t.Context(), server.NewDatabase(t), nil)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { eng.Close() })
		return eng
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// dialect is the Starlark dialect of the tests, as the loader compiles stored modules.
var dialect = &syntax.FileOptions{While: true, Recursion: true, Set: true, TopLevelControl: true}

// code stands in for the code of one commit: module sources by path, each executed once (with
// the package's builtins predeclared and the module's path as filename, as the loader does)
// and frozen. Its resolve method is the ClassResolver of requests running on this code.
type code struct {
	sources map[string]string

	mu      sync.Mutex // guards modules
	modules map[string]starlark.StringDict

	runs atomic.Int64 // handler runs, counting the re-runs after conflicts
}

func newCode(sources map[string]string) *code {
	return &code{sources: sources, modules: make(map[string]starlark.StringDict)}
}

// errNoModule is returned by code.load for a path that holds no module.
var errNoModule = errors.New("no such module")

func (c *code) load(path string) (starlark.StringDict, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked(path)
}

func (c *code) loadLocked(path string) (starlark.StringDict, error) {
	if globals, ok := c.modules[path]; ok {
		return globals, nil
	}
	if path == "assert.star" {
		return starlarktest.LoadAssertModule()
	}
	src, ok := c.sources[path]
	if !ok {
		return nil, fmt.Errorf("%w: %s", errNoModule, path)
	}
	thread := &starlark.Thread{
		Name: "load " + path,
		Load: func(_ *starlark.Thread, module string) (starlark.StringDict, error) { return c.loadLocked(module) },
	}
	predeclared := objects.Builtins()
	predeclared["decimal"] = decimal.Builtin
	globals, err := starlark.ExecFileOptions(dialect, thread, path, src, predeclared)
	if err != nil {
		return nil, err
	}
	globals.Freeze()
	c.modules[path] = globals
	return globals, nil
}

func (c *code) resolve(_ context.Context, module, name string) (*objects.Model, error) {
	globals, err := c.load(module)
	if errors.Is(err, errNoModule) {
		err = fmt.Errorf("%w: %v", objects.ErrNoClass, err)
	}
	var m *objects.Model
	if err == nil {
		m, err = objects.ClassIn(globals, module, name)
	}
	if errors.Is(err, objects.ErrNoClass) {
		if alias := c.aliases()[module+":"+name]; alias != nil {
			return alias, nil
		}
	}
	return m, err
}

// aliases indexes the aliases of every module's models, as a server does (objects.Aliases).
func (c *code) aliases() map[string]*objects.Model {
	modules := map[string]starlark.StringDict{}
	for path := range c.sources {
		if globals, err := c.load(path); err == nil {
			modules[path] = globals
		}
	}
	return objects.Aliases(modules)
}

// attempts is how many times the tests let a request run before it gets ErrConflict.
const attempts = 100

// call runs function fn of module as one request: in a transaction, retried on conflict.
func (c *code) call(ctx context.Context, st objects.Engine, module, fn string, args ...starlark.Value) (starlark.Value, error) {
	return c.callAttempts(ctx, st, attempts, module, fn, args...)
}

func (c *code) callAttempts(ctx context.Context, st objects.Engine, n int, module, fn string, args ...starlark.Value) (starlark.Value, error) {
	globals, err := c.load(module)
	if err != nil {
		return nil, err
	}
	var result starlark.Value
	err = objects.Run(ctx, st, c.resolve, n, func(tx *objects.Tx) error {
		c.runs.Add(1)
		thread := &starlark.Thread{Name: module + " " + fn}
		objects.Bind(thread, tx)
		v, err := starlark.Call(thread, globals[fn], args, nil)
		result = v
		return err
	})
	return result, err
}

// mustCall is call for requests that must succeed.
func (c *code) mustCall(t *testing.T, st objects.Engine, module, fn string, args ...starlark.Value) starlark.Value {
	t.Helper()
	v, err := c.call(t.Context(), st, module, fn, args...)
	if err != nil {
		t.Fatalf("%s %s(%v): %v", module, fn, args, err)
	}
	return v
}

// revision summarizes everything the data tier stores (on the KV tier, the store's
// revision): a write changes it.
func revision(t *testing.T, st objects.Engine) string {
	t.Helper()
	state, err := objects.State(t.Context(), st)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	return state
}

// dataKeys returns the number of keys under data/ (on a SQL tier, of rows).
func dataKeys(t *testing.T, st objects.Engine) int {
	t.Helper()
	n, err := objects.Rows(t.Context(), st)
	if err != nil {
		t.Fatalf("Rows: %v", err)
	}
	return n
}

func str(s string) starlark.Value { return starlark.String(s) }

func toInt(t *testing.T, v starlark.Value) int {
	t.Helper()
	var n int
	if err := starlark.AsInt(v, &n); err != nil {
		t.Fatalf("want an int, got %s %v", v.Type(), v)
	}
	return n
}
