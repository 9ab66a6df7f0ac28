// Package registry is the one place that imports every strategy
// implementation and builds one by name.
package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/jwtauth"
	"github.com/authlab/authlab/strategies/none"
	"github.com/authlab/authlab/strategies/opaque"
	"github.com/authlab/authlab/strategies/redissession"
	"github.com/authlab/authlab/strategies/sticky"
)

// Strategy names.
const (
	None         = "none"
	Sticky       = "sticky"
	RedisSession = "redis-session"
	JWT          = "jwt"
	Opaque       = "opaque"
)

// Names lists every strategy, control group first.
func Names() []string { return []string{None, Sticky, RedisSession, JWT, Opaque} }

// Known reports whether name is a strategy.
func Known(name string) bool { return slices.Contains(Names(), name) }

// NeedsRedis reports whether strategy name (as configured by o) talks to Redis.
func NeedsRedis(name string) bool {
	switch name {
	case RedisSession, JWT, Opaque:
		return true
	}
	return false
}

// Options configures every strategy; New picks the part it needs. Redis and
// FingerprintKey are filled into the per-strategy configs by New.
type Options struct {
	// Redis is the shared client (nil for strategies that don't need it).
	Redis redis.UniversalClient
	// FingerprintKey keys the HMAC that turns tokens into store keys.
	FingerprintKey []byte
	// SessionTTL is the absolute lifetime of sticky and redis-session
	// sessions (0: each strategy's default, 12h).
	SessionTTL time.Duration
	// SessionIdleTTL, when positive, also ends a sticky or redis-session
	// session unused for that long (sliding; at most SessionTTL, whole
	// seconds for redis-session). 0: no idle timeout.
	SessionIdleTTL time.Duration
	// SecureCookies names the sticky and redis-session cookies with the
	// __Host- prefix and marks them Secure (served over TLS). Pass the same
	// value as the gateway's SecureCookies.
	SecureCookies bool

	Sticky       sticky.Config
	RedisSession redissession.Config
	JWT          jwtauth.Config
	Opaque       opaque.Config
}

// New builds strategy name.
func New(ctx context.Context, name string, o Options) (strategies.Strategy, error) {
	switch name {
	case None:
		return none.New(), nil
	case Sticky:
		c := o.Sticky
		c.FingerprintKey = o.FingerprintKey
		if o.SessionTTL > 0 {
			c.TTL = o.SessionTTL
		}
		if o.SessionIdleTTL > 0 {
			c.IdleTTL = o.SessionIdleTTL
		}
		c.Secure = c.Secure || o.SecureCookies
		return sticky.New(c)
	case RedisSession:
		c := o.RedisSession
		c.Client = o.Redis
		c.FingerprintKey = o.FingerprintKey
		if o.SessionTTL > 0 {
			c.TTL = o.SessionTTL
		}
		if o.SessionIdleTTL > 0 {
			c.IdleTTL = o.SessionIdleTTL
		}
		c.Secure = c.Secure || o.SecureCookies
		return redissession.New(ctx, c)
	case JWT:
		c := o.JWT
		c.Client = o.Redis
		c.FingerprintKey = o.FingerprintKey
		s, err := jwtauth.New(c)
		if err != nil {
			return nil, err
		}
		// The view exposes Refresher/Checker only when a Redis client is set.
		return s.AsStrategy(), nil
	case Opaque:
		c := o.Opaque
		c.Client = o.Redis
		c.FingerprintKey = o.FingerprintKey
		return opaque.New(ctx, c)
	default:
		return nil, fmt.Errorf("unknown strategy %q (known: %s)", name, strings.Join(Names(), ", "))
	}
}
