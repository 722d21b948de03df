package site

import "container/list"

// lru is a map with a capacity that forgets its least recently used entry
// to make room: the login guard's tables stay bounded whatever clients send.
// It is not safe for concurrent use (the guard holds its lock).
type lru[V any] struct {
	cap   int
	order *list.List // of *lruEntry[V], most recently used first
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](capacity int) *lru[V] {
	return &lru[V]{cap: max(1, capacity), order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the value under key and marks it used.
func (c *lru[V]) get(key string) (V, bool) {
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

// put stores val under key, marks it used, and drops the least recently used
// entry if that makes one too many.
func (c *lru[V]) put(key string, val V) {
	if e, ok := c.items[key]; ok {
		e.Value.(*lruEntry[V]).val = val
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, val: val})
	if c.order.Len() > c.cap {
		c.remove(c.order.Back())
	}
}

func (c *lru[V]) delete(key string) {
	if e, ok := c.items[key]; ok {
		c.remove(e)
	}
}

func (c *lru[V]) remove(e *list.Element) {
	c.order.Remove(e)
	delete(c.items, e.Value.(*lruEntry[V]).key)
}

// deleteIf removes every entry for which stale says so.
func (c *lru[V]) deleteIf(stale func(V) bool) {
	for e := c.order.Back(); e != nil; {
		prev := e.Prev()
		if stale(e.Value.(*lruEntry[V]).val) {
			c.remove(e)
		}
		e = prev
	}
}

func (c *lru[V]) len() int { return c.order.Len() }
