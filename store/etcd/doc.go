// Package etcd is the [store.Store] backend for several nodes: every node talks to one etcd
// cluster (servers 3.4 to 3.7) through go.etcd.io/etcd/client/v3.
//
// # Model
//
// The store's model is etcd's own, so the mapping is direct: the store revision is etcd's
// cluster-wide revision, and a key's create and modification revisions are etcd's. All keys
// live under Config.Prefix (for example "/starbase/"), which is added on the way in and
// removed on the way out, so that several stores or other users can share one cluster.
// Revisions are global to the cluster, so a commit by another user of the cluster advances
// the revision seen here too, and [Store.Compact] compacts the whole cluster.
//
//   - Get and Range are etcd range requests at a revision (WithRev), over the prefix's key
//     range (paging starts at After+"\x00"). Reads are linearizable: a member that lags
//     behind first catches up with the leader, so a read at a revision that any client saw
//     committed never fails with ErrFutureRevision.
//   - Commit is one etcd transaction: If(every compare) Then(every op) Else(read the compared
//     keys). A compare on absence is CreateRevision == 0, any other is ModRevision == rev. A
//     range compare at rev is ModRevision < rev+1 over the key range (etcd 3.3 and later
//     check it on every key present in the range), and its Else read asks for the first key
//     of the range modified after rev. When the transaction fails, the Else reads, made at the
//     same revision as the failed compares, name the first compare that does not hold (for a
//     range, the key that changed) in the *store.ConflictError. etcd checks a range compare
//     by reading the whole range, so its cost grows with the number of keys in it.
//   - Watch is an etcd watch of the prefix from fromRev+1, re-established from the last
//     delivered revision whenever etcd ends it (a member stopped, lost its leader or was
//     cut off), so that no revision is lost or delivered twice. Events of one etcd watch
//     response are split by revision, each revision delivered whole, its changes in key order.
//   - Compact is an etcd compaction that waits until the old revisions are gone. The store
//     never compacts by itself: a node runs a store.Retainer (starbase serve
//     --retain-history), which keeps the cluster under its space quota (with a 64 MiB quota,
//     10,000 writes of 10 KB never raise NOSPACE: TestRetention_WritesNeverReachTheQuota;
//     without it the 6,673rd fails). A cluster run with --auto-compaction-retention also
//     loses history on its own schedule; compacting below its point does nothing, and reads
//     and watches of lost history fail with ErrCompacted.
//   - A commit refused for space (etcd's NOSPACE alarm) fails with store.ErrFull.
//
// # Limits
//
// etcd refuses transactions with more than --max-txn-ops (128 by default) compares, or
// operations in either branch, and requests larger than --max-request-bytes (1.5 MiB by
// default). The Else branch holds one read per compare, so a commit may have MaxTxnOps
// compares and MaxTxnOps ops, not their sum. A commit beyond [Store.Limits] fails with
// store.ErrTooLarge before anything is sent, so a commit is never split nor half written. Config.MaxTxnOps and Config.MaxRequestBytes must
// not exceed the servers' settings; the defaults match etcd's defaults.
//
// # Failures
//
// Every call is bounded by Config.RequestTimeout. A cluster that does not answer in time (no
// member reachable, no quorum, no leader) makes the call fail with an error wrapping
// store.ErrUnavailable, which callers can turn into "503 Service Unavailable" and retry.
// A Commit that fails with ErrUnavailable after sending its request may or may not have been
// applied: the request may have reached the cluster before the answer was lost; its error
// also wraps store.ErrOutcomeUnknown. Callers that must know read the keys
// again; compare-guarded commits are safe to retry because a commit that was applied makes
// its own compares fail.
//
// Watches do not fail while the cluster is unavailable: they wait, reconnect and resume from
// the last revision they delivered.
package etcd
