package api

import "time"

// The messages of the administration endpoints: tokens, the audit log, protected refs, ref
// moves and web sessions.

// Token describes a token, never its secret.
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
}

// TokenRequest asks an admin to create a token.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"` // reader, developer or admin
}

// NewToken is a created token with its secret, which the server shows only this once.
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// PathChange is one file a commit changed.
type PathChange struct {
	Path   string `json:"path"`
	Status string `json:"status"` // added, removed or modified
}

// AuditRecord is one entry of the audit log; see the auth package for the fields.
type AuditRecord struct {
	Key       string       `json:"key"`      // pass as "after" to read older records
	Revision  int64        `json:"revision"` // the store revision that wrote the record
	Time      time.Time    `json:"time"`
	Action    string       `json:"action"`
	Actor     string       `json:"actor,omitempty"`
	ActorID   string       `json:"actor_id,omitempty"`
	Role      string       `json:"role,omitempty"`
	Session   bool         `json:"session,omitempty"`
	Source    string       `json:"source,omitempty"`
	Method    string       `json:"method,omitempty"`
	Path      string       `json:"path,omitempty"`
	Status    int          `json:"status,omitempty"`
	Reason    string       `json:"reason,omitempty"`
	Count     int          `json:"count,omitempty"` // refusals the record stands for, when more than one
	Until     time.Time    `json:"until,omitzero"`  // the last of them
	Ref       string       `json:"ref,omitempty"`
	Commit    string       `json:"commit,omitempty"`
	Parent    string       `json:"parent,omitempty"`
	Target    string       `json:"target,omitempty"`
	Detail    string       `json:"detail,omitempty"`
	Paths     []PathChange `json:"paths,omitempty"`
	MorePaths int          `json:"more_paths,omitempty"`
}

// RefRequest asks to move a ref to an existing commit, by compare-and-set: the ref must be
// at Expected ("" = the ref must not exist yet).
type RefRequest struct {
	Commit   string `json:"commit"`
	Expected string `json:"expected"`
}

// ProtectedRefs is the list of refs only admins may move.
type ProtectedRefs struct {
	Refs []string `json:"refs"`
}

// LoginRequest exchanges a token for a session cookie.
type LoginRequest struct {
	Token string `json:"token"`
}

// Session describes who a request acts as. CSRF, set for a session cookie, must be sent
// back in the X-CSRF-Token header of every state-changing request made with the cookie.
type Session struct {
	Name    string    `json:"name"`
	TokenID string    `json:"token_id"`
	Role    string    `json:"role"`
	Expires time.Time `json:"expires,omitzero"`
	CSRF    string    `json:"csrf,omitempty"`
	// Origin is the origin that answered: "app" (serve --addr, where sessions act at most
	// as developers) or "editor" (serve --editor-addr, where they carry the token's role).
	Origin string `json:"origin,omitempty"`
}

// SecretRotateRequest asks an admin to rotate the key of the app's user sessions and CSRF
// tokens. GraceSeconds is how long the keys it replaces still open cookies; 0 means the
// default (appsession.DefaultGrace), negative is refused.
type SecretRotateRequest struct {
	GraceSeconds int64 `json:"grace_seconds,omitempty"`
}

// SecretRotation is a rotation done: the new key's id (never the key) and the grace period
// of the keys it replaced.
type SecretRotation struct {
	KeyID        string    `json:"key_id"`
	Created      time.Time `json:"created"`
	GraceSeconds int64     `json:"grace_seconds"`
}
