package code

import (
	"container/list"
	"sync"
)

// lru is a bounded least-recently-used cache of immutable objects keyed by id. Bounds are on
// the number of entries and on the total cost (an approximate size in bytes); an object
// costing more than a quarter of the budget is not cached at all, so that one huge blob
// cannot evict everything else. It is safe for concurrent use.
type lru[V any] struct {
	maxEntries int
	maxCost    int
	cost       func(V) int

	mu      sync.Mutex // guards order, entries and total
	order   *list.List // of *lruEntry[V], most recently used first
	entries map[ID]*list.Element
	total   int
}

type lruEntry[V any] struct {
	id    ID
	value V
	cost  int
}

func newLRU[V any](maxEntries, maxCost int, cost func(V) int) *lru[V] {
	return &lru[V]{
		maxEntries: maxEntries,
		maxCost:    maxCost,
		cost:       cost,
		order:      list.New(),
		entries:    make(map[ID]*list.Element),
	}
}

func (c *lru[V]) get(id ID) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[id]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[V]).value, true
	}
	var zero V
	return zero, false
}

// has reports whether id is cached, without making it more recently used.
func (c *lru[V]) has(id ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[id]
	return ok
}

func (c *lru[V]) add(id ID, v V) {
	cost := c.cost(v)
	if cost > c.maxCost/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; ok {
		return
	}
	c.entries[id] = c.order.PushFront(&lruEntry[V]{id: id, value: v, cost: cost})
	c.total += cost
	for c.order.Len() > c.maxEntries || c.total > c.maxCost {
		oldest := c.order.Back()
		entry := oldest.Value.(*lruEntry[V])
		c.order.Remove(oldest)
		delete(c.entries, entry.id)
		c.total -= entry.cost
	}
}

// remove drops id from the cache, if it is there.
func (c *lru[V]) remove(id ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[id]; ok {
		c.order.Remove(e)
		delete(c.entries, id)
		c.total -= e.Value.(*lruEntry[V]).cost
	}
}
