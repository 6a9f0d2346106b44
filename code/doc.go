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
// Because objects never change, anything derived from an object id (compiled bytecode,
// loaded modules) can be cached forever without invalidation.
package code
