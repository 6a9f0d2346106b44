package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

// publisher changes what refs name: a push, a revert, a ref move. It holds the rules every
// such change obeys, whoever asks for it (the API's handlers today):
//
//   - a protected ref moves only for an admin (the refusal is an auth.ErrForbidden, which
//     the API audits as a refusal);
//   - a push based on a commit the ref no longer names is refused (code.StaleError) before
//     the gate runs the tree's tests, unless forced;
//   - every tree published, pushed or stored, passes the validation gate first, with the
//     options of every other gate run on the node;
//   - the new commit (or the ref move) and its audit record are one store commit: neither
//     exists without the other.
//
// Each operation is a func(ctx, who, request) (result, error) and changes nothing when it
// fails. It is safe for concurrent use.
type publisher struct {
	store store.Store
	repo  *code.Repo
	// gate is how every published tree is checked (NoTests is set per push).
	gate gate.Options
	// storedClasses lists the classes of the data tier's objects: a push must keep a
	// class for each (gate/classes.go). Nil skips the check.
	storedClasses func(ctx context.Context) ([]string, error)
	// buildIndexes starts building the indexes that the models of ref's new code declare
	// (objects.BuildIndexes). Nil builds none at push.
	buildIndexes func(ctx context.Context, ref string)
	log          *slog.Logger
	// checked, when set, is told of every gate run: how long it took and its verdict.
	checked func(took time.Duration, err error)
}

// check runs the gate on files for who, timing it; a refusal is logged with its author and
// reason.
func (p *publisher) check(ctx context.Context, who actor, files map[string][]byte, opts gate.Options) error {
	start := time.Now()
	err := gate.Check(ctx, files, opts)
	if p.checked != nil {
		p.checked(time.Since(start), err)
	}
	var gerr *gate.Error
	if errors.As(err, &gerr) {
		reason := gerr.Summary()
		for i, pr := range gerr.Problems {
			if i == 3 {
				reason += "; ..."
				break
			}
			reason += "; " + pr.String()
		}
		p.log.Warn("the gate refused a change", "author", who.tok.Name, "remote", who.source, "method", who.method, "path", who.path,
			"problems", len(gerr.Problems), "reason", clip(reason, maxAuditText))
	}
	return err
}

// actor is who asks for a change, as its audit record names them: a principal and where
// the request came from.
type actor struct {
	principal
	source, method, path string
}

// actorOf returns who as the author of r.
func actorOf(r *http.Request, who principal) actor {
	return actor{principal: who, source: r.RemoteAddr, method: r.Method, path: r.URL.Path}
}

// auditRecord starts the audit record of action taken by who.
func auditRecord(who actor, action auth.Action) auth.AuditRecord {
	return auth.AuditRecord{
		Time:    time.Now().UTC(),
		Action:  action,
		Actor:   who.tok.Name,
		ActorID: who.tok.ID,
		Role:    who.tok.Role,
		Session: who.session != "",
		Source:  who.source,
		Method:  clip(who.method, maxAuditMethod),
		Path:    clip(who.path, maxAuditText),
	}
}

// checkProtected refuses to let who move ref when ref is protected and who is not an admin.
func (p *publisher) checkProtected(ctx context.Context, who actor, ref string) error {
	if who.tok.Role.Allows(auth.Admin) {
		return nil
	}
	protected, err := auth.NewProtection(p.store).Protected(ctx, ref)
	if err != nil {
		return err
	}
	if protected {
		return fmt.Errorf("%w: ref %q is protected: only an admin token may move it", auth.ErrForbidden, ref)
	}
	return nil
}

// push commits req.Files on req.Ref (default main) as who.
func (p *publisher) push(ctx context.Context, who actor, req api.PushRequest) (api.CommitResult, error) {
	ref := refOrDefault(req.Ref)
	if err := p.checkProtected(ctx, who, ref); err != nil {
		return api.CommitResult{}, err
	}
	// A stale push is refused before the gate runs the tree's tests, not after.
	if !req.Force {
		current, _, err := p.repo.Ref(ctx, ref)
		if err != nil && !errors.Is(err, code.ErrNotFound) {
			return api.CommitResult{}, err
		}
		if current != code.ID(req.Expected) {
			return api.CommitResult{}, &code.StaleError{Ref: ref, Expected: code.ID(req.Expected), Current: current}
		}
	}
	opts := p.gate
	opts.NoTests = req.NoTests
	opts.StoredClasses, opts.Orphans = p.storedClasses, req.Orphans
	opts.Previous = func(ctx context.Context) (map[string]*objects.Model, error) { return p.modelsOf(ctx, ref) }
	if err := p.check(ctx, who, req.Files, opts); err != nil {
		return api.CommitResult{}, err
	}
	var notes []string
	if req.NoTests {
		notes = append(notes, "no-tests")
	}
	for _, class := range req.Orphans {
		notes = append(notes, "orphan "+class)
	}
	res, err := p.commitAudited(ctx, who, publication{
		action:   auth.ActionCommit,
		ref:      ref,
		files:    req.Files,
		expected: code.ID(req.Expected),
		force:    req.Force,
		message:  req.Message,
		notes:    notes,
	})
	if err != nil {
		return api.CommitResult{}, err
	}
	p.log.Info("push", "ref", ref, "commit", res.Commit, "changed", res.Changed, "author", who.tok.Name, "remote", who.source)
	if p.buildIndexes != nil && res.Changed {
		p.buildIndexes(ctx, ref)
	}
	return commitResult(res), nil
}

// revert makes a new commit on req.Ref whose tree is req.Commit's, on top of whatever the
// ref is at.
func (p *publisher) revert(ctx context.Context, who actor, req api.RevertRequest) (api.CommitResult, error) {
	ref := refOrDefault(req.Ref)
	if err := p.checkProtected(ctx, who, ref); err != nil {
		return api.CommitResult{}, err
	}
	if _, _, err := p.repo.Ref(ctx, ref); err != nil {
		return api.CommitResult{}, err
	}
	target, err := p.repo.Resolve(ctx, req.Commit)
	if err != nil {
		return api.CommitResult{}, err
	}
	t, err := p.repo.Commit(ctx, target)
	if err != nil {
		return api.CommitResult{}, err
	}
	files, err := p.gatedFiles(ctx, who, target)
	if err != nil {
		return api.CommitResult{}, err
	}
	res, err := p.commitAudited(ctx, who, publication{
		action:  auth.ActionRevert,
		ref:     ref,
		files:   files,
		force:   true,
		message: code.RevertMessage(t),
		target:  target,
	})
	if err != nil {
		return api.CommitResult{}, err
	}
	p.log.Info("revert", "ref", ref, "to", target, "commit", res.Commit, "author", who.tok.Name, "remote", who.source)
	return commitResult(res), nil
}

// refMove asks to move ref to an existing commit: RefRequest.Commit, by compare-and-set
// against RefRequest.Expected ("" = the ref must not exist).
type refMove struct {
	ref string
	api.RefRequest
}

// moveRef moves req.ref to req.Commit. The move and its audit record are one store commit.
func (p *publisher) moveRef(ctx context.Context, who actor, req refMove) (api.CommitResult, error) {
	if err := code.ValidateRefName(req.ref); err != nil {
		return api.CommitResult{}, err
	}
	if err := p.checkProtected(ctx, who, req.ref); err != nil {
		return api.CommitResult{}, err
	}
	to, err := p.repo.Resolve(ctx, req.Commit)
	if err != nil {
		return api.CommitResult{}, err
	}
	expected := code.ID(req.Expected)
	if expected != "" {
		if err := code.ValidateID(expected); err != nil {
			return api.CommitResult{}, fmt.Errorf("%w: expected: %v", errBadRequest, err)
		}
	}
	if _, err := p.gatedFiles(ctx, who, to); err != nil {
		return api.CommitResult{}, err
	}
	diffs, err := p.repo.Diff(ctx, expected, to)
	if err != nil && !errors.Is(err, code.ErrNotFound) {
		return api.CommitResult{}, err
	}
	rec := auditRecord(who, auth.ActionRefMove)
	rec.Ref, rec.Commit, rec.Parent = req.ref, string(to), string(expected)
	rec.Paths = pathChanges(diffs)
	rev, err := p.repo.SetRef(ctx, req.ref, to, expected, []store.Op{auth.AuditOp(rec)})
	if err != nil {
		return api.CommitResult{}, err
	}
	p.log.Info("ref moved", "ref", req.ref, "from", expected, "to", to, "by", who.tok.Name, "remote", who.source)
	return api.CommitResult{Commit: string(to), Parent: string(expected), Revision: rev, Changed: to != expected}, nil
}

// gatedFiles returns the files of commit id once the validation gate passed them: a revert
// or a ref move publishes a stored tree, which must pass the gate as a pushed one does.
func (p *publisher) gatedFiles(ctx context.Context, who actor, id code.ID) (map[string][]byte, error) {
	files, err := p.repo.Files(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := p.check(ctx, who, files, p.gate); err != nil {
		return nil, err
	}
	return files, nil
}

// publication is a commit to make on a ref, with what its audit record says about it.
type publication struct {
	action   auth.Action
	ref      string
	files    map[string][]byte
	expected code.ID // the commit the client based its files on ("" = none)
	force    bool    // publish on whatever commit the ref is at
	message  string
	notes    []string
	target   code.ID // for a revert, the commit reverted to
}

// publishAttempts bounds how often a forced publication tries again after a concurrent
// update of its ref.
const publishAttempts = 3

// commitAudited makes pub's commit as who, writing its audit record in the same store commit
// as the commit and the ref move, so that neither can exist without the other. The record
// names the new commit, its parent and the changed paths exactly, as the push computes them.
// A forced publication that loses a race with another update tries again on the new parent.
func (p *publisher) commitAudited(ctx context.Context, who actor, pub publication) (code.PushResult, error) {
	req := code.PushRequest{
		Ref: pub.ref, Files: pub.files, Expected: pub.expected, Force: pub.force,
		Author: who.tok.Name, Message: pub.message, Notes: pub.notes,
		Record: func(c code.Commit, parentTree, tree code.Tree) ([]store.Op, error) {
			rec := auditRecord(who, pub.action)
			rec.Time, rec.Ref, rec.Commit, rec.Target = c.Time, pub.ref, string(c.ID), string(pub.target)
			if len(c.Parents) > 0 {
				rec.Parent = string(c.Parents[0])
			}
			rec.Paths = pathChanges(code.DiffTrees(parentTree, tree))
			return []store.Op{auth.AuditOp(rec)}, nil
		},
	}
	for attempt := 1; ; attempt++ {
		res, err := p.repo.Push(ctx, req)
		if errors.Is(err, code.ErrConflict) && pub.force && attempt < publishAttempts {
			continue
		}
		return res, err
	}
}

func refOrDefault(ref string) string {
	if ref == "" {
		return code.DefaultBranch
	}
	return ref
}

func commitResult(res code.PushResult) api.CommitResult {
	return api.CommitResult{Commit: string(res.Commit), Parent: string(res.Parent), Revision: res.Revision, Changed: res.Changed}
}
