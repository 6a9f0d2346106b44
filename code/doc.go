// Package code stores application code in a [store.Store] with Git's object model.
//
// Objects are immutable and content addressed by the hex SHA-256 of their encoding:
//   - a blob is a file's bytes (its id is the SHA-256 of exactly those bytes);
//   - a tree maps validated paths ("billing/invoice.star", "templates/x.html") to blob ids;
//   - a commit names a tree, its parents, an author, a message and a time.
//
// A ref ("main") names a commit and is moved only by compare-and-set. Publishing code is
// one store commit that writes the new tree and commit objects and moves the ref together,
// so every reader sees either the old tree or the new one, never a mix. Blobs may be written
// ahead in earlier store commits (content-addressed writes are idempotent and harmless when
// left unreferenced by a crash), which keeps each store commit within the backend's limits.
//
// Keys in the store:
//
//	code/blobs/<id>    file bytes
//	code/trees/<id>    tree encoding
//	code/commits/<id>  commit encoding
//	code/refs/<name>   commit id
//
// Trees and commits are stored as canonical JSON (see EncodeTree and EncodeCommit). Every read
// checks that an object hashes to its id and decodes strictly, so a damaged or hand-edited
// object fails with ErrCorrupt instead of being served.
//
// Because objects never change, anything derived from an object id (compiled bytecode,
// loaded modules) can be cached forever without invalidation; [Repo] itself keeps small
// bounded caches of blobs, trees and commits.
//
// [Repo.Push] is the one way code changes: it publishes a complete set of files on a ref,
// refusing (with ErrStale) if the ref moved since the commit the author started from. A
// revert pushes an old commit's files as a new commit ([RevertMessage]). [Repo.Diff],
// [Repo.UnifiedDiff] and [Repo.Log] read history.
package code
