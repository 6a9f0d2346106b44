package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/store"
)

// ProtectedRefsKey is the store key of the list of protected refs.
const ProtectedRefsKey = "auth/protected-refs"

// MaxProtectedRefs bounds the list of protected refs.
const MaxProtectedRefs = 1000

// ProtectedRefs is the stored setting that makes refs movable only by admins.
type ProtectedRefs struct {
	Refs []string `json:"refs"`
}

// Protection reads and changes the protected refs of a store. It is safe for concurrent use.
//
// Every push and revert reads the setting from the store, so a change applies on every node
// at once. A push that read the setting just before an admin protected its ref may still
// land: the two are concurrent, and the audit log shows which came first.
type Protection struct {
	st store.Store
}

// NewProtection returns the protected refs kept in st.
func NewProtection(st store.Store) *Protection { return &Protection{st: st} }

// Refs returns the protected refs, sorted.
func (p *Protection) Refs(ctx context.Context) ([]string, error) {
	kv, _, err := p.st.Get(ctx, ProtectedRefsKey, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the protected refs: %w", err)
	}
	if kv == nil {
		return []string{}, nil
	}
	var pr ProtectedRefs
	if err := json.Unmarshal(kv.Value, &pr); err != nil {
		return nil, fmt.Errorf("the protected refs setting %s is corrupt: %w", ProtectedRefsKey, err)
	}
	if pr.Refs == nil {
		pr.Refs = []string{}
	}
	return pr.Refs, nil
}

// Protected reports whether ref is protected.
func (p *Protection) Protected(ctx context.Context, ref string) (bool, error) {
	refs, err := p.Refs(ctx)
	if err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(refs, ref)
	return found, nil
}

// Set replaces the protected refs by refs, writing extra (the audit record) in the same
// store commit, and returns the new list, sorted and without duplicates. It fails with
// ErrInvalidRequest when a name is not a valid ref name or the list is too long.
func (p *Protection) Set(ctx context.Context, refs []string, extra []store.Op) ([]string, error) {
	if len(refs) > MaxProtectedRefs {
		return nil, fmt.Errorf("%w: %d protected refs, the limit is %d", ErrInvalidRequest, len(refs), MaxProtectedRefs)
	}
	refs = slices.Clone(refs)
	for _, r := range refs {
		if err := code.ValidateRefName(r); err != nil {
			return nil, fmt.Errorf("%w: protected refs: %v", ErrInvalidRequest, err)
		}
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	if refs == nil {
		refs = []string{}
	}
	b, err := json.Marshal(ProtectedRefs{Refs: refs})
	if err != nil {
		return nil, err
	}
	if _, err := p.st.Commit(ctx, nil, append([]store.Op{store.Put(ProtectedRefsKey, b)}, extra...)); err != nil {
		return nil, fmt.Errorf("storing the protected refs: %w", err)
	}
	return refs, nil
}
