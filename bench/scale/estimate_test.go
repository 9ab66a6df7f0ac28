package scale

import "testing"

func TestJemallocAndSDS(t *testing.T) {
	for _, tt := range []struct{ n, alloc, sds int }{
		{1, 8, 8},       // sds: 3+1+1 = 5
		{12, 16, 16},    // sds: 3+12+1 = 16
		{13, 16, 32},    // sds: 17
		{40, 48, 48},    // sds: 44
		{100, 112, 112}, // sds: 104
		{300, 320, 320}, // sdshdr16: 5+300+1 = 306
		{5000, 8192, 8192},
	} {
		if got := jemalloc(tt.n); got != tt.alloc {
			t.Errorf("jemalloc(%d) = %d, want %d", tt.n, got, tt.alloc)
		}
		if got := sdsAlloc(tt.n); got != tt.sds {
			t.Errorf("sdsAlloc(%d) = %d, want %d", tt.n, got, tt.sds)
		}
	}
}

// TestRedisKeyBytes checks the formula term by term on two keys worked
// out by hand.
func TestRedisKeyBytes(t *testing.T) {
	for _, tt := range []struct {
		name           string
		keyLen, valLen int
		ttl            bool
		keys           int
		want           float64
	}{
		// entry 32 + key sds 48 + robj 16 + value sds 112 + buckets 8
		// + expires entry 32 + its buckets 8.
		{"raw value with TTL, full table", 40, 100, true, 1024, 256},
		// entry 32 + key sds 48 + embstr 16+3+20+1 → 48 + buckets 8.
		{"embedded value, no TTL", 40, 20, false, 1024, 136},
		// half-full tables: 16 bytes of buckets each.
		{"half-full table", 40, 100, true, 513, 32 + 48 + 16 + 112 + 32 + 2*8*1024.0/513},
	} {
		if got := redisKeyBytes(tt.keyLen, tt.valLen, tt.ttl, tt.keys); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
