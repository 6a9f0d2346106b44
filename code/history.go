package code

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/starbase/starbase/store"
)

// Log returns up to n commits of the first-parent history that ends at from, newest first
// (from itself first). n <= 0 means the whole history.
func (r *Repo) Log(ctx context.Context, from ID, n int) ([]Commit, error) {
	var commits []Commit
	for id := from; id != "" && (n <= 0 || len(commits) < n); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := r.Commit(ctx, id)
		if err != nil {
			if len(commits) > 0 {
				err = fmt.Errorf("parent of commit %s: %w", commits[len(commits)-1].ID.Short(), err)
			}
			return nil, err
		}
		commits = append(commits, c)
		id = firstParent(c)
	}
	return commits, nil
}

// Revert makes a new commit on ref whose tree is the tree of commit target and whose parent
// is the ref's current commit, so that history keeps both the change and its undoing. Its
// message is "Revert to <short target id>: <first line of the target's message>". The ref
// is moved by compare-and-set against its state when Revert read it; extra is written in the
// same store commit. If the ref's tree already equals the target's, nothing is written and
// the result has Changed false.
//
// Revert fails with ErrNotFound (no such ref or target), ErrCorrupt, ErrStale (the ref moved
// during the revert), ErrInvalidRequest (bad author or Extra) and ErrTooLarge.
func (r *Repo) Revert(ctx context.Context, ref string, target ID, author string, extra []store.Op) (PushResult, error) {
	if err := ValidateRefName(ref); err != nil {
		return PushResult{}, err
	}
	t, err := r.Commit(ctx, target)
	if err != nil {
		return PushResult{}, fmt.Errorf("revert target: %w", err)
	}
	subject, _, _ := strings.Cut(t.Message, "\n")
	message := fmt.Sprintf("Revert to %s: %s", target.Short(), subject)
	if err := validateCommitText(author, message, nil); err != nil {
		return PushResult{}, err
	}
	if err := validateExtra(extra); err != nil {
		return PushResult{}, err
	}
	// The tree must be readable: a revert to a damaged tree would publish the damage.
	tree, err := r.Tree(ctx, t.Tree)
	if err != nil {
		return PushResult{}, fmt.Errorf("revert target's tree: %w", err)
	}
	refKV, err := r.readRef(ctx, ref)
	if err != nil {
		return PushResult{}, err
	}
	if refKV == nil {
		return PushResult{}, fmt.Errorf("%w: ref %q does not exist", ErrNotFound, ref)
	}
	current, err := r.Commit(ctx, ID(refKV.Value))
	if err != nil {
		return PushResult{}, fmt.Errorf("code: reading the current commit of ref %q: %w", ref, err)
	}
	if current.Tree == t.Tree {
		return PushResult{Commit: current.ID, Revision: refKV.ModRevision, Parent: firstParent(current)}, nil
	}
	u := &update{ref: ref, refKV: refKV, parent: current.ID, tree: tree, treeID: t.Tree}
	if err := r.prepareCommit(u, author, message, nil, time.Time{}, extra, nil); err != nil {
		return PushResult{}, err
	}
	return r.publish(ctx, u, current.ID, false)
}
