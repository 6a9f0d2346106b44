package code

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/starbase/starbase/store"
)

// CollectKey is written by every store commit of a collection. A store commit that makes a
// ref (or another pointer) name objects it found stored compares it ([Repo.Guard]), so that
// it fails, instead of naming deleted objects, when a collection deleted anything since it
// looked.
const CollectKey = Prefix + "collect"

// Retention says how much code history is kept. The zero value keeps every commit.
type Retention struct {
	// KeepCommits keeps the newest KeepCommits commits of each ref's first-parent history
	// (serve --keep-commits); 0 sets no bound by count.
	KeepCommits int
	// KeepFor keeps the commits of each ref's first-parent history made within KeepFor
	// (serve --keep-commits-for); 0 sets no bound by age. With both set, a commit either
	// keeps is kept.
	KeepFor time.Duration
}

// KeepsAll reports whether r keeps every commit.
func (r Retention) KeepsAll() bool { return r.KeepCommits <= 0 && r.KeepFor <= 0 }

// String names r as the flags of serve that set it.
func (r Retention) String() string {
	var parts []string
	if r.KeepCommits > 0 {
		parts = append(parts, fmt.Sprintf("--keep-commits %d", r.KeepCommits))
	}
	if r.KeepFor > 0 {
		parts = append(parts, "--keep-commits-for "+r.KeepFor.String())
	}
	if parts == nil {
		return "(keep every commit)"
	}
	return strings.Join(parts, " ")
}

// Pointers are the keys under Prefix whose values name commits that must be kept, besides
// the refs (rollouts, the records of live nodes).
type Pointers struct {
	Prefix string
	// Commits returns the commits that value names; a value it cannot decode names none.
	Commits func(value []byte) []ID
	// Live marks records of what processes use now (the registry of live nodes), which
	// change all the time: they are read at the mark's revision only. Other pointers are
	// followed like refs (see Collector).
	Live bool
}

// Collection is what one [Collector.Collect] did.
type Collection struct {
	// Revision is the store revision the mark read.
	Revision int64
	// Kept is the number of commits kept; Dropped, Trees and Blobs count what was deleted,
	// Records the expired records of dropped commits deleted.
	Kept, Dropped, Trees, Blobs, Records int
}

// CollectStats count what a Collector did since it was made.
type CollectStats struct {
	Runs, Failures                 uint64
	Dropped, Trees, Blobs, Records uint64
	LastKept                       int
	LastRevision                   int64
}

// Collector deletes the code objects that its Retention does not keep: one deterministic
// mark and sweep over the store.
//
// The mark reads the store at one revision M. It keeps:
//   - every commit a ref names, and the commits of each ref's first-parent history that the
//     Retention keeps (all of them by default);
//   - every commit a ref or a followed pointer (a rollout) named at any revision the store
//     still retains (from its compaction point to M): a node that follows the refs through
//     a watch may still build such a commit, and a node whose watch is older than the
//     compaction point reads the refs afresh. So a commit is dropped only once the refs
//     left it longer ago than the store's retained history (serve --retain-history);
//   - every commit a live pointer names at M (what the live nodes serve, want or roll out)
//     and every commit Held returns (this process's releases);
//   - the tree of every kept commit and every blob of those trees.
//
// The sweep deletes every other commit, tree and blob stored at M, and records each dropped
// commit under DroppedPrefix (see [DroppedError]). It runs in store commits within the
// store's Limits. Before each, it catches up with the refs and followed pointers changed
// since it last looked (walking their versions) and spares every commit they named, with
// its tree and blobs (a push published meanwhile may reuse a blob the mark found
// unreachable). Each store commit holds only if no ref and no followed pointer changed
// since that catch-up (otherwise it catches up again, up to sweepAttempts times), no other
// collection ran (CollectKey: the sweep stops, the next Collect marks again) and no deleted
// key was written again since M. Objects written after M are never touched, so the blobs
// of a push in flight are safe; a push that found objects stored before a sweep deleted
// them fails its compare of CollectKey and writes them again ([Repo.Push] does so by
// itself).
//
// Deleting keys frees space only once the store's history is compacted past the deletion
// (a store.Retainer): with all history kept, a collection frees nothing.
//
// A Collector is safe for concurrent use; collections run one at a time.
type Collector struct {
	Repo      *Repo
	Retention Retention
	Pointers  []Pointers
	// Held returns the commits this process serves or may serve (its releases); nil for none.
	Held func() []ID
	// DroppedMaxAge is how long the record of a dropped commit is kept; 0 keeps it forever.
	DroppedMaxAge time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time

	running sync.Mutex // serializes Collect; guards floor
	floor   int64      // the compaction point found by the last run

	mu    sync.Mutex // guards stats; never held during a collection, so Stats does not wait for one
	stats CollectStats
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Stats returns what the Collector did so far (up to the last collection that ended).
func (c *Collector) Stats() CollectStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// collectPage is how many keys a collection reads at a time.
const collectPage = 256

// errSweepStopped is returned when a sweep's compare failed: something changed since the
// mark. It is not a failure: the next collection marks again.
var errSweepStopped = errors.New("code: the collection stopped: refs or objects changed since its mark; the next one marks again")

// Collect marks and sweeps once. A sweep stopped by a concurrent change returns what it did
// with no error.
func (c *Collector) Collect(ctx context.Context) (Collection, error) {
	c.running.Lock()
	defer c.running.Unlock()
	col, err := c.collect(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Runs++
	c.stats.Dropped += uint64(col.Dropped)
	c.stats.Trees += uint64(col.Trees)
	c.stats.Blobs += uint64(col.Blobs)
	c.stats.Records += uint64(col.Records)
	if errors.Is(err, errSweepStopped) {
		err = nil
	}
	if err != nil {
		c.stats.Failures++
		return col, err
	}
	c.stats.LastKept, c.stats.LastRevision = col.Kept, col.Revision
	return col, nil
}

// mark is what a collection read at one revision.
type mark struct {
	rev     int64
	guard   store.Compare
	keep    map[ID]bool // kept commits
	commits map[ID]Commit
	// stored are the keys of commits, in key order: those that decode (a damaged object is
	// never deleted: it stays as evidence).
	stored  []sweepKey
	sweep   []sweepKey // in the order they are deleted: commits, trees, blobs, records
	dropped map[ID]Commit
	// spared are keys of sweep that refs or pointers changed after the mark need.
	spared map[string]bool
}

type sweepKey struct {
	key string
	mod int64
}

func (c *Collector) collect(ctx context.Context) (Collection, error) {
	st := c.Repo.store
	m := &mark{keep: map[ID]bool{}, commits: map[ID]Commit{}, dropped: map[ID]Commit{}}
	var err error
	if m.rev, err = st.Revision(ctx); err != nil {
		return Collection{}, fmt.Errorf("code: collecting: %w", err)
	}
	col := Collection{Revision: m.rev}
	guard, _, err := st.Get(ctx, CollectKey, m.rev)
	if err != nil {
		return col, fmt.Errorf("code: collecting: %w", err)
	}
	m.guard = store.Unchanged(CollectKey, guard)
	if err := c.markRoots(ctx, m); err != nil {
		return col, err
	}
	if err := c.markHistory(ctx, m); err != nil {
		return col, err
	}
	reachable, err := c.markTrees(ctx, m)
	if err != nil {
		return col, err
	}
	col.Kept = len(m.keep)
	if err := c.markBlobs(ctx, m, reachable); err != nil {
		return col, err
	}
	if err := c.markRecords(ctx, m); err != nil {
		return col, err
	}
	return c.sweep(ctx, m, col)
}

// rangeAt calls fn for every key under prefix at rev, page by page.
func rangeAt(ctx context.Context, st store.Store, prefix string, rev int64, page int, fn func(kv store.KeyValue) error) error {
	return rangeWith(ctx, st, prefix, store.RangeOptions{Revision: rev, Limit: page}, fn)
}

// rangeWith calls fn for every key Range finds under prefix with opts, page by page.
func rangeWith(ctx context.Context, st store.Store, prefix string, opts store.RangeOptions, fn func(kv store.KeyValue) error) error {
	for {
		res, err := st.Range(ctx, prefix, opts)
		if err != nil {
			return fmt.Errorf("code: collecting: reading %s: %w", prefix, err)
		}
		for _, kv := range res.KVs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if !res.More || len(res.KVs) == 0 {
			return nil
		}
		opts.After = res.KVs[len(res.KVs)-1].Key
	}
}

// markRoots reads every commit at m.rev and keeps the ones the refs, the pointers, the held
// releases and the Retention keep.
func (c *Collector) markRoots(ctx context.Context, m *mark) error {
	st := c.Repo.store
	err := rangeAt(ctx, st, CommitPrefix, m.rev, collectPage, func(kv store.KeyValue) error {
		id := ID(strings.TrimPrefix(kv.Key, CommitPrefix))
		commit, err := DecodeCommit(id, kv.Value)
		if err != nil {
			return nil // never deleted: a damaged object stays as evidence
		}
		m.commits[id] = commit
		m.stored = append(m.stored, sweepKey{kv.Key, kv.ModRevision})
		return nil
	})
	if err != nil {
		return err
	}
	cutoff := c.now().Add(-c.Retention.KeepFor)
	err = rangeAt(ctx, st, RefPrefix, m.rev, collectPage, func(kv store.KeyValue) error {
		m.keep[ID(kv.Value)] = true
		if c.Retention.KeepsAll() {
			return nil
		}
		// The ref's first-parent history, as far as the Retention keeps it. Each step moves
		// to a distinct stored commit, so the walk ends within len(m.commits) steps.
		seen := map[ID]bool{}
		for i, id := 0, ID(kv.Value); id != "" && !seen[id]; i++ {
			commit, ok := m.commits[id]
			if !ok {
				break
			}
			byCount := i < c.Retention.KeepCommits
			byAge := c.Retention.KeepFor > 0 && !commit.Time.Before(cutoff)
			if !byCount && !byAge {
				break
			}
			m.keep[id] = true
			seen[id] = true
			id = firstParent(commit)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range c.Pointers {
		err := rangeAt(ctx, st, p.Prefix, m.rev, collectPage, func(kv store.KeyValue) error {
			for _, id := range p.Commits(kv.Value) {
				m.keep[id] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if c.Held != nil {
		for _, id := range c.Held() {
			m.keep[id] = true
		}
	}
	return nil
}

// markHistory keeps every commit that a ref or a followed pointer named at a revision from
// the store's compaction point to m.rev, walking each key's versions back from m.rev.
func (c *Collector) markHistory(ctx context.Context, m *mark) error {
	if c.Retention.KeepsAll() {
		return nil
	}
	st := c.Repo.store
	floor, err := compactionPoint(ctx, st, c.floor, m.rev)
	if err != nil {
		return err
	}
	c.floor = floor
	keep := func(ids []ID) {
		for _, id := range ids {
			m.keep[id] = true
		}
	}
	for _, p := range c.followed() {
		// The keys present at the floor (those deleted since are not seen from m.rev) ...
		err := rangeAt(ctx, st, p.Prefix, floor, collectPage, func(kv store.KeyValue) error {
			keep(p.Commits(kv.Value))
			return nil
		})
		if err != nil {
			return err
		}
		// ... and every version of the keys present at m.rev written since.
		if err := versionsSince(ctx, st, p, floor, m.rev, keep); err != nil {
			return err
		}
	}
	return nil
}

// refPointers follows the refs as pointers: a ref's value is the id of the commit it names.
var refPointers = Pointers{Prefix: RefPrefix, Commits: func(v []byte) []ID { return []ID{ID(v)} }}

// followed returns the refs and the pointers that are followed over the store's retained
// history (all but the live ones).
func (c *Collector) followed() []Pointers {
	follow := []Pointers{refPointers}
	for _, p := range c.Pointers {
		if !p.Live {
			follow = append(follow, p)
		}
	}
	return follow
}

// versionsSince calls fn with the commits that each version of p's keys present at rev
// names, for the versions written after revision since, newest first. Each step reads a
// strictly older revision, so a key's walk takes at most rev - since reads.
func versionsSince(ctx context.Context, st store.Store, p Pointers, since, rev int64, fn func([]ID)) error {
	return rangeAt(ctx, st, p.Prefix, rev, collectPage, func(kv store.KeyValue) error {
		for v := &kv; v != nil && v.ModRevision > since; {
			fn(p.Commits(v.Value))
			prev, _, err := st.Get(ctx, kv.Key, v.ModRevision-1)
			if err != nil {
				return fmt.Errorf("code: collecting: reading the history of %s: %w", kv.Key, err)
			}
			if prev != nil && prev.ModRevision >= v.ModRevision {
				break
			}
			v = prev
		}
		return nil
	})
}

// compactionPoint returns the oldest revision the store can still read, at least from and
// at most to (which must be readable): a binary search on reads of CollectKey.
func compactionPoint(ctx context.Context, st store.Store, from, to int64) (int64, error) {
	lo, hi := max(from, 1), to
	readable := func(rev int64) (bool, error) {
		_, _, err := st.Get(ctx, CollectKey, rev)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, store.ErrCompacted):
			return false, nil
		}
		return false, fmt.Errorf("code: collecting: finding the compaction point: %w", err)
	}
	ok, err := readable(lo)
	if err != nil || ok || lo >= hi {
		return lo, err
	}
	for lo+1 < hi { // lo unreadable, hi readable
		mid := lo + (hi-lo)/2
		ok, err := readable(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// markTrees lists the commits to drop and the trees to delete, and returns the blobs of the
// kept trees.
func (c *Collector) markTrees(ctx context.Context, m *mark) (map[ID]bool, error) {
	st := c.Repo.store
	keptTrees := map[ID]bool{}
	for _, k := range m.stored {
		id := ID(strings.TrimPrefix(k.key, CommitPrefix))
		commit := m.commits[id]
		if c.Retention.KeepsAll() || m.keep[id] {
			keptTrees[commit.Tree] = true
			continue
		}
		m.sweep = append(m.sweep, k)
		m.dropped[id] = commit
	}
	// Kept ids that name no decodable stored commit (a pointer to a commit being pushed
	// elsewhere, a damaged ref or commit) count for nothing.
	for id := range m.keep {
		if _, ok := m.commits[id]; !ok {
			delete(m.keep, id)
		}
	}
	reachable := map[ID]bool{}
	err := rangeAt(ctx, st, TreePrefix, m.rev, collectPage, func(kv store.KeyValue) error {
		id := ID(strings.TrimPrefix(kv.Key, TreePrefix))
		if !keptTrees[id] {
			m.sweep = append(m.sweep, sweepKey{kv.Key, kv.ModRevision})
			return nil
		}
		tree, err := DecodeTree(id, kv.Value)
		if err != nil {
			return fmt.Errorf("code: collecting: %w; nothing was deleted, repair the store (restore a backup) first", err)
		}
		for _, blob := range tree {
			reachable[blob] = true
		}
		return nil
	})
	return reachable, err
}

// markBlobs lists the blobs that no kept tree names: their keys only (blobs are large).
func (c *Collector) markBlobs(ctx context.Context, m *mark, reachable map[ID]bool) error {
	opts := store.RangeOptions{Revision: m.rev, Limit: collectPage, KeysOnly: true}
	return rangeWith(ctx, c.Repo.store, BlobPrefix, opts, func(kv store.KeyValue) error {
		if !reachable[ID(strings.TrimPrefix(kv.Key, BlobPrefix))] {
			m.sweep = append(m.sweep, sweepKey{kv.Key, kv.ModRevision})
		}
		return nil
	})
}

// markRecords lists the records of dropped commits older than DroppedMaxAge.
func (c *Collector) markRecords(ctx context.Context, m *mark) error {
	if c.DroppedMaxAge <= 0 {
		return nil
	}
	cutoff := c.now().Add(-c.DroppedMaxAge)
	return rangeAt(ctx, c.Repo.store, DroppedPrefix, m.rev, collectPage, func(kv store.KeyValue) error {
		var rec droppedRecord
		if len(kv.Value) <= maxDroppedRecord && json.Unmarshal(kv.Value, &rec) == nil && rec.Dropped.Before(cutoff) {
			m.sweep = append(m.sweep, sweepKey{kv.Key, kv.ModRevision})
		}
		return nil
	})
}

// sweepAttempts bounds how many times one batch of a sweep is tried again after refs moved
// under it.
const sweepAttempts = 20

// sweep deletes m.sweep in store commits within the store's limits. Before each, it
// catches up with the refs and followed pointers changed since it last looked (spare), and
// the commit holds only if they did not change again meanwhile.
func (c *Collector) sweep(ctx context.Context, m *mark, col Collection) (Collection, error) {
	st := c.Repo.store
	limits := st.Limits()
	at := c.now().UTC()
	guard := m.guard
	follow := c.followed()
	checked := m.rev // the refs and pointers are known up to this revision
	base := func() []store.Compare {
		var cs []store.Compare
		for _, p := range follow {
			cs = append(cs, store.UnmodifiedSince(p.Prefix, checked))
		}
		return append(cs, guard)
	}
	marker, _ := json.Marshal(struct {
		Revision int64     `json:"revision"`
		At       time.Time `json:"at"`
		Policy   string    `json:"policy"`
	}{m.rev, at, c.Retention.String()})
	opsOf := func(k sweepKey) []store.Op {
		ops := []store.Op{store.Delete(k.key)}
		if id := ID(strings.TrimPrefix(k.key, CommitPrefix)); strings.HasPrefix(k.key, CommitPrefix) {
			commit := m.dropped[id]
			subject, _, _ := strings.Cut(commit.Message, "\n")
			rec, _ := json.Marshal(droppedRecord{Policy: c.Retention.String(), Dropped: at,
				Subject: clipText(subject, 200), Time: commit.Time})
			ops = append(ops, store.Put(droppedKey(id), rec))
		}
		return ops
	}
	// commitBatch deletes batch (less what was spared meanwhile) in one store commit.
	commitBatch := func(batch []sweepKey) error {
		for attempt := 1; ; attempt++ {
			rev, err := st.Revision(ctx)
			if err != nil {
				return fmt.Errorf("code: collecting: %w", err)
			}
			if rev > checked {
				if err := c.spare(ctx, m, follow, checked, rev); err != nil {
					return err
				}
				checked = rev
			}
			compares := base()
			var ops []store.Op
			var counts Collection
			for _, k := range batch {
				if m.spared[k.key] {
					continue
				}
				compares = append(compares, store.Compare{Key: k.key, ModRevision: k.mod})
				ops = append(ops, opsOf(k)...)
				switch {
				case strings.HasPrefix(k.key, CommitPrefix):
					counts.Dropped++
				case strings.HasPrefix(k.key, TreePrefix):
					counts.Trees++
				case strings.HasPrefix(k.key, BlobPrefix):
					counts.Blobs++
				default:
					counts.Records++
				}
			}
			if len(ops) == 0 {
				return nil
			}
			rev, err = st.Commit(ctx, compares, append(ops, store.Put(CollectKey, marker)))
			if errors.Is(err, store.ErrConflict) {
				now, gerr := c.Repo.Guard(ctx)
				if gerr != nil {
					return gerr
				}
				if now != guard || attempt == sweepAttempts {
					return errSweepStopped // another collection ran, or refs never stood still
				}
				continue // refs or pointers moved: catch up and try again
			}
			if err != nil {
				return fmt.Errorf("code: collecting: deleting %d objects: %w", len(ops), err)
			}
			for _, op := range ops {
				if op.Delete {
					c.Repo.Forget(op.Key)
				}
			}
			col.Dropped += counts.Dropped
			col.Trees += counts.Trees
			col.Blobs += counts.Blobs
			col.Records += counts.Records
			guard = store.Compare{Key: CollectKey, ModRevision: rev}
			return nil
		}
	}
	// The size of a batch's store commit is added up key by key: the compares and the marker
	// every commit has, then each key's compare and operations (spared keys only make it
	// smaller).
	fixed := store.SizeOf(base(), []store.Op{store.Put(CollectKey, marker)})
	var batch []sweepKey
	size := fixed
	for _, k := range m.sweep {
		one := store.SizeOf([]store.Compare{{Key: k.key, ModRevision: k.mod}}, opsOf(k))
		if len(batch) > 0 && limits.Check(addSize(size, one)) != nil {
			if err := commitBatch(batch); err != nil {
				return col, err
			}
			batch, size = nil, fixed
		}
		batch = append(batch, k)
		size = addSize(size, one)
	}
	return col, commitBatch(batch)
}

func addSize(a, b store.CommitSize) store.CommitSize {
	return store.CommitSize{Compares: a.Compares + b.Compares, Ops: a.Ops + b.Ops, Bytes: a.Bytes + b.Bytes}
}

// spare catches the sweep up with the refs and followed pointers changed after revision
// from, up to to: the commits any of their versions names are spared with their trees and
// blobs (they were dropped or unknown at the mark).
func (c *Collector) spare(ctx context.Context, m *mark, follow []Pointers, from, to int64) error {
	st := c.Repo.store
	if m.spared == nil {
		m.spared = map[string]bool{}
	}
	var named []ID
	for _, p := range follow {
		if err := versionsSince(ctx, st, p, from, to, func(ids []ID) { named = append(named, ids...) }); err != nil {
			return err
		}
	}
	for _, id := range named {
		if ValidateID(id) != nil || m.keep[id] {
			continue
		}
		m.keep[id] = true
		m.spared[commitKey(id)] = true
		kv, _, err := st.Get(ctx, commitKey(id), to)
		if err != nil {
			return fmt.Errorf("code: collecting: %w", err)
		}
		if kv == nil {
			continue
		}
		commit, err := DecodeCommit(id, kv.Value)
		if err != nil {
			continue
		}
		m.spared[treeKey(commit.Tree)] = true
		kv, _, err = st.Get(ctx, treeKey(commit.Tree), to)
		if err != nil {
			return fmt.Errorf("code: collecting: %w", err)
		}
		if kv == nil {
			continue
		}
		tree, err := DecodeTree(commit.Tree, kv.Value)
		if err != nil {
			continue
		}
		for _, blob := range tree {
			m.spared[blobKey(blob)] = true
		}
	}
	return nil
}

// clipText cuts s to at most n bytes, at a rune boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Guard returns the compare of CollectKey as it stands now. A store commit that makes a
// pointer name objects found stored after Guard was called includes it, and fails with
// store.ErrConflict if a collection deleted anything in between.
func (r *Repo) Guard(ctx context.Context) (store.Compare, error) {
	kv, _, err := r.store.Get(ctx, CollectKey, 0)
	if err != nil {
		return store.Compare{}, fmt.Errorf("code: reading %s: %w", CollectKey, err)
	}
	return store.Unchanged(CollectKey, kv), nil
}
