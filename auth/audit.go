package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/starbase/starbase/store"
)

// AuditPrefix is the store prefix of audit records.
const AuditPrefix = "audit/"

// Action names what an audit record records.
type Action string

// Actions.
const (
	ActionCommit       Action = "commit"        // a push made a commit and moved a ref
	ActionRevert       Action = "revert"        // a revert made a commit and moved a ref
	ActionRefMove      Action = "ref.move"      // a ref moved to an existing commit
	ActionTokenCreate  Action = "token.create"  // a token was created
	ActionTokenRevoke  Action = "token.revoke"  // a token was revoked
	ActionLogin        Action = "login"         // a token was exchanged for a session
	ActionLogout       Action = "logout"        // a session ended
	ActionSettings     Action = "settings"      // a setting (protected refs) changed
	ActionRefused      Action = "refused"       // a request was refused (401, 403)
	ActionBackup       Action = "backup"        // a backup was taken
	ActionSecretRotate Action = "secret.rotate" // the app session key was rotated

	ActionRolloutStart   Action = "rollout.start"   // a rollout of a commit started
	ActionRolloutPromote Action = "rollout.promote" // a rollout's commit became its ref's
	ActionRolloutAbort   Action = "rollout.abort"   // a rollout ended, by hand or rolled back by a node
)

// MaxAuditPaths bounds the changed paths an audit record lists; the rest are counted in
// MorePaths, so that a huge push still fits one store commit.
const MaxAuditPaths = 1000

// PathChange is one file a commit changed.
type PathChange struct {
	Path   string `json:"path"`
	Status string `json:"status"` // added, removed or modified
}

// AuditRecord is one entry of the audit log.
type AuditRecord struct {
	// Key and Revision are filled in when a record is read: its store key, and the store
	// revision that wrote it (the revision of the change it records).
	Key      string `json:"-"`
	Revision int64  `json:"-"`

	Time   time.Time `json:"time"`
	Action Action    `json:"action"`
	// Actor is the name of the token that acted, ActorID its id, Role the role it acted
	// with; all empty when the request carried no valid credential.
	Actor   string `json:"actor,omitempty"`
	ActorID string `json:"actor_id,omitempty"`
	Role    Role   `json:"role,omitempty"`
	// Session is set when the actor authenticated with a session cookie.
	Session bool `json:"session,omitempty"`
	// Source is the network address the request came from.
	Source string `json:"source,omitempty"`
	// Method and Path are the HTTP request.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Status and Reason say why a request was refused.
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Count, when above 1, is the number of refusals the record stands for: the refusals
	// of one source in one interval after the first are recorded together (see the
	// server), Time being the first of them and Until the last, the other fields those
	// of the last.
	Count int       `json:"count,omitempty"`
	Until time.Time `json:"until,omitzero"`
	// Ref, Commit and Parent describe a ref move: Ref moved from Parent to Commit.
	Ref    string `json:"ref,omitempty"`
	Commit string `json:"commit,omitempty"`
	Parent string `json:"parent,omitempty"`
	// Target is what the action was about: the commit reverted to, the token created or
	// revoked.
	Target string `json:"target,omitempty"`
	// Detail is free text: the role of a created token, the protected refs, ...
	Detail string `json:"detail,omitempty"`
	// Paths are the files a commit changed, sorted; MorePaths counts those beyond
	// MaxAuditPaths.
	Paths     []PathChange `json:"paths,omitempty"`
	MorePaths int          `json:"more_paths,omitempty"`
}

// AuditKey returns a new key for a record made at t: AuditPrefix, the nanoseconds from t to
// the end of time as 19 digits (so keys sort newest first), "-" and 16 random hex digits (so
// records made at the same nanosecond on different nodes do not collide). The order of keys
// is the order of the clocks of the nodes that wrote them; the Revision of a record read
// back is the authoritative order.
func AuditKey(t time.Time) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return fmt.Sprintf("%s%019d-%s", AuditPrefix, math.MaxInt64-t.UnixNano(), hex.EncodeToString(b[:]))
}

// AuditOp returns the store operation that writes rec, to be committed together with the
// change it records. A zero rec.Time, or one outside the years 1 to 9999, is set to now.
func AuditOp(rec AuditRecord) store.Op {
	if y := rec.Time.Year(); rec.Time.IsZero() || y < 1 || y > 9999 {
		rec.Time = time.Now()
	}
	rec.Time = rec.Time.UTC()
	if len(rec.Paths) > MaxAuditPaths {
		rec.MorePaths += len(rec.Paths) - MaxAuditPaths
		rec.Paths = rec.Paths[:MaxAuditPaths]
	}
	b, err := json.Marshal(rec)
	if err != nil {
		// Unreachable: strings, numbers and a time within JSON's years.
		panic(fmt.Sprintf("auth: encoding an audit record: %v", err))
	}
	return store.Put(AuditKey(rec.Time), b)
}

// AuditQuery selects audit records for ReadAudit.
type AuditQuery struct {
	// Limit is the number of records to return, newest first; 0 means 100.
	Limit int
	// After, when set, is the Key of a record: only older records are returned (paging).
	After string
}

// ReadAudit returns audit records of st, newest first, and whether older ones remain.
func ReadAudit(ctx context.Context, st store.Store, q AuditQuery) ([]AuditRecord, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if q.After != "" && !strings.HasPrefix(q.After, AuditPrefix) {
		return nil, false, fmt.Errorf("%w: %q is not an audit record key", ErrInvalidRequest, q.After)
	}
	res, err := st.Range(ctx, AuditPrefix, store.RangeOptions{Limit: q.Limit, After: q.After})
	if err != nil {
		return nil, false, fmt.Errorf("reading the audit log: %w", err)
	}
	out := make([]AuditRecord, 0, len(res.KVs))
	for _, kv := range res.KVs {
		var rec AuditRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, false, fmt.Errorf("audit record %s is corrupt: %w", kv.Key, err)
		}
		rec.Key, rec.Revision = kv.Key, kv.ModRevision
		out = append(out, rec)
	}
	return out, res.More, nil
}
