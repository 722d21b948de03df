package limit

import "sync"

// counts counts what each key holds, at most max each. It is safe for
// concurrent use; a key holding nothing takes no memory.
type counts struct {
	max int

	mu sync.Mutex
	m  map[string]int
}

func newCounts(max int) *counts { return &counts{max: max, m: map[string]int{}} }

// take counts one more for key, unless it holds max already.
func (c *counts) take(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key] >= c.max {
		return false
	}
	c.m[key]++
	return true
}

// release uncounts one that key took.
func (c *counts) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key]--; c.m[key] <= 0 {
		delete(c.m, key)
	}
}
