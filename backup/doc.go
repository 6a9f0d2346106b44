// Package backup writes and reads Starbase backups: one file holding, as of one moment, a
// store's keys (code, refs, tokens, sessions, audit, and the objects when the data tier is
// the store itself) and the objects of a SQL data tier, and restores such a file into an
// empty store and data tier.
//
// # Consistency
//
// [Take] reads every key of the store at one revision (paged reads at that revision: the
// store's snapshot; writers go on meanwhile) and every object of the data tier in one
// read-only transaction (objects.Snapshot). Everything committed before Take started is in
// the backup. The two parts are each consistent; between them the moments differ by the time
// the first part takes, which is what the tiers allow (a request's code and its data are in
// different databases anyway). While it reads, Take holds its revision (store.HoldHistory):
// no node's Retainer compacts past it (--retain-history, five minutes by default), however
// long the reader of the backup takes. etcd's own periodic compaction
// (--auto-compaction-retention) knows nothing of the hold: a backup that outlasts it fails
// with store.ErrCompacted rather than mix revisions. Holds are not backed up.
//
// # Format (version 2)
//
// A backup is the 16 bytes "STARBASE-BACKUP\n" followed by frames:
//
//	kind     1 byte: 'H' header, 'K' store key, 'O' object, 'S' sequence, 'T' trailer
//	length   uvarint: the length of payload
//	payload  length bytes
//	crc      4 bytes, big endian: CRC-32C (Castagnoli) of kind, length and payload
//
// The first frame is the header: JSON of [Header] (its Format is 2). Then the store's keys,
// each a 'K' frame whose payload is uvarint(len(key)), key, value, in strictly ascending key
// order; then the data tier's objects, each an 'O' frame of uvarint(len(id)), id, record (the
// record encoding that every tier stores, as `starbase data export` writes it), in strictly
// ascending id order; then the sequences of the data tier (db.next), each an 'S' frame of
// uvarint(len(name)), name, the last number it gave in decimal, in strictly ascending name
// order, read in the same snapshot as the objects (a KV data tier's sequences are store keys).
// The last frame is the trailer: JSON of [Trailer], the counts of keys, objects and
// sequences and the SHA-256 of every byte of the file before the trailer frame. Nothing
// follows it. Format 1, which this package still reads, had no sequences: restoring it
// starts every sequence of a SQL data tier at 1 again.
//
// A [Reader] checks all of this as it reads: the magic, each frame's CRC and its size against
// [MaxFrame], the order of kinds and of keys, the counts and the SHA-256. A damaged,
// truncated or foreign file is an error wrapping [ErrDamaged] that names the byte offset and
// what is wrong; a newer format is [ErrFormat]. The reader's memory is bounded by one frame,
// and a frame's memory by the bytes actually present (a length that claims more than the file
// holds allocates nothing beyond it). Restore reads the whole file once to check it before it
// writes anything.
//
// # Restore
//
// [Restore] writes a backup into a store that holds no key and a data tier that holds no
// object, and refuses anything else: a restore never merges into live data. It first writes
// [RestoringKey] with the first keys; it deletes that key last, after the objects, so that a
// restore that stops halfway leaves a store that `starbase serve` refuses ([Unfinished]),
// saying to start again on an empty store. Store keys get new revisions (the store's history
// is not part of a backup).
package backup
