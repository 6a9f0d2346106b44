package code

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/starbase/starbase/store"
)

// DroppedPrefix is where a collection leaves a record of each commit it dropped
// (DroppedPrefix + id), so that asking for the commit later says what happened to it rather
// than "not found". Records older than [Collector.DroppedMaxAge] are deleted.
const DroppedPrefix = Prefix + "dropped/"

func droppedKey(id ID) string { return DroppedPrefix + string(id) }

// maxDroppedRecord bounds the record of a dropped commit that is decoded.
const maxDroppedRecord = 4 << 10

// droppedRecord is the stored record of a dropped commit.
type droppedRecord struct {
	// Policy is the retention policy that dropped it, as the flags that set it.
	Policy  string    `json:"policy"`
	Dropped time.Time `json:"dropped"`
	// Subject and Time describe the commit.
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`
}

// DroppedError reports that a commit was dropped by a retention policy: it existed, and its
// objects were collected. It matches ErrDropped and ErrNotFound.
type DroppedError struct {
	ID ID
	// Policy is the retention policy that dropped it ("" when its record is unreadable).
	Policy string
	// Dropped is when it was dropped; Subject and Time describe the commit.
	Dropped time.Time
	Subject string
	Time    time.Time
}

func (e *DroppedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "commit %s", e.ID.Short())
	if e.Subject != "" {
		fmt.Fprintf(&b, " (%q of %s)", e.Subject, e.Time.Format(time.DateOnly))
	}
	policy := e.Policy
	if policy == "" {
		policy = "of the store"
	}
	fmt.Fprintf(&b, " was dropped by the retention policy %s", policy)
	if !e.Dropped.IsZero() {
		fmt.Fprintf(&b, " at %s", e.Dropped.Format(time.RFC3339))
	}
	b.WriteString("; its code is no longer stored (the audit log still names it): use a kept commit, see `starbase log`")
	return b.String()
}

// Unwrap makes errors.Is(err, ErrDropped) and errors.Is(err, ErrNotFound) hold.
func (e *DroppedError) Unwrap() []error { return []error{ErrDropped, ErrNotFound} }

// dropped returns the *DroppedError of commit id if a collection dropped it, or notFound.
func (r *Repo) dropped(ctx context.Context, id ID, notFound error) error {
	kv, _, err := r.store.Get(ctx, droppedKey(id), 0)
	if err != nil {
		return fmt.Errorf("code: reading commit %s: %w", id.Short(), err)
	}
	if kv == nil {
		return notFound
	}
	return droppedError(id, kv.Value)
}

// droppedError decodes the record of dropped commit id. An unreadable record still says the
// commit was dropped.
func droppedError(id ID, value []byte) *DroppedError {
	e := &DroppedError{ID: id}
	var rec droppedRecord
	if len(value) <= maxDroppedRecord && json.Unmarshal(value, &rec) == nil {
		e.Policy, e.Dropped, e.Subject, e.Time = rec.Policy, rec.Dropped, rec.Subject, rec.Time
	}
	return e
}

// resolveDropped answers a commit id prefix that names no stored commit: the *DroppedError
// of the one dropped commit it names, or notFound.
func (r *Repo) resolveDropped(ctx context.Context, hex string, notFound error) error {
	res, err := r.store.Range(ctx, DroppedPrefix+hex, store.RangeOptions{Limit: 2})
	if err != nil {
		return fmt.Errorf("code: resolving %q: %w", hex, err)
	}
	if len(res.KVs) != 1 {
		return notFound
	}
	id := ID(strings.TrimPrefix(res.KVs[0].Key, DroppedPrefix))
	if ValidateID(id) != nil {
		return notFound
	}
	return droppedError(id, res.KVs[0].Value)
}

// isDropped reports whether err says a commit was dropped.
func isDropped(err error) bool { return errors.Is(err, ErrDropped) }
