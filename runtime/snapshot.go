package runtime

import (
	"context"

	"github.com/starbase/starbase/code"
)

// BlobSource reads blob contents by id. code.Repo satisfies it. Blob returns the exact
// bytes whose SHA-256 is id, or an error; the loader checks the hash and refuses
// content that does not match its id.
type BlobSource interface {
	Blob(ctx context.Context, id code.ID) ([]byte, error)
}

// Snapshot is one commit's tree, as seen by every load() of one request.
//
// Commit identifies the snapshot: two snapshots with the same non-empty Commit must have
// the same Tree, because the loader caches how a commit's modules resolve. A snapshot of
// a tree that is not (yet) a commit, such as one being validated, leaves Commit empty.
// A Snapshot is read-only once built and safe for concurrent use.
type Snapshot struct {
	Commit code.ID
	Tree   code.Tree
	Blobs  BlobSource
}
