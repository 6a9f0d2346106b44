// Package bolt is the embedded [store.Store] backend: one process, one file, no setup,
// built on go.etcd.io/bbolt.
//
// # Model
//
// The file holds a multi-version copy of every key. A commit runs in one bbolt write
// transaction (bbolt admits a single writer at a time, which is what serialises commits):
// it checks the compares against the latest versions (a range compare walks the latest
// bucket over its range, so its cost grows with the keys in it), then writes the new
// versions, the revision record and the new current revision together, so a commit is either
// wholly in the file or not at all. Reads run in bbolt read transactions, which see one committed state;
// reads at an older revision pick, for each key, the newest version at or before it.
//
// # Layout
//
// All buckets are at the top level of the file:
//
//	meta       "format"    -> "starbase-bolt 1": the format marker (see FormatVersion)
//	           "revision"  -> current revision (uint64 big endian)
//	           "compacted" -> compaction point; 0 when never compacted
//	latest     key -> createRev(8) modRev(8) value        each live key at the current revision
//	versions   key -> bucket of rev(8) -> kind(1) createRev(8) value
//	                                                      every retained version, tombstones included
//	revisions  rev(8) -> keys changed by rev, in key order (uvarint length + bytes each)
//
// Latest reads touch only the latest bucket. A version is addressed by its key's own bucket,
// so keys may hold any byte. A revision record names keys only; a watch replaying it reads
// the values from the versions at that revision, so values are stored once per version.
// A fresh file starts at revision 1, as etcd does, so that revision 0 can mean "latest"
// (reads) and "from now" (watches) without ambiguity.
//
// # Opening: format and damage
//
// A new file is initialized under a temporary name and linked into place whole. Open refuses
// (with store.ErrFormat, writing nothing) an empty file, a file that is not bbolt, another
// program's bbolt file and a newer format; a file of this layout without the marker (written
// before it existed) is adopted and marked. Before bbolt opens the file for writing, Open
// checks its meta pages (damaged, or a file shorter than its pages: truncated) and reads
// every key of it read-only in key order: bbolt's writable open walks every page in a
// goroutine of its own where a damaged page ends the process, so the damage must be found
// first, and is then an error wrapping store.ErrCorrupt that names the file and the damage.
// Options.Verify adds bbolt's full consistency check (free pages included). On a 342 MiB
// file, bbolt's own open takes 1.5 s, Open 3.2 s, Open with Verify 3.4 s
// (BenchmarkOpen, a busy 2-core machine). Damage met later (a page overwritten under a
// running store) makes the operation that reads it fail with store.ErrCorrupt: reads and
// commits recover bbolt's panics and faults, and a commit that meets one writes nothing.
//
// # Watches
//
// Every watch has its own goroutine that re-reads the revisions bucket from the last
// revision it delivered, then sleeps until the next commit is announced. Commits announce
// themselves by closing a channel that watchers picked up before reading, so no revision can
// fall between a watcher's read and its sleep. A slow reader only delays its own goroutine:
// commits never wait for watchers, and nothing is buffered beyond one batch per watcher.
//
// # Compaction
//
// Compact(rev) deletes the revision records below rev and, for each key those records name,
// every version older than the newest one at or before rev (and that one too when it is a
// tombstone older than rev), so that reads at rev and later are unchanged. The pages this
// frees are reused by later commits, so a store compacted by a store.Retainer stops growing
// (5 counters written 50,000 times keep a 256 KiB file, as after 1,000 writes:
// BenchmarkRetention_CounterWrites; TestRetention_BoltFileStaysBoundedUnderCounterWrites
// holds 5,000 against 500 within 2x), but the file never shrinks by itself: [Rewrite]
// (starbase compact, node stopped) copies the live pages into a new file.
package bolt
