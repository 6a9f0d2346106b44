package code

import (
	"context"
	"fmt"
	"strings"
)

// Log returns up to n commits of the first-parent history that ends at from, newest first
// (from itself first). n <= 0 means the whole history. The history ends early, without an
// error, at a parent that a retention policy dropped ([Collector]): the log shows what is
// kept. from itself dropped fails with a *DroppedError.
func (r *Repo) Log(ctx context.Context, from ID, n int) ([]Commit, error) {
	var commits []Commit
	for id := from; id != "" && (n <= 0 || len(commits) < n); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := r.Commit(ctx, id)
		if err != nil {
			if len(commits) > 0 && isDropped(err) {
				return commits, nil
			}
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

// RevertMessage is the message of a commit that reverts to target:
// "Revert to <short target id>: <first line of the target's message>". A revert is a push of
// target's files on top of the ref's current commit, so history keeps both the change and its
// undoing.
func RevertMessage(target Commit) string {
	subject, _, _ := strings.Cut(target.Message, "\n")
	return fmt.Sprintf("Revert to %s: %s", target.ID.Short(), subject)
}
