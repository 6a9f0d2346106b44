package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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

// switchTo builds the release of commit and makes it current, unless a newer one is served.
// A commit that does not build is recorded as the node's failure; the error is returned
// only when the build may pass if retried.
func (s *Server) switchTo(ctx context.Context, commit code.ID, rev int64) error {
	if cur := s.current.Load(); cur != nil && (cur.revision >= rev || cur.commit == commit) {
		if cur.commit == commit {
			if cur.revision < rev {
				next := *cur
				next.revision = rev
				s.current.Store(&next)
			}
			s.clearFailure()
		}
		return nil
	}
	start := time.Now()
	rel, err := s.buildRelease(ctx, commit, rev)
	if err != nil {
		f := s.recordFailure(ctx, commit, rev, rel, err)
		if f.transient {
			return err
		}
		return nil
	}
	s.current.Store(rel)
	s.clearFailure()
	s.metrics.switched(string(commit), rel.committed)
	s.changed()
	s.log.Info("serving commit", "commit", commit, "revision", rev, "build_ms", time.Since(start).Milliseconds())
	return nil
}

// buildRelease reads commit's tree and builds its app. On failure it returns what it
// could read of the release (for locating the error) and the error, marked errTransient
// when it may pass by itself.
func (s *Server) buildRelease(ctx context.Context, commit code.ID, rev int64) (*release, error) {
	rel := &release{commit: commit, revision: rev}
	c, err := s.repo.Commit(ctx, commit)
	if err != nil {
		return rel, classify(err)
	}
	rel.committed = c.Time
	tree, err := s.repo.Tree(ctx, c.Tree)
	if err != nil {
		return rel, classify(err)
	}
	rel.snap = &runtime.Snapshot{Commit: commit, Tree: tree, Blobs: s.repo}
	if rel.app, err = s.builder.Build(ctx, rel.snap); err != nil {
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
func (s *Server) recordFailure(ctx context.Context, commit code.ID, rev int64, rel *release, err error) *buildFailure {
	f := &buildFailure{commit: commit, revision: rev, snap: rel.snap, err: err, transient: errors.Is(err, errTransient)}
	f.problems = failureProblems(ctx, err, rel.snap)
	prev := s.failed.Load()
	if prev != nil && prev.commit == commit && prev.err.Error() == err.Error() {
		f.errorID = prev.errorID
		s.failed.Store(f)
		return f
	}
	f.errorID = newErrorID()
	s.failed.Store(f)
	s.metrics.buildFailures.Inc()
	s.changed()
	serving := ""
	if cur := s.current.Load(); cur != nil {
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
	s.log.LogAttrs(ctx, slog.LevelError, msg,
		slog.String("commit", string(commit)), slog.Int64("revision", rev), slog.String("serving", serving),
		slog.String("error_id", f.errorID), slog.String("error", err.Error()), slog.Any("problems", lines))
	return f
}

// clearFailure records that the node serves what the ref names.
func (s *Server) clearFailure() {
	if s.failed.Swap(nil) != nil {
		s.changed()
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

// failure returns the node's build failure as its status reports it, or "" and nil. The
// public message names the commit, never the code; problems locate the failure.
func (s *Server) failure() (wanted, msg string, retrying bool, problems []api.Problem) {
	f := s.failed.Load()
	if f == nil {
		return "", "", false, nil
	}
	msg = fmt.Sprintf("commit %s does not build on this node (error id %s); it serves its last working release", f.commit.Short(), f.errorID)
	if s.current.Load() == nil {
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
	f := s.failed.Load()
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
