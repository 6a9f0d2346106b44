package store

import (
	"context"
	"time"
)

// Leaser is implemented by stores shared by several processes (etcd) that can tie a key to
// the life of its writer: the key disappears when the writer stops renewing it, so a node
// that dies leaves no stale record. Stores used by one process only (bolt) need not
// implement it; their single writer knows the live set by itself.
type Leaser interface {
	// PutEphemeral writes key=value and keeps it alive, renewing it in the background, until
	// the returned Ephemeral is closed or the process stops renewing it for ttl.
	PutEphemeral(ctx context.Context, key string, value []byte, ttl time.Duration) (Ephemeral, error)
}

// Ephemeral is a key kept alive by a Leaser.
type Ephemeral interface {
	// Update replaces the key's value, keeping it tied to the same lease. If the lease was
	// lost (the store was unreachable longer than its ttl), Update takes a new one.
	Update(ctx context.Context, value []byte) error
	// Close deletes the key and stops renewing it.
	Close() error
}
