package loginlimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/strategies"
)

// DefaultKeyPrefix prefixes the Redis keys of Redis.
const DefaultKeyPrefix = "authlab:login:"

// MinFingerprintKeyLen is the shortest fingerprint key NewRedis accepts.
const MinFingerprintKeyLen = 32

// attemptScript counts an attempt and sets the lock in one atomic step.
//
// KEYS[1] the count, KEYS[2] the lock (its value: locked-until, Unix ms).
// ARGV: now (Unix ms), window (ms), max failures, base (ms), max (ms).
// Returns 0 when the attempt may proceed, else the milliseconds left.
//
// The lock is compared with the caller's clock (so tests can drive it) and
// also expires by itself in Redis.
var attemptScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local locked = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if locked > now then
  return locked - now
end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local maxf = tonumber(ARGV[3])
if n >= maxf then
  local d = tonumber(ARGV[5])
  local k = n - maxf
  if k < 48 then
    d = math.min(tonumber(ARGV[4]) * (2 ^ k), d)
  end
  redis.call('SET', KEYS[2], string.format('%.0f', now + d), 'PX', string.format('%.0f', d))
end
return 0
`)

// Redis counts attempts in Redis, shared by every instance using it. Keys
// are <prefix>{<HMAC-SHA256 of the lower-cased name>}:n and :lock (one hash
// slot, so it works on Redis Cluster too).
type Redis struct {
	cfg    Config
	client redis.UniversalClient
	fp     strategies.Fingerprinter
	prefix string
}

// NewRedis returns a limiter sharing its counts through client.
// fingerprintKey keys the HMAC of account names (every instance must use
// the same key).
func NewRedis(client redis.UniversalClient, fingerprintKey []byte, cfg Config) (*Redis, error) {
	if client == nil {
		return nil, errors.New("loginlimit: nil Redis client")
	}
	if len(fingerprintKey) < MinFingerprintKeyLen {
		return nil, fmt.Errorf("loginlimit: fingerprint key is %d bytes, want at least %d", len(fingerprintKey), MinFingerprintKeyLen)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Redis{cfg: cfg.withDefaults(), client: client, fp: strategies.NewFingerprinter(fingerprintKey), prefix: DefaultKeyPrefix}, nil
}

func (r *Redis) keys(user string) []string {
	base := r.prefix + "{" + r.fp.Sum(strings.ToLower(user)) + "}"
	return []string{base + ":n", base + ":lock"}
}

// Attempt implements the gateway's LoginLimiter: one round trip (EVALSHA).
// An error means Redis could not answer; the caller decides (the gateway
// lets the attempt proceed).
func (r *Redis) Attempt(ctx context.Context, user string) (time.Duration, error) {
	c := r.cfg
	ms, err := attemptScript.Run(ctx, r.client, r.keys(user),
		c.Now().UnixMilli(), c.Window.Milliseconds(), c.MaxFailures, c.Base.Milliseconds(), c.Max.Milliseconds(),
	).Int64()
	if err != nil {
		return 0, fmt.Errorf("loginlimit: count attempt: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Reset implements the gateway's LoginLimiter: it deletes user's count and
// lock.
func (r *Redis) Reset(ctx context.Context, user string) error {
	if err := r.client.Del(ctx, r.keys(user)...).Err(); err != nil {
		return fmt.Errorf("loginlimit: reset: %w", err)
	}
	return nil
}
