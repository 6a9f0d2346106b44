package runtime

import (
	"container/list"
	"sync"
)

// lru is a bounded map from string keys to values that evicts the least recently used
// entries when it holds more than limit entries or, if maxCost is positive, when the
// costs of its entries (an estimate of their bytes, from cost) add up to more than
// maxCost. A value costing more than maxCost is not kept at all. It is safe for
// concurrent use.
type lru[V any] struct {
	limit   int
	maxCost int64
	cost    func(V) int64 // for add; nil when maxCost is zero or costs come from addCost

	mu    sync.Mutex // guards items, order, total and epoch
	items map[string]*list.Element
	order *list.List // of *lruEntry[V], most recently used first
	total int64      // sum of the costs of the entries
	epoch uint64     // advanced by expire; every get and add stamps the entry with it
}

type lruEntry[V any] struct {
	key   string
	value V
	cost  int64
	epoch uint64 // of the last get or add
}

// newLRU returns an lru bounded by entries only.
func newLRU[V any](limit int) *lru[V] {
	return newCostLRU[V](limit, 0, nil)
}

// newCostLRU returns an lru bounded by limit entries and, if maxCost is positive, by a
// total cost of maxCost as estimated by cost (nil if every value is added with addCost).
func newCostLRU[V any](limit int, maxCost int64, cost func(V) int64) *lru[V] {
	if maxCost <= 0 {
		maxCost, cost = 0, nil
	}
	return &lru[V]{limit: limit, maxCost: maxCost, cost: cost, items: make(map[string]*list.Element), order: list.New()}
}

// get returns the value under key and marks it most recently used.
func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	entry := el.Value.(*lruEntry[V])
	entry.epoch = c.epoch
	return entry.value, true
}

// add stores value under key, evicting the least recently used entries beyond the
// bounds. The cost is estimated before the lock is taken.
func (c *lru[V]) add(key string, value V) {
	var cost int64
	if c.cost != nil {
		cost = c.cost(value)
	}
	c.addCost(key, value, cost)
}

// addCost is add with the cost of value given by the caller, for values whose cost
// depends on more than the value (ignored if the lru has no cost bound).
func (c *lru[V]) addCost(key string, value V, cost int64) {
	if c.maxCost == 0 {
		cost = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if c.maxCost > 0 && cost > c.maxCost {
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, value: value, cost: cost, epoch: c.epoch})
	c.total += cost
	for c.order.Len() > c.limit || (c.maxCost > 0 && c.total > c.maxCost) {
		c.remove(c.order.Back())
	}
}

// expire advances the epoch and evicts the entries not used (got or added) during the
// last keep epochs, the current one included. Since every use stamps the current epoch and
// moves its entry to the front, those entries are the ones at the back.
func (c *lru[V]) expire(keep uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for el := c.order.Back(); el != nil && el.Value.(*lruEntry[V]).epoch+keep <= c.epoch; el = c.order.Back() {
		c.remove(el)
	}
}

// addIfAbsent stores value under key unless key is there already, and reports whether it
// stored it. Either way key becomes the most recently used.
func (c *lru[V]) addIfAbsent(key string, value V) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		el.Value.(*lruEntry[V]).epoch = c.epoch
		return false
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, value: value, epoch: c.epoch})
	for c.order.Len() > c.limit {
		c.remove(c.order.Back())
	}
	return true
}

// remove drops the entry of el. The caller holds c.mu.
func (c *lru[V]) remove(el *list.Element) {
	entry := c.order.Remove(el).(*lruEntry[V])
	delete(c.items, entry.key)
	c.total -= entry.cost
}

// len returns the number of entries.
func (c *lru[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// size returns the sum of the estimated costs of the entries.
func (c *lru[V]) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
