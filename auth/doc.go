// Package auth keeps who may use Starbase and what they did: bearer tokens with a role,
// web sessions that stand for a token, the list of protected refs, and the audit log.
//
// # Tokens
//
// A token is a random secret shown once, when it is created. The store keeps only its
// SHA-256 hash, under auth/tokens/<hash>, so a leaked store does not leak usable tokens, and
// a lookup needs no scan. A token has a role: [Reader] reads code, history and status,
// [Developer] also commits and reverts, [Admin] also manages tokens and settings. Revoking a
// token deletes its record; every node reads the record from the store on each request, so
// a revocation takes effect everywhere at once, sessions included.
//
// # Sessions
//
// A browser exchanges a token for a session ([Sessions.Start]): a random session id, kept
// by the browser in a cookie and stored, hashed, under auth/sessions/<hash>. A session
// stands for its token: it is valid only while the token record exists and until it
// expires. A session is bound to the origin it was made on ([SessionOrigin]): the app's
// ([AppOrigin]), where pages developers write run too, caps its role at developer; the
// editor's own ([EditorOrigin], serve --editor-addr), which serves no stored code, gives
// the token's full role. A session is accepted only on its own origin.
//
// # Audit log
//
// Every change (commit, revert, ref move, token creation and revocation, login, logout,
// settings) and every refused attempt is an [AuditRecord] under audit/. A change and its
// record are written by the same store commit, so neither can exist without the other.
// Audit keys sort newest first ([AuditKey]), so the latest records are one ranged read.
//
// # Store layout
//
//	auth/tokens/<sha256 of secret>       Token (JSON)
//	auth/bootstrapped                    time of the first admin token
//	auth/sessions/<sha256 of session id> Session (JSON)
//	auth/protected-refs                  ProtectedRefs (JSON)
//	audit/<inverted time>-<random>       AuditRecord (JSON)
//
// Stored application code never reaches these keys: its data API is confined to data/.
package auth
