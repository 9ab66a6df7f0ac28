package opaque

import (
	"container/list"
	"sync"
	"time"
)

// cache is a bounded LRU whose entries each carry their own expiry.
//
// It is written here rather than taken from hashicorp/golang-lru/v2's
// expirable package because that cache has one TTL for the whole cache
// (entries here expire at min(CacheTTL, the token's remaining lifetime)),
// reads the wall clock itself (the tests inject a clock) and starts a
// cleanup goroutine per cache that has no way to be stopped. Expired
// entries here are dropped lazily when read and first when evicting.
//
// Every removal bumps a generation counter under the same lock that guards
// inserts, so a lookup that started before an invalidation cannot put a
// revoked token back (addIfGen).
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	items map[string]*list.Element
	gen   uint64
	// evicted counts entries dropped to make room for a new one.
	evicted uint64
}

type cacheEntry struct {
	key     string
	val     *result
	expires time.Time
}

func newCache(maxEntries int) *cache {
	return &cache{max: maxEntries, ll: list.New(), items: make(map[string]*list.Element)}
}

// get returns the unexpired value of key and marks it recently used.
func (c *cache) get(key string, now time.Time) (*result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e.val, true
}

// generation returns the current generation; pass it to addIfGen.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// add inserts or replaces key, valid until expires.
func (c *cache) add(key string, v *result, expires time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(key, v, expires, now)
}

// addIfGen inserts key only if nothing was removed since generation gen was
// read. It reports whether it inserted.
func (c *cache) addIfGen(gen uint64, key string, v *result, expires time.Time, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return false
	}
	c.addLocked(key, v, expires, now)
	return true
}

func (c *cache) addLocked(key string, v *result, expires time.Time, now time.Time) {
	if c.max <= 0 || !now.Before(expires) {
		return
	}
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		e.val, e.expires = v, expires
		c.ll.MoveToFront(el)
		return
	}
	for c.ll.Len() >= c.max {
		c.evictLocked(now)
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, val: v, expires: expires})
}

// evictLocked drops the least recently used entry, preferring an expired
// one among the few oldest.
func (c *cache) evictLocked(now time.Time) {
	victim := c.ll.Back()
	el := victim
	for range 8 {
		if el == nil {
			break
		}
		if !now.Before(el.Value.(*cacheEntry).expires) {
			victim = el
			break
		}
		el = el.Prev()
	}
	c.ll.Remove(victim)
	delete(c.items, victim.Value.(*cacheEntry).key)
	c.evicted++
}

// remove drops key and bumps the generation. It reports whether key was
// present.
func (c *cache) remove(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	el, ok := c.items[key]
	if ok {
		c.ll.Remove(el)
		delete(c.items, key)
	}
	return ok
}

// purge drops every entry, bumps the generation and returns how many
// entries it dropped.
func (c *cache) purge() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	n := c.ll.Len()
	c.ll.Init()
	clear(c.items)
	return n
}

// evictions returns how many entries were dropped to make room (the cache
// was full), expired ones included; removals and purges are not counted.
func (c *cache) evictions() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
