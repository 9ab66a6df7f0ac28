package opaque

import (
	"fmt"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	v := func() *result { return &result{valid: true, p: alice} }
	tests := []struct {
		name string
		run  func(t *testing.T, c *cache)
	}{
		{"expires exactly at its expiry", func(t *testing.T, c *cache) {
			c.add("k", v(), t0.Add(time.Second), t0)
			if _, ok := c.get("k", t0.Add(time.Second-1)); !ok {
				t.Fatal("missing before expiry")
			}
			if _, ok := c.get("k", t0.Add(time.Second)); ok {
				t.Fatal("present at expiry")
			}
			if c.len() != 0 {
				t.Fatal("expired entry not dropped on read")
			}
		}},
		{"already expired is not added", func(t *testing.T, c *cache) {
			c.add("k", v(), t0, t0)
			if c.len() != 0 {
				t.Fatal("added an entry expiring now")
			}
		}},
		{"bounded, least recently used goes first", func(t *testing.T, c *cache) {
			for i := range 3 {
				c.add(fmt.Sprint(i), v(), t0.Add(time.Hour), t0)
			}
			c.get("0", t0) // 1 is now the least recently used
			c.add("3", v(), t0.Add(time.Hour), t0)
			if c.len() != 3 {
				t.Fatalf("len %d, want 3", c.len())
			}
			if c.evictions() != 1 {
				t.Fatalf("evictions %d, want 1", c.evictions())
			}
			if _, ok := c.get("1", t0); ok {
				t.Fatal("LRU entry 1 survived")
			}
			for _, k := range []string{"0", "2", "3"} {
				if _, ok := c.get(k, t0); !ok {
					t.Fatalf("entry %s evicted", k)
				}
			}
		}},
		{"expired entry evicted before a live one", func(t *testing.T, c *cache) {
			c.add("old-live", v(), t0.Add(time.Hour), t0)
			c.add("expiring", v(), t0.Add(time.Second), t0)
			c.add("new", v(), t0.Add(time.Hour), t0)
			c.add("newest", v(), t0.Add(time.Hour), t0.Add(2*time.Second))
			if _, ok := c.get("old-live", t0.Add(2*time.Second)); !ok {
				t.Fatal("live LRU entry evicted while an expired one was there")
			}
		}},
		{"replace keeps one entry", func(t *testing.T, c *cache) {
			c.add("k", v(), t0.Add(time.Second), t0)
			c.add("k", &result{}, t0.Add(time.Hour), t0)
			r, ok := c.get("k", t0.Add(time.Minute))
			if !ok || r.valid || c.len() != 1 {
				t.Fatalf("get = %+v, %v; len %d", r, ok, c.len())
			}
		}},
		{"addIfGen refuses after a removal", func(t *testing.T, c *cache) {
			g := c.generation()
			c.remove("unrelated")
			if c.addIfGen(g, "k", v(), t0.Add(time.Hour), t0) {
				t.Fatal("added after the generation moved")
			}
			if !c.addIfGen(c.generation(), "k", v(), t0.Add(time.Hour), t0) {
				t.Fatal("refused with the current generation")
			}
		}},
		{"remove and purge", func(t *testing.T, c *cache) {
			c.add("a", v(), t0.Add(time.Hour), t0)
			c.add("b", v(), t0.Add(time.Hour), t0)
			if !c.remove("a") || c.remove("a") {
				t.Fatal("remove did not report presence")
			}
			if n := c.purge(); n != 1 || c.len() != 0 {
				t.Fatalf("purge dropped %d, len %d", n, c.len())
			}
			if c.evictions() != 0 {
				t.Fatalf("evictions %d after remove and purge, want 0", c.evictions())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newCache(3)) })
	}
}
