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
//	code/dropped/<id>  record of a commit dropped by a retention policy
//	code/collect       written by every store commit of a collection
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
//
// # Retention of old code
//
// By default every commit, tree and blob is kept forever. A [Retention] (serve
// --keep-commits N, --keep-commits-for D) bounds how much of each ref's first-parent history
// is kept, and a [Collector] deletes the rest in one deterministic mark and sweep. The rule
// (the Collector's documentation has the details) is that a commit is kept while any of
// these holds:
//   - the Retention keeps it: one of the newest N commits of a ref's first-parent history, or
//     made within D;
//   - a ref names it, or named it at any revision the store still retains (serve
//     --retain-history): a node following the refs may still build it, and a request may
//     still run on it (serve requires --retain-history to be at least --timeout);
//   - a rollout names it (now or in the retained history), a live node's record says it
//     serves, wants or rolls it out, or the collecting node holds a release of it.
//
// Everything a kept commit reaches stays; every other commit, tree and blob is deleted,
// unreachable blobs and trees of failed pushes included. A push relies on objects it found
// stored; it compares CollectKey in its final store commit, so a collection that deleted
// them meanwhile makes it start again and write them, and a sweep catches up with the refs
// moved after its mark before each of its store commits. Asking for a dropped commit
// (Commit, Files, Resolve, Diff, a revert) fails with a *DroppedError, "commit X was dropped
// by the retention policy --keep-commits N", from the record left under DroppedPrefix, kept
// as long as the audit log (serve --audit-max-age); [Repo.Log] ends at the oldest kept
// commit.
package code
