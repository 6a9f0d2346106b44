// Package store defines Starbase's view of a transactional, revisioned key-value store.
//
// The model is etcd's: the store holds a single, monotonically increasing revision. Every
// successful [Store.Commit] applies all of its operations atomically and produces exactly one
// new revision. Every key remembers the revision that created it and the revision that last
// modified it, so that a later commit can be made conditional on "nothing I read has changed"
// ([Compare]), on single keys or, for a whole range read at revision R, on "no key of the
// range created or modified after R" (deletions are not seen). [Limits] bound the compares
// and the operations of a commit separately, as etcd does. Reads may be made at any retained
// revision, which gives a consistent snapshot: everything read at revision R is the state
// exactly after commit R.
//
// A [Store.Watch] delivers, in revision order and without gaps, every later revision that
// touches a prefix, each revision whole (all of its changes under the prefix in one [Event]).
// [Store.Compact] discards history below a revision; reads and watches that need it fail with
// [ErrCompacted].
//
// Backends live in subpackages (store/bolt, store/etcd) and are checked against one
// conformance suite, store/storetest, which is the executable form of this contract.
package store
