// Package opaque is the "opaque" strategy: a random 256-bit bearer token
// whose principal lives in Redis, with a bounded per-instance cache.
//
// A token is "alo_" (TokenPrefix, so leaked tokens are greppable) followed
// by 32 crypto/rand bytes in unpadded base64url: TokenLen = 47 characters.
// Authenticate checks length, prefix and alphabet before any cache or
// Redis lookup.
//
// Redis holds, under <KeyPrefix>tok:<HMAC-SHA256 fingerprint of the token>,
// a JSON record {"user","roles","exp"} that expires with the token; the raw
// token is never stored nor logged (logs show a 12-character fingerprint).
//
// Each instance caches positive lookups (and, with NegativeCacheTTL > 0,
// "unknown token" answers) for min(CacheTTL, the token's remaining
// lifetime). Concurrent misses for one token share a single Redis GET
// (singleflight). Logout deletes the key and drops the local cache entry;
// other instances keep accepting the token until their own entry expires,
// unless PubSub is on: then Logout also publishes the fingerprint on
// <KeyPrefix>revoked and every instance's subscriber drops its entry.
// When the subscriber reconnects after losing Redis it purges the whole
// cache, since invalidations published meanwhile were lost.
//
// With Redis down, cached tokens keep working until their entry expires;
// any other lookup fails fast with an error wrapping
// strategies.ErrUnavailable.
package opaque

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// Name is the strategy's name in the catalogue.
const Name = "opaque"

// Defaults applied by New to zero Config fields.
const (
	DefaultTokenTTL  = time.Hour
	DefaultCacheTTL  = 30 * time.Second
	DefaultCacheSize = 100_000
	DefaultKeyPrefix = "authlab:opaque:"
	// MinFingerprintKeyLen is the shortest FingerprintKey Validate accepts.
	MinFingerprintKeyLen = 32
)

const (
	// lookupTimeout bounds a shared (singleflight) Redis lookup, which runs
	// detached from any one caller's cancellation. The client's own
	// timeouts (250 ms in redisx) normally end it much sooner.
	lookupTimeout = 2 * time.Second
	// subscribeTimeout bounds the wait for the initial SUBSCRIBE reply.
	subscribeTimeout = 2 * time.Second
)

// Config configures the opaque strategy. Zero durations and sizes take the
// defaults above.
type Config struct {
	// Client is the Redis holding the tokens (required). It is not closed
	// by Close.
	Client redis.UniversalClient
	// FingerprintKey keys the HMAC that turns tokens into Redis keys
	// (required, at least MinFingerprintKeyLen bytes; every instance must
	// share it).
	FingerprintKey []byte
	// TokenTTL is a token's lifetime (default 1h).
	TokenTTL time.Duration
	// CacheTTL caps how long an instance trusts a cached lookup (default
	// 30s); an entry never outlives its token. It is the revocation lag of
	// other instances when PubSub is off.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached tokens (default 100000).
	CacheSize int
	// NegativeCacheTTL, when > 0, caches "unknown token" answers that long
	// (capped by CacheTTL). Off by default.
	NegativeCacheTTL time.Duration
	// PubSub turns on invalidation over Redis pub/sub: Logout on one
	// instance evicts the token from every instance's cache at once.
	PubSub bool
	// KeyPrefix prefixes every Redis key and the pub/sub channel (default
	// "authlab:opaque:").
	KeyPrefix string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives warnings and invalidation events (default
	// slog.Default()).
	Logger *slog.Logger
}

// Validate reports whether c is usable. Zero values that New replaces with
// defaults are accepted.
func (c Config) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("Client is nil"))
	}
	if len(c.FingerprintKey) < MinFingerprintKeyLen {
		errs = append(errs, fmt.Errorf("FingerprintKey is %d bytes, want at least %d", len(c.FingerprintKey), MinFingerprintKeyLen))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TokenTTL", c.TokenTTL}, {"CacheTTL", c.CacheTTL}, {"NegativeCacheTTL", c.NegativeCacheTTL}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%v)", d.name, d.v))
		}
	}
	if c.TokenTTL > 0 && c.TokenTTL < time.Millisecond {
		errs = append(errs, fmt.Errorf("TokenTTL %v is below Redis's 1ms resolution", c.TokenTTL))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("CacheSize is negative (%d)", c.CacheSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("opaque: invalid config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.NegativeCacheTTL > c.CacheTTL {
		c.NegativeCacheTTL = c.CacheTTL
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// CacheStats are counters of one instance's cache.
type CacheStats struct {
	// Hits are Authenticate calls answered from the cache (positive or
	// negative entries).
	Hits uint64 `json:"hits"`
	// Misses are Authenticate calls of well-formed tokens that were not in
	// the cache (each joined or started a Redis lookup).
	Misses uint64 `json:"misses"`
	// Lookups are Redis GETs actually issued (Misses minus those shared by
	// singleflight or answered by a concurrent lookup).
	Lookups uint64 `json:"lookups"`
	// Entries is the current number of cached entries.
	Entries int `json:"entries"`
	// Evictions counts entries dropped because the cache was full.
	Evictions uint64 `json:"evictions"`
	// Invalidations counts cache entries dropped by Logout or by a pub/sub
	// invalidation message.
	Invalidations uint64 `json:"invalidations"`
	// Resubscribes counts pub/sub reconnections (each purged the cache).
	Resubscribes uint64 `json:"resubscribes"`
}

// result is a cached or looked-up answer: a principal, or "unknown" when
// valid is false.
type result struct {
	p     identity.Principal
	valid bool
}

// record is the Redis value of a token.
type record struct {
	User  string   `json:"user"`
	Roles []string `json:"roles"`
	// Exp is the token's expiry in Unix milliseconds.
	Exp int64 `json:"exp"`
}

// Strategy is the opaque-token strategy. It is safe for concurrent use.
type Strategy struct {
	cfg     Config
	client  redis.UniversalClient
	fp      strategies.Fingerprinter
	cache   *cache
	group   singleflight.Group
	channel string
	log     *slog.Logger

	hits, misses, lookups, invalidations, resubscribes atomic.Uint64

	pubsub    *redis.PubSub
	closeOnce sync.Once
	done      chan struct{} // closed when the subscriber goroutine ends

	// testHookMiss, when set (tests only), runs after a cache miss, before
	// the singleflight lookup.
	testHookMiss func()
}

var (
	_ strategies.Strategy = (*Strategy)(nil)
	_ strategies.Checker  = (*Strategy)(nil)
	_ strategies.Closer   = (*Strategy)(nil)
)

// New returns a Strategy for cfg. With cfg.PubSub it subscribes to the
// invalidation channel and waits (bounded by ctx and 2 s) for Redis to
// confirm the subscription; if Redis cannot be reached it fails with an
// error wrapping strategies.ErrUnavailable. Call Close to stop the
// subscriber.
func New(ctx context.Context, cfg Config) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Strategy{
		cfg:     cfg,
		client:  cfg.Client,
		fp:      strategies.NewFingerprinter(cfg.FingerprintKey),
		cache:   newCache(cfg.CacheSize),
		channel: cfg.KeyPrefix + "revoked",
		log:     cfg.Logger.With("strategy", Name),
		done:    make(chan struct{}),
	}
	if !cfg.PubSub {
		close(s.done)
		return s, nil
	}
	ps := s.client.Subscribe(ctx, s.channel)
	msg, err := ps.ReceiveTimeout(ctx, subscribeTimeout)
	if err == nil {
		if _, ok := msg.(*redis.Subscription); !ok {
			err = fmt.Errorf("unexpected first message %T", msg)
		}
	}
	if err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("opaque: subscribe to %s: %w: %w", s.channel, strategies.ErrUnavailable, err)
	}
	s.pubsub = ps
	go s.subscriber(ps.ChannelWithSubscriptions(redis.WithChannelSize(1024)))
	return s, nil
}

// subscriber applies invalidation messages until the PubSub is closed.
func (s *Strategy) subscriber(msgs <-chan any) {
	defer close(s.done)
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Subscription:
			// go-redis resubscribed after losing its connection: messages
			// published meanwhile are lost, so trust nothing cached.
			if m.Kind == "subscribe" {
				n := s.cache.purge()
				s.resubscribes.Add(1)
				s.log.Info("opaque: invalidation channel resubscribed; cache purged", "channel", m.Channel, "dropped", n)
			}
		case *redis.Message:
			if !isFingerprint(m.Payload) {
				s.log.Warn("opaque: ignoring malformed invalidation message", "channel", m.Channel, "len", len(m.Payload))
				continue
			}
			s.invalidate(m.Payload)
			s.log.Debug("opaque: token invalidated by pub/sub", "fp", m.Payload[:12])
		}
	}
}

// Close stops the pub/sub subscriber (if any) and waits for it. It does not
// close the Redis client. Close is idempotent.
func (s *Strategy) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.pubsub != nil {
			err = s.pubsub.Close()
		}
		<-s.done
	})
	if err != nil {
		return fmt.Errorf("opaque: close subscriber: %w", err)
	}
	return nil
}

// Name implements strategies.Strategy.
func (*Strategy) Name() string { return Name }

// Capabilities implements strategies.Strategy. Revocation is immediate on
// every instance only with PubSub; without it other instances lag by up to
// CacheTTL.
func (s *Strategy) Capabilities() strategies.Capabilities {
	return strategies.Capabilities{
		Transport:          strategies.TransportBearer,
		Authenticates:      true,
		RevokesImmediately: s.cfg.PubSub,
		SharedState:        true,
		UsesRedis:          true,
	}
}

// Check implements strategies.Checker: it PINGs Redis.
func (s *Strategy) Check(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("opaque: ping redis: %w: %w", strategies.ErrUnavailable, err)
	}
	return nil
}

// CacheStats returns this instance's cache counters.
func (s *Strategy) CacheStats() CacheStats {
	return CacheStats{
		Hits:          s.hits.Load(),
		Misses:        s.misses.Load(),
		Lookups:       s.lookups.Load(),
		Entries:       s.cache.len(),
		Evictions:     s.cache.evictions(),
		Invalidations: s.invalidations.Load(),
		Resubscribes:  s.resubscribes.Load(),
	}
}

// HitsMisses returns the cache hit and miss counters (shown by the
// gateway's /_admin/stats).
func (s *Strategy) HitsMisses() (hits, misses uint64) { return s.hits.Load(), s.misses.Load() }

// CacheEvictions returns how many cache entries were dropped because the
// cache was full (the gateway's metrics read it).
func (s *Strategy) CacheEvictions() uint64 { return s.cache.evictions() }

func (s *Strategy) key(fp string) string { return s.cfg.KeyPrefix + "tok:" + fp }

// Login implements strategies.Strategy: it stores a fresh token's record
// in Redis with the token's TTL and caches it locally.
func (s *Strategy) Login(ctx context.Context, p identity.Principal) (strategies.Credential, error) {
	if p.User == "" {
		return strategies.Credential{}, errors.New("opaque: login: empty user")
	}
	tok, err := newToken()
	if err != nil {
		return strategies.Credential{}, err
	}
	now := s.cfg.Now()
	exp := time.UnixMilli(now.Add(s.cfg.TokenTTL).UnixMilli())
	rec := record{User: p.User, Roles: slices.Clone(p.Roles), Exp: exp.UnixMilli()}
	if rec.Roles == nil {
		rec.Roles = []string{}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return strategies.Credential{}, fmt.Errorf("opaque: encode record: %w", err)
	}
	fp := s.fp.Sum(tok)
	if err := s.client.Set(ctx, s.key(fp), b, s.cfg.TokenTTL).Err(); err != nil {
		return strategies.Credential{}, fmt.Errorf("opaque: store token %s: %w: %w", fp[:12], strategies.ErrUnavailable, err)
	}
	s.cache.add(fp, &result{p: identity.Principal{User: rec.User, Roles: rec.Roles}, valid: true}, s.entryExpiry(now, exp), now)
	return strategies.Credential{Token: tok, ExpiresAt: exp}, nil
}

// entryExpiry is when a positive cache entry for a token expiring at exp,
// cached at now, expires.
func (s *Strategy) entryExpiry(now, exp time.Time) time.Time {
	if e := now.Add(s.cfg.CacheTTL); e.Before(exp) {
		return e
	}
	return exp
}

// Authenticate implements strategies.Strategy. The token's shape is checked
// before any cache or Redis lookup.
func (s *Strategy) Authenticate(ctx context.Context, raw string) (identity.Principal, error) {
	if err := checkShape(raw); err != nil {
		return identity.Principal{}, err
	}
	fp := s.fp.Sum(raw)
	if r, ok := s.cache.get(fp, s.cfg.Now()); ok {
		s.hits.Add(1)
		return answer(r, fp)
	}
	s.misses.Add(1)
	if s.testHookMiss != nil {
		s.testHookMiss()
	}
	ch := s.group.DoChan(fp, func() (any, error) { return s.lookup(ctx, fp) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return identity.Principal{}, res.Err
		}
		return answer(res.Val.(*result), fp)
	case <-ctx.Done():
		return identity.Principal{}, fmt.Errorf("opaque: authenticate: %w", ctx.Err())
	}
}

// answer turns a result into Authenticate's return values; the roles are
// copied so callers cannot alter the cache.
func answer(r *result, fp string) (identity.Principal, error) {
	if !r.valid {
		return identity.Principal{}, fmt.Errorf("opaque: token %s unknown, expired or revoked: %w", fp[:12], strategies.ErrInvalidCredential)
	}
	return r.p.Clone(), nil
}

// lookup reads fp's record from Redis (once per singleflight group) and
// caches the answer unless fp was invalidated meanwhile.
func (s *Strategy) lookup(ctx context.Context, fp string) (*result, error) {
	now := s.cfg.Now()
	// A lookup that finished just before this one started has cached the
	// answer: do not ask Redis again.
	if r, ok := s.cache.get(fp, now); ok {
		return r, nil
	}
	gen := s.cache.generation()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	s.lookups.Add(1)
	b, err := s.client.Get(lctx, s.key(fp)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		r := &result{}
		if s.cfg.NegativeCacheTTL > 0 {
			s.cache.addIfGen(gen, fp, r, now.Add(s.cfg.NegativeCacheTTL), now)
		}
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("opaque: look up token %s: %w: %w", fp[:12], strategies.ErrUnavailable, err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil || rec.User == "" {
		s.log.Warn("opaque: corrupt token record in redis; rejecting", "fp", fp[:12], "err", err)
		return &result{}, nil
	}
	exp := time.UnixMilli(rec.Exp)
	if !now.Before(exp) {
		return &result{}, nil
	}
	r := &result{p: identity.Principal{User: rec.User, Roles: rec.Roles}, valid: true}
	s.cache.addIfGen(gen, fp, r, s.entryExpiry(now, exp), now)
	return r, nil
}

// Logout implements strategies.Strategy: it deletes the token's record,
// drops it from this instance's cache and, with PubSub, publishes its
// fingerprint so every instance drops it. A malformed or unknown token is
// not an error; an unreachable Redis is (wrapping ErrUnavailable), and then
// other instances may keep accepting the token.
func (s *Strategy) Logout(ctx context.Context, raw string) error {
	if checkShape(raw) != nil {
		return nil
	}
	fp := s.fp.Sum(raw)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.key(fp))
		if s.cfg.PubSub {
			p.Publish(ctx, s.channel, fp)
		}
		return nil
	})
	// After the DEL: a lookup that read the record before it cannot cache
	// it any more (generation bump), and new callers start a fresh lookup.
	s.invalidate(fp)
	if err != nil {
		return fmt.Errorf("opaque: logout token %s: %w: %w", fp[:12], strategies.ErrUnavailable, err)
	}
	return nil
}

// invalidate drops fp from the cache and from the singleflight group.
func (s *Strategy) invalidate(fp string) {
	if s.cache.remove(fp) {
		s.invalidations.Add(1)
	}
	s.group.Forget(fp)
}
