// Package objects gives stored Starlark code persistent objects whose classes live in the
// store too, and runs each request that uses them as one serializable transaction.
//
// # Classes and objects
//
// class is reserved in Starlark, so a module declares a class with the predeclared model
// builtin, at its top level:
//
//	def _incr(self, n = 1):
//	    self.value += n
//
//	Counter = model("Counter",
//	    fields = {"name": "", "value": 0},  # field -> default; the default fixes the type
//	    methods = {"incr": _incr},          # functions whose first parameter is self
//	    indexes = ["name"],                 # fields db.find and db.query select on; a tuple
//	                                        # such as ("state", "total") is a composite index
//	    version = 1,                        # optional, with migrate
//	    migrate = None,                     # optional: migrate(fields, from_version) -> fields
//	)
//
// The model's qualified name is the module's path, ":" and its name ("counters.star:Counter");
// it must be assigned to the global of that name. Counter(name = "c") makes a new, unsaved
// [Object]; fields read and assign as attributes, type-checked against their defaults (a None
// default accepts any storable value); obj.incr(2) calls a method.
//
// A stored object records its class by qualified name and version, never code. When a request
// reads it, it is bound to the model that request's code declares under that name (through
// the [ClassResolver] the server gives [Run]): push a changed method and every existing object
// uses it on the next request; revert, and they use the old one; nothing stored changes. An
// object never holds on to old code, so there is nothing to invalidate when code changes.
//
// # The data API
//
// The predeclared db (see [Builtins]) works only while a request is handled ([Bind] gives it
// the request's [Tx]); at module top level it fails with ErrNoTransaction, which keeps module
// code deterministic:
//
//	db.put(obj) -> id       saves obj; a new object gets its id (obj.id from then on)
//	db.get(id) -> obj|None
//	db.delete(obj_or_id) -> bool
//	db.find(Model, field = value, ...) -> [obj]     by an indexed field, in id order
//	db.list(Model, limit = 100, after = id) -> [obj]  one page, in id order
//	db.lock(obj_or_id) -> obj|None                  lock it for the transaction, then read it
//	db.incr(obj_or_id, field, n = 1) -> value       add n to a number field, under its lock
//	db.next(name) -> int                            the next number of a gapless sequence
//
// The last three serialize the requests on a hot object or sequence instead of letting
// them conflict and run again (locks.go). A model may declare the old names of its class,
// model(..., aliases = ["old.star:Name"]): objects stored under them are bound to it
// (classes.go).
//
// db.put saves the object as it is at that moment; later assignments need another db.put. Each
// read returns a new instance. find and list see the request's own puts and deletes; find
// returns at most MaxFindResults objects and list pages of at most MaxListLimit. Ids are made
// from a millisecond timestamp and 80 random bits (record.go), so they sort roughly by
// creation time and creating objects never contends on a counter. A model must be assigned to
// the global of its own name: objects are bound to it by that name, and db.put refuses
// instances of a model the resolver cannot find.
//
// Field values are stored with the value encoding of [EncodeValue]: str, bytes, int of any
// size, float (including NaN, infinities and -0.0, bit for bit), bool, None, list, tuple, dict
// (in insertion order) and set, nested. Functions, objects and other values are refused, with
// the field and the position in it named. The encoding is versioned and deterministic, and
// [DecodeValue] is strict: it accepts nothing EncodeValue could not have written, and never
// panics.
//
// # Data tiers
//
// Objects live in a data tier, an [Engine]: SQLite (package objects/sqlite; the default of
// starbase serve, a file in the data directory), PostgreSQL (package objects/postgres; for
// clusters), or the KV tier ([KV]: the objects in the control plane's own store, bbolt or
// etcd, under "data/"). Code, refs, tokens, audit and the node registry stay in the store
// whatever the data tier. The rules of this documentation hold on every tier, and one
// conformance suite (harness_test.go) runs on all four of bolt, etcd, SQLite and PostgreSQL:
// the objects tests, concurrent increments, the bank invariant, write skew, phantoms and
// porcupine-checked histories. What the sections below say of keys, compares and store
// limits is the KV tier's; on a SQL tier an object is a row (id, class, version, the
// record encoding, and its fields as JSON: project.go), a declared index is an index on
// that field's JSON expression, partial on the class (sql.go), and a request is one SQL
// transaction: SERIALIZABLE on PostgreSQL, one writer at a time on SQLite, with the same
// re-runs when a concurrent transaction wins (see the two packages). A SQL tier has no
// per-transaction limit on operations (ErrTooLarge is the KV tier's).
//
// # Transactions and isolation (the KV tier)
//
// [Run] runs a request's function in a [Tx]. Every read of the transaction is made at one
// store revision, the snapshot, taken by its first read, and sees the transaction's own
// buffered writes on top. At the end, the writes are committed in one store commit that holds
// only if every key the transaction read still has the modification revision (or absence) it
// had in the snapshot. When a compare fails, another transaction changed what this one read:
// Run runs the function again, from the start, in a new transaction, a bounded number of times,
// then returns ErrConflict (the server's 409). A function that returns an error writes
// nothing; a transaction that wrote nothing commits nothing and never conflicts.
//
// Ranges are protected from phantoms by version keys: every insertion or deletion of an
// instance changes its class's version key, and every change of an index entry changes the
// version key of its bucket (one of 256 per class and field, chosen by the value's hash).
// db.list reads the class's version key and db.find the bucket's, so a concurrent commit that
// would add or remove an object from what they returned makes the reader's commit fail. These
// keys are written blindly (never read before being changed), so writers of different objects
// do not conflict with one another through them.
//
// The isolation level is therefore strict serializability: a writing transaction takes effect
// at its commit, and everything it read was still current then; a read-only transaction takes
// effect at its snapshot, which is the latest revision when it started reading. No lost
// update, write skew or phantom is possible. The cost is optimistic: under contention on the
// same objects, transactions are re-run (with randomized, growing pauses between attempts).
//
// The keys a transaction read are compared one by one, except the records of the objects a
// db.list page returned: every write of a record also rewrites the object's membership key
// under its class, so one range compare on the page's membership keys ("none created or
// modified since the snapshot", [store.RangeUnmodifiedSince]) stands for all of them, and the
// class version key that db.list reads catches their deletion, which a range compare cannot
// see. So a page of MaxListLimit objects costs three compares, not a thousand. The records a
// db.find read (16 or more) are compared the same way, from the first to the last of their
// membership keys, when that range holds at most twice as many objects as they are (the
// commit reads it to know; the index bucket's version key catches deletions); objects found
// scattered among many others keep one compare each, so that unrelated writes do not
// conflict with them. Every node writing to one store must follow this rule: a node running
// older code, which rewrote membership keys only on creation, must not write while newer
// nodes read.
//
// A transaction is one store commit, so it must fit the store's [store.Limits]: at most
// MaxCompares compares (keys read outside list pages, plus one per page) and MaxOps writes (an
// object written is its record, its membership key and any index entries that change, with
// their version keys), and MaxBytes: a larger one fails with ErrTooLarge, never split. On a
// default etcd, both counts are 128.
//
// # Keys (the KV tier)
//
// Data lives under "data/" in the same store as the code, through the [store.Store] interface
// only: the object records, one membership key per object under its class (for db.list), index
// entries (for db.find), the version keys above, and the resume cursor of [Migrate]. The
// layout is described in record.go.
//
// # Schema evolution
//
// A model's version (1 by default) is stored with each object it writes. When a request reads
// an object of an older version, the model's migrate function (if any) is called with the
// stored fields as a dict and the stored version, and returns the fields for the current
// version; declared fields still missing take their defaults. The upgrade is stored when the
// object is next written; reading writes nothing. [Migrate] (the CLI's starbase migrate
// MODULE:CLASS) rewrites every object of a class in resumable batches, which also gives
// existing objects the index entries of a newly declared index (until then db.find does not
// see them).
//
// Stored fields the model does not declare are kept: readable as attributes, and written back,
// so that no field is dropped except by a migrate function. An object whose version is newer
// than its model (the code was rolled back) is readable, but writing it fails with
// ErrNewerObject rather than losing what the newer version added. An object whose class the
// current code no longer declares is readable as a plain record; assigning to it, saving it,
// or calling any method fails with ErrNoClass naming the missing class. It can be deleted.
package objects
