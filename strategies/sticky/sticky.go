// Package sticky is the "sticky" strategy: a session-id cookie whose session
// lives in the gateway process's memory, behind gorilla/sessions with an
// in-memory Store. Another gateway instance knows nothing of it, so the load
// balancer must pin each client to the instance that logged it in
// (NeedsSticky); when that instance dies its users' sessions are lost.
//
// Session ids are 256-bit random values, unpadded base64url in the cookie;
// the in-memory store is keyed by their HMAC fingerprint, never the raw id.
// Logins go through the gorilla/sessions Store interface (the Store is
// exported for HTTP code that wants it); Authenticate and Logout call the
// store directly: one fingerprint and one shard lookup.
//
// Sessions expire after an absolute TTL and, optionally, an idle TTL that
// every successful Authenticate slides; a background goroutine sweeps
// expired entries until Close, one shard at a time, through per-shard expiry
// heaps (never a walk of the table). One user holds at most
// MaxSessionsPerUser sessions: a login beyond it evicts that user's oldest.
// When MaxSessions sessions exist, new logins are refused with ErrFull
// (503), never evicting other users' sessions.
package sticky

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// Name is the strategy's name in the catalogue.
const Name = "sticky"

// Defaults applied by New to zero Config fields.
const (
	DefaultTTL                = 12 * time.Hour
	DefaultMaxSessions        = 1 << 20
	DefaultMaxSessionsPerUser = 16
)

// MinFingerprintKeyLen is the minimum length of a configured FingerprintKey.
const MinFingerprintKeyLen = 32

// Config configures the sticky strategy. Zero fields take defaults.
type Config struct {
	// CookieName is the session cookie's name (default "authlab_session").
	CookieName string
	// TTL is the absolute lifetime of a session (default 12h); it is at
	// least one second.
	TTL time.Duration
	// IdleTTL, when positive, also expires a session not used for that
	// long. Zero disables the idle timeout. It may not exceed TTL.
	IdleTTL time.Duration
	// MaxSessions bounds the sessions held (default 1<<20); logins beyond it
	// fail with ErrFull until sessions expire or log out.
	MaxSessions int
	// MaxSessionsPerUser bounds one user's sessions (default 16), so that
	// one account cannot fill MaxSessions: a login beyond it evicts that
	// user's oldest session.
	MaxSessionsPerUser int
	// Secure marks the session cookie Secure (serve over TLS) and names it
	// with the __Host- prefix (Path=/, no Domain).
	Secure bool
	// FingerprintKey keys the HMAC under which session ids are stored (at
	// least 32 bytes). Empty: a random per-process key, which is all this
	// strategy needs since its state never leaves the process.
	FingerprintKey []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SweepInterval is how often expired sessions are swept (default a
	// quarter of the shortest TTL, between 1 s and 1 min).
	SweepInterval time.Duration
}

// Validate reports the first invalid field. Zero fields are valid (they
// take defaults).
func (c Config) Validate() error {
	if c.CookieName != "" {
		if err := sessionutil.ValidateCookieName(c.CookieName); err != nil {
			return fmt.Errorf("sticky: %w", err)
		}
	}
	switch {
	case c.TTL < 0:
		return fmt.Errorf("sticky: TTL %v is negative", c.TTL)
	case c.TTL > 0 && c.TTL < time.Second:
		return fmt.Errorf("sticky: TTL %v is below one second", c.TTL)
	case c.IdleTTL < 0:
		return fmt.Errorf("sticky: IdleTTL %v is negative", c.IdleTTL)
	case c.IdleTTL > 0 && c.IdleTTL > c.ttl():
		return fmt.Errorf("sticky: IdleTTL %v exceeds TTL %v", c.IdleTTL, c.ttl())
	case c.MaxSessions < 0:
		return fmt.Errorf("sticky: MaxSessions %d is negative", c.MaxSessions)
	case c.MaxSessionsPerUser < 0:
		return fmt.Errorf("sticky: MaxSessionsPerUser %d is negative", c.MaxSessionsPerUser)
	case len(c.FingerprintKey) > 0 && len(c.FingerprintKey) < MinFingerprintKeyLen:
		return fmt.Errorf("sticky: FingerprintKey is %d bytes, need at least %d", len(c.FingerprintKey), MinFingerprintKeyLen)
	case c.SweepInterval < 0:
		return fmt.Errorf("sticky: SweepInterval %v is negative", c.SweepInterval)
	}
	return nil
}

func (c Config) ttl() time.Duration {
	if c.TTL == 0 {
		return DefaultTTL
	}
	return c.TTL
}

func (c Config) withDefaults() Config {
	if c.CookieName == "" {
		c.CookieName = sessionutil.DefaultCookieName
	}
	c.TTL = c.ttl()
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSessionsPerUser == 0 {
		c.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SweepInterval == 0 {
		shortest := c.TTL
		if c.IdleTTL > 0 {
			shortest = c.IdleTTL
		}
		c.SweepInterval = min(max(shortest/4, time.Second), time.Minute)
	}
	return c
}

// Strategy is the sticky strategy. It is safe for concurrent use; Close
// stops its sweeper.
type Strategy struct {
	cookie string
	ttl    time.Duration
	now    func() time.Time
	store  *Store

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New validates cfg and returns a running strategy; call Close to stop its
// sweeper goroutine.
func New(cfg Config) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	key := cfg.FingerprintKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("sticky: fingerprint key: %w", err)
		}
	}
	s := &Strategy{
		cookie: strategies.SessionCookieName(cfg.CookieName, cfg.Secure),
		ttl:    cfg.TTL,
		now:    cfg.Now,
		store:  newStore(cfg, strategies.NewFingerprinter(key)),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go s.sweep(cfg.SweepInterval)
	return s, nil
}

func (s *Strategy) sweep(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.store.Sweep()
		}
	}
}

// Close stops the sweeper and waits for it. It is idempotent. Sessions stay
// readable after Close (they just are no longer swept).
func (s *Strategy) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
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
		SharedState:        false,
		NeedsSticky:        true,
	}
}

// Store returns the gorilla/sessions Store behind the strategy, for HTTP
// code that wants to use gorilla/sessions directly.
func (s *Strategy) Store() *Store { return s.store }

// SessionCount returns the number of sessions in memory (expired ones not
// yet swept included): the harness divides memory by it.
func (s *Strategy) SessionCount() int { return s.store.Len() }

// Login implements strategies.Strategy: always a new session with a new id,
// whatever the client already holds (no fixation). It fails with an error
// wrapping ErrFull (hence strategies.ErrUnavailable) when the store is full.
func (s *Strategy) Login(ctx context.Context, p identity.Principal) (strategies.Credential, error) {
	if p.User == "" {
		return strategies.Credential{}, errors.New("sticky: login: empty user")
	}
	r := sessionutil.Request(ctx, s.cookie, "")
	session, err := s.store.New(r, s.cookie)
	if err != nil {
		return strategies.Credential{}, err
	}
	sessionutil.SetPrincipal(session.Values, p)
	start := s.now()
	var w sessionutil.ResponseWriter
	if err := s.store.Save(r, &w, session); err != nil {
		return strategies.Credential{}, fmt.Errorf("sticky: login: %w", err)
	}
	return strategies.Credential{Token: session.ID, ExpiresAt: start.Add(s.ttl)}, nil
}

// Authenticate implements strategies.Strategy. The cookie value's shape is
// checked before any lookup; a hit slides the session's idle timeout.
func (s *Strategy) Authenticate(_ context.Context, raw string) (identity.Principal, error) {
	if raw == "" {
		return identity.Principal{}, strategies.ErrNoCredential
	}
	if !sessionutil.ValidID(raw) {
		return identity.Principal{}, fmt.Errorf("sticky: malformed session id: %w", strategies.ErrInvalidCredential)
	}
	p, ok := s.store.lookup(raw)
	if !ok {
		return identity.Principal{}, fmt.Errorf("sticky: unknown or expired session: %w", strategies.ErrInvalidCredential)
	}
	return p, nil
}

// Logout implements strategies.Strategy: the session is deleted at once.
// Unknown or malformed values are not an error.
func (s *Strategy) Logout(_ context.Context, raw string) error {
	if sessionutil.ValidID(raw) {
		s.store.remove(raw)
	}
	return nil
}
