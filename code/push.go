package code

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/starbase/starbase/store"
)

// Limits on the text of a commit.
const (
	MaxAuthorLen  = 256
	MaxMessageLen = 64 << 10
	MaxNoteLen    = 256
)

// PushRequest asks Push to publish a complete set of files as a new commit on a ref.
type PushRequest struct {
	// Ref is the ref to move, such as DefaultBranch.
	Ref string
	// Files is the whole new content of the tree, by path. Files not listed are removed.
	Files map[string][]byte
	// Expected is the commit the caller based its work on; "" means the ref must not exist
	// yet. The push fails with ErrStale if the ref is elsewhere.
	Expected ID
	// Force skips the Expected check. The ref is still moved by compare-and-set against the
	// state read during the push, so a concurrent update is never overwritten silently.
	Force bool
	// Author, Message and Notes are recorded in the commit.
	Author  string
	Message string
	Notes   []string
	// Time is the commit time; zero means now.
	Time time.Time
	// Extra operations are written in the same store commit that moves the ref (audit
	// records, for example). They must not touch keys under Prefix. They are not written
	// when the push changes nothing.
	Extra []store.Op
	// Record, when set, is called once the new commit is known, with the commit (its ID
	// set), the tree of its parent (empty when there is none or it is unreadable) and its
	// own tree. The operations it returns are written like Extra, in the same store commit:
	// for records that must name the commit they record, such as audit entries. It is not
	// called when the push changes nothing.
	Record func(c Commit, parentTree, tree Tree) ([]store.Op, error)
}

// PushResult describes the outcome of a push.
type PushResult struct {
	// Commit is the new commit, or the ref's current commit when nothing changed.
	Commit ID
	// Revision is the store revision that published Commit; when nothing changed, the
	// revision of the ref's last change.
	Revision int64
	// Changed reports whether a commit was made.
	Changed bool
	// Parent is Commit's first parent ("" for the first commit of a ref).
	Parent ID
}

// update is a prepared move of a ref to a new commit: everything the final store commit
// writes, computed before anything is written.
type update struct {
	ref   string
	refKV *store.KeyValue // the ref as read, nil when it did not exist
	guard store.Compare   // CollectKey as read before anything was found stored
	// parent is the commit the ref was at ("" when it did not exist or held garbage).
	parent ID
	// blobs are the blobs the new tree needs that may not be stored yet.
	blobs      map[ID][]byte
	tree       Tree
	parentTree Tree // the parent's tree; nil when unknown
	treeID     ID
	treeData   []byte // nil when the tree is already stored
	commit     Commit
	commitData []byte
	extra      []store.Op
}

// Push publishes req.Files as a new commit on req.Ref.
//
// Every path is validated first; all bad paths are reported together in a *PathsError and
// nothing is written. If the files equal the tree of the ref's current commit, no commit is
// made and the result has Changed false. Otherwise missing blobs are written first, in store
// commits within the store's limits (blobs are content addressed, so a crash after this step
// leaves only unreferenced blobs), and then one store commit writes the tree, the commit, the
// ref and req.Extra together, on condition that the ref has not changed since it was read.
//
// Push fails with ErrStale (a *StaleError) if the ref is not at req.Expected and req.Force is
// not set, or if a concurrent update moved it first; with ErrConflict if a forced push lost
// such a race; with ErrTooLarge, before writing anything, if a file or the final commit
// cannot fit one store commit; and with ErrInvalidRef or ErrInvalidRequest for a bad ref
// name, author, message, note or Extra operation.
//
// A push relies on the objects it found stored; a collection ([Collector]) that deletes
// objects meanwhile makes its final store commit fail, and Push starts again (up to
// collectRetries times) so that it writes what was deleted.
func (r *Repo) Push(ctx context.Context, req PushRequest) (PushResult, error) {
	for attempt := 1; ; attempt++ {
		u, unchanged, err := r.preparePush(ctx, req)
		if err != nil || unchanged != nil {
			return deref(unchanged), err
		}
		if err := r.writeBlobs(ctx, u.blobs); err != nil {
			return PushResult{}, err
		}
		res, err := r.publish(ctx, u, req.Expected, req.Force)
		if errors.Is(err, errCollected) && attempt < collectRetries {
			continue
		}
		return res, err
	}
}

// collectRetries bounds how many times a push or a ref move starts again because a
// collection deleted objects while it ran.
const collectRetries = 5

// errCollected is returned when a store commit failed only because a collection ran since
// its objects were found stored ([Repo.Guard]): doing it again writes what was deleted.
var errCollected = fmt.Errorf("%w: a collection of old code ran during the update; nothing was published, try again", ErrConflict)

func deref(res *PushResult) PushResult {
	if res == nil {
		return PushResult{}
	}
	return *res
}

// preparePush validates req and computes its update without writing anything. When the files
// equal the current tree it returns the result of a push that changes nothing instead.
func (r *Repo) preparePush(ctx context.Context, req PushRequest) (*update, *PushResult, error) {
	if err := ValidateRefName(req.Ref); err != nil {
		return nil, nil, err
	}
	if err := validatePaths(req.Files); err != nil {
		return nil, nil, err
	}
	if err := validateCommitText(req.Author, req.Message, req.Notes); err != nil {
		return nil, nil, err
	}
	if err := validateExtra(req.Extra); err != nil {
		return nil, nil, err
	}
	// Read before anything is found stored (the ref's tree, blobs, the tree), so that a
	// collection after this point makes the final commit fail.
	guard, err := r.Guard(ctx)
	if err != nil {
		return nil, nil, err
	}
	tree := make(Tree, len(req.Files))
	blobs := make(map[ID][]byte, len(req.Files))
	for p, content := range req.Files {
		id := HashBlob(content)
		tree[p] = id
		blobs[id] = content
	}
	treeData, treeID, err := EncodeTree(tree)
	if err != nil {
		return nil, nil, err
	}
	refKV, err := r.rawRef(ctx, req.Ref)
	if err != nil {
		return nil, nil, err
	}
	u := &update{ref: req.Ref, refKV: refKV, guard: guard, blobs: blobs, tree: tree, treeID: treeID, treeData: treeData}
	// A forced push may replace a ref whose value or current commit is damaged: it is the
	// way out of that state. Without the current tree, every blob is checked for existence.
	u.parent, err = refTarget(req.Ref, refKV)
	if err != nil && !req.Force {
		return nil, nil, fmt.Errorf("%w; a forced push can replace it", err)
	}
	if err := checkExpected(req.Ref, u.parent, req.Expected, req.Force); err != nil {
		return nil, nil, err
	}
	if u.parent != "" {
		unchanged, err := r.pruneStoredBlobs(ctx, u)
		if err != nil && !(req.Force && errors.Is(err, ErrCorrupt)) {
			return nil, nil, fmt.Errorf("code: reading the current code of ref %q: %w", req.Ref, err)
		}
		if unchanged != nil {
			return nil, unchanged, nil
		}
	}
	if err := r.prepareCommit(u, req.Author, req.Message, req.Notes, req.Time, req.Extra, req.Record); err != nil {
		return nil, nil, err
	}
	return u, nil, nil
}

// pruneStoredBlobs drops from u.blobs the blobs of the ref's current tree, which are stored
// already. If that tree is u's tree, it returns the result of a push that changes nothing.
func (r *Repo) pruneStoredBlobs(ctx context.Context, u *update) (*PushResult, error) {
	current, err := r.Commit(ctx, u.parent)
	if err != nil {
		return nil, err
	}
	if current.Tree == u.treeID {
		return &PushResult{Commit: current.ID, Revision: u.refKV.ModRevision, Parent: firstParent(current)}, nil
	}
	currentTree, err := r.Tree(ctx, current.Tree)
	if err != nil {
		return nil, err
	}
	u.parentTree = currentTree
	for _, id := range currentTree {
		delete(u.blobs, id)
	}
	return nil, nil
}

// prepareCommit fills in u's commit on top of the ref as read and checks that the update
// fits the store's limits.
func (r *Repo) prepareCommit(u *update, author, message string, notes []string, t time.Time, extra []store.Op,
	record func(Commit, Tree, Tree) ([]store.Op, error)) error {
	if t.IsZero() {
		t = time.Now()
	}
	u.commit = Commit{Tree: u.treeID, Author: author, Message: message, Time: t.UTC(), Notes: slices.Clone(notes)}
	if u.parent != "" {
		u.commit.Parents = []ID{u.parent}
	}
	data, id, err := EncodeCommit(u.commit)
	if err != nil {
		return err
	}
	u.commit.ID, u.commitData = id, data
	u.extra = extra
	if record != nil {
		parentTree := u.parentTree
		if parentTree == nil {
			parentTree = Tree{}
		}
		ops, err := record(u.commit, parentTree, u.tree)
		if err != nil {
			return err
		}
		if err := validateExtra(ops); err != nil {
			return err
		}
		u.extra = append(slices.Clone(extra), ops...)
	}
	return r.checkLimits(u)
}

// checkLimits fails with ErrTooLarge if a blob or the final commit of u cannot fit one store
// commit.
func (r *Repo) checkLimits(u *update) error {
	limits := r.store.Limits()
	for id, content := range u.blobs {
		if !limits.Allows(store.CommitSize{Ops: 1, Bytes: len(blobKey(id)) + len(content)}) {
			return fmt.Errorf("%w: a file of %d bytes is larger than one store commit allows (%d bytes)",
				ErrTooLarge, len(content), limits.MaxBytes)
		}
	}
	compares, ops := u.final()
	if size := store.SizeOf(compares, ops); !limits.Allows(size) {
		return fmt.Errorf("%w: publishing needs one store commit of %d compares, %d operations and %d bytes "+
			"(tree, commit, ref and %d extra operations), the store allows %s; "+
			"split the code into fewer, smaller files or push less at once",
			ErrTooLarge, size.Compares, size.Ops, size.Bytes, len(u.extra), describeLimits(limits))
	}
	return nil
}

// describeLimits tells the bounds of limits, for error messages.
func describeLimits(limits store.Limits) string {
	return fmt.Sprintf("%d compares, %d operations and %d bytes (0: no bound)", limits.MaxCompares, limits.MaxOps, limits.MaxBytes)
}

// final returns the compares and operations of the store commit that publishes u.
func (u *update) final() ([]store.Compare, []store.Op) {
	compares := []store.Compare{store.Unchanged(refKey(u.ref), u.refKV), u.guard}
	var ops []store.Op
	if u.treeData != nil {
		ops = append(ops, store.Put(treeKey(u.treeID), u.treeData))
	}
	ops = append(ops,
		store.Put(commitKey(u.commit.ID), u.commitData),
		store.Put(refKey(u.ref), []byte(u.commit.ID)))
	ops = append(ops, u.extra...)
	return compares, ops
}

// blobChecks is how many blob existence checks run at once: enough to hide a networked
// store's round trips, few enough not to flood it.
const blobChecks = 8

// writeBlobs stores the blobs that are not stored yet, in as few store commits as the
// store's limits allow.
func (r *Repo) writeBlobs(ctx context.Context, blobs map[ID][]byte) error {
	ids := make([]ID, 0, len(blobs))
	for id := range blobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	stored := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(blobChecks)
	for i, id := range ids {
		g.Go(func() error {
			kv, _, err := r.store.Get(gctx, blobKey(id), 0)
			if err != nil {
				return fmt.Errorf("code: checking blob %s: %w", id.Short(), err)
			}
			stored[i] = kv != nil
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	limits := r.store.Limits()
	var batch []store.Op
	batchSize := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := r.store.Commit(ctx, nil, batch); err != nil {
			return fmt.Errorf("code: writing %d blobs: %w", len(batch), err)
		}
		batch, batchSize = nil, 0
		return nil
	}
	for i, id := range ids {
		if stored[i] {
			continue
		}
		op := store.Put(blobKey(id), blobs[id])
		size := len(op.Key) + len(op.Value)
		if !limits.Allows(store.CommitSize{Ops: len(batch) + 1, Bytes: batchSize + size}) {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, op)
		batchSize += size
	}
	return flush()
}

// publish makes the final store commit of u. If the ref changed since it was read it fails
// with a *StaleError, or with ErrConflict when force is set (or the ref was rewritten to the
// commit the caller expected).
func (r *Repo) publish(ctx context.Context, u *update, expected ID, force bool) (PushResult, error) {
	if u.treeData != nil {
		kv, _, err := r.store.Get(ctx, treeKey(u.treeID), 0)
		if err != nil {
			return PushResult{}, fmt.Errorf("code: checking tree %s: %w", u.treeID.Short(), err)
		}
		if kv != nil {
			u.treeData = nil
		}
	}
	compares, ops := u.final()
	rev, err := r.store.Commit(ctx, compares, ops)
	switch {
	case errors.Is(err, store.ErrConflict) && r.collectedSince(ctx, u.guard, u.ref, u.refKV):
		return PushResult{}, errCollected
	case errors.Is(err, store.ErrConflict):
		return PushResult{}, r.lostRace(ctx, u.ref, expected, force)
	case errors.Is(err, store.ErrTooLarge):
		return PushResult{}, fmt.Errorf("%w: %w", ErrTooLarge, err)
	case err != nil:
		return PushResult{}, fmt.Errorf("code: publishing commit %s on ref %q: %w", u.commit.ID.Short(), u.ref, err)
	}
	// The objects are stored now: prime the caches, as the loader reads the new tree next.
	r.trees.add(u.treeID, u.tree)
	r.commits.add(u.commit.ID, u.commit)
	return PushResult{Commit: u.commit.ID, Revision: rev, Changed: true, Parent: firstParent(u.commit)}, nil
}

// collectedSince reports whether a conflict of a commit comparing ref (as refKV) and guard
// came from a collection alone: the ref is as it was read and CollectKey changed.
func (r *Repo) collectedSince(ctx context.Context, guard store.Compare, ref string, refKV *store.KeyValue) bool {
	now, err := r.Guard(ctx)
	if err != nil || now == guard {
		return false
	}
	kv, err := r.rawRef(ctx, ref)
	if err != nil {
		return false
	}
	return store.Unchanged(refKey(ref), kv) == store.Unchanged(refKey(ref), refKV)
}

// lostRace explains a failed compare-and-set of ref.
func (r *Repo) lostRace(ctx context.Context, ref string, expected ID, force bool) error {
	kv, err := r.readRef(ctx, ref)
	if err != nil {
		return fmt.Errorf("%w: ref %q changed during the update, and reading it again failed: %w",
			ErrConflict, ref, err)
	}
	current := ID("")
	if kv != nil {
		current = ID(kv.Value)
	}
	if force || current == expected {
		return fmt.Errorf("%w: ref %q changed during the update (it is now at %s); nothing was "+
			"published, try again", ErrConflict, ref, describe(current))
	}
	return &StaleError{Ref: ref, Expected: expected, Current: current}
}

func describe(id ID) string {
	if id == "" {
		return "no commit"
	}
	return "commit " + id.Short()
}

// checkExpected fails with a *StaleError unless force is set or the ref's current commit
// ("" when absent) is expected.
func checkExpected(ref string, current, expected ID, force bool) error {
	if !force && current != expected {
		return &StaleError{Ref: ref, Expected: expected, Current: current}
	}
	return nil
}

func firstParent(c Commit) ID {
	if len(c.Parents) == 0 {
		return ""
	}
	return c.Parents[0]
}

// validatePaths checks every path and reports all bad ones at once.
func validatePaths(files map[string][]byte) error {
	var bad []*PathError
	for p := range files {
		if err := ValidatePath(p); err != nil {
			var pe *PathError
			if !errors.As(err, &pe) {
				pe = &PathError{Path: p, Reason: err.Error()}
			}
			bad = append(bad, pe)
		}
	}
	if len(bad) == 0 {
		return ValidateTree(slices.Collect(maps.Keys(files)))
	}
	slices.SortFunc(bad, func(a, b *PathError) int { return strings.Compare(a.Path, b.Path) })
	return &PathsError{Paths: bad}
}

// validateCommitText checks the author, message and notes of a new commit.
func validateCommitText(author, message string, notes []string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.TrimSpace(author) == "":
		return bad("the author is empty; every commit must name who made it")
	case len(author) > MaxAuthorLen:
		return bad("the author is %d bytes long, the limit is %d", len(author), MaxAuthorLen)
	case !isSingleLine(author):
		return bad("the author %q is not valid UTF-8 or contains control characters", author)
	case len(message) > MaxMessageLen:
		return bad("the message is %d bytes long, the limit is %d", len(message), MaxMessageLen)
	case !isText(message):
		return bad("the message is not valid UTF-8 or contains control characters other than newline, carriage return and tab")
	}
	for _, n := range notes {
		switch {
		case n == "":
			return bad("a note is empty")
		case len(n) > MaxNoteLen:
			return bad("a note is %d bytes long, the limit is %d", len(n), MaxNoteLen)
		case !isSingleLine(n):
			return bad("the note %q is not valid UTF-8 or contains control characters", n)
		}
	}
	return nil
}

func isSingleLine(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	})
}

// validateExtra rejects Extra operations that would write code objects or refs without the
// checks Push and SetRef make.
func validateExtra(extra []store.Op) error {
	for _, op := range extra {
		if op.Key == "" || strings.HasPrefix(op.Key, Prefix) {
			return fmt.Errorf("%w: an extra operation writes key %q; extra operations may not "+
				"write under %q or have an empty key", ErrInvalidRequest, op.Key, Prefix)
		}
	}
	return nil
}
