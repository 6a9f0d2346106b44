package render

import (
	"strings"
	"sync"

	"go.starlark.net/starlark"
)

// Frozen data is converted once. A module's globals are frozen after its top level runs,
// and a frozen list or dict (and everything it holds: freezing is deep) never changes, so
// its conversion for templates can be kept and shared by every render that passes it, as
// the typical page passes a module's constant rows. The converted values are only read by
// templates, so sharing them between concurrent renders is safe. A render that uses a kept
// conversion charges its size all the same, so its limits do not depend on the cache.
//
// The cache is bounded by the bytes its conversions were charged (frozenBudget), and is
// emptied when full: it holds the values it keeps alive, so it must not hold many.

const (
	frozenBudget   = 32 << 20 // bytes of conversions kept
	frozenMaxEntry = 4 << 20  // larger conversions are not kept
)

// frozenCache keeps the conversions of frozen lists and dicts, by identity.
type frozenCache struct {
	mu      sync.Mutex // guards entries and size
	entries map[starlark.Value]frozenEntry
	size    int64
}

type frozenEntry struct {
	data any   // the converted value
	size int64 // the bytes its conversion charged
}

func (c *frozenCache) get(v starlark.Value) (frozenEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[v]
	return e, ok
}

func (c *frozenCache) put(v starlark.Value, e frozenEntry) {
	if e.size > frozenMaxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || c.size+e.size > frozenBudget {
		c.entries, c.size = map[starlark.Value]frozenEntry{}, 0
	}
	if _, ok := c.entries[v]; !ok {
		c.entries[v] = e
		c.size += e.size
	}
}

// cacheable reports whether v is a list or dict that is frozen. go.starlark.net does not
// export the flag, so it is read from the error of a mutation tried while an iteration is
// open: the mutation fails either way (an open iteration forbids it), and changes nothing,
// but the error names a frozen value as such. TestFrozen_IsDetectedWithoutMutating holds
// this to the pinned go.starlark.net.
func cacheable(v starlark.Value) bool {
	switch v := v.(type) {
	case *starlark.List:
		it := v.Iterate()
		defer it.Done()
		return isFrozenError(v.Append(starlark.None))
	case *starlark.Dict:
		it := v.Iterate()
		defer it.Done()
		return isFrozenError(v.SetKey(starlark.None, starlark.None))
	}
	return false
}

func isFrozenError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "frozen")
}
