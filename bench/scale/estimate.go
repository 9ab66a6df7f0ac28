package scale

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/authlab/authlab/internal/redisx"
)

// jemallocClasses are jemalloc's small size classes on x86-64 (16-byte
// quantum), which Redis allocates from.
var jemallocClasses = [...]int{8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512,
	640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096}

// jemalloc is the bytes jemalloc hands out for an n-byte allocation.
func jemalloc(n int) int {
	for _, c := range jemallocClasses {
		if n <= c {
			return c
		}
	}
	return (n + 4095) / 4096 * 4096
}

// sdsAlloc is the allocation of a Redis sds string of n bytes: its header
// (sdshdr8 below 256 bytes, sdshdr16 below 64 KiB, else sdshdr32), the
// bytes and the terminating NUL.
func sdsAlloc(n int) int {
	h := 3
	switch {
	case n >= 1<<16:
		h = 9
	case n >= 1<<8:
		h = 5
	}
	return jemalloc(h + n + 1)
}

// redisKeyBytes is a back-of-envelope of what one string key costs Redis
// 7 (keys in a table of keys in all): its dictEntry (key, value, next:
// 24 bytes), the key's sds, the value (a 16-byte robj; strings of up to 44
// bytes are embedded in it, longer ones get their own sds), and, with a
// TTL, an entry in the expires table; plus each table's share of its
// bucket array (8 bytes per bucket, a power of two ≥ keys).
func redisKeyBytes(keyLen, valLen int, ttl bool, keys int) float64 {
	const robj, entry = 16, 24
	b := jemalloc(entry) + sdsAlloc(keyLen)
	if valLen <= 44 {
		b += jemalloc(robj + 3 + valLen + 1)
	} else {
		b += jemalloc(robj) + sdsAlloc(valLen)
	}
	buckets := 8 * float64(nextPow2(keys)) / float64(max(keys, 1))
	total := float64(b) + buckets
	if ttl {
		total += float64(jemalloc(entry)) + buckets
	}
	return total
}

func nextPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// redisEstimate samples the Redis at url (up to 50 string keys: their
// median key and value lengths, whether they expire) and applies
// redisKeyBytes at its key count. The lengths are read, the overheads are
// Redis's and jemalloc's: an estimate, not a measurement of memory.
func redisEstimate(ctx context.Context, url string) (float64, error) {
	c, err := redisx.NewClient(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("redis estimate: %w", err)
	}
	var keyLens, valLens []int
	withTTL := 0
	iter := c.Scan(ctx, 0, "*", 200).Iterator()
	for iter.Next(ctx) && len(keyLens) < 50 {
		k := iter.Val()
		if typ, err := c.Type(ctx, k).Result(); err != nil || typ != "string" {
			continue
		}
		l, err := c.StrLen(ctx, k).Result()
		if err != nil {
			continue
		}
		keyLens, valLens = append(keyLens, len(k)), append(valLens, int(l))
		if ttl, err := c.PTTL(ctx, k).Result(); err == nil && ttl > 0 {
			withTTL++
		}
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("redis estimate: %w", err)
	}
	if len(keyLens) == 0 {
		return 0, errors.New("redis estimate: no string key to sample")
	}
	return redisKeyBytes(median(keyLens), median(valLens), withTTL*2 > len(keyLens), int(n)), nil
}

func median(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
