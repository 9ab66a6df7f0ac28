// Package redissession is the "redis-session" strategy: a session-id cookie
// whose session lives in Redis, through gorilla/sessions and
// github.com/rbcervilla/redisstore/v9 with a JSON serializer. Any gateway
// instance sharing the Redis authenticates any session; logout deletes the
// key, so revocation is immediate everywhere; with Redis down requests fail
// with strategies.ErrUnavailable (503) and recover by themselves.
//
// Session ids are 256-bit random values, unpadded base64url in the cookie.
// The strategy hands redisstore the HMAC fingerprint of the id as the
// session's ID, so the Redis key is KeyPrefix + fingerprint and the raw id is
// never stored in Redis. The cookie value's shape is checked before any
// Redis call.
//
// Sessions expire after TTL, their absolute lifetime, and, with IdleTTL,
// after IdleTTL without use. Logins and logouts go through gorilla/sessions
// and redisstore (SET with a TTL, DEL). Authenticate costs one Redis
// command and bypasses redisstore: GET, or with an idle timeout GETEX
// EX IdleTTL, which reads the session and slides the key's TTL in the same
// round trip. The key's TTL is then only the idle timeout, so the absolute
// expiry is stored in the session value and checked in code (a key read
// just before its absolute end may outlive it in Redis by less than
// IdleTTL, refused all the same, and deleted when next presented).
package redissession

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// Name is the strategy's name in the catalogue.
const Name = "redis-session"

// Defaults applied by New to zero Config fields.
const (
	DefaultTTL       = 12 * time.Hour
	DefaultKeyPrefix = "authlab:session:"
)

// MinFingerprintKeyLen is the minimum length of a configured FingerprintKey.
const MinFingerprintKeyLen = 32

// maxKeyPrefixLen bounds KeyPrefix (a typo guard, not a Redis limit).
const maxKeyPrefixLen = 128

// Config configures the redis-session strategy. Zero fields other than
// Client take defaults.
type Config struct {
	// Client is the Redis client, shared with the caller (New does not take
	// ownership; closing it is the caller's business).
	Client redis.UniversalClient
	// CookieName is the session cookie's name (default "authlab_session").
	CookieName string
	// TTL is the session's absolute lifetime, a whole number of seconds
	// (default 12h), enforced however often the session is used.
	TTL time.Duration
	// IdleTTL, when positive, also ends a session unused for that long (a
	// whole number of seconds, at most TTL): the Redis key's TTL, slid by
	// every Authenticate. Zero: no idle timeout.
	IdleTTL time.Duration
	// Secure names the session cookie with the __Host- prefix (and marks it
	// Secure, Path=/, no Domain): set it when served over TLS.
	Secure bool
	// Now is the clock that stamps and checks absolute expiry (default
	// time.Now). The idle timeout runs on Redis's clock.
	Now func() time.Time
	// KeyPrefix prefixes every Redis key (default "authlab:session:").
	KeyPrefix string
	// FingerprintKey keys the HMAC-SHA256 that turns a session id into its
	// Redis key (at least 32 bytes). All instances sharing the Redis must
	// use the same key. Empty: HMAC under an empty key, which is still a
	// one-way function of the 256-bit random id (a Redis dump yields no
	// usable cookie) but not keyed by a server secret; pass the server key.
	FingerprintKey []byte
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Client == nil:
		return errors.New("redis-session: Client is nil")
	case c.TTL < 0:
		return fmt.Errorf("redis-session: TTL %v is negative", c.TTL)
	case c.TTL > 0 && (c.TTL < time.Second || c.TTL%time.Second != 0):
		return fmt.Errorf("redis-session: TTL %v is not a whole number of seconds (Redis and cookie Max-Age granularity)", c.TTL)
	case c.IdleTTL < 0:
		return fmt.Errorf("redis-session: IdleTTL %v is negative", c.IdleTTL)
	case c.IdleTTL > 0 && (c.IdleTTL < time.Second || c.IdleTTL%time.Second != 0):
		return fmt.Errorf("redis-session: IdleTTL %v is not a whole number of seconds", c.IdleTTL)
	case c.IdleTTL > c.ttl():
		return fmt.Errorf("redis-session: IdleTTL %v exceeds TTL %v", c.IdleTTL, c.ttl())
	case len(c.KeyPrefix) > maxKeyPrefixLen:
		return fmt.Errorf("redis-session: KeyPrefix is %d bytes, at most %d", len(c.KeyPrefix), maxKeyPrefixLen)
	case len(c.FingerprintKey) > 0 && len(c.FingerprintKey) < MinFingerprintKeyLen:
		return fmt.Errorf("redis-session: FingerprintKey is %d bytes, need at least %d", len(c.FingerprintKey), MinFingerprintKeyLen)
	}
	if c.CookieName != "" {
		if err := sessionutil.ValidateCookieName(c.CookieName); err != nil {
			return fmt.Errorf("redis-session: %w", err)
		}
	}
	return nil
}

func (c Config) ttl() time.Duration {
	if c.TTL == 0 {
		return DefaultTTL
	}
	return c.TTL
}

// Strategy is the redis-session strategy. It is safe for concurrent use.
type Strategy struct {
	client redis.UniversalClient
	store  *redisstore.RedisStore
	fp     strategies.Fingerprinter
	cookie string
	prefix string
	ttl    time.Duration
	idle   time.Duration
	now    func() time.Time
}

// errNoKeyGen guards against redisstore ever generating a session id itself
// (it would become a raw-id Redis key): the strategy always sets the ID.
var errNoKeyGen = errors.New("redis-session: session ids are assigned by the strategy")

// New validates cfg, pings Redis (through redisstore.NewRedisStore) and
// returns the strategy. When Redis cannot be reached the error wraps
// strategies.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CookieName == "" {
		cfg.CookieName = sessionutil.DefaultCookieName
	}
	cfg.TTL = cfg.ttl()
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultKeyPrefix
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	keyTTL := cfg.TTL // the Redis key's TTL at login: the idle timeout if any
	if cfg.IdleTTL > 0 {
		keyTTL = cfg.IdleTTL
	}
	store, err := redisstore.NewRedisStore(ctx, cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("redis-session: %w: %w", strategies.ErrUnavailable, err)
	}
	store.KeyPrefix(cfg.KeyPrefix)
	store.Serializer(JSONSerializer{})
	store.KeyGen(func() (string, error) { return "", errNoKeyGen })
	// redisstore's Save sets the key's TTL from MaxAge. The cookie it writes
	// (named with the __Host- prefix and Secure when cfg.Secure) is never
	// sent: it carries the fingerprint, the client gets the raw id through
	// the gateway's Transport.
	store.Options(sessionutil.StoreOptions(int(keyTTL/time.Second), cfg.Secure))
	return &Strategy{
		client: cfg.Client,
		store:  store,
		fp:     strategies.NewFingerprinter(cfg.FingerprintKey),
		cookie: strategies.SessionCookieName(cfg.CookieName, cfg.Secure),
		prefix: cfg.KeyPrefix,
		ttl:    cfg.TTL,
		idle:   cfg.IdleTTL,
		now:    cfg.Now,
	}, nil
}

// Name implements strategies.Strategy.
func (*Strategy) Name() string { return Name }

// Capabilities implements strategies.Strategy.
func (s *Strategy) Capabilities() strategies.Capabilities {
	return strategies.Capabilities{
		Transport:          strategies.TransportCookie,
		CookieName:         s.cookie,
		Authenticates:      true,
		RevokesImmediately: true,
		SharedState:        true,
		UsesRedis:          true,
	}
}

// Check implements strategies.Checker: a Redis PING.
func (s *Strategy) Check(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func unavailable(err error) error {
	return fmt.Errorf("redis-session: %w: %w", strategies.ErrUnavailable, err)
}

// Login implements strategies.Strategy: a new random id every time (no
// fixation), stored under its fingerprint with its absolute expiry, the
// key's TTL being IdleTTL or else TTL.
func (s *Strategy) Login(ctx context.Context, p identity.Principal) (strategies.Credential, error) {
	if p.User == "" {
		return strategies.Credential{}, errors.New("redis-session: login: empty user")
	}
	raw, err := sessionutil.NewID()
	if err != nil {
		return strategies.Credential{}, fmt.Errorf("redis-session: %w", err)
	}
	r := sessionutil.Request(ctx, s.cookie, "")
	session, err := s.store.New(r, s.cookie) // no cookie: no Redis call
	if err != nil {
		return strategies.Credential{}, unavailable(err)
	}
	session.ID = s.fp.Sum(raw)
	sessionutil.SetPrincipal(session.Values, p)
	expires := s.now().Add(s.ttl)
	session.Values[sessionutil.KeyExpires] = expires.UnixMilli()
	var w sessionutil.ResponseWriter
	if err := s.store.Save(r, &w, session); err != nil {
		if errors.Is(err, sessionutil.ErrCorruptSession) {
			return strategies.Credential{}, err
		}
		return strategies.Credential{}, unavailable(err)
	}
	return strategies.Credential{Token: raw, ExpiresAt: expires}, nil
}

// Authenticate implements strategies.Strategy with one Redis command: GET,
// or GETEX sliding the idle timeout. Malformed values are rejected before
// any Redis call; an unknown, idle-expired or absolutely expired session is
// ErrInvalidCredential (an absolutely expired one is also deleted, one more
// command, once); a Redis failure wraps ErrUnavailable.
func (s *Strategy) Authenticate(ctx context.Context, raw string) (identity.Principal, error) {
	if raw == "" {
		return identity.Principal{}, strategies.ErrNoCredential
	}
	if !sessionutil.ValidID(raw) {
		return identity.Principal{}, fmt.Errorf("redis-session: malformed session id: %w", strategies.ErrInvalidCredential)
	}
	key := s.prefix + s.fp.Sum(raw)
	var cmd *redis.StringCmd
	if s.idle > 0 {
		cmd = s.client.GetEx(ctx, key, s.idle) // never 0 here: GetEx(0) would PERSIST
	} else {
		cmd = s.client.Get(ctx, key)
	}
	b, err := cmd.Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return identity.Principal{}, fmt.Errorf("redis-session: unknown or expired session: %w", strategies.ErrInvalidCredential)
	case err != nil:
		return identity.Principal{}, unavailable(err)
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return identity.Principal{}, fmt.Errorf("redis-session: %w: %w", strategies.ErrInvalidCredential, err)
	}
	if s.now().UnixMilli() >= rec.X {
		// Best effort: the key would otherwise linger up to IdleTTL.
		_ = s.client.Del(ctx, key).Err()
		return identity.Principal{}, fmt.Errorf("redis-session: session past its absolute lifetime: %w", strategies.ErrInvalidCredential)
	}
	return identity.Principal{User: rec.User, Roles: rec.Roles}, nil
}

// Logout implements strategies.Strategy: the Redis key is deleted (MaxAge
// -1 makes redisstore DEL it). Malformed or unknown values are not an
// error; a Redis failure wraps ErrUnavailable (the session is NOT revoked).
func (s *Strategy) Logout(ctx context.Context, raw string) error {
	if !sessionutil.ValidID(raw) {
		return nil
	}
	r := sessionutil.Request(ctx, s.cookie, "")
	session := sessions.NewSession(s.store, s.cookie)
	session.ID = s.fp.Sum(raw)
	opts := sessionutil.StoreOptions(-1, false)
	session.Options = &opts
	var w sessionutil.ResponseWriter
	if err := s.store.Save(r, &w, session); err != nil {
		return unavailable(err)
	}
	return nil
}
