package code

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/starbase/starbase/store"
)

// Ref is a named pointer to a commit.
type Ref struct {
	Name   string
	Commit ID
	// ModRevision is the store revision of the last change to the ref; a compare-and-set of
	// the ref compares against it.
	ModRevision int64
}

// Ref returns the commit ref name points to and the store revision of the ref's last change.
// It fails with ErrInvalidRef, ErrNotFound or ErrCorrupt (the ref does not hold a commit id).
func (r *Repo) Ref(ctx context.Context, name string) (id ID, modRev int64, err error) {
	kv, err := r.readRef(ctx, name)
	if err != nil {
		return "", 0, err
	}
	if kv == nil {
		return "", 0, fmt.Errorf("%w: ref %q does not exist", ErrNotFound, name)
	}
	return ID(kv.Value), kv.ModRevision, nil
}

// readRef reads ref name, returning nil when it does not exist. A present ref is checked to
// hold a commit id.
func (r *Repo) readRef(ctx context.Context, name string) (*store.KeyValue, error) {
	kv, err := r.rawRef(ctx, name)
	if err != nil {
		return nil, err
	}
	if _, err := refTarget(name, kv); err != nil {
		return nil, err
	}
	return kv, nil
}

// rawRef reads ref name, returning nil when it does not exist, without checking its value.
func (r *Repo) rawRef(ctx context.Context, name string) (*store.KeyValue, error) {
	if err := ValidateRefName(name); err != nil {
		return nil, err
	}
	kv, _, err := r.store.Get(ctx, refKey(name), 0)
	if err != nil {
		return nil, fmt.Errorf("code: reading ref %q: %w", name, err)
	}
	return kv, nil
}

// refTarget returns the commit id held by ref name as read (kv, nil when absent, giving "").
// It fails with ErrCorrupt when the value is not an id.
func refTarget(name string, kv *store.KeyValue) (ID, error) {
	if kv == nil {
		return "", nil
	}
	if err := ValidateID(ID(kv.Value)); err != nil {
		return "", fmt.Errorf("%w: ref %q: %v", ErrCorrupt, name, err)
	}
	return ID(kv.Value), nil
}

// refsPage is how many refs Refs reads per store read.
const refsPage = 1000

// Refs returns every ref, sorted by name, as of one store revision.
func (r *Repo) Refs(ctx context.Context) ([]Ref, error) {
	var refs []Ref
	opts := store.RangeOptions{Limit: refsPage}
	for {
		res, err := r.store.Range(ctx, RefPrefix, opts)
		if err != nil {
			return nil, fmt.Errorf("code: listing refs: %w", err)
		}
		for _, kv := range res.KVs {
			name := strings.TrimPrefix(kv.Key, RefPrefix)
			if err := ValidateID(ID(kv.Value)); err != nil {
				return nil, fmt.Errorf("%w: ref %q: %v", ErrCorrupt, name, err)
			}
			refs = append(refs, Ref{Name: name, Commit: ID(kv.Value), ModRevision: kv.ModRevision})
		}
		if !res.More || len(res.KVs) == 0 {
			return refs, nil
		}
		opts.Revision = res.Revision
		opts.After = res.KVs[len(res.KVs)-1].Key
	}
}

// ambiguousShown is how many candidates an ErrAmbiguous message lists.
const ambiguousShown = 5

// Resolve returns the commit named by s: a ref name, a full commit id, or a unique prefix of
// at least MinPrefixLen hex digits of a stored commit's id (in either case). A ref wins over
// an id prefix that is spelled the same. It fails with ErrNotFound, ErrPrefixTooShort or
// ErrAmbiguous, whose messages say what to do.
func (r *Repo) Resolve(ctx context.Context, s string) (ID, error) {
	if ValidateRefName(s) == nil {
		kv, err := r.readRef(ctx, s)
		if err != nil {
			return "", err
		}
		if kv != nil {
			return ID(kv.Value), nil
		}
	}
	hex := strings.ToLower(s)
	if hex == "" || len(hex) > IDLen || !isLowerHex(hex) {
		return "", fmt.Errorf("%w: no ref or commit is named %q", ErrNotFound, s)
	}
	if len(hex) < MinPrefixLen {
		return "", fmt.Errorf("%w: %q is not a ref, and as a commit id prefix it is too short: "+
			"use at least %d hex digits", ErrPrefixTooShort, s, MinPrefixLen)
	}
	if len(hex) == IDLen {
		if _, err := r.object(ctx, "commit", commitKey(ID(hex)), ID(hex)); err != nil {
			if errors.Is(err, ErrNotFound) {
				err = r.dropped(ctx, ID(hex), err)
			}
			return "", err
		}
		return ID(hex), nil
	}
	res, err := r.store.Range(ctx, CommitPrefix+hex, store.RangeOptions{Limit: ambiguousShown})
	if err != nil {
		return "", fmt.Errorf("code: resolving %q: %w", s, err)
	}
	switch {
	case len(res.KVs) == 0:
		return "", r.resolveDropped(ctx, hex, fmt.Errorf("%w: no ref or commit is named %q", ErrNotFound, s))
	case len(res.KVs) == 1:
		id := ID(strings.TrimPrefix(res.KVs[0].Key, CommitPrefix))
		if err := ValidateID(id); err != nil {
			return "", fmt.Errorf("%w: store key %q: %v", ErrCorrupt, res.KVs[0].Key, err)
		}
		return id, nil
	}
	var matches []string
	for _, kv := range res.KVs {
		matches = append(matches, strings.TrimPrefix(kv.Key, CommitPrefix))
	}
	more := ""
	if res.More {
		more = " and more"
	}
	return "", fmt.Errorf("%w: %q matches commits %s%s; use more hex digits",
		ErrAmbiguous, s, strings.Join(matches, ", "), more)
}

// SetRef moves ref name to commit to by compare-and-set, writing extra in the same store
// commit. expected is the commit the caller believes the ref is at ("" for "the ref must not
// exist"). The returned revision is the store revision of the change; when the ref is
// already at to, nothing is written (extra included) and the revision of the ref's last
// change is returned.
//
// SetRef fails with ErrInvalidRef, ErrInvalidID, ErrNotFound (to is not a stored commit),
// ErrStale (a *StaleError) when the ref is not at expected or moves concurrently,
// ErrInvalidRequest for an Extra operation under Prefix, and ErrTooLarge when extra makes
// the store commit too large.
func (r *Repo) SetRef(ctx context.Context, name string, to ID, expected ID, extra []store.Op) (int64, error) {
	for attempt := 1; ; attempt++ {
		rev, err := r.setRef(ctx, name, to, expected, extra)
		if errors.Is(err, errCollected) && attempt < collectRetries {
			continue
		}
		return rev, err
	}
}

func (r *Repo) setRef(ctx context.Context, name string, to ID, expected ID, extra []store.Op) (int64, error) {
	if err := ValidateRefName(name); err != nil {
		return 0, err
	}
	guard, err := r.Guard(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := r.Commit(ctx, to); err != nil {
		return 0, err
	}
	if err := validateExtra(extra); err != nil {
		return 0, err
	}
	kv, err := r.readRef(ctx, name)
	if err != nil {
		return 0, err
	}
	current, _ := refTarget(name, kv) // checked by readRef
	if err := checkExpected(name, current, expected, false); err != nil {
		return 0, err
	}
	if current == to {
		return kv.ModRevision, nil
	}
	compares := []store.Compare{store.Unchanged(refKey(name), kv), guard}
	ops := append([]store.Op{store.Put(refKey(name), []byte(to))}, extra...)
	limits := r.store.Limits()
	if size := store.SizeOf(compares, ops); !limits.Allows(size) {
		return 0, fmt.Errorf("%w: moving ref %q needs one store commit of %d compares, %d operations and %d "+
			"bytes, the store allows %s", ErrTooLarge, name, size.Compares, size.Ops, size.Bytes, describeLimits(limits))
	}
	rev, err := r.store.Commit(ctx, compares, ops)
	switch {
	case errors.Is(err, store.ErrConflict) && r.collectedSince(ctx, guard, name, kv):
		return 0, errCollected
	case errors.Is(err, store.ErrConflict):
		return 0, r.lostRace(ctx, name, expected, false)
	case errors.Is(err, store.ErrTooLarge):
		return 0, fmt.Errorf("%w: %w", ErrTooLarge, err)
	case err != nil:
		return 0, fmt.Errorf("code: moving ref %q to %s: %w", name, to.Short(), err)
	}
	return rev, nil
}
