// Package stdlib is the standard library of stored code: the modules a web application
// needs beyond the language and the platform's own builtins (runtime.Builtins, objects,
// render). sandbox.Predeclared adds them to every stored module:
//
//	time       times and durations (go.starlark.net/lib/time) with a request-scoped clock
//	uuid       random (version 4) UUIDs
//	secrets    random tokens and numbers from the operating system's cryptographic source
//	hashlib    MD5, SHA-1, SHA-256 and SHA-512 digests
//	hmac       keyed digests and a constant-time comparison
//	password   bcrypt password hashing and verification
//	base64     standard and URL-safe base64
//	url        percent-encoding and query strings
//	log        structured log records at a level, tagged with the request id
//	decimal    exact decimal numbers for money (package decimal)
//
// Their names and signatures follow Python's modules of the same name where there is one,
// and docs/builtins.md describes each (a test checks it against Predeclared).
//
// # Authority
//
// Each module grants only what its name says. The clock is not ambient: time.now() returns
// the instant the request started (runtime.ThreadNow), the same in every run of a handler
// that a data conflict re-runs, and fails at a module's top level, whose globals are
// computed once per commit and shared by every request. Randomness comes from crypto/rand
// only. No module reads the filesystem, the environment or the network, except that time
// zone names are looked up in the host's time zone database (or the copy compiled into the
// binary, package time/tzdata), and the "Local" zone, which differs between servers, is
// refused.
//
// # Limits
//
// A builtin runs inside one Starlark instruction, where the interpreter neither counts
// steps nor sees cancellation, so each bounds its own work with the execution's limits
// (runtime.ChargeAlloc, runtime.ChargeSteps): what it allocates is charged to the memory
// check of one operation before it is allocated, and every 32 bytes it reads (hashing,
// encoding, parsing) count as one step. Inputs that could make more work than their size
// are bounded by a constant: secrets make at most MaxTokenBytes bytes; password hashing
// runs bcrypt at PasswordCost and verifies hashes of cost up to MaxPasswordCost only,
// charging 1000 steps per bcrypt round (about 1M steps, a tenth of the default step
// budget, for one hash at the default cost); a log record has at most MaxLogFields fields
// and is charged to the request's print budget.
package stdlib
