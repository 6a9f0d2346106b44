package appsession

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/starbase/starbase/store"
)

// KeysKey is the store key of the app session keys: a Ring (JSON). It is outside data/, so
// stored code never reaches it.
const KeysKey = "auth/app-session-keys"

// DefaultGrace is how long a rotated key still opens cookies, by default: as long as a
// session lasts, so that a rotation logs nobody out.
const DefaultGrace = MaxAge

// CacheTTL bounds how long a node uses the keys it read before reading them again: a
// rotation reaches every node within it.
const CacheTTL = 2 * time.Second

// keyIDLen is the length of a key id: hex digits.
const keyIDLen = 8

// maxKeys bounds the keys a ring keeps, however often it is rotated within a grace period.
const maxKeys = 16

// Key is one key of the ring.
type Key struct {
	// ID names the key in every cookie and token it made (8 hex digits).
	ID string `json:"id"`
	// Secret is 32 random bytes; the cookie and CSRF keys are derived from it.
	Secret  []byte    `json:"secret"`
	Created time.Time `json:"created"`
	// Retired is when a newer key replaced it (zero for the current key); it still opens
	// cookies until Retired plus Grace.
	Retired time.Time     `json:"retired,omitzero"`
	Grace   time.Duration `json:"grace,omitempty"`
}

// usable reports whether k still opens cookies at now.
func (k Key) usable(now time.Time) bool {
	return k.Retired.IsZero() || now.Before(k.Retired.Add(k.Grace))
}

// derive returns the key of purpose derived from k's secret.
func (k Key) derive(purpose string) []byte {
	m := hmac.New(sha256.New, k.Secret)
	m.Write([]byte("starbase app session: " + purpose))
	return m.Sum(nil)
}

// Ring is the stored set of keys, the current one first.
type Ring struct {
	Keys []Key `json:"keys"`
}

// current returns the key that seals new cookies.
func (r *Ring) current() Key { return r.Keys[0] }

// find returns the key id, if it still opens cookies at now.
func (r *Ring) find(id string, now time.Time) (Key, bool) {
	for _, k := range r.Keys {
		if k.ID == id && k.usable(now) {
			return k, true
		}
	}
	return Key{}, false
}

// Keyring gives the keys of a request. Keys and FixedKeys implement it.
type Keyring interface {
	Ring(ctx context.Context) (*Ring, error)
}

// Keys reads the ring from a store, creating it when absent, and caches it for CacheTTL.
// It is safe for concurrent use.
type Keys struct {
	st store.Store
	// mu guards ring and read.
	mu   sync.Mutex
	ring *Ring
	read time.Time // when ring was read (wall clock of the node, not a request's)
}

// NewKeys returns the keys kept in st.
func NewKeys(st store.Store) *Keys { return &Keys{st: st} }

// Ring returns the keys, read at most CacheTTL ago; the first call on a store that has none
// creates the first key.
func (k *Keys) Ring(ctx context.Context) (*Ring, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring != nil && time.Since(k.read) < CacheTTL {
		return k.ring, nil
	}
	ring, err := k.load(ctx)
	if err != nil {
		return nil, err
	}
	k.ring, k.read = ring, time.Now()
	return ring, nil
}

// load reads the ring, creating it if absent (two nodes creating it at once: one wins, the
// other reads the winner's).
func (k *Keys) load(ctx context.Context) (*Ring, error) {
	for range 3 {
		kv, _, err := k.st.Get(ctx, KeysKey, 0)
		if err != nil {
			return nil, fmt.Errorf("reading the app session keys: %w", err)
		}
		if kv != nil {
			return decodeRing(kv.Value)
		}
		key, err := newKey(time.Now())
		if err != nil {
			return nil, err
		}
		ring := &Ring{Keys: []Key{key}}
		b, _ := json.Marshal(ring)
		_, err = k.st.Commit(ctx, []store.Compare{store.Absent(KeysKey)}, []store.Op{store.Put(KeysKey, b)})
		if err == nil {
			return ring, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("creating the app session key: %w", err)
		}
	}
	return nil, errors.New("creating the app session key: it kept changing")
}

// Rotate makes a new current key; the keys it replaces open cookies for grace more, and
// keys past their grace are dropped. extra, given the new key, returns operations to commit
// with the change (its audit record). The ring is read again on this node's next request.
func (k *Keys) Rotate(ctx context.Context, now time.Time, grace time.Duration, extra func(Key) []store.Op) (Key, error) {
	if grace < 0 {
		return Key{}, fmt.Errorf("%w: the grace period must not be negative", ErrInvalid)
	}
	for range 5 {
		kv, _, err := k.st.Get(ctx, KeysKey, 0)
		if err != nil {
			return Key{}, fmt.Errorf("reading the app session keys: %w", err)
		}
		ring := &Ring{}
		if kv != nil {
			if ring, err = decodeRing(kv.Value); err != nil {
				return Key{}, err
			}
		}
		key, err := newKey(now)
		if err != nil {
			return Key{}, err
		}
		next := &Ring{Keys: []Key{key}}
		for _, old := range ring.Keys {
			if old.Retired.IsZero() {
				old.Retired, old.Grace = now, grace
			}
			if old.usable(now) && len(next.Keys) < maxKeys {
				next.Keys = append(next.Keys, old)
			}
		}
		b, _ := json.Marshal(next)
		ops := []store.Op{store.Put(KeysKey, b)}
		if extra != nil {
			ops = append(ops, extra(key)...)
		}
		_, err = k.st.Commit(ctx, []store.Compare{store.Unchanged(KeysKey, kv)}, ops)
		if err == nil {
			k.mu.Lock()
			k.ring = nil
			k.mu.Unlock()
			return key, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return Key{}, fmt.Errorf("storing the app session keys: %w", err)
		}
	}
	return Key{}, errors.New("rotating the app session key: the keys kept changing under concurrent rotations")
}

func decodeRing(b []byte) (*Ring, error) {
	var r Ring
	if err := json.Unmarshal(b, &r); err != nil || len(r.Keys) == 0 {
		return nil, fmt.Errorf("the app session keys under %s are not valid: %v", KeysKey, err)
	}
	for _, k := range r.Keys {
		if len(k.Secret) != 32 {
			return nil, fmt.Errorf("the app session key %s under %s is not 32 bytes", k.ID, KeysKey)
		}
	}
	return &r, nil
}

func newKey(now time.Time) (Key, error) {
	secret := make([]byte, 32)
	id := make([]byte, keyIDLen/2)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	if _, err := rand.Read(id); err != nil {
		return Key{}, err
	}
	return Key{ID: hex.EncodeToString(id), Secret: secret, Created: now.UTC()}, nil
}

// FixedKeys is a ring of one random key that lives in memory: the keys of the apps that the
// validation gate serves to a tree's tests.
type FixedKeys struct{ ring *Ring }

// NewFixedKeys returns a ring of one new random key.
func NewFixedKeys() (*FixedKeys, error) {
	key, err := newKey(time.Now())
	if err != nil {
		return nil, err
	}
	return &FixedKeys{ring: &Ring{Keys: []Key{key}}}, nil
}

// Ring returns the one key.
func (f *FixedKeys) Ring(context.Context) (*Ring, error) { return f.ring, nil }
