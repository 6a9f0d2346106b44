package code

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/starbase/starbase/store"
)

// Cache bounds of a Repo. Objects are immutable, so cached entries never go stale; the bounds
// only cap memory. A node reads the commits, trees and blobs of the few commits it serves
// (and the commits of a history listing, which pages through the store anyway): the entry
// bounds are a few hundred commits' worth, so that a node that has served thousands of
// commits does not keep them all; the byte bounds leave room for large static files.
const (
	blobCacheEntries   = 1024
	blobCacheBytes     = 32 << 20
	treeCacheEntries   = 256
	treeCacheBytes     = 16 << 20
	commitCacheEntries = 256
	commitCacheBytes   = 4 << 20
)

// MinPrefixLen is the shortest commit id prefix Resolve accepts.
const MinPrefixLen = 7

// Repo reads and writes code objects and refs in a store. It is safe for concurrent use.
//
// Reads of objects go through small in-memory caches. Blob and Tree return values shared
// with the cache and with other callers: they must not be modified.
type Repo struct {
	store   store.Store
	blobs   *lru[[]byte]
	trees   *lru[Tree]
	commits *lru[Commit]
}

// NewRepo returns a repository over s. It does not write anything.
func NewRepo(s store.Store) *Repo {
	return &Repo{
		store: s,
		blobs: newLRU(blobCacheEntries, blobCacheBytes, func(b []byte) int { return len(b) }),
		trees: newLRU(treeCacheEntries, treeCacheBytes, func(t Tree) int {
			// Per entry: the path, the id and roughly the map's own overhead.
			n := 0
			for p := range t {
				n += len(p) + IDLen + 48
			}
			return n
		}),
		commits: newLRU(commitCacheEntries, commitCacheBytes, func(c Commit) int {
			n := len(c.Author) + len(c.Message) + (len(c.Parents)+2)*IDLen + 128
			for _, note := range c.Notes {
				n += len(note)
			}
			return n
		}),
	}
}

// Store returns the store the repository reads and writes.
func (r *Repo) Store() store.Store { return r.store }

func blobKey(id ID) string      { return BlobPrefix + string(id) }
func treeKey(id ID) string      { return TreePrefix + string(id) }
func commitKey(id ID) string    { return CommitPrefix + string(id) }
func refKey(name string) string { return RefPrefix + name }

// Blob returns the content of blob id. The returned slice is shared and must not be modified.
// It fails with ErrInvalidID, ErrNotFound or ErrCorrupt (the content does not hash to id).
func (r *Repo) Blob(ctx context.Context, id ID) ([]byte, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if b, ok := r.blobs.get(id); ok {
		return b, nil
	}
	data, err := r.object(ctx, "blob", blobKey(id), id)
	if err != nil {
		return nil, err
	}
	if got := HashBlob(data); got != id {
		return nil, corruptf("blob", id, "its content hashes to %s", got.Short())
	}
	r.blobs.add(id, data)
	return data, nil
}

// Tree returns tree id. The returned map is shared and must not be modified.
// It fails with ErrInvalidID, ErrNotFound or ErrCorrupt.
func (r *Repo) Tree(ctx context.Context, id ID) (Tree, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if t, ok := r.trees.get(id); ok {
		return t, nil
	}
	data, err := r.object(ctx, "tree", treeKey(id), id)
	if err != nil {
		return nil, err
	}
	t, err := DecodeTree(id, data)
	if err != nil {
		return nil, err
	}
	r.trees.add(id, t)
	return t, nil
}

// Commit returns commit id. It fails with ErrInvalidID, ErrNotFound or ErrCorrupt.
func (r *Repo) Commit(ctx context.Context, id ID) (Commit, error) {
	if err := ValidateID(id); err != nil {
		return Commit{}, err
	}
	c, ok := r.commits.get(id)
	if !ok {
		data, err := r.object(ctx, "commit", commitKey(id), id)
		if errors.Is(err, ErrNotFound) {
			err = r.dropped(ctx, id, err)
		}
		if err != nil {
			return Commit{}, err
		}
		if c, err = DecodeCommit(id, data); err != nil {
			return Commit{}, err
		}
		r.commits.add(id, c)
	}
	c.Parents = slices.Clone(c.Parents)
	c.Notes = slices.Clone(c.Notes)
	return c, nil
}

// Offer adds to the caches the object stored under key with the given value, as a watch
// of Prefix delivers it, so that reading it later takes no round trip to the store. The
// object is verified exactly as a read from the store is (its content must hash to the id
// its key names, trees and commits must decode); anything else is ignored: keys that name
// no object (refs), invalid ids, corrupt content. It reports whether the object was cached
// (or already was). Offering is only ever an optimisation: a read still goes to the store
// for anything not cached.
func (r *Repo) Offer(key string, value []byte) bool {
	switch {
	case strings.HasPrefix(key, BlobPrefix):
		id := ID(key[len(BlobPrefix):])
		if ValidateID(id) != nil {
			return false
		}
		if r.blobs.has(id) {
			return true
		}
		if HashBlob(value) != id {
			return false
		}
		r.blobs.add(id, value)
	case strings.HasPrefix(key, TreePrefix):
		id := ID(key[len(TreePrefix):])
		if ValidateID(id) != nil {
			return false
		}
		if r.trees.has(id) {
			return true
		}
		t, err := DecodeTree(id, value)
		if err != nil {
			return false
		}
		r.trees.add(id, t)
	case strings.HasPrefix(key, CommitPrefix):
		id := ID(key[len(CommitPrefix):])
		if ValidateID(id) != nil {
			return false
		}
		if r.commits.has(id) {
			return true
		}
		c, err := DecodeCommit(id, value)
		if err != nil {
			return false
		}
		r.commits.add(id, c)
	default:
		return false
	}
	return true
}

// Forget drops from the caches the object stored under key, as a watch of Prefix delivers
// its deletion by a collection ([Collector]), so that a dropped commit is not served from
// memory after its objects are gone. Keys that name no object are ignored.
func (r *Repo) Forget(key string) {
	switch {
	case strings.HasPrefix(key, BlobPrefix):
		r.blobs.remove(ID(key[len(BlobPrefix):]))
	case strings.HasPrefix(key, TreePrefix):
		r.trees.remove(ID(key[len(TreePrefix):]))
	case strings.HasPrefix(key, CommitPrefix):
		r.commits.remove(ID(key[len(CommitPrefix):]))
	}
}

// object reads the stored encoding of an object.
func (r *Repo) object(ctx context.Context, kind, key string, id ID) ([]byte, error) {
	kv, _, err := r.store.Get(ctx, key, 0)
	if err != nil {
		return nil, fmt.Errorf("code: reading %s %s: %w", kind, id.Short(), err)
	}
	if kv == nil {
		return nil, fmt.Errorf("%w: %s %s", ErrNotFound, kind, id)
	}
	return kv.Value, nil
}

// Files returns the content of every file of commit id, by path, for a pull. The slices are
// the caller's own.
func (r *Repo) Files(ctx context.Context, id ID) (map[string][]byte, error) {
	c, err := r.Commit(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := r.Tree(ctx, c.Tree)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(t))
	for p, blob := range t {
		data, err := r.Blob(ctx, blob)
		if err != nil {
			return nil, fmt.Errorf("file %q: %w", p, err)
		}
		files[p] = bytes.Clone(data)
	}
	return files, nil
}
