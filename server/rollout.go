package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/store"
)

// Rollouts: a commit served beside the current release to a share of the requests.
//
// A rollout is stored state, one key per ref beside the refs (rolloutPrefix + ref), so every
// node follows it through the same watch that follows the ref (releases.run) and all nodes
// agree on it: the commit, the steps and their schedule, which each node turns into a
// percentage from the stored start time (api.Rollout.Percent), so no node leads. It is
// written only through the publisher (start, promote, abort: each with its audit record in
// the same store commit) and by a node rolling it back (rollback), always by compare-and-set
// on the key, so two nodes rolling back at once write one abort.
//
// Each node holds the rollout's commit as a second release (releases.candidate), built by
// the same code as the current one; a node that cannot build it aborts the rollout, saying
// why. Requests are split by pick (rolloutroute.go); every node measures both commits over a
// sliding window and rolls the rollout back past its thresholds (rolloutwindow.go).

// rolloutPrefix is where rollouts are stored: beside the refs, under code/, so that the
// releases' watch of code/ delivers their changes in order with the refs'.
const rolloutPrefix = code.Prefix + "rollouts/"

func rolloutKey(ref string) string { return rolloutPrefix + ref }

// errRolloutState is returned when a rollout cannot be changed in its current state (none
// runs, or one runs already).
var errRolloutState = fmt.Errorf("%w: rollout", code.ErrConflict)

// decodeRollout decodes a stored rollout.
func decodeRollout(b []byte) (*api.Rollout, error) {
	var ro api.Rollout
	if err := json.Unmarshal(b, &ro); err != nil {
		return nil, fmt.Errorf("%w: stored rollout: %v", code.ErrCorrupt, err)
	}
	if code.ValidateID(code.ID(ro.Commit)) != nil || len(ro.Steps) == 0 {
		return nil, fmt.Errorf("%w: stored rollout names no commit or no steps", code.ErrCorrupt)
	}
	ro.Thresholds = ro.Thresholds.WithDefaults()
	return &ro, nil
}

// readRollout returns the stored rollout of ref and its key as read (nil, nil when none).
func (p *publisher) readRollout(ctx context.Context, ref string) (*api.Rollout, *store.KeyValue, error) {
	kv, _, err := p.store.Get(ctx, rolloutKey(ref), 0)
	if err != nil || kv == nil {
		return nil, kv, err
	}
	ro, err := decodeRollout(kv.Value)
	return ro, kv, err
}

// startRollout starts serving req.Commit to a share of the requests of req.Ref. The commit
// must pass the validation gate (a commit that does not is refused with the gate's
// problems) and differ from the ref's; a rollout already running is refused.
func (p *publisher) startRollout(ctx context.Context, who actor, req api.RolloutRequest) (*api.Rollout, error) {
	ref := refOrDefault(req.Ref)
	if err := code.ValidateRefName(ref); err != nil {
		return nil, err
	}
	if err := req.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if err := p.checkProtected(ctx, who, ref); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		ro, collected, err := p.tryStartRollout(ctx, who, ref, req)
		if !collected || attempt == publishAttempts {
			return ro, err
		}
	}
}

// tryStartRollout is one attempt of startRollout. collected reports that its store commit
// failed only because a collection of old code ran meanwhile (the rollout record as read,
// CollectKey changed): the attempt is worth repeating, and the next one finds out whether
// the commit was dropped.
func (p *publisher) tryStartRollout(ctx context.Context, who actor, ref string, req api.RolloutRequest) (_ *api.Rollout, collected bool, _ error) {
	// Read before the commit is found stored: a collection of old code that deletes it
	// meanwhile makes the rollout's store commit fail rather than name a deleted commit.
	guard, err := p.repo.Guard(ctx)
	if err != nil {
		return nil, false, err
	}
	commit, err := p.repo.Resolve(ctx, req.Commit)
	if err != nil {
		return nil, false, err
	}
	base, _, err := p.repo.Ref(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	if base == commit {
		return nil, false, fmt.Errorf("%w: ref %s already names commit %s: there is nothing to roll out", errBadRequest, ref, commit.Short())
	}
	old, kv, err := p.readRollout(ctx, ref)
	if err != nil && !errors.Is(err, code.ErrCorrupt) {
		return nil, false, err
	}
	if old != nil && old.State == api.RolloutRunning {
		return nil, false, fmt.Errorf("%w: a rollout of %s on %s is running: promote or abort it first", errRolloutState, code.ID(old.Commit).Short(), ref)
	}
	if _, err := p.gatedFiles(ctx, who, commit); err != nil {
		return nil, false, err
	}
	ro := &api.Rollout{
		Ref: ref, Commit: string(commit), Base: string(base), Steps: req.Steps, Every: req.Every,
		Started: time.Now().UTC(), State: api.RolloutRunning, By: who.tok.Name,
		Thresholds: req.Thresholds.WithDefaults(),
	}
	b, _ := json.Marshal(ro)
	rec := auditRecord(who, auth.ActionRolloutStart)
	rec.Ref, rec.Commit, rec.Parent = ref, string(commit), string(base)
	rec.Reason = fmt.Sprintf("steps %v every %v", ro.Steps, ro.Every)
	if _, err := p.store.Commit(ctx, []store.Compare{store.Unchanged(rolloutKey(ref), kv), guard},
		[]store.Op{store.Put(rolloutKey(ref), b), auth.AuditOp(rec)}); err != nil {
		return nil, p.collectedSince(ctx, guard, rolloutKey(ref), kv, err), rolloutWriteError(err)
	}
	p.log.Info("rollout started", "ref", ref, "commit", commit, "base", base, "steps", ro.Steps, "every", ro.Every, "by", who.tok.Name)
	return ro, false, nil
}

// promoteRollout makes the running rollout's commit the ref's, and clears the rollout, in
// one store commit with its audit record.
func (p *publisher) promoteRollout(ctx context.Context, who actor, req api.RolloutAction) (api.CommitResult, error) {
	ref := refOrDefault(req.Ref)
	if err := code.ValidateRefName(ref); err != nil {
		return api.CommitResult{}, err
	}
	if err := p.checkProtected(ctx, who, ref); err != nil {
		return api.CommitResult{}, err
	}
	ro, kv, err := p.readRollout(ctx, ref)
	if err != nil {
		return api.CommitResult{}, err
	}
	if ro == nil || ro.State != api.RolloutRunning {
		return api.CommitResult{}, fmt.Errorf("%w: no rollout runs on %s: there is nothing to promote", errRolloutState, ref)
	}
	refKV, _, err := p.store.Get(ctx, code.RefPrefix+ref, 0)
	if err != nil {
		return api.CommitResult{}, err
	}
	var from code.ID
	if refKV != nil {
		from = code.ID(refKV.Value)
	}
	rec := auditRecord(who, auth.ActionRolloutPromote)
	rec.Ref, rec.Commit, rec.Parent = ref, ro.Commit, string(from)
	if diffs, err := p.repo.Diff(ctx, from, code.ID(ro.Commit)); err == nil {
		rec.Paths = pathChanges(diffs)
	}
	rev, err := p.store.Commit(ctx,
		[]store.Compare{store.Unchanged(code.RefPrefix+ref, refKV), store.Unchanged(rolloutKey(ref), kv)},
		[]store.Op{store.Put(code.RefPrefix+ref, []byte(ro.Commit)), store.Delete(rolloutKey(ref)), auth.AuditOp(rec)})
	if err != nil {
		return api.CommitResult{}, rolloutWriteError(err)
	}
	p.log.Info("rollout promoted", "ref", ref, "commit", ro.Commit, "from", from, "by", who.tok.Name)
	return api.CommitResult{Commit: ro.Commit, Parent: string(from), Revision: rev, Changed: true}, nil
}

// abortRollout ends the running rollout of req.Ref: every node serves the ref's commit
// alone again. The stored rollout stays, aborted, with the reason, until the next one.
func (p *publisher) abortRollout(ctx context.Context, who actor, req api.RolloutAction) (*api.Rollout, error) {
	ref := refOrDefault(req.Ref)
	if err := code.ValidateRefName(ref); err != nil {
		return nil, err
	}
	if err := p.checkProtected(ctx, who, ref); err != nil {
		return nil, err
	}
	ro, kv, err := p.readRollout(ctx, ref)
	if err != nil {
		return nil, err
	}
	if ro == nil || ro.State != api.RolloutRunning {
		return nil, fmt.Errorf("%w: no rollout runs on %s: there is nothing to abort", errRolloutState, ref)
	}
	reason := "aborted by " + who.tok.Name
	if req.Reason != "" {
		reason += ": " + clip(req.Reason, maxAuditText)
	}
	return p.endRollout(ctx, auditRecord(who, auth.ActionRolloutAbort), ro, kv, reason)
}

// endRollout writes ro, read as kv, aborted with reason, and rec, if the key has not changed
// since: of several nodes rolling one rollout back at once, one writes.
func (p *publisher) endRollout(ctx context.Context, rec auth.AuditRecord, ro *api.Rollout, kv *store.KeyValue, reason string) (*api.Rollout, error) {
	ended := *ro
	ended.State, ended.Reason, ended.Ended = api.RolloutAborted, reason, time.Now().UTC()
	b, _ := json.Marshal(&ended)
	rec.Ref, rec.Commit, rec.Parent, rec.Reason = ro.Ref, ro.Commit, ro.Base, reason
	if _, err := p.store.Commit(ctx, []store.Compare{store.Unchanged(rolloutKey(ro.Ref), kv)},
		[]store.Op{store.Put(rolloutKey(ro.Ref), b), auth.AuditOp(rec)}); err != nil {
		return nil, rolloutWriteError(err)
	}
	p.log.Warn("rollout aborted", "ref", ro.Ref, "commit", ro.Commit, "reason", reason)
	return &ended, nil
}

// collectedSince reports whether err, the conflict of a store commit that compared key (as
// kv) and guard (CollectKey as read), came from a collection alone: key is as it was read
// and CollectKey changed.
func (p *publisher) collectedSince(ctx context.Context, guard store.Compare, key string, kv *store.KeyValue, err error) bool {
	if !errors.Is(err, store.ErrConflict) {
		return false
	}
	now, gerr := p.repo.Guard(ctx)
	cur, _, kerr := p.store.Get(ctx, key, 0)
	return gerr == nil && kerr == nil && now != guard && store.Unchanged(key, cur) == store.Unchanged(key, kv)
}

// rolloutWriteError says that a rollout changed meanwhile when a compare failed.
func rolloutWriteError(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: the rollout or its ref changed meanwhile; look at `starbase rollout --status` and retry", errRolloutState)
	}
	return err
}
