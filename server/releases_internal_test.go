package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/build"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// The releases type on its own, without HTTP: a real bbolt store, commits written with
// code.Repo as a push past the gate would, and the releases' main loop following the ref.

// waitLimit bounds every wait of these tests; it is generous, for a loaded machine.
const waitLimit = 60 * time.Second

// releasesFixture is a releases over a fresh bbolt store, with what its hooks reported.
type releasesFixture struct {
	st   store.Store
	repo *code.Repo
	rs   *releases

	mu       sync.Mutex
	switched []code.ID // commits, in the order they became current
	failures []code.ID // commits, once per distinct failure
}

func newReleasesFixture(t *testing.T, limits runtime.Limits) *releasesFixture {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	predeclared, renderer := sandbox.WithRenderer()
	loader, err := runtime.New(runtime.Options{Limits: limits, Predeclared: predeclared, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loader.Close() })
	f := &releasesFixture{st: st, repo: code.NewRepo(st)}
	f.rs = newReleases(st, f.repo, code.DefaultBranch, &build.Builder{Loader: loader, Renderer: renderer},
		slog.New(slog.NewTextHandler(io.Discard, nil)), releaseHooks{
			switched: func(rel *release) { f.mu.Lock(); f.switched = append(f.switched, rel.commit); f.mu.Unlock() },
			failed:   func(b *buildFailure) { f.mu.Lock(); f.failures = append(f.failures, b.commit); f.mu.Unlock() },
		})
	return f
}

func (f *releasesFixture) start(t *testing.T) {
	t.Helper()
	if err := f.rs.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.rs.close)
}

// push commits files on main, whatever it is at, as a push that skipped the gate.
func (f *releasesFixture) push(t *testing.T, files map[string]string) code.PushResult {
	t.Helper()
	bs := map[string][]byte{}
	for p, c := range files {
		bs[p] = []byte(c)
	}
	res, err := f.repo.Push(context.Background(), code.PushRequest{
		Ref: code.DefaultBranch, Author: "test", Message: "test", Force: true, Files: bs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitApplied waits until the releases applied rev.
func (f *releasesFixture) waitApplied(t *testing.T, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.rs.waitApplied(ctx, rev); err != nil {
		t.Fatalf("revision %d not applied (applied %d): %v", rev, f.rs.applied.Load(), err)
	}
}

func (f *releasesFixture) hooks() (switched, failures []code.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.switched), slices.Clone(f.failures)
}

func (f *releasesFixture) currentCommit() code.ID {
	if rel := f.rs.current.Load(); rel != nil {
		return rel.commit
	}
	return ""
}

func appOf(body string) map[string]string {
	return map[string]string{"app.star": fmt.Sprintf("def index(req):\n    return %q\nroutes = {\"GET /{$}\": index}\n", body)}
}

func TestReleases_BuildsWhatTheRefNamesAndFollowsIt(t *testing.T) {
	f := newReleasesFixture(t, runtime.Limits{})
	v1 := f.push(t, appOf("v1"))
	f.start(t)

	// start builds the ref's commit before it returns.
	rel := f.rs.current.Load()
	if rel == nil || rel.commit != v1.Commit || rel.revision != v1.Revision {
		t.Fatalf("current after start = %+v, want commit %s at revision %d", rel, v1.Commit, v1.Revision)
	}
	if !slices.Equal(rel.app.Patterns, []string{"GET /{$}"}) || rel.snap.Commit != v1.Commit {
		t.Errorf("release app patterns %v of snapshot %s, want [GET /{$}] of %s", rel.app.Patterns, rel.snap.Commit, v1.Commit)
	}
	if got := f.rs.applied.Load(); got < v1.Revision {
		t.Errorf("applied = %d, want at least %d", got, v1.Revision)
	}

	v2 := f.push(t, appOf("v2"))
	f.waitApplied(t, v2.Revision)
	if got := f.currentCommit(); got != v2.Commit {
		t.Fatalf("current = %s, want %s", got, v2.Commit)
	}
	if f.rs.held(v2.Commit) != f.rs.current.Load() || f.rs.held(v1.Commit) != nil {
		t.Errorf("held(v2) = %p, held(v1) = %p; want the current release and nil", f.rs.held(v2.Commit), f.rs.held(v1.Commit))
	}
	switched, failures := f.hooks()
	if !slices.Equal(switched, []code.ID{v1.Commit, v2.Commit}) || len(failures) != 0 {
		t.Errorf("hooks: switched %v, failed %v; want [v1 v2] and none", switched, failures)
	}
	var n api.Node
	f.rs.status(&n)
	if n.Commit != string(v2.Commit) || n.Revision < v2.Revision || n.Wanted != "" || n.Error != "" {
		t.Errorf("status = %+v, want commit %s at revision >= %d and no failure", n, v2.Commit, v2.Revision)
	}
}

func TestReleases_KeepTheLastWorkingReleaseWhenACommitDoesNotBuild(t *testing.T) {
	f := newReleasesFixture(t, runtime.Limits{})
	v1 := f.push(t, appOf("v1"))
	f.start(t)

	bad := f.push(t, map[string]string{"app.star": "def a(req):\n    return \"broken\"\nroutes = {\"GET /{$}\": a, \"GET /b\": 1}\n"})
	// The node decides on the broken commit (it will not serve it), so its revision is
	// applied: a request waiting for it is not held.
	f.waitApplied(t, bad.Revision)
	if got := f.currentCommit(); got != v1.Commit {
		t.Fatalf("current = %s, want the last working release %s", got, v1.Commit)
	}
	fl := f.rs.failed.Load()
	if fl == nil || fl.commit != bad.Commit || fl.transient {
		t.Fatalf("failure = %+v, want commit %s, not transient", fl, bad.Commit)
	}
	var n api.Node
	f.rs.status(&n)
	wantProblem := `app.star:3:26: route "GET /b" must be a function of one parameter, the request (def index(req): ...), got int`
	if n.Commit != string(v1.Commit) || n.Wanted != string(bad.Commit) || n.Retrying ||
		len(n.Problems) != 1 || n.Problems[0].String() != wantProblem {
		t.Errorf("status = %+v, want commit v1, wanted the broken commit, problem %q", n, wantProblem)
	}
	if want := "commit " + bad.Commit.Short() + " does not build on this node (error id " + fl.errorID + "); it serves its last working release"; n.Error != want {
		t.Errorf("status error = %q, want %q", n.Error, want)
	}

	v3 := f.push(t, appOf("v3"))
	f.waitApplied(t, v3.Revision)
	if got := f.currentCommit(); got != v3.Commit || f.rs.failed.Load() != nil {
		t.Errorf("current = %s, failure %+v; want %s and the failure cleared", got, f.rs.failed.Load(), v3.Commit)
	}
	switched, failures := f.hooks()
	if !slices.Equal(switched, []code.ID{v1.Commit, v3.Commit}) || !slices.Equal(failures, []code.ID{bad.Commit}) {
		t.Errorf("hooks: switched %v, failed %v; want [v1 v3] and [bad]", switched, failures)
	}
}

func TestReleases_HaveNoReleaseUntilACommitBuilds(t *testing.T) {
	f := newReleasesFixture(t, runtime.Limits{})
	f.start(t)
	if rel := f.rs.current.Load(); rel != nil {
		t.Fatalf("current on an empty store = %+v, want none", rel)
	}

	bad := f.push(t, map[string]string{"app.star": "routes = {\"GET /\": 1}\n"})
	f.waitApplied(t, bad.Revision)
	var n api.Node
	f.rs.status(&n)
	if n.Commit != "" || n.Wanted != string(bad.Commit) || !strings.HasSuffix(n.Error, "it has no working release to serve") {
		t.Errorf("status = %+v, want no commit, wanted %s, an error saying there is no working release", n, bad.Commit)
	}

	v1 := f.push(t, appOf("v1"))
	f.waitApplied(t, v1.Revision)
	if got := f.currentCommit(); got != v1.Commit {
		t.Errorf("current = %s, want %s", got, v1.Commit)
	}
}

func TestReleases_RetryACommitThatCannotBeBuiltForNow(t *testing.T) {
	lim := runtime.DefaultLimits()
	lim.LoadTimeout = 100 * time.Millisecond
	lim.MaxSteps = 1 << 40
	f := newReleasesFixture(t, lim)
	v1 := f.push(t, appOf("v1"))
	f.start(t)

	slow := f.push(t, map[string]string{"app.star": "def spin():\n    n = 0\n    while True:\n        n += 1\nspin()\nroutes = {}\n"})
	deadline := time.Now().Add(waitLimit)
	for {
		if fl := f.rs.failed.Load(); fl != nil && fl.commit == slow.Commit {
			if !fl.transient {
				t.Fatalf("failure = %+v, want it transient (a load out of time)", fl)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure recorded for %s within %v", slow.Commit, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A transient failure is retried, not decided: its revision is not applied.
	if got := f.rs.applied.Load(); got >= slow.Revision {
		t.Errorf("applied = %d, want below the unbuildable commit's revision %d", got, slow.Revision)
	}
	if got := f.currentCommit(); got != v1.Commit {
		t.Errorf("current = %s, want %s", got, v1.Commit)
	}
	var n api.Node
	f.rs.status(&n)
	if !n.Retrying || !strings.HasSuffix(n.Error, " and retries") {
		t.Errorf("status = %+v, want it retrying", n)
	}

	v3 := f.push(t, appOf("v3"))
	f.waitApplied(t, v3.Revision)
	if got := f.currentCommit(); got != v3.Commit || f.rs.failed.Load() != nil {
		t.Errorf("current = %s, failure %+v; want %s and no failure", got, f.rs.failed.Load(), v3.Commit)
	}
}

func TestReleases_WaitAppliedAnswersForRevisionsThatChangedNoRef(t *testing.T) {
	f := newReleasesFixture(t, runtime.Limits{})
	v1 := f.push(t, appOf("v1"))
	f.start(t)

	rev, err := f.st.Commit(context.Background(), nil, []store.Op{store.Put("data/unrelated", []byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	f.waitApplied(t, rev)
	if got := f.currentCommit(); got != v1.Commit {
		t.Errorf("current = %s, want %s", got, v1.Commit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if lag := f.rs.lag(ctx); lag != 0 {
		t.Errorf("lag = %d, want 0: the ref did not change since it was applied", lag)
	}
}

func TestReleases_KeepServingWhenTheRefIsDeleted(t *testing.T) {
	f := newReleasesFixture(t, runtime.Limits{})
	v1 := f.push(t, appOf("v1"))
	f.start(t)

	rev, err := f.st.Commit(context.Background(), nil, []store.Op{store.Delete(code.RefPrefix + code.DefaultBranch)})
	if err != nil {
		t.Fatal(err)
	}
	f.waitApplied(t, rev)
	if got := f.currentCommit(); got != v1.Commit {
		t.Errorf("current after the ref was deleted = %s, want %s", got, v1.Commit)
	}

	v2 := f.push(t, appOf("v2"))
	f.waitApplied(t, v2.Revision)
	if got := f.currentCommit(); got != v2.Commit {
		t.Errorf("current = %s, want %s", got, v2.Commit)
	}
}

func TestReleases_CloseStopsFollowingTheRef(t *testing.T) {
	f := newReleasesFixture(t, runtime.Limits{})
	v1 := f.push(t, appOf("v1"))
	f.start(t)
	f.rs.close()

	v2 := f.push(t, appOf("v2"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.rs.waitApplied(ctx, v2.Revision); err == nil {
		t.Errorf("a closed releases applied revision %d", v2.Revision)
	}
	if got := f.currentCommit(); got != v1.Commit {
		t.Errorf("current after close = %s, want %s", got, v1.Commit)
	}
}
