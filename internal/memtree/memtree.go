// Package memtree holds trees of files in memory, as the loader reads them: the snapshot of
// a tree that is not a commit yet (the validation gate checks a pushed tree before it is
// committed; a static server serves files given to it) and the trees of tests. A node's
// snapshots read their blobs from the store instead (code.Repo).
package memtree

import (
	"context"
	"fmt"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
)

// Blobs serves blobs held in memory, by id. It is a runtime.BlobSource; it is safe for
// concurrent use as long as it is not changed.
type Blobs map[code.ID][]byte

var _ runtime.BlobSource = Blobs(nil)

// Blob returns the blob id, or an error wrapping code.ErrNotFound.
func (b Blobs) Blob(_ context.Context, id code.ID) ([]byte, error) {
	c, ok := b[id]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), code.ErrNotFound)
	}
	return c, nil
}

// Snapshot returns an uncommitted snapshot of files (path -> content). It has no commit id,
// so the loader caches none of its resolution by commit (modules are still cached by
// content); a caller that needs one sets Commit.
func Snapshot(files map[string][]byte) *runtime.Snapshot {
	tree := make(code.Tree, len(files))
	blobs := make(Blobs, len(files))
	for path, content := range files {
		id := code.HashBlob(content)
		tree[path] = id
		blobs[id] = content
	}
	return &runtime.Snapshot{Tree: tree, Blobs: blobs}
}

// Text returns the snapshot of files given as text, as Snapshot does.
func Text(files map[string]string) *runtime.Snapshot {
	bs := make(map[string][]byte, len(files))
	for path, content := range files {
		bs[path] = []byte(content)
	}
	return Snapshot(bs)
}
