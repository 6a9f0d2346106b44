package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/build"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/traceback"
	"github.com/starbase/starbase/store"
)

// Releases: a node never trades a working release for a broken one.
//
// The validation gate builds every commit with the same code a node does (package build),
// so a commit that reaches the ref builds. If one still fails to build on a node (a bug,
// a resource limit, a node of a newer version), the node keeps serving its last working
// release and records the failure (buildFailure): /-/status reports the commit it wanted
// and why it does not serve it, the metric starbase_release_build_failing is 1, and the
// log has the error. A failure that may pass by itself (the store unreachable, a load out
// of time or memory on a busy node) is retried with backoff; any other waits for the next
// commit, which is built as usual. A node that has no working release answers app
// requests 503, saying why.

// release is what a node serves: one commit with its app built. It is immutable.
type release struct {
	commit    code.ID
	committed time.Time // the commit's time, for propagation metrics
	revision  int64     // store revision at which the ref was read
	snap      *runtime.Snapshot
	app       *build.App
}

// buildFailure is a commit of the ref that this node could not build. It is immutable.
type buildFailure struct {
	commit   code.ID
	revision int64
	snap     *runtime.Snapshot // nil if the commit could not be read
	err      error
	// problems locate err in the commit's tree, as the gate would have.
	problems []api.Problem
	// transient is true when err may pass by itself: the node retries the build.
	transient bool
	// errorID names the failure in the log, for the 503 answers that mention it.
	errorID string
}

// errTransient marks a failure to build a release that may pass by itself: the store
// unreachable, a module load out of time or memory because the node was busy.
var errTransient = errors.New("transient")

// releases follows one ref of a store and keeps the node's releases: it builds the release
// of each commit the ref names, makes it current, keeps the last working one when a commit
// does not build (recording why), and tells waiters which store revisions it has applied.
// It knows nothing of HTTP: app requests take current(), the status takes status(), and a
// request holding for a revision calls waitApplied.
//
// One goroutine, the main loop (run), changes its state; everything else only reads it, so
// readers take no lock. Releases are immutable and built independently of what is current
// (build), so a node could hold several at once: today it holds one, the current release,
// and held finds a held release by commit.
//
// It is safe for concurrent use.
type releases struct {
	store   store.Store
	repo    *code.Repo
	ref     string
	builder *build.Builder
	log     *slog.Logger
	hooks   releaseHooks

	// current is the release being served; nil until the first one is built.
	current atomic.Pointer[release]
	// failed is the last commit of the ref that failed to build here, while the node
	// serves another (or none); nil when the node serves what the ref names.
	failed atomic.Pointer[buildFailure]
	// applied is the highest store revision whose ref state this node has applied.
	applied atomic.Int64
	// candidate is the rollout stored for the ref and the release of its commit; nil when
	// no rollout is stored (see rollout.go).
	candidate atomic.Pointer[candidate]

	// mu guards notify.
	mu sync.Mutex
	// notify is closed and replaced whenever applied advances.
	notify chan struct{}

	cancel context.CancelFunc
	// done is closed when the main loop has returned.
	done chan struct{}
}

// releaseHooks tell the rest of the node what the releases did. Each is optional and is
// called from the main loop, so it must not block.
type releaseHooks struct {
	// switched is called once rel became the current release.
	switched func(rel *release)
	// failed is called once per commit and distinct error that failed to build.
	failed func(f *buildFailure)
	// changed is called whenever what status() reports changed.
	changed func()
	// rollout is called when the candidate changed (c nil: no rollout stored).
	rollout func(c *candidate)
}

// candidate is a rollout as a node follows it: the stored rollout (kv as read, for a
// compare-and-set) and, while it runs, the release of its commit, or why that does not
// build here. It is immutable.
type candidate struct {
	rollout *api.Rollout
	kv      *store.KeyValue
	rel     *release
	err     error
}

// serving returns the release the rollout serves beside the current one, or nil.
func (c *candidate) serving() *release {
	if c == nil || c.rollout.State != api.RolloutRunning {
		return nil
	}
	return c.rel
}

func newReleases(st store.Store, repo *code.Repo, ref string, builder *build.Builder, log *slog.Logger, hooks releaseHooks) *releases {
	return &releases{store: st, repo: repo, ref: ref, builder: builder, log: log, hooks: hooks, notify: make(chan struct{})}
}

// start serves the release of the ref's current commit and launches the main loop, which
// follows the ref until close. It fails only if the store cannot be read; if the current
// commit cannot be built for a passing reason, the loop keeps trying. ctx bounds only the
// first build.
func (rs *releases) start(ctx context.Context) error {
	kv, rev, err := rs.store.Get(ctx, rs.refKey(), 0)
	if err != nil {
		return fmt.Errorf("reading ref %s: %w", rs.ref, err)
	}
	next := target{revision: rev}
	if kv != nil {
		next.commit = code.ID(kv.Value)
	}
	pending := &next
	if rs.apply(ctx, next) == nil {
		pending = nil
	}
	rokv, _, err := rs.store.Get(ctx, rolloutKey(rs.ref), rev)
	if err != nil {
		return fmt.Errorf("reading the rollout of %s: %w", rs.ref, err)
	}
	pendingRollout := &rolloutTarget{kv: rokv}
	if rs.applyRollout(ctx, *pendingRollout) == nil {
		pendingRollout = nil
	}
	ctx, rs.cancel = context.WithCancel(context.Background())
	rs.done = make(chan struct{})
	go func() {
		defer close(rs.done)
		rs.run(ctx, rev, pending, pendingRollout)
	}()
	return nil
}

// close stops the main loop and waits for it. It does nothing if start was not called.
func (rs *releases) close() {
	if rs.cancel != nil {
		rs.cancel()
		<-rs.done
	}
}

// target is a state of the ref to serve: its commit ("" when the ref does not exist) as of
// a store revision.
type target struct {
	commit   code.ID
	revision int64
}

func (rs *releases) refKey() string { return code.RefPrefix + rs.ref }

// run is the main loop: it follows the ref from rev, applying each new state in order.
// Changes that arrive while a release is being built are coalesced: only the latest state is
// built. A state whose release fails to build for a passing reason is retried with backoff
// while the node keeps serving what it has; applied revisions advance only once a state is
// served. When the watch ends (compaction, a lost connection), the ref is read again and
// watched from there, so no change is missed for long.
//
// The watch covers all of code.Prefix, not only the ref: a push writes its blobs, then its
// tree, commit and ref in one store commit, so by the time the ref event arrives every
// object of the new commit has come through the same watch. Each is offered to the Repo's
// caches (which verify it against its id as a read would), and building the release then
// reads nothing from the store but what the caches could not keep. The ref alone still
// decides what is served, so ordering is exactly that of the ref's changes.
func (rs *releases) run(ctx context.Context, rev int64, pending *target, pendingRollout *rolloutTarget) {
	key := rs.refKey()
	roKey := rolloutKey(rs.ref)
	var events <-chan store.Event
	var retry <-chan time.Time
	backoff := 50 * time.Millisecond
	rewatch := func() { // after a failed read or an ended watch
		retry = time.After(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
	if pending != nil || pendingRollout != nil {
		rewatch()
	}
	events = rs.store.Watch(ctx, code.Prefix, rev)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			for ok && ev.Err == nil {
				refs := false // whether ev is one the old ref-only watch would have seen
				for _, ch := range ev.Changes {
					refs = refs || strings.HasPrefix(ch.Key, key)
					switch {
					case ch.Key == key:
						t := target{revision: ev.Revision}
						if !ch.Deleted {
							t.commit = code.ID(ch.Value)
						}
						pending = &t
					case ch.Key == roKey:
						t := rolloutTarget{}
						if !ch.Deleted {
							kv := ch.KeyValue
							t.kv = &kv
						}
						pendingRollout = &t
					case ch.Deleted:
						rs.repo.Forget(ch.Key) // collected (code.Collector)
					default:
						rs.repo.Offer(ch.Key, ch.Value)
					}
				}
				rev = ev.Revision
				// Revisions that only wrote objects do not advance applied by themselves
				// (waitApplied answers for them from the ref's ModRevision), so that applied
				// keeps moving in the ref's own steps.
				if pending == nil && refs {
					rs.advance(rev)
				}
				// Coalesce what is already queued: only the latest state is worth building.
				select {
				case ev, ok = <-events:
					continue
				default:
				}
				break
			}
			if !ok || ev.Err != nil {
				if ev.Err != nil {
					rs.log.Warn("ref watch ended", "ref", rs.ref, "revision", rev, "err", ev.Err)
				}
				events = nil
				rewatch()
			}
		case <-retry:
			retry = nil
			if events == nil {
				kv, cur, err := rs.store.Get(ctx, key, 0)
				if err != nil {
					rs.log.Warn("re-reading ref failed; serving the last release", "ref", rs.ref, "err", err)
					rewatch()
					continue
				}
				t := target{revision: cur}
				if kv != nil {
					t.commit = code.ID(kv.Value)
				}
				rokv, _, err := rs.store.Get(ctx, roKey, cur)
				if err != nil {
					rs.log.Warn("re-reading the rollout failed; serving the last releases", "ref", rs.ref, "err", err)
					rewatch()
					continue
				}
				pending, pendingRollout, rev = &t, &rolloutTarget{kv: rokv}, cur
				events = rs.store.Watch(ctx, code.Prefix, rev)
			}
		}
		if pending != nil {
			if err := rs.apply(ctx, *pending); err != nil {
				rs.log.Warn("switching commit failed; serving the last release and retrying", "commit", pending.commit, "err", err)
				if retry == nil {
					rewatch()
				}
				continue
			}
			pending = nil
			backoff = 50 * time.Millisecond
		}
		if pendingRollout != nil {
			if err := rs.applyRollout(ctx, *pendingRollout); err != nil {
				rs.log.Warn("building the rollout's commit failed; retrying", "ref", rs.ref, "err", err)
				if retry == nil {
					rewatch()
				}
				continue
			}
			pendingRollout = nil
		}
	}
}

// apply serves t: it builds t's release (unless it is served already) and records t's
// revision as applied. A commit that does not build leaves the node on its last working
// release, with the failure recorded; its revision is applied all the same, since the node
// has decided on it. apply fails, changing nothing, only when the build failed for a
// passing reason, to be retried.
func (rs *releases) apply(ctx context.Context, t target) error {
	if t.commit != "" {
		if err := rs.switchTo(ctx, t.commit, t.revision); err != nil {
			return err
		}
	}
	rs.advance(t.revision)
	return nil
}

// advance records that the node has applied every ref change up to rev.
func (rs *releases) advance(rev int64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rev > rs.applied.Load() {
		rs.applied.Store(rev)
		close(rs.notify)
		rs.notify = make(chan struct{})
		rs.changed()
	}
}

// waitApplied holds until the node has applied store revision rev, or ctx ends. A revision
// that changed no ref counts as applied as soon as the node is current with the ref: the
// store is asked for the ref while the wait goes on, so that a revision the watch is about
// to deliver is not held up by that read's round trip.
func (rs *releases) waitApplied(ctx context.Context, rev int64) error {
	if rev <= rs.applied.Load() {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	current := make(chan struct{}) // closed when the ref is known current as of rev
	go func() {
		kv, cur, err := rs.store.Get(ctx, rs.refKey(), 0)
		if err == nil && cur >= rev && (kv == nil || kv.ModRevision <= rs.applied.Load()) {
			close(current)
		}
	}()
	for {
		rs.mu.Lock()
		ch := rs.notify
		rs.mu.Unlock()
		if rev <= rs.applied.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-current:
			return nil
		case <-ch:
		}
	}
}

// lag is how far this node is behind the store, counting only what it must apply: when the
// ref has not changed since the applied revision, the node is current. It is -1 when the
// store cannot be read.
func (rs *releases) lag(ctx context.Context) int64 {
	applied := rs.applied.Load()
	kv, rev, err := rs.store.Get(ctx, rs.refKey(), 0)
	if err != nil {
		return -1
	}
	if kv == nil || kv.ModRevision <= applied {
		return 0
	}
	return rev - applied
}

func (rs *releases) changed() {
	if rs.hooks.changed != nil {
		rs.hooks.changed()
	}
}

// held returns the release of commit if the node holds one (current or the rollout's),
// or nil.
func (rs *releases) held(commit code.ID) *release {
	if cur := rs.current.Load(); cur != nil && cur.commit == commit {
		return cur
	}
	if c := rs.candidate.Load(); c != nil && c.rel != nil && c.rel.commit == commit {
		return c.rel
	}
	return nil
}

// rolloutTarget is a state of the ref's rollout key: as read (nil when absent).
type rolloutTarget struct {
	kv *store.KeyValue
}

// applyRollout follows t: it builds the release of a running rollout's commit (unless held)
// and makes it the candidate. A commit that does not build leaves a candidate without a
// release, with the error, which the node's rollout hook answers by aborting the rollout.
// It fails, changing nothing, only when the build failed for a passing reason.
func (rs *releases) applyRollout(ctx context.Context, t rolloutTarget) error {
	var c *candidate
	if t.kv != nil {
		ro, err := decodeRollout(t.kv.Value)
		if err != nil {
			rs.log.Error("ignoring the stored rollout", "ref", rs.ref, "err", err)
		} else {
			c = &candidate{rollout: ro, kv: t.kv}
		}
	}
	if c != nil && c.rollout.State == api.RolloutRunning {
		commit := code.ID(c.rollout.Commit)
		if c.rel = rs.held(commit); c.rel == nil {
			rel, err := rs.build(ctx, commit, t.kv.ModRevision)
			switch {
			case errors.Is(err, errTransient):
				return err
			case err != nil:
				c.err = err
				rs.log.Error("the rollout's commit does not build on this node", "ref", rs.ref, "commit", commit, "err", err)
			default:
				c.rel = rel
				rs.log.Info("serving rollout commit beside the current release", "ref", rs.ref, "commit", commit, "steps", c.rollout.Steps)
			}
		}
	}
	rs.candidate.Store(c)
	if rs.hooks.rollout != nil {
		rs.hooks.rollout(c)
	}
	rs.changed()
	return nil
}

// hold makes rel the current release.
func (rs *releases) hold(rel *release) {
	rs.current.Store(rel)
}

// switchTo builds the release of commit and makes it current, unless a newer one is served.
// A commit that does not build is recorded as the node's failure; the error is returned
// only when the build may pass if retried.
func (rs *releases) switchTo(ctx context.Context, commit code.ID, rev int64) error {
	if cur := rs.current.Load(); cur != nil && cur.revision >= rev && cur.commit != commit {
		return nil
	}
	if rel := rs.held(commit); rel != nil {
		if rel.revision < rev {
			next := *rel
			next.revision = rev
			rs.hold(&next)
		}
		rs.clearFailure()
		return nil
	}
	start := time.Now()
	rel, err := rs.build(ctx, commit, rev)
	if err != nil {
		f := rs.recordFailure(ctx, commit, rev, rel, err)
		if f.transient {
			return err
		}
		return nil
	}
	// The record is written before the release is current, so that whoever sees the node
	// serve the commit also finds it in the log.
	rs.log.Info("serving commit", "commit", commit, "revision", rev, "build_ms", time.Since(start).Milliseconds())
	rs.hold(rel)
	rs.clearFailure()
	if rs.hooks.switched != nil {
		rs.hooks.switched(rel)
	}
	rs.changed()
	return nil
}

// build reads commit's tree and builds its app, as read at store revision rev. On failure
// it returns what it could read of the release (for locating the error) and the error,
// marked errTransient when it may pass by itself. It changes nothing.
func (rs *releases) build(ctx context.Context, commit code.ID, rev int64) (*release, error) {
	rel := &release{commit: commit, revision: rev}
	c, err := rs.repo.Commit(ctx, commit)
	if err != nil {
		return rel, classify(err)
	}
	rel.committed = c.Time
	tree, err := rs.repo.Tree(ctx, c.Tree)
	if err != nil {
		return rel, classify(err)
	}
	rel.snap = &runtime.Snapshot{Commit: commit, Tree: tree, Blobs: rs.repo}
	if rel.app, err = rs.builder.Build(ctx, rel.snap); err != nil {
		return rel, classify(err)
	}
	return rel, nil
}

// classify marks errors that may pass by themselves with errTransient.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, runtime.ErrTimeout),
		errors.Is(err, runtime.ErrCanceled), errors.Is(err, runtime.ErrMemoryLimit),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", errTransient, err)
	}
	return err
}

// recordFailure records that commit failed to build with err, logs it once per commit and
// error, and counts it.
func (rs *releases) recordFailure(ctx context.Context, commit code.ID, rev int64, rel *release, err error) *buildFailure {
	f := &buildFailure{commit: commit, revision: rev, snap: rel.snap, err: err, transient: errors.Is(err, errTransient)}
	f.problems = failureProblems(ctx, err, rel.snap)
	prev := rs.failed.Load()
	if prev != nil && prev.commit == commit && prev.err.Error() == err.Error() {
		f.errorID = prev.errorID
		rs.failed.Store(f)
		return f
	}
	f.errorID = newErrorID()
	rs.failed.Store(f)
	if rs.hooks.failed != nil {
		rs.hooks.failed(f)
	}
	rs.changed()
	serving := ""
	if cur := rs.current.Load(); cur != nil {
		serving = string(cur.commit)
	}
	msg := "commit does not build on this node; serving the last working release"
	if f.transient {
		msg = "commit cannot be built on this node for now; serving the last working release and retrying"
	}
	lines := make([]string, len(f.problems))
	for i, p := range f.problems {
		lines[i] = p.String()
	}
	rs.log.LogAttrs(ctx, slog.LevelError, msg,
		slog.String("commit", string(commit)), slog.Int64("revision", rev), slog.String("serving", serving),
		slog.String("error_id", f.errorID), slog.String("error", err.Error()), slog.Any("problems", lines))
	return f
}

// clearFailure records that the node serves what the ref names.
func (rs *releases) clearFailure() {
	if rs.failed.Swap(nil) != nil {
		rs.changed()
	}
}

// failureProblems locates err, a failure to build snap's app, as the gate would.
func failureProblems(ctx context.Context, err error, snap *runtime.Snapshot) []api.Problem {
	var berr *build.Error
	if errors.As(err, &berr) {
		return berr.Problems
	}
	if snap == nil {
		return []api.Problem{{Path: build.EntryPoint, Message: err.Error()}}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sourceReadTimeout)
	defer cancel()
	tb := traceback.New(ctx, err, snap)
	p := api.Problem{Path: build.EntryPoint, Message: tb.Message}
	if n := len(tb.Frames); n > 0 {
		f := tb.Frames[n-1]
		p.Path, p.Line, p.Col = f.Path, f.Line, f.Col
	}
	return []api.Problem{p}
}

// status fills in what n says of the node's releases: the commit served, the revision
// applied and the build failure, if any. The failure's public message names the commit,
// never the code; its problems locate it.
//
// The revision is at least that of the release served: a release is made current just
// before its revision is recorded as applied, and a status read in between must not name
// the new commit with the old revision.
func (rs *releases) status(n *api.Node) {
	n.Revision = rs.applied.Load()
	if rel := rs.current.Load(); rel != nil {
		n.Commit = string(rel.commit)
		n.Revision = max(n.Revision, rel.revision)
	}
	n.Wanted, n.Error, n.Retrying, n.Problems = rs.failure()
	if c := rs.candidate.Load(); c != nil {
		nr := &api.NodeRollout{Commit: c.rollout.Commit, State: c.rollout.State, Reason: c.rollout.Reason}
		if c.serving() != nil {
			nr.Percent = c.rollout.Percent(time.Now())
		}
		if c.err != nil {
			nr.Error = fmt.Sprintf("commit %s does not build on this node (its log has the error); the node aborts the rollout", code.ID(c.rollout.Commit).Short())
		}
		n.Rollout = nr
	}
}

// failure returns the node's build failure as its status reports it, or "" and nil.
func (rs *releases) failure() (wanted, msg string, retrying bool, problems []api.Problem) {
	f := rs.failed.Load()
	if f == nil {
		return "", "", false, nil
	}
	msg = fmt.Sprintf("commit %s does not build on this node (error id %s); it serves its last working release", f.commit.Short(), f.errorID)
	if rs.current.Load() == nil {
		msg = fmt.Sprintf("commit %s does not build on this node (error id %s); it has no working release to serve", f.commit.Short(), f.errorID)
	}
	if f.transient {
		msg += " and retries"
	}
	return string(f.commit), msg, f.transient, f.problems
}

// noRelease answers an app request on a node that has no working release: 503, saying
// why. In dev mode, the answer locates the failure.
func (s *Server) noRelease(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	f := s.releases.failed.Load()
	if f == nil {
		http.Error(w, "No app is deployed yet. Push one with: starbase push DIR", http.StatusServiceUnavailable)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "This node has no working release: commit %s does not build here (error id %s). It serves the next commit that builds.\n",
		f.commit.Short(), f.errorID)
	if s.cfg.Dev {
		b.WriteString("\n")
		var berr *build.Error
		if errors.As(f.err, &berr) || f.snap == nil {
			for _, p := range f.problems {
				fmt.Fprintf(&b, "%s\n", p)
			}
		} else {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), sourceReadTimeout)
			defer cancel()
			fmt.Fprintf(&b, "%s\n", traceback.New(ctx, f.err, f.snap))
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(b.String()))
}
