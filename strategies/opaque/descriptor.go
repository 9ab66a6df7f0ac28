package opaque

import (
	"context"
	"flag"

	"github.com/authlab/authlab/strategies"
)

// Descriptor describes the opaque strategy for the catalogue, with its
// --opaque-* flags.
func Descriptor() strategies.Descriptor {
	return strategies.Descriptor{
		Name:       Name,
		Summary:    "random bearer token; its meaning lives in Redis, cached by each gateway",
		StateLives: "hands out a random token whose meaning lives in Redis (cached by each gateway).",
		AfterCrash: "%s is gone; %s looked the token up in Redis (its own cache was cold): the user carries on.",
		Needs:      strategies.Needs{Redis: true},
		Traits:     strategies.Traits{Transport: strategies.TransportBearer, RevokeFlag: "opaque-pubsub", SharedState: true},
		Register: func(fs *flag.FlagSet) strategies.Builder {
			tokenTTL := fs.Duration("opaque-ttl", DefaultTokenTTL, "token lifetime")
			cacheTTL := fs.Duration("opaque-cache-ttl", DefaultCacheTTL, "per-instance cache entry lifetime (bounds revocation lag without pub/sub)")
			cacheSize := fs.Int("opaque-cache-size", DefaultCacheSize, "per-instance cache entries")
			negTTL := fs.Duration("opaque-negative-ttl", 0, "cache unknown tokens this long (0 = no negative caching)")
			pubSub := fs.Bool("opaque-pubsub", false, "invalidate every instance's cache over Redis pub/sub at logout")
			return strategies.BuildFunc(func(ctx context.Context, d strategies.Deps) (strategies.Strategy, error) {
				s, err := New(ctx, Config{
					Client:           d.Redis,
					FingerprintKey:   d.FingerprintKey,
					TokenTTL:         *tokenTTL,
					CacheTTL:         *cacheTTL,
					CacheSize:        *cacheSize,
					NegativeCacheTTL: *negTTL,
					PubSub:           *pubSub,
					Now:              d.Now,
					Logger:           d.Log(),
				})
				if err != nil {
					return nil, err // not a typed nil in the interface
				}
				return s, nil
			})
		},
	}
}
